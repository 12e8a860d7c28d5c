"""MNIST-style image datasets read row by row: each image is 28 time steps of 28 features."""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import struct
import zlib

import numpy as np

from zoo.errors import DataError, first_line

DATASETS = ("mnist", "fashion_mnist")
SOURCES = ("idx", "tfds")
# Debian's dataset-fashion-mnist package; MNIST itself is not packaged, so it has no default.
DEFAULT_IDX_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_EXPECTED_FILES = ", ".join(f"{name}[.gz]" for name in IDX_FILES.values())
ROWS = COLS = 28
NUM_CLASSES = 10
# Label i is CLASS_NAMES[dataset][i] (Fashion-MNIST's names as its authors give them).
CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}


@dataclasses.dataclass
class ImageSplits:
    """Images as float32 (N, 28, 28) in [0, 1], labels as int32 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def read_idx(path) -> np.ndarray:
    """Read an unsigned-byte IDX file (plain or .gz) as a read-only uint8 array of its shape."""
    path = os.fspath(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such IDX file") from None
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DataError(f"{path}: unreadable or corrupt file: {first_line(err)}") from None
    if len(data) < 4 or data[:2] != b"\0\0":
        raise DataError(f"{path}: not an IDX file: expected magic bytes 00 00 08 <ndim>, found {data[:4].hex(' ') or 'nothing'}")
    if data[2] != 0x08:
        raise DataError(f"{path}: unsupported IDX data type 0x{data[2]:02x}: expected 0x08 (unsigned byte)")
    ndim, header = data[3], 4 + 4 * data[3]
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header: expected {ndim} dimensions in {header} bytes, found {len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected, found = math.prod(shape), len(data) - header  # Python ints: a huge header cannot overflow
    if found != expected:
        kind = "truncated" if found < expected else "corrupt (trailing bytes in)"
        raise DataError(f"{path}: {kind} IDX file: expected {expected} bytes of data for shape {shape}, found {found}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_image_rows(dataset: str, *, source: str = "idx", data_dir: str | None = None,
                    validation_size: int = 5000, seed: int = 0, limit: int | None = None) -> ImageSplits:
    """Load `dataset` ("mnist" or "fashion_mnist") with a seeded validation split taken from train.

    `source="idx"` reads the four IDX files from `data_dir`, else $ZOO_DATA_DIR, else the
    Debian default; `source="tfds"` uses tensorflow-datasets (`data_dir` is its data dir).
    `limit` keeps the first `limit` train and test examples, for quick runs.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown image dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}: expected one of {', '.join(SOURCES)}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of examples, got {limit}")
    load = _load_idx if source == "idx" else _load_tfds
    x_train, y_train, x_test, y_test = load(dataset, data_dir)
    if limit is not None:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
        validation_size = min(validation_size, limit // 5)
    if not 0 <= validation_size < len(x_train):
        raise DataError(f"validation size must be in 0..{len(x_train) - 1} for {len(x_train)} training examples, got {validation_size}")
    # Validation comes out of train so the test set stays untouched for the final score.
    order = np.random.default_rng(seed).permutation(len(x_train))
    val, train = order[:validation_size], order[validation_size:]
    scale = lambda x: x.astype(np.float32) / np.float32(255)  # noqa: E731
    label = lambda y: np.asarray(y, dtype=np.int32)  # noqa: E731
    return ImageSplits(scale(x_train[train]), label(y_train[train]), scale(x_train[val]), label(y_train[val]),
                       scale(x_test), label(y_test))


def random_shifts(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image (N, rows, cols) moved by its own whole number of pixels in -max_shift..max_shift
    along each axis, the uncovered border filled with 0 (the background): a small translation
    the label does not depend on."""
    n, rows, cols = x.shape
    padded = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    out = np.empty_like(x)
    for i in range(n):
        out[i] = padded[i, dy[i] : dy[i] + rows, dx[i] : dx[i] + cols]
    return out


def random_flips(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image (N, rows, cols) mirrored left to right with probability 1/2: a garment's
    class does not depend on which way it faces."""
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = x[flip, :, ::-1]
    return out


def augmentation(shift: int = 0, flip: bool = False):
    """The training-batch transform ``augment(x, rng)`` for shifts of up to `shift` pixels and
    random mirroring, or None for neither."""
    if not shift and not flip:
        return None

    def augment(x, rng):
        x = random_shifts(x, shift, rng) if shift else x
        return random_flips(x, rng) if flip else x

    return augment


INVERT = ("auto", "yes", "no")
MAX_PICTURE_PIXELS = 50_000_000  # read from the header before decoding: a decompression bomb costs nothing


def read_picture(path, *, invert: str = "auto") -> np.ndarray:
    """A PNG or JPEG picture as the datasets' images are: (28, 28) float32 gray in [0, 1],
    light object on a dark background.

    Any size: the picture is padded to a square with its border colour (keeping its aspect)
    and resized to 28x28. Colour becomes gray (transparent pixels count as white paper);
    16-bit and 32-bit gray is scaled by its full range, not clipped. With ``invert="auto"``
    a picture whose border is mostly light (a dark object photographed on paper) is
    inverted; ``"yes"`` and ``"no"`` decide it outright.
    """
    from PIL import Image

    if invert not in INVERT:
        raise DataError(f"--invert {invert!r}: expected one of {', '.join(INVERT)}")
    try:
        with Image.open(path, formats=["PNG", "JPEG"]) as image:
            width, height = image.size
            if width * height > MAX_PICTURE_PIXELS:
                raise DataError(f"{path}: a {width}x{height} picture; expected at most "
                                f"{MAX_PICTURE_PIXELS:,} pixels")
            gray = _gray(image)
    except DataError:
        raise
    except Exception as error:  # PIL raises OSError, DecompressionBombError, SyntaxError, ...
        raise DataError(f"{path}: expected a PNG or JPEG picture ({first_line(error)})") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    side = max(gray.shape)
    top, left = (side - gray.shape[0]) // 2, (side - gray.shape[1]) // 2
    square = np.full((side, side), np.median(border), dtype=np.float32)
    square[top : top + gray.shape[0], left : left + gray.shape[1]] = gray
    small = np.asarray(Image.fromarray(square, mode="F").resize((COLS, ROWS), Image.Resampling.LANCZOS))
    small = np.clip(small, 0.0, 1.0)
    if invert == "yes" or invert == "auto" and border.mean() > 0.5:
        small = 1.0 - small
    return small.astype(np.float32)


def _gray(image) -> np.ndarray:
    """The picture's gray levels in [0, 1] as float32, whatever its mode and bit depth."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.float32) / 65535
    if image.mode in ("I", "F"):  # 32-bit gray (PIL also opens some 16-bit PNGs so): its own range
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if values.max() <= 65535 else float(values.max())
        return np.clip(values / top, 0.0, 1.0)
    if image.mode in ("LA", "PA", "RGBA") or image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


def _idx_directory(dataset, data_dir):
    """The folder holding the IDX files: `data_dir` (or its `<dataset>` subfolder) when given;
    else $ZOO_DATA_DIR (or its subfolder) if it holds them, else the Debian default.

    An explicit `data_dir` is never silently replaced; $ZOO_DATA_DIR may point at a root
    of other corpora (texts) and so only wins when it really holds this dataset.
    """
    def holds(directory):
        return directory and _has_idx(directory)

    if data_dir:
        candidates = [data_dir, os.path.join(data_dir, dataset)]
        return next((d for d in candidates if holds(d)), data_dir)
    env = os.environ.get("ZOO_DATA_DIR")
    candidates = [env, env and os.path.join(env, dataset), DEFAULT_IDX_DIRS.get(dataset)]
    return next((d for d in candidates if holds(d)), env or DEFAULT_IDX_DIRS.get(dataset))


def _has_idx(directory):
    name = IDX_FILES["train_images"]
    return os.path.isfile(os.path.join(directory, name)) or os.path.isfile(os.path.join(directory, name + ".gz"))


def _load_idx(dataset, data_dir):
    directory = _idx_directory(dataset, data_dir)
    if directory is None:
        raise DataError(f"no data dir for {dataset}: pass one (--data-dir or ZOO_DATA_DIR) holding {_EXPECTED_FILES}")
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: no such data directory for {dataset}: expected one holding {_EXPECTED_FILES}")
    paths = {key: _find_idx(directory, name) for key, name in IDX_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        image_path, label_path = paths[f"{part}_images"], paths[f"{part}_labels"]
        if images.ndim != 3 or images.shape[1:] != (ROWS, COLS):
            raise DataError(f"{image_path}: expected {dataset} images of shape (N, {ROWS}, {COLS}), found shape {images.shape}")
        if len(images) == 0:
            raise DataError(f"{image_path}: expected at least one image, found none")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{label_path}: expected {len(images)} labels of shape ({len(images)},) to match {image_path}, found shape {labels.shape}")
        if labels.size and labels.max() >= NUM_CLASSES:
            raise DataError(f"{label_path}: expected labels in 0..{NUM_CLASSES - 1}, found {int(labels.max())}")
    return arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]


def _find_idx(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise DataError(f"{directory}: missing {name}[.gz]: expected the IDX files {_EXPECTED_FILES}")


def _load_tfds(dataset, data_dir):
    import tensorflow_datasets as tfds  # slow to import: only when asked for

    try:
        train, test = tfds.as_numpy(tfds.load(dataset, split=["train", "test"], data_dir=data_dir,
                                              as_supervised=True, batch_size=-1))
    except Exception as err:  # tfds raises many kinds (download, not prepared, bad dir)
        raise DataError(f"tensorflow-datasets could not load {dataset} ({type(err).__name__}: {first_line(err)}); "
                        f"use --data-source idx with a data dir holding the IDX files, or prepare it with tfds") from None
    # tfds images are (N, 28, 28, 1): drop the channel so each row is one time step.
    return train[0][..., 0], train[1], test[0][..., 0], test[1]


PICTURES = (".png", ".jpg", ".jpeg")


def load_images(paths, *, invert: str = "auto") -> np.ndarray:
    """Images (batch, 28, 28) float32 in [0, 1] from .npy arrays, IDX files, or PNG / JPEG
    pictures of any size (made 28x28 light-on-dark gray as the datasets are: see
    :func:`read_picture`, which `invert` is passed to)."""
    import pathlib

    batches = []
    for path in map(pathlib.Path, paths):
        name = path.name.lower()
        if not path.is_file():
            raise DataError(f"{path}: no such input file")
        if name.endswith(".npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as error:  # an empty file raises EOFError
                raise DataError(f"{path}: expected a .npy array ({first_line(error)})") from None
            if not isinstance(array, np.ndarray):
                raise DataError(f"{path}: expected a .npy array, found a .npz archive")
        elif name.endswith(PICTURES):
            array = read_picture(path, invert=invert)
        elif "idx" in name or name.endswith(".gz"):
            array = read_idx(path)
        else:
            raise DataError(f"{path}: expected a .npy, IDX (*idx3-ubyte[.gz]), .png or .jpg file")
        batches.append(check_images(array, what=str(path)))
    return np.concatenate(batches)


def check_images(images, *, what: str = "images") -> np.ndarray:
    """`images` as float32 (N, 28, 28) in [0, 1]: uint8 pixels are scaled, floats must be
    finite and in [0, 1]; one image (28, 28) becomes a batch of one. Anything else is a
    one-line DataError naming `what` and what was expected (the CLI and the Python API share it)."""
    try:
        array = np.asarray(images)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise DataError(f"{what}: expected an array of images ({first_line(error)})") from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (ROWS, COLS):
        raise DataError(f"{what}: expected images of shape (28, 28) or (N, 28, 28), got {array.shape}")
    if len(array) == 0:
        raise DataError(f"{what}: expected at least one image, found none")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise DataError(f"{what}: expected uint8 pixels or floats in [0, 1], got {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{what}: expected uint8 pixels or finite floats in [0, 1], found NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise DataError(f"{what}: expected uint8 pixels or floats in [0, 1], found values from {low:g} to {high:g} "
                        f"(divide 0-255 pixels by 255)")
    return array.astype(np.float32)


def grid(pictures, *, labels=None, scale: int = 2, gap: int = 2):
    """Pictures (rows, columns, height, width) gray in [0, 1] as one PIL image: a row of
    pictures per row, each `scale` times its size, with `labels` (one per row) at the left."""
    from PIL import Image, ImageDraw

    pictures = np.asarray(pictures, dtype=np.float32)
    rows, columns, height, width = pictures.shape
    cell_h, cell_w = height * scale + gap, width * scale + gap
    label_w = 0 if not labels else 8 + 6 * max(map(len, labels))  # PIL's default font: about 6 pixels a character
    canvas = Image.new("L", (label_w + columns * cell_w + gap, rows * cell_h + gap), color=255)
    draw = ImageDraw.Draw(canvas)
    for r in range(rows):
        if labels:
            draw.text((4, gap + r * cell_h + cell_h // 2 - 6), str(labels[r]), fill=0)
        for c in range(columns):
            tile = Image.fromarray(np.rint(pictures[r, c] * 255).astype(np.uint8), mode="L")
            canvas.paste(tile.resize((width * scale, height * scale), Image.NEAREST),
                         (label_w + gap + c * cell_w, gap + r * cell_h))
    return canvas


def png_path(path, *, overwrite: bool = False):
    """`path` as a PNG file to write, checked before any work is done: a .png name in an
    existing folder, and no file there already unless `overwrite` (as `zoo train`, `export`
    and `ship` ask for --overwrite); else a one-line DataError."""
    import pathlib

    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"--out {path}: expected a file name ending in .png")
    if path.is_dir():
        raise DataError(f"--out {path}: a folder; expected a .png file name")
    if not path.parent.is_dir():
        raise DataError(f"--out {path}: no folder {path.parent}; create it first")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise DataError(f"--out {path}: the file exists; pass --overwrite to replace it, or choose another name")
    return path


def write_png(path, image, *, overwrite: bool = False) -> None:
    """Write a PIL image as a PNG at `path` atomically (a failed write leaves what was there);
    a path :func:`png_path` refuses is a one-line DataError."""
    import io

    from zoo import storage

    path = png_path(path, overwrite=overwrite)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    try:
        storage.atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        raise DataError(f"--out {path}: cannot write it ({first_line(error)})") from None

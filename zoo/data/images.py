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


def write_idx(path, array) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed when `path` ends in .gz): the
    inverse of :func:`read_idx`, for data sets made here (generated pictures) to load as
    the IDX files do."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = struct.pack(f">BBBB{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape) + array.tobytes()
    path = os.fspath(path)
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(data)


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

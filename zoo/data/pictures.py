"""The images a user hands a classifier (``zoo predict``, ``m.classify``): .npy arrays, IDX
files and PNG / JPEG pictures of any size, made (N, 28, 28) float32 in [0, 1] like the
datasets' images, or a one-line DataError. PIL is imported only when a picture is read."""

from __future__ import annotations

import pathlib

import numpy as np

from zoo.data.images import COLS, ROWS, read_idx
from zoo.errors import DataError, first_line

PICTURES = (".png", ".jpg", ".jpeg")
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


def load_images(paths, *, invert: str = "auto") -> np.ndarray:
    """Images (batch, 28, 28) float32 in [0, 1] from .npy arrays, IDX files, or PNG / JPEG
    pictures of any size (made 28x28 light-on-dark gray as the datasets are: see
    :func:`read_picture`, which `invert` is passed to)."""
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

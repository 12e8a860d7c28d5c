"""Text corpora for the character language models, their vocabulary and windows.

Sources: ``tiny_shakespeare`` through tensorflow-datasets (built offline from the real file
with ``manual_dir``, keeping tfds's train/validation/test splits), the tutorial's Chinese
lyrics (``jaychou_lyrics.txt.zip``), or any local UTF-8 file; these two are cut into
train, validation and test by :func:`hold_out`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import zipfile

import numpy as np

from zoo.errors import DataError, first_line

# A checkout of this project (the folder holding pyproject.toml and zoo/) keeps the shared
# corpora beside it, in ../shared/data; an installed package has no such place.
_CHECKOUT = pathlib.Path(__file__).resolve().parents[2]
TEXT_SOURCES = ("tiny_shakespeare", "jaychou_lyrics", "file")


def shared_data_dir(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Where local corpora live: `data_dir` (--data-dir), else $ZOO_DATA_DIR, else
    ../shared/data beside a checkout; an installed package without either is a DataError."""
    if data_dir or os.environ.get("ZOO_DATA_DIR"):
        return pathlib.Path(data_dir or os.environ["ZOO_DATA_DIR"])
    if (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT.parent / "shared" / "data"
    raise DataError("no data folder for the text corpora: pass --data-dir or set ZOO_DATA_DIR")


@dataclasses.dataclass
class TextCorpus:
    """A corpus cut into train, validation and test splits."""

    train: str
    validation: str
    test: str


def read_text_file(path) -> str:
    """A non-empty UTF-8 text file, or a one-line DataError naming it."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read text file ({error.strerror or error})") from None
    return _decode_text(data, str(path))


def _decode_text(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{name}: expected UTF-8 text, found byte 0x{data[error.start]:02x} at offset {error.start}") from None
    if not text.strip():
        raise DataError(f"{name}: expected a non-empty text file")
    return text


def hold_out(text: str, fraction: float = 0.05) -> TextCorpus:
    """The last `fraction` of `text` as test and the `fraction` before it as validation.

    Tail cuts, so no window straddles two splits, and the held-out text is the part of the
    corpus written last.
    """
    size = int(len(text) * fraction)
    if size < 2:
        raise DataError(f"text of {len(text)} characters is too short to hold out {fraction:.0%} for validation "
                        f"and {fraction:.0%} for test")
    cut = len(text) - 2 * size
    return TextCorpus(train=text[:cut], validation=text[cut : cut + size], test=text[cut + size :])


def load_text(source: str, *, path=None, data_dir=None) -> TextCorpus:
    """Load a corpus by source name (see TEXT_SOURCES); `path` is the file for source 'file'."""
    if source == "tiny_shakespeare":
        return _tiny_shakespeare(shared_data_dir(data_dir) / "tiny_shakespeare")
    if source == "jaychou_lyrics":
        archive = shared_data_dir(data_dir) / "jaychou_lyrics" / "jaychou_lyrics.txt.zip"
        return hold_out(_lyrics(archive))
    if source == "file":
        if path is None:
            raise DataError("text source 'file' needs a path to a UTF-8 text file")
        return hold_out(read_text_file(path))
    raise DataError(f"unknown text source {source!r}; expected one of {', '.join(TEXT_SOURCES)}")


def _lyrics(archive: pathlib.Path) -> str:
    try:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read("jaychou_lyrics.txt")
    except FileNotFoundError:
        raise DataError(f"{archive}: lyrics archive not found (set --data-dir or ZOO_DATA_DIR)") from None
    except OSError as error:
        raise DataError(f"{archive}: cannot read lyrics archive ({error.strerror or first_line(error)})") from None
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{archive}: expected a zip holding jaychou_lyrics.txt ({error})") from None
    # As in the tutorial: line breaks become spaces, so the model writes one long line.
    return _decode_text(data, str(archive)).replace("\n", " ").replace("\r", " ")


def _tiny_shakespeare(manual_dir: pathlib.Path) -> TextCorpus:
    if not (manual_dir / "input.txt").is_file():
        raise DataError(f"{manual_dir / 'input.txt'}: tiny_shakespeare file not found (set --data-dir or ZOO_DATA_DIR)")
    import tensorflow_datasets as tfds  # slow import: only when this corpus is asked for

    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    try:
        splits = tfds.load(
            "tiny_shakespeare",
            batch_size=-1,
            download_and_prepare_kwargs={"download_config": config},
        )
    except Exception as error:  # tfds raises many types; the user needs one line.
        raise DataError(f"tfds could not build tiny_shakespeare from {manual_dir}: {first_line(error)}") from None
    text = {name: tfds.as_numpy(split["text"])[0].decode("utf-8") for name, split in splits.items()}
    return TextCorpus(train=text["train"], validation=text["validation"], test=text["test"])


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping (input, next-character target) windows of `ids`."""
    count = (len(ids) - 1) // seq_len
    if count < 1:
        raise DataError(f"text of {len(ids)} characters is shorter than one window of {seq_len + 1}")
    x = ids[: count * seq_len].reshape(count, seq_len)
    y = ids[1 : count * seq_len + 1].reshape(count, seq_len)
    return x, y


def streams(ids: np.ndarray, seq_len: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`ids` as `count` parallel streams cut into windows, laid out window by window.

    Row ``i * count + s`` is window i of stream s, so batches of `count` rows in order
    continue each other row by row (the layout that carried LSTM states need). Returns
    (input, next-character target) arrays of shape (steps * count, seq_len).
    """
    steps = (len(ids) - 1) // (count * seq_len)
    if steps < 1:
        raise DataError(f"text of {len(ids)} characters is too short for {count} streams of {seq_len + 1}")
    length = steps * seq_len

    def window_major(array):
        return array.reshape(count, steps, seq_len).transpose(1, 0, 2).reshape(steps * count, seq_len)

    return window_major(ids[: count * length]), window_major(ids[1 : count * length + 1])


def random_windows(ids: np.ndarray, seq_len: int, count: int, rng: np.random.Generator):
    """`count` windows starting at random offsets (the tutorial's random sampling)."""
    if len(ids) <= seq_len:
        raise DataError(f"text of {len(ids)} characters is shorter than one window of {seq_len + 1}")
    starts = rng.integers(0, len(ids) - seq_len, size=count)
    offsets = starts[:, None] + np.arange(seq_len)
    return ids[offsets], ids[offsets + 1]

"""Characters <-> integer ids, shared by the language models and the seq2seq tasks.

Ids 0..3 are reserved for padding, start, end and unknown, so every printable character
can appear in a text. A vocabulary is built from a training split only; characters of
other splits that training never saw become ``<unk>``. It is saved as JSON beside a model
and in export manifests (never pickled).
"""

from __future__ import annotations

import numpy as np

from zoo.errors import DataError

SPECIALS = ("<pad>", "<start>", "<end>", "<unk>")
PAD_ID, START_ID, END_ID, UNK_ID = range(len(SPECIALS))
# What decode writes for an <unk> id: the Unicode replacement character.
UNKNOWN_CHAR = "\ufffd"


class Vocabulary:
    """The reserved ids, then one id per character (``len`` counts both)."""

    pad_id, start_id, end_id, unknown_id = PAD_ID, START_ID, END_ID, UNK_ID

    def __init__(self, chars):
        self.chars = list(chars)
        if not all(isinstance(ch, str) and len(ch) == 1 for ch in self.chars):
            raise DataError("vocabulary: expected a list of single characters")
        if len(set(self.chars)) != len(self.chars):
            raise DataError("vocabulary: characters must be distinct")
        self.index = {ch: i for i, ch in enumerate(self.chars, start=len(SPECIALS))}

    @classmethod
    def from_text(cls, *texts: str) -> "Vocabulary":
        """The sorted distinct characters of `texts` (pass the training split only)."""
        return cls(sorted(set().union(*texts)))

    # ------------------------------------------------------------------ JSON form
    def to_json(self) -> dict:
        return {"specials": list(SPECIALS), "chars": self.chars}

    @classmethod
    def from_json(cls, data) -> "Vocabulary":
        """A vocabulary from :meth:`to_json`'s dict; anything else is a one-line DataError."""
        if not isinstance(data, dict):
            found = "none" if data is None else f"a JSON {type(data).__name__}"
            raise DataError(f"vocabulary: expected an object with 'specials' and 'chars', found {found}")
        if data.get("specials") != list(SPECIALS):
            raise DataError(f"vocabulary: expected 'specials' {list(SPECIALS)}, found {data.get('specials')!r}")
        if not isinstance(data.get("chars"), list):  # a string would pass as its characters
            raise DataError("vocabulary: expected 'chars' to be a list of single characters")
        return cls(data["chars"])

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    # ------------------------------------------------------------------ ids
    def encode(self, text: str, *, what: str = "text", unknown: bool = False) -> np.ndarray:
        """Ids of `text` (int32). A character outside the vocabulary becomes ``<unk>`` when
        `unknown` (held-out data), else a DataError naming it (what a user typed)."""
        if unknown:
            return np.fromiter((self.index.get(ch, UNK_ID) for ch in text), dtype=np.int32, count=len(text))
        try:
            return np.fromiter((self.index[ch] for ch in text), dtype=np.int32, count=len(text))
        except KeyError as missing:
            raise DataError(f"{what}: character {missing.args[0]!r} is not in the model's vocabulary "
                            f"of {len(self.chars)} characters") from None

    def decode(self, ids) -> str:
        """The characters of `ids` up to the first ``<end>``; padding and start are skipped,
        ``<unk>`` is written as U+FFFD."""
        out = []
        for i in map(int, ids):
            if i == END_ID:
                break
            if i == UNK_ID:
                out.append(UNKNOWN_CHAR)
            elif i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
        return "".join(out)

    def pad(self, rows, length: int) -> np.ndarray:
        """Id sequences as one (len(rows), length) int32 array, padded with ``<pad>``."""
        array = np.full((len(rows), length), PAD_ID, dtype=np.int32)
        for r, ids in enumerate(rows):
            array[r, : len(ids)] = ids
        return array

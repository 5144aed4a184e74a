"""Text for character-level language models: a bundled public-domain corpus, any UTF-8 file,
a character vocabulary, and next-character windows.

The bundled ``"kjv"`` corpus is the books of Genesis and Exodus in the King James Version
(1611; public domain), 366 kB, 63 distinct characters, shipped inside the package so it works
offline (from Debian's ``bible-kjv-text``, verse numbers removed, one verse per line).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import DataError

__all__ = ["TEXTS", "CharVocab", "TextCorpus", "load_text", "next_char_windows"]

TEXTS = {
    "kjv": (
        "kjv_genesis_exodus.txt",
        "Genesis and Exodus, King James Version (public domain), 366 kB of English text",
    ),
}


@dataclass(frozen=True)
class CharVocab:
    """The characters of a text, each mapped to an integer id (sorted by code point)."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """Every distinct character of ``text``."""
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def index(self) -> dict[str, int]:
        """Each character's id: ``{char: position in chars}``."""
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        """Characters -> ids (int64, shape (len(text),)).

        Raises :class:`~chainrule.errors.DataError` naming the first character the vocabulary
        does not have.
        """
        index = self.index
        try:
            return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise DataError(
                f"the text has the character {exc.args[0]!r}, which is not in the model's "
                f"vocabulary of {len(self)} characters"
            ) from None

    def decode(self, ids: Any) -> str:
        """Ids -> the text they stand for."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())

    def to_json(self) -> str:
        """The vocabulary as a JSON object ``{"chars": "..."}`` (read back by ``from_json``)."""
        return json.dumps({"chars": "".join(self.chars)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CharVocab:
        """Read :meth:`to_json`'s output. Raises ``DataError`` when it is not that."""
        try:
            chars = json.loads(text)["chars"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"not a character vocabulary: {exc}") from None
        if not isinstance(chars, str) or len(set(chars)) != len(chars):
            raise DataError("not a character vocabulary: 'chars' must be distinct characters")
        return cls(tuple(chars))


@dataclass
class TextCorpus:
    """A text split into a training head and a held-out tail, both as character ids."""

    name: str
    vocab: CharVocab
    train: np.ndarray
    test: np.ndarray

    @property
    def n_chars(self) -> int:
        """The number of characters in the training and test parts together."""
        return len(self.train) + len(self.test)


def load_text(name: str | os.PathLike, test_fraction: float = 0.1) -> TextCorpus:
    """The bundled corpus ``"kjv"`` or any UTF-8 text file, as a :class:`TextCorpus` whose
    last ``test_fraction`` of characters is held out.

    Raises :class:`~chainrule.errors.DataError` naming the file when it does not exist, is a
    directory, is not UTF-8 (with the byte offset), or is too short (under 100 characters);
    ``ValueError`` for a ``test_fraction`` outside (0, 0.5].
    """
    if not 0.0 < test_fraction <= 0.5:
        raise ValueError(f"load_text: test_fraction must be in (0, 0.5], got {test_fraction}")
    key = os.fspath(name)
    if key.lower() in TEXTS:
        text = (resources.files("chainrule.data") / "texts" / TEXTS[key.lower()][0]).read_text(
            encoding="utf-8"
        )
        label = key.lower()
    else:
        path = Path(key)
        if path.is_dir():
            raise DataError(f"{path}: is a directory, not a text file")
        if not path.is_file():
            known = ", ".join(TEXTS)
            raise DataError(f"{path}: no such text file (bundled texts: {known})")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}: not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
            ) from None
        label = path.name
    if len(text) < 100:
        raise DataError(f"{label}: only {len(text)} characters; a language model needs more")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = len(ids) - max(1, round(len(ids) * test_fraction))
    return TextCorpus(label, vocab, ids[:cut], ids[cut:])


def next_char_windows(
    ids: np.ndarray, seq_len: int, stride: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``seq_len`` characters and, for each position, the character after it:
    X (n, seq_len), Y (n, seq_len) with Y[:, t] = X[:, t + 1] shifted by one, taken every
    ``stride`` characters (``seq_len`` by default: no overlap). A view, no copy.

    Raises :class:`~chainrule.errors.DataError` when ``ids`` is shorter than one window.
    """
    stride = seq_len if stride is None else stride
    if seq_len < 1 or stride < 1:
        raise ValueError(f"next_char_windows: seq_len and stride must be >= 1, got {seq_len}")
    if len(ids) < seq_len + 1:
        raise DataError(
            f"the text has {len(ids)} characters, fewer than one window of {seq_len} + 1"
        )
    windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]
    return windows[:, :-1], windows[:, 1:]

"""Character tokenizer: one id per Unicode character, plus an optional end-of-document id.

Owns: the character vocabulary and the text <-> id mapping, vectorised with NumPy so a large
corpus encodes at memory speed. When `eos` is on (ABC tunebooks), id 0 marks the end of one
document and the start of the next; it decodes to a newline so a decoded stream of tunes reads
as a tunebook with a blank line between tunes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seqgen.errors import SeqgenError

EOS_TEXT = "\n"


def codepoints(text: str) -> np.ndarray:
    """The Unicode code points of `text` as a uint32 array (T,)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def chars_of(text: str) -> set[str]:
    """The set of distinct characters in `text` (fast for large strings)."""
    return {chr(c) for c in np.unique(codepoints(text)).tolist()}


class CharTokenizer:
    kind = "char"

    def __init__(self, chars: Iterable[str], eos: bool = False):
        self.chars: list[str] = sorted(set(chars))
        if any(len(c) != 1 for c in self.chars):
            raise SeqgenError("a character vocabulary may hold single characters only")
        self.eos = eos
        self.offset = 1 if eos else 0
        self.stoi = {c: i + self.offset for i, c in enumerate(self.chars)}
        cps = [ord(c) for c in self.chars]
        # Lookup table code point -> id; -1 marks characters outside the vocabulary.
        self._lut = np.full(max(cps, default=0) + 1, -1, dtype=np.int64)
        self._lut[cps] = np.arange(len(cps)) + self.offset

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + self.offset

    @property
    def eos_id(self) -> int | None:
        return 0 if self.eos else None

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not in the vocabulary, sorted."""
        return sorted(c for c in chars_of(text) if c not in self.stoi)

    def encode_array(self, text: str) -> np.ndarray:
        """Encode to an int64 array (T,); raises SeqgenError naming any unknown characters."""
        cp = codepoints(text)
        ids = np.where(cp < len(self._lut), self._lut[np.minimum(cp, len(self._lut) - 1)], -1)
        if (ids < 0).any():
            bad = ", ".join(repr(c) for c in self.unknown(text)[:20])
            raise SeqgenError(f"text holds characters the vocabulary does not know: {bad}")
        return ids

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        parts = []
        for i in ids.tolist() if isinstance(ids, np.ndarray) else ids:
            i = int(i)
            if self.eos and i == 0:
                parts.append(EOS_TEXT)
            elif self.offset <= i < self.vocab_size:
                parts.append(self.chars[i - self.offset])
            else:
                raise SeqgenError(f"token id {i} is outside the vocabulary (size {self.vocab_size})")
        return "".join(parts)

    def document_start(self) -> list[int]:
        """The end-of-document id (a tune starts right after an end-of-tune), or for text without
        one a newline (else the first id)."""
        if self.eos_id is not None:
            return [self.eos_id]
        return self.encode("\n") if "\n" in self.stoi else [0]

    def summary(self) -> str:
        chars = "".join(c for c in self.chars if c.isprintable() and c != " ")
        shown = chars if len(chars) <= 60 else chars[:60] + "..."
        eos = " + end-of-document" if self.eos else ""
        return f"characters: {len(self.chars)}{eos} ({self.vocab_size} ids): {shown}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": list(self.chars), "eos": self.eos}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(d["chars"], eos=bool(d.get("eos", False)))

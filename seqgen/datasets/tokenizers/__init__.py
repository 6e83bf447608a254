"""Tokenizers: text <-> ids (characters) and notes <-> ids (MIDI events).

Owns: the tokenizer contract (`Tokenizer`, see `base`) and the registry that rebuilds a tokenizer
from its JSON dict. Every tokenizer has `kind`, `vocab_size`, `eos_id` (end-of-document id, also
used as the start context for sampling; None for plain text), `encode`, `decode`, and `to_dict()`
(plain JSON types, so it is safe in metadata files and in `torch.load(weights_only=True)`
checkpoints). Knows nothing about files on disk, models or training.
"""

from __future__ import annotations

from typing import Any

from seqgen.datasets.tokenizers.base import Tokenizer
from seqgen.datasets.tokenizers.char import CharTokenizer
from seqgen.errors import SeqgenError

__all__ = ["CharTokenizer", "Tokenizer", "tokenizer_from_dict"]


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output."""
    from seqgen.datasets.tokenizers.events import EventTokenizer

    classes: dict[str, type[CharTokenizer] | type[EventTokenizer]] = {
        CharTokenizer.kind: CharTokenizer,
        EventTokenizer.kind: EventTokenizer,
    }
    kind = d.get("kind")
    cls = classes.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SeqgenError(f"unknown tokenizer kind {kind!r}; the metadata file may be from a newer seqgen")
    return cls.from_dict(d)

"""One object per kind of data (text, ABC, MIDI) that owns everything kind-specific.

`kind_named(name)` gives the kind a dataset's meta.json or a checkpoint names; `detect_kind(paths)`
the kind `seqgen prepare` makes of input files. A new kind is one module here (a `DataKind`
subclass) and one entry in `KINDS`. See `base` for what a kind owns and what it does not.
"""

from __future__ import annotations

from pathlib import Path

from seqgen.datasets.kinds.abc import AbcKind
from seqgen.datasets.kinds.base import DataKind, Rendered, SourceOptions
from seqgen.datasets.kinds.midi import MidiKind
from seqgen.datasets.kinds.text import TextKind
from seqgen.errors import SeqgenError

__all__ = [
    "KINDS",
    "AbcKind",
    "DataKind",
    "MidiKind",
    "Rendered",
    "SourceOptions",
    "TextKind",
    "detect_kind",
    "kind_named",
]

# In the order `detect_kind` tries them: ABC wins over MIDI in a mixed folder; text takes the rest.
KINDS: dict[str, DataKind] = {k.name: k for k in (AbcKind(), MidiKind(), TextKind())}


def kind_named(name: str) -> DataKind:
    """The kind stored as `name` in a dataset's meta.json or a checkpoint."""
    kind = KINDS.get(name)
    if kind is None:
        raise SeqgenError(
            f"unknown data kind {name!r} (seqgen knows {', '.join(sorted(KINDS))}); "
            "the dataset or checkpoint may be from a newer seqgen"
        )
    return kind


def detect_kind(paths: list[Path]) -> DataKind:
    """The kind of the input files, from their suffixes (folders: from what they hold)."""
    suffixes: set[str] = set()
    for p in paths:
        if not p.exists():
            raise SeqgenError(f"{p} does not exist; check the path")
        if not (p.is_file() or p.is_dir()):
            raise SeqgenError(f"{p} is not a regular file or a folder (a pipe or a device?); give a file")
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
        suffixes |= {f.suffix.lower() for f in files}
    for kind in KINDS.values():
        if suffixes & set(kind.source_suffixes):
            return kind
    return KINDS[TextKind.name]

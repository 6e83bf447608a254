"""MIDI: note events, one document per piece, samples that must be playable music.

Owns: `MidiKind`: preparing MIDI files into an event-token dataset, a primer file as the start of
a sample, rendering ids as notes, reading one MIDI file to score a model on it, and event tokens
as text for the novelty search (`events_as_text`). Does not own the event vocabulary
(`tokenizers.events`) or reading and writing MIDI files (`seqgen.music.midi_io`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seqgen.config import MUSIC_SAMPLE_LENGTH
from seqgen.datasets.corpus.midi import MIDI_SUFFIXES
from seqgen.datasets.kinds.base import DataKind, Rendered, SourceOptions, check_music
from seqgen.datasets.layout import write_documents
from seqgen.datasets.tokenizers.base import Tokenizer
from seqgen.datasets.tokenizers.events import EventTokenizer
from seqgen.errors import SeqgenError
from seqgen.progress import Progress, no_progress

if TYPE_CHECKING:
    from collections.abc import Sequence

    from seqgen.config import PrepareConfig
    from seqgen.music.check import TuneCheck
    from seqgen.music.notes import Note


def events_as_text(ids: Sequence[int] | np.ndarray) -> str:
    """Token ids as one character each, so that Python's substring search works on tokens."""
    arr = np.asarray(ids, dtype=np.uint32) + 0x100  # clear of control characters; far below surrogates
    return arr.astype("<u4").tobytes().decode("utf-32-le")


class MidiKind(DataKind):
    name: ClassVar[str] = "midi"
    label: ClassVar[str] = "MIDI"
    music: ClassVar[bool] = True
    whole_documents: ClassVar[bool] = True
    unit: ClassVar[str] = "event token"
    short_unit: ClassVar[str] = "token"
    streams: ClassVar[bool] = False  # a sample is note events, not text to print
    default_length: ClassVar[int] = MUSIC_SAMPLE_LENGTH
    source_suffixes: ClassVar[tuple[str, ...]] = MIDI_SUFFIXES
    sample_suffixes: ClassVar[tuple[str, ...]] = (".mid",)
    options: ClassVar[tuple[str, ...]] = ("drums",)

    @staticmethod
    def events(tokenizer: Tokenizer) -> EventTokenizer:
        """The tokenizer as the event tokenizer MIDI data is read with."""
        if not isinstance(tokenizer, EventTokenizer):
            raise SeqgenError(f"MIDI data needs an event tokenizer, got {tokenizer.kind!r}")
        return tokenizer

    def _prepare(
        self,
        paths: list[Path],
        out: Path,
        cfg: PrepareConfig,
        options: SourceOptions,
        force: bool,
        on_progress: Progress,
    ) -> dict[str, Any]:
        drums = options.drums if options.drums is not None else True
        return prepare_midi(paths, out, cfg, drums, force, on_progress)

    def file_tokens(self, path: Path, tokenizer: Tokenizer, dataset: Path | None = None) -> np.ndarray:
        """The file's note events followed by the end token."""
        from seqgen.music.midi_io import read_midi

        if not path.is_file():
            raise SeqgenError(f"{path} does not exist; give a text, ABC or MIDI file")
        tok = self.events(tokenizer)
        return np.asarray([*tok.encode_notes(read_midi(path, drums=tok.drums)), tok.eos_id])

    def corpus_text(self, train: np.ndarray, tokenizer: Tokenizer) -> str:
        """The training split's event tokens, one character each."""
        return events_as_text(train)

    def prompt_ids(self, tokenizer: Tokenizer, prompt: str = "", primer: Path | None = None) -> list[int]:
        if prompt:
            raise SeqgenError("--prompt does not apply to a MIDI model; use --primer FILE.mid")
        tok = self.events(tokenizer)
        ids = tok.document_start()
        if primer is not None:
            from seqgen.music.midi_io import read_midi

            ids += tok.encode_notes(read_midi(primer, drums=tok.drums))
        return ids

    def render(self, tokenizer: Tokenizer, prompt_ids: list[int], ids: list[int]) -> Rendered:
        tok = self.events(tokenizer)
        return Rendered(notes=tok.decode_notes([i for i in prompt_ids if i != tok.eos_id] + list(ids)))

    def notes_of(self, text: str) -> tuple[list[Note], float]:
        """The notes of event-token names (`EventTokenizer.to_text`, default vocabulary), at the
        120 qpm a MIDI file without tempo has."""
        tok = EventTokenizer()
        return tok.decode_notes(tok.from_text(text)), 120.0

    def engrave(self, files: list[Path]) -> str | None:
        from seqgen.music.score import engrave_midi

        return engrave_midi(next(p for p in files if p.suffix == ".mid"))

    def check(self, rendered: Rendered, ended: bool, corpus: str | None = None) -> TuneCheck:
        """The music check on the notes (a piece may stop at --length: MIDI has no end marker)."""
        return check_music(rendered, None)


def _hash_fraction(key: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for `key`: the split does not depend on file order."""
    h = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def prepare_midi(
    paths: list[Path],
    out: Path,
    cfg: PrepareConfig,
    drums: bool = True,
    force: bool = False,
    on_progress: Progress = no_progress,
) -> dict[str, Any]:
    """Event-token dataset from MIDI files: one document per file, split by piece."""
    from seqgen.datasets.corpus.midi import read_midi_files
    from seqgen.datasets.tokenizers.events import EventTokenizer

    result = read_midi_files(paths, drums=drums, on_progress=lambda d, t: on_progress("reading", d, t))
    tok = EventTokenizer(drums=drums)
    docs: dict[tuple, tuple[str, list[int]]] = {}
    for source, notes in result.pieces:
        ids = tok.encode_notes(notes)
        docs.setdefault(tuple(ids), (source, ids))  # an exact duplicate never lands on both sides
    pieces = sorted(docs.values(), key=lambda d: _hash_fraction(d[0], cfg.seed))
    if len(pieces) < 2:
        raise SeqgenError(
            f"only {len(pieces)} usable MIDI piece(s) found; the train/val split needs at least 2"
        )
    n_val = min(len(pieces) - 1, max(1, round(len(pieces) * cfg.val_fraction)))
    val, train = pieces[:n_val], pieces[n_val:]
    meta = {
        "kind": MidiKind.name,
        "sources": [str(p) for p in paths],
        "counts": {
            "files": result.files,
            "pieces": len(pieces),
            "train_pieces": len(train),
            "val_pieces": len(val),
            "notes": sum(len(n) for _, n in result.pieces),
            "vocab_size": tok.vocab_size,
            "skipped": len(result.skipped),
        },
        "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
        "split": {"method": "by-piece", "val_fraction": cfg.val_fraction, "seed": cfg.seed},
    }
    return write_documents(
        out,
        tok,
        (np.asarray(ids) for _, ids in train),
        (np.asarray(ids) for _, ids in val),
        meta,
        force=force,
    )

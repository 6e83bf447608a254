"""Turning generated ids into files a person can use: text, ABC + MIDI, or MIDI.

Owns: rendering a sample per data kind ('text' -> .txt; 'abc' -> .abc and .mid; 'midi' -> .mid),
the music check a sample must pass before it is kept, and refusing to overwrite files. Knows
nothing about models or the sampling loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.files import atomic_write_text

KIND_SUFFIXES = {"text": [".txt"], "abc": [".abc", ".mid"], "midi": [".mid"]}


@dataclass
class Rendered:
    """A sample decoded for its data kind: `text` for text and ABC, `notes` for music."""

    text: str | None = None
    notes: list | None = None
    tempo_qpm: float = 120.0
    error: str | None = None  # why the music could not be derived (ABC that does not parse)


def render(kind: str, tokenizer: Any, prompt_ids: list[int], ids: list[int]) -> Rendered:
    """Decode prompt + new ids into the document they form."""
    full = [i for i in prompt_ids if i != tokenizer.eos_id] + list(ids)
    if kind == "midi":
        return Rendered(notes=tokenizer.decode_notes(full))
    text = tokenizer.decode(full)
    if kind == "abc":
        text = text.strip("\n") + "\n"
        from seqgen.music.abc import abc_to_notes

        try:
            music = abc_to_notes(text)
            return Rendered(text=text, notes=music.notes, tempo_qpm=music.tempo_qpm)
        except SeqgenError as e:
            return Rendered(text=text, error=str(e))
    return Rendered(text=text)


def check(kind: str, rendered: Rendered, ended: bool):
    """The music check for ABC and MIDI samples (None for text: any text is accepted)."""
    if kind == "text":
        return None
    from seqgen.music.check import TuneCheck, check_notes, header_problem

    problem = rendered.error or (header_problem(rendered.text or "") if kind == "abc" else None)
    if problem:
        return TuneCheck(ok=False, reason=problem, notes=0, seconds=0.0, lowest=None, highest=None)
    # The notes `render` already parsed; the ABC is not parsed a second time.
    verdict = check_notes(rendered.notes or [])
    if verdict.ok and kind == "abc" and not ended:
        verdict.ok, verdict.reason = False, "the tune did not end within --length"
    return verdict


def planned_paths(kind: str, out_dir: Path, count: int, stem: str = "sample") -> list[list[Path]]:
    width = max(3, len(str(count)))
    return [[out_dir / f"{stem}_{i + 1:0{width}d}{sfx}" for sfx in KIND_SUFFIXES[kind]] for i in range(count)]


def refuse_existing(paths: list[list[Path]], force: bool) -> None:
    existing = [p for group in paths for p in group if p.exists()]
    if existing and not force:
        raise SeqgenError(
            f"{existing[0]} already exists ({len(existing)} files would be overwritten); "
            "pass --force or choose another --out"
        )


def write(kind: str, rendered: Rendered, paths: list[Path]) -> list[Path]:
    """Write one rendered sample to its planned paths; returns the files written."""
    written = []
    for path in paths:
        if path.suffix in (".txt", ".abc"):
            atomic_write_text(path, rendered.text or "")
        elif path.suffix == ".mid" and rendered.notes:
            from seqgen.music.midi_io import write_midi

            write_midi(rendered.notes, path, tempo_qpm=rendered.tempo_qpm)
        else:
            continue
        written.append(path)
    return written

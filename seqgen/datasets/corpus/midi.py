"""MIDI corpus: files and folders of MIDI files -> pieces of notes.

Owns: finding MIDI files (`*.mid`, `*.midi`, any case, folders searched recursively), reading
each into notes, and skipping the unreadable ones with a reason so one bad file does not stop a
corpus. Knows nothing about tokens or training; reading one file is `seqgen.music.midi_io`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqgen.errors import SeqgenError
from seqgen.music.notes import Note

MIDI_SUFFIXES = (".mid", ".midi")

# on_progress(files done, files in all) after each file.
ProgressFn = Callable[[int, int], None]


@dataclass
class MidiReadResult:
    """What `read_midi_files` found: the readable pieces and the skipped files with reasons."""

    pieces: list[tuple[str, list[Note]]] = field(default_factory=list)  # (source path, notes)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    files: int = 0  # MIDI files examined: len(pieces) + len(skipped)


def find_midi_files(paths: list[Path]) -> list[Path]:
    """The files named in `paths` (any suffix) and MIDI files under the folders, sorted per folder,
    without repeats. Raises SeqgenError for a path that does not exist."""
    found: dict[Path, Path] = {}
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in MIDI_SUFFIXES and f.is_file())
        elif p.exists():
            files = [p]
        else:
            raise SeqgenError(f"no such file or folder: {p}")
        for f in files:
            found.setdefault(f.resolve(), f)
    return list(found.values())


def read_midi_files(
    paths: list[Path], drums: bool = True, on_progress: ProgressFn | None = None
) -> MidiReadResult:
    """Read every MIDI file in `paths` (files or folders) into notes.

    A file that cannot be read or holds no notes is skipped and recorded with the reason.
    Raises SeqgenError when a path is missing, no MIDI file is found, or none is readable.
    """
    from seqgen.music.midi_io import read_midi  # mido: only when MIDI is read

    files = find_midi_files(paths)
    if not files:
        where = ", ".join(str(p) for p in paths)
        raise SeqgenError(f"no MIDI files (*.mid, *.midi) found in {where}")
    result = MidiReadResult(files=len(files))
    for done, f in enumerate(files, start=1):
        try:
            result.pieces.append((str(f), read_midi(f, drums=drums)))
        except SeqgenError as e:
            result.skipped.append((str(f), _short(str(e), f)))
        if on_progress is not None:
            on_progress(done, len(files))
    if not result.pieces:
        path, reason = result.skipped[0]
        raise SeqgenError(
            f"none of the {len(files)} MIDI files could be used; the first, {path}, failed: {reason}"
        )
    return result


def _short(message: str, path: Path) -> str:
    """The reason part of a read_midi error, without the file name the caller already has."""
    for prefix in (f"cannot read MIDI file {path}: ", f"MIDI file {path} "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message

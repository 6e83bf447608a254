"""Sample files on disk: naming them, refusing to overwrite them, writing them.

Owns: the file names of a batch of samples (`sample_001.abc`, ...; which files a sample becomes
is its data kind's `sample_suffixes`), refusing to overwrite files, and writing a rendered sample
(text to .txt/.abc, notes to .mid). Decoding and checking a sample is its data kind's
(`seqgen.datasets.kinds`); the order of the work is `pipeline`'s. Knows nothing about models.
"""

from __future__ import annotations

from pathlib import Path

from seqgen.datasets.kinds import DataKind, Rendered
from seqgen.errors import SeqgenError
from seqgen.files import atomic_write_text

__all__ = ["Rendered", "planned_paths", "refuse_existing", "write"]


def planned_paths(kind: DataKind, out_dir: Path, count: int, stem: str = "sample") -> list[list[Path]]:
    """The files of `count` samples in `out_dir`: one list per sample, one path per suffix."""
    width = max(3, len(str(count)))
    return [
        [out_dir / f"{stem}_{i + 1:0{width}d}{sfx}" for sfx in kind.sample_suffixes] for i in range(count)
    ]


def refuse_existing(paths: list[list[Path]], force: bool) -> None:
    existing = [p for group in paths for p in group if p.exists()]
    if existing and not force:
        raise SeqgenError(
            f"{existing[0]} already exists ({len(existing)} files would be overwritten); "
            "pass --force or choose another --out"
        )


def write(rendered: Rendered, paths: list[Path]) -> list[Path]:
    """Write one rendered sample to its planned paths; returns the files written (a .mid only
    when the sample has notes)."""
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

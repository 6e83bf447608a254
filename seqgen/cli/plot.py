"""`seqgen plot`: a run's loss curves, or a MIDI file's piano roll, as a PNG (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqgen.cli import app, console, handle_errors
from seqgen.errors import SeqgenError


@app.command("plot", short_help="Draw a run's loss curves, or a MIDI file's piano roll, as a PNG.")
@handle_errors
def plot_cmd(
    target: Annotated[
        Path,
        typer.Argument(help="A run directory (checkpoints/RUN) or a MIDI file (.mid).", show_default=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="The PNG to write. Default: RUN/loss.png, or FILE.png beside the MIDI file."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing PNG.")] = False,
) -> None:
    """Draw a run's train and val loss against step and against time (with the learning rate), or a
    MIDI file's piano roll.

    Examples:

      [bold]seqgen plot checkpoints/RUN[/]                         (writes checkpoints/RUN/loss.png)

      [bold]seqgen plot samples/RUN/seed-7/sample_001.mid --out roll.png[/]
    """
    from seqgen.measure import plots

    if target.is_dir():
        from seqgen.train.rundir import METRICS, RunDir

        log = target / METRICS
        if not log.is_file():
            raise SeqgenError(f"{target} holds no {METRICS}; give a run directory such as checkpoints/RUN")
        records = [e.to_dict() for e in RunDir(target).evaluations()]
        if not records:
            raise SeqgenError(f"{log} holds no evaluation yet; plot again after the first one")
        path = out or target / "loss.png"
        _refuse(path, force or out is None)  # RUN/loss.png is seqgen's own picture: redrawn
        plots.run_curves(records, path, f"{target.name}: loss")
        console.print(f"Wrote {path} ({len(records)} evaluations)", highlight=False)
        return
    if target.suffix.lower() not in (".mid", ".midi"):
        raise SeqgenError(f"{target} is neither a run directory nor a .mid file")
    if not target.is_file():
        raise SeqgenError(f"{target} does not exist")
    from seqgen.music.midi_io import read_midi

    notes = read_midi(target)
    if not notes:
        raise SeqgenError(f"{target} holds no notes to draw")
    path = out or target.with_suffix(".png")
    _refuse(path, force)
    plots.piano_roll(notes, path, f"{target.name}: {len(notes)} notes, {max(n.end for n in notes):.1f} s")
    console.print(f"Wrote {path} ({len(notes)} notes)", highlight=False)


def _refuse(path: Path, force: bool) -> None:
    if path.suffix.lower() != ".png":
        raise SeqgenError(f"--out {path} must end in .png")
    if path.exists() and not force:
        raise SeqgenError(f"{path} already exists; pass --force or choose another --out")

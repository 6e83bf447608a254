"""`seqgen plot`: a run's loss curves or a MIDI file's piano roll as a PNG, or a tune's engraved
score as SVG or PNG (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqgen.cli import app, console, handle_errors
from seqgen.errors import SeqgenError


@app.command("plot", short_help="Draw a run's loss curves, a MIDI file's piano roll, or a tune's score.")
@handle_errors
def plot_cmd(
    target: Annotated[
        Path,
        typer.Argument(
            help="A run directory (checkpoints/RUN), a MIDI file (.mid) or an ABC tune (.abc).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="The picture to write. Default: RUN/loss.png, FILE.png beside a MIDI file, FILE.svg "
            "beside a tune (a score may also be .png)."
        ),
    ] = None,
    score: Annotated[
        bool,
        typer.Option("--score", help="A MIDI file: its engraved score instead of its piano roll."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing picture.")] = False,
) -> None:
    """Draw a run's train and val loss against step and against time (with the learning rate), a
    MIDI file's piano roll, or a tune's engraved score (sheet music, by verovio: no MuseScore or
    LilyPond needed). The score of a MIDI file written beside a tune (sample_001.mid beside
    sample_001.abc) is engraved from the tune, which holds its metre and key.

    Examples:

      [bold]seqgen plot checkpoints/RUN[/]                         (writes checkpoints/RUN/loss.png)

      [bold]seqgen plot samples/RUN/seed-7/sample_001.mid --out roll.png[/]

      [bold]seqgen plot samples/RUN/seed-7/sample_001.abc[/]       (writes sample_001.svg)

      [bold]seqgen plot tune.abc --out tune.png[/]                   (a PNG: needs seqgen[png])
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
    if target.suffix.lower() not in (".mid", ".midi", ".abc"):
        raise SeqgenError(f"{target} is neither a run directory, a .mid file nor an .abc tune")
    if not target.is_file():
        raise SeqgenError(f"{target} does not exist")
    if score or target.suffix.lower() == ".abc":
        _score(target, out, force)
        return
    from seqgen.music.midi_io import read_midi

    notes = read_midi(target)
    if not notes:
        raise SeqgenError(f"{target} holds no notes to draw")
    path = out or target.with_suffix(".png")
    _refuse(path, force)
    plots.piano_roll(notes, path, f"{target.name}: {len(notes)} notes, {max(n.end for n in notes):.1f} s")
    console.print(f"Wrote {path} ({len(notes)} notes)", highlight=False)


def _score(target: Path, out: Path | None, force: bool) -> None:
    """Engrave `target` (an .abc tune, or a .mid file: from the .abc beside it where there is
    one) as SVG, or PNG where `out` says."""
    from seqgen.music import score

    path = out or target.with_suffix(".svg")
    if path.suffix.lower() not in (".svg", ".png"):
        raise SeqgenError(f"--out {path} must end in .svg or .png for a score")
    if path.exists() and not force:
        raise SeqgenError(f"{path} already exists; pass --force or choose another --out")
    abc = target if target.suffix.lower() == ".abc" else target.with_suffix(".abc")
    if abc.is_file():
        try:
            text = abc.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise SeqgenError(f"{abc} is not UTF-8 text; save it as UTF-8") from e
        svg = score.engrave_abc(_first_tune(text), abc.name)
    else:
        svg = score.engrave_midi(target)
    facts = score.ScoreFacts.of(svg)
    if path.suffix.lower() == ".png":
        score.svg_to_png(svg, path)
    else:
        path.write_text(svg, encoding="utf-8")
    source = "" if abc == target or not abc.is_file() else f" (engraved from {abc.name})"
    console.print(f"Wrote {path}{source}: {facts.bars} bars, {facts.notes} notes", highlight=False)


def _first_tune(text: str) -> str:
    """The first tune of an ABC file (a tune book's others are left out: one score per tune)."""
    import re

    starts = [m.start() for m in re.finditer(r"(?m)^X:", text)]
    return text[starts[0] : starts[1]] if len(starts) > 1 else text


def _refuse(path: Path, force: bool) -> None:
    if path.suffix.lower() != ".png":
        raise SeqgenError(f"--out {path} must end in .png")
    if path.exists() and not force:
        raise SeqgenError(f"{path} already exists; pass --force or choose another --out")

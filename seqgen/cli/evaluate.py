"""`seqgen eval`: a checkpoint's loss, bits per token and perplexity on data; or generated music
scored: for ABC the tune judge beside the dataset's held-out tunes; the music check, range,
density, key agreement and novelty."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from seqgen.cli import app, console, emit_json, err_console, handle_errors, quiet
from seqgen.cli._progress import stage_progress
from seqgen.cli._tunes import pct, plural
from seqgen.errors import SeqgenError


@app.command("eval", short_help="Score a model on held-out data (loss, bits, perplexity) or generated tunes.")
@handle_errors
def eval_cmd(
    checkpoint: Annotated[
        Path | None,
        typer.Argument(help="A run directory (checkpoints/RUN) or checkpoint file.", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A raw text, ABC or MIDI file to score instead of a dataset.", show_default=False
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="A prepared dataset to score (default: the run's own dataset).")
    ] = None,
    split: Annotated[str, typer.Option(help="Which split of the dataset: val or train.")] = "val",
    samples: Annotated[
        Path | None,
        typer.Option(help="Score generated music in this folder (.abc, else .mid) instead of a model."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (as seqgen train).")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Score a trained model on held-out data (loss in nats per token, bits per character or token,
    perplexity), or score generated tunes (`--samples DIR`). ABC tunes go before the tune judge
    (rhythm: inner bars that fill the M: metre; mode: notes and a last note that fit the K: key;
    form: long enough, a dance's parts in phrases of 4 or 8 bars, no runaway loops, no stray text
    in the music; plagiarism: no long passage copied from the training
    tunes), each tune with its reasons, and the summary sets the samples beside the dataset's
    held-out tunes judged the same way. Every sample also gets the music check (it parses, has
    notes, a plausible length and range; whether a tune ended by itself is known only while
    sampling), its pitch range and note density, and how much it copies verbatim from the training
    data (memorisation or invention?). Plagiarism, novelty and the held-out tunes need the training
    data: --data, or found from the checkpoint or the samples' folder.

    Examples:

      [bold]seqgen eval checkpoints/RUN[/]                          (the run's own val split)

      [bold]seqgen eval checkpoints/RUN my_tunes.abc[/]             (a file the model never saw)

      [bold]seqgen eval --samples samples/RUN/seed-7 --data data/oneills1850[/]
    """
    if json_out:
        quiet()
    if split not in ("val", "train"):
        raise SeqgenError(f"--split takes val or train, got {split!r}")
    if samples is not None:
        if file is not None:
            raise SeqgenError("--samples scores a folder of samples; drop the FILE argument")
        from seqgen.measure.samples import score_sample_folder

        with stage_progress(hidden=not err_console.is_terminal) as progress:
            result = score_sample_folder(samples, checkpoint, data, progress)
        if json_out:
            emit_json(result)
        else:
            _show_samples(result)
        return
    if checkpoint is None:
        raise SeqgenError("give a checkpoint to evaluate (checkpoints/RUN), or --samples DIR")
    if file is not None and data is not None:
        raise SeqgenError("give either a FILE or --data, not both")
    if precision not in ("auto", "fp32", "bf16"):
        raise SeqgenError(f"--precision takes auto, fp32 or bf16, got {precision!r}")
    from seqgen.measure.evaluate import score_model

    with stage_progress(hidden=not err_console.is_terminal) as progress:
        result = score_model(checkpoint, file, data, split, device, precision, progress)
    if json_out:
        emit_json(result)
        return
    unit = result["unit"]
    table = Table(title=f"{result['checkpoint']} on {result['data']}", title_justify="left")
    for col in ("tokens", "loss (nats)", f"bits per {unit}", "perplexity"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{result['tokens']:,}",
        f"{result['loss']:.4f}",
        f"{result['bits_per_token']:.4f}",
        f"{result['perplexity']:.3f}",
    )
    console.print(table)
    console.print(f"read {result['read']}", highlight=False)


def _fmt(x: Any, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _show_samples(result: dict[str, Any]) -> None:
    """One block per sample, then the summary: for ABC the tune judge's figures beside the
    held-out tunes' in a narrow table; then pitches, key agreement and novelty in sentences."""
    from seqgen.cli._tunes import show
    from seqgen.datasets.kinds import kind_named

    kind = kind_named(result["kind"])
    rows, s = result["rows"], result["summary"]
    console.print(f"{len(rows)} samples in {result['folder']}:", highlight=False)
    show([_sample_entry(r, kind.short_unit) for r in rows])
    lines = []
    if s["judge"] is not None:
        console.print(_judge_table(s["judge"], result["held_out"]))
        lines.append(
            f"{s['passed']} of {s['samples']} samples play (the music check: notes, a sane length "
            f"and range); {s['passed_all']} of {s['samples']} play and pass the tune judge."
        )
    else:
        lines.append(f"{s['passed']} of {s['samples']} pass the music check ({pct(s['pass_share'])}).")
    lines.append(
        f"Pitches {s['lowest_pitch']}-{s['highest_pitch']} "
        f"(median span {_fmt(s['median_pitch_span'], '.0f')} semitones); "
        f"median {_fmt(s['median_notes_per_second'], '.1f')} notes/s over "
        f"{_fmt(s['median_seconds'], '.0f')} s."
    )
    if kind.states_key_and_meter:
        lines.append(
            f"Key: the notes agree with the K: field's key signature in {pct(s['key_agreement'])} "
            "of the tunes (music21's key analysis)."
        )
    if result["training_data"]:
        lines.append(
            f"Novelty against {result['training_data']}: the longest run copied from a training tune is "
            f"{_fmt(s['median_longest_copy'], '.0f')} {kind.short_unit}s (median), "
            f"{pct(s['median_copy_share'])} of a tune; "
            f"{pct(s['mostly_copied'])} of the tunes with music copy half of it or more."
        )
    else:
        what = "Novelty, plagiarism and the held-out tunes" if s["judge"] is not None else "Novelty"
        lines.append(f"{what}: not measured (give --data DIR, the dataset the model was trained on).")
    for line in lines:
        console.print(line, highlight=False)


def _sample_entry(r: dict[str, Any], unit: str) -> Text:
    """One sample's block: for ABC the judge's verdict (after the music check's, when it fails);
    for MIDI the music check, the notes and copying."""
    from seqgen.cli._tunes import entry, judge_details
    from seqgen.measure.samples import CriterionScore, JudgeScore

    judge = r["judge"]
    failed = [] if r["ok"] else [f"music check: {r['reason']}"]
    if judge is not None:
        criteria = {name: CriterionScore(**c) for name, c in judge["criteria"].items()}
        details = judge_details(JudgeScore(**{**judge, "criteria": criteria}), unit, r["longest_copy"])
        return entry(r["name"], r["passed"], failed + details)
    details = failed
    if r["notes"]:
        pitches = f", pitches {r['lowest']}-{r['highest']}" if r["lowest"] is not None else ""
        details.append(
            f"{r['notes']} notes, {r['seconds']:.1f} s{pitches}, {r['notes_per_second']:.1f} notes/s"
        )
    if r["copy_share"] is not None:
        details.append(f"copy {pct(r['copy_share'])} ({plural(r['longest_copy'], unit)})")
    return entry(r["name"], r["ok"], details)


def _judge_table(samples: dict[str, Any], held_out: dict[str, Any] | None) -> Table:
    """The tune judge's figures: the samples, and beside them the held-out tunes (when known)."""
    table = Table(title="The tune judge", title_justify="left")
    table.add_column("criterion")
    table.add_column("samples", justify="right")
    other = held_out["judge"] if held_out else None
    if other is not None:
        table.add_column("held-out tunes", justify="right")
    ours = _judge_cells(samples)
    theirs = _judge_cells(other) if other is not None else {}
    for key, cell in ours.items():
        label = "all but plagiarism" if key == "all four" and not samples["plagiarism_measured"] else key
        table.add_row(label, cell, *([theirs[key]] if theirs else []))
    return table


def _judge_cells(j: dict[str, Any]) -> dict[str, str]:
    """A `judge_summary` as the table's cells, by row label."""
    cells = {name: pct(share) for name, share in j["criteria"].items()}
    return cells | {
        "all four": pct(j["all"]),
        "ends on the tonic": pct(j["ends_on_tonic"]),
        "inner bars fill the metre": pct(j["inner_bars_full"]),
        "median bars played": _fmt(j["median_bars_played"], ".0f"),
        "median copy share": pct(j["median_copy_share"]),
        "tunes": str(j["tunes"]),
    }

"""`seqgen eval`: a checkpoint's loss, bits per token and perplexity on data; or generated music
scored on the music check, range, density, key and meter agreement, and novelty."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, emit_json, err_console, handle_errors, quiet
from seqgen.cli._progress import stage_progress
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
    perplexity), or score generated tunes (`--samples DIR`): the share that pass the music check
    (it parses, has notes, a plausible length and range; whether a tune ended by itself is known
    only while sampling), pitch range, note density, whether the notes agree with the header's key
    and meter, and how much was copied verbatim from the training tunes (memorisation or invention?).

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


def _fmt(x: Any, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _show_samples(result: dict[str, Any]) -> None:
    from seqgen.datasets.kinds import kind_named

    kind = kind_named(result["kind"])
    abc = kind.states_key_and_meter
    table = Table(title=f"{len(result['rows'])} samples in {result['folder']}", title_justify="left")
    cols = ["sample", "check", "notes", "seconds", "pitches", "notes/s"]
    cols += ["key (header / notes)", "full bars"] if abc else []
    cols += ["longest copy", "copied"]
    for col in cols:
        table.add_column(
            col, justify="left" if col in ("sample", "check", "key (header / notes)") else "right"
        )
    for r in result["rows"]:
        row = [
            r["name"],
            "[green]ok[/]" if r["ok"] else f"[red]{r['reason']}[/]",
            str(r["notes"]),
            f"{r['seconds']:.1f}",
            f"{r['lowest']}-{r['highest']}" if r["lowest"] is not None else "-",
            f"{r['notes_per_second']:.1f}",
        ]
        if abc:
            agree = {True: "[green]agree[/]", False: "[yellow]differ[/]", None: ""}[r["key_agrees"]]
            row += [f"{r['header_key'] or '-'} / {r['found_key'] or '-'} {agree}", _pct(r["full_bars"])]
        row += [_fmt(r["longest_copy"], "d"), _pct(r["copy_share"])]
        table.add_row(*row)
    console.print(table)
    s = result["summary"]
    lines = [
        f"{s['passed']} of {s['samples']} pass the music check ({_pct(s['pass_share'])}).",
        f"Pitches {s['lowest_pitch']}-{s['highest_pitch']} "
        f"(median span {_fmt(s['median_pitch_span'], '.0f')} semitones); "
        f"median {_fmt(s['median_notes_per_second'], '.1f')} notes/s over "
        f"{_fmt(s['median_seconds'], '.0f')} s.",
    ]
    if abc:
        lines.append(
            f"Key: the notes agree with the header's key signature in {_pct(s['key_agreement'])} of tunes; "
            f"{_pct(s['mean_full_bars'])} of inner bars are as long as the meter says."
        )
    if result["training_data"]:
        lines.append(
            f"Novelty against {result['training_data']}: the longest run copied from a training tune is "
            f"{_fmt(s['median_longest_copy'], '.0f')} {kind.short_unit}s (median), "
            f"{_pct(s['median_copy_share'])} of a tune; "
            f"{_pct(s['mostly_copied'])} of the tunes with music copy half of it or more."
        )
    else:
        lines.append("Novelty: not measured (give --data DIR, the dataset the model was trained on).")
    for line in lines:
        console.print(line, highlight=False)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"

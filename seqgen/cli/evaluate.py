"""`seqgen eval`: a checkpoint's loss, bits per token and perplexity on data; or generated music
scored on the music check, range, density, key and meter agreement, and novelty."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, emit_json, handle_errors, quiet
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.datasets.store import Dataset
    from seqgen.train.checkpoint import Checkpoint


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
        result = _score_samples(samples, checkpoint, data)
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
    result = _score_model(checkpoint, file, data, split, device, precision)
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


def _score_model(
    checkpoint: Path, file: Path | None, data: Path | None, split: str, device: str, precision: str
) -> dict[str, Any]:
    """The checkpoint's loss on a raw file (read as its kind of data is prepared) or on a split of
    a dataset (its own by default)."""
    from seqgen.datasets.kinds import kind_named
    from seqgen.device import resolve_device
    from seqgen.measure.evaluate import token_loss
    from seqgen.train.checkpoint import load_model
    from seqgen.train.rundir import resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    dev = resolve_device(device)
    model, tokenizer, ckpt = load_model(path, dev)
    kind = kind_named(ckpt.data.kind)
    if file is not None:
        # Read the file as the training data was read (for ABC, with its options).
        tokens, source = kind.file_tokens(file, tokenizer, Path(ckpt.data.path)), str(file)
    else:
        dataset = _dataset_of(ckpt, data)
        if dataset.tokenizer.to_dict() != tokenizer.to_dict():
            raise SeqgenError(
                f"{dataset.path} has a different vocabulary from {path}'s; evaluate on the run's own "
                f"kind of data ({ckpt.data.path})"
            )
        tokens, source = dataset.split(split), f"{dataset.path} ({split} split)"
    with console.status(f"scoring {len(tokens):,} tokens ..."):
        result = token_loss(model, tokens, dev, ckpt.block_size, precision)
    return {"checkpoint": str(path), "data": source, "unit": kind.short_unit, **result}


def _dataset_of(ckpt: Checkpoint, data: Path | None) -> Dataset:
    from seqgen.datasets.store import open_dataset

    if data is not None:
        return open_dataset(data)
    path = Path(ckpt.data.path)
    if not (path / "meta.json").is_file():
        raise SeqgenError(f"the run's dataset {path} is gone; give --data DIR or a FILE to score")
    return open_dataset(path)


def _score_samples(folder: Path, checkpoint: Path | None, data: Path | None) -> dict[str, Any]:
    """Score the samples; novelty needs the training data: --data, or the checkpoint's dataset,
    or the run the samples came from (samples/RUN/... beside checkpoints/RUN)."""
    from seqgen.cli._progress import stage_progress
    from seqgen.measure.evaluate import samples_kind, score_samples

    if not folder.is_dir():
        raise SeqgenError(f"{folder} is not a directory of samples; give the --out of seqgen sample")
    dataset = None
    if data is not None:
        from seqgen.datasets.store import open_dataset

        dataset = open_dataset(data)
    else:
        from seqgen.train.checkpoint import Checkpoint
        from seqgen.train.rundir import resolve_checkpoint

        run = checkpoint
        if run is None:  # samples/RUN/seed-N -> checkpoints/RUN; a comparison's DIR/samples/M -> DIR/M
            parts = folder.resolve().parts
            if "samples" in parts:
                at = len(parts) - 1 - parts[::-1].index("samples")
                if at + 1 < len(parts):
                    name, base = parts[at + 1], Path(*parts[:at])
                    for guess in (Path("checkpoints") / name, base / name):
                        if (guess / "best.pt").is_file() or (guess / "last.pt").is_file():
                            run = guess
                            break
        if run is not None:
            try:
                dataset = _dataset_of(Checkpoint.load(resolve_checkpoint(run)), None)
            except SeqgenError:
                dataset = None
    kind = samples_kind(folder)
    if dataset is not None and dataset.data_kind is not kind:
        raise SeqgenError(
            f"{folder} holds {kind.label} samples but {dataset.path} is {dataset.kind} data; "
            "give --data the dataset the samples' model was trained on"
        )
    corpus = None
    if dataset is not None:
        with console.status("reading the training data for the novelty check ..."):
            corpus = dataset.data_kind.corpus_text(dataset.train, dataset.tokenizer)
    with stage_progress() as progress:
        result = score_samples(
            folder, corpus, dataset.tokenizer if dataset else None, lambda d, t: progress("scoring", d, t)
        )
    result["folder"] = str(folder)
    result["training_data"] = str(dataset.path) if dataset else None
    return result


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

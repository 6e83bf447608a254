"""`seqgen info`: what a checkpoint or a prepared dataset holds, at a glance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, emit_json, handle_errors, quiet
from seqgen.errors import SeqgenError


@app.command("info", short_help="Show what a checkpoint or a dataset holds.")
@handle_errors
def info_cmd(
    target: Annotated[
        Path,
        typer.Argument(
            help="A run directory or checkpoint file, or a dataset (data/NAME).", show_default=False
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Show a checkpoint's model type, parameter count, configuration, training steps and time, best
    val loss and tokenizer; or a dataset's kind, sizes, split and tokenizer.

    Examples:

      [bold]seqgen info checkpoints/RUN[/]

      [bold]seqgen info data/oneills1850 --json[/]
    """
    if json_out:
        quiet()
    if (target / "meta.json").is_file():
        info = dataset_info(target)
    elif target.exists():
        info = checkpoint_info(target)
    else:
        raise SeqgenError(f"{target} does not exist; give checkpoints/RUN, a .pt file or data/NAME")
    if json_out:
        emit_json(info)
        return
    table = Table(title=info.pop("title"), title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in info.items():
        table.add_row(key.replace("_", " "), _show(value))
    console.print(table)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items() if v is not None)
    return str(value)


def tokenizer_summary(d: dict[str, Any], vocab_size: int) -> str:
    if d.get("kind") == "char":
        chars = "".join(c for c in d["chars"] if c.isprintable() and c != " ")
        shown = chars if len(chars) <= 60 else chars[:60] + "..."
        eos = " + end-of-document" if d.get("eos") else ""
        return f"characters: {len(d['chars'])}{eos} ({vocab_size} ids): {shown}"
    if d.get("kind") == "events":
        return (
            f"MIDI events ({vocab_size} ids): note on/off, time shifts of {d['step_ms']} ms up to "
            f"{d['max_shift_steps']} steps, {d['velocity_bins']} velocity bins, "
            f"drums {'on' if d['drums'] else 'off'}"
        )
    return f"{d.get('kind')} ({vocab_size} ids)"


def dataset_info(path: Path) -> dict[str, Any]:
    from seqgen.datasets.store import open_dataset

    ds = open_dataset(path)
    meta = ds.meta
    counts = {k: v for k, v in meta.get("counts", {}).items() if not isinstance(v, dict | list)}
    sources = meta.get("sources", [])
    return {
        "title": f"dataset {path}",
        "name": ds.name,
        "kind": ds.kind,
        "tokens": {"train": len(ds.train), "val": len(ds.val)},
        "counts": counts,
        "split": meta.get("split", {}),
        "tokenizer": tokenizer_summary(meta["tokenizer"], ds.tokenizer.vocab_size),
        "sources": f"{len(sources)} file(s)" + (f", e.g. {sources[0]}" if sources else ""),
        "created": meta.get("created", "-"),
    }


def checkpoint_info(target: Path) -> dict[str, Any]:
    """The model of `target` (a run's best.pt, or the file given) and, from the run's last.pt, how
    long the whole run trained."""
    from seqgen.models import count_parameters
    from seqgen.train.checkpoint import Checkpoint, load_model
    from seqgen.train.rundir import BEST, RunDir, resolve_checkpoint

    path = resolve_checkpoint(target)
    model, tokenizer, ckpt = load_model(path)
    run = RunDir(path.parent)
    last = ckpt
    if path.name == BEST and run.last.is_file():
        last = Checkpoint.load(run.last)
    cfg, shape = ckpt.train_config, ckpt.model_config
    evaluations = len(run.evaluations(strict=False)) if run.metrics.is_file() else 0
    return {
        "title": f"checkpoint {path}",
        "model": ckpt.model_type,
        "parameters": count_parameters(model),
        "shape": {
            k: shape.get(k) for k in ("n_layer", "n_head", "n_embd", "hidden_size", "block_size", "dropout")
        },
        "trained": {
            "steps": last.step,
            "minutes": round(last.elapsed_s / 60, 2),
            "tokens_seen": last.tokens_seen,
            "evaluations": evaluations,
        },
        "best_val_loss": ckpt.best_val_loss,
        "this_checkpoint": {"step": ckpt.step, "val_loss": ckpt.val_loss},
        "optimizer": {
            "learning_rate": cfg.get("learning_rate"),
            "batch_size": cfg.get("batch_size"),
            "weight_decay": cfg.get("weight_decay"),
            "seed": cfg.get("seed"),
        },
        "data": f"{ckpt.data.name} ({ckpt.data.kind}) at {ckpt.data.path}",
        "tokenizer": tokenizer_summary(ckpt.tokenizer, tokenizer.vocab_size),
        "seqgen_version": ckpt.seqgen_version,
    }

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
    from seqgen.measure.info import checkpoint_info, dataset_info

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

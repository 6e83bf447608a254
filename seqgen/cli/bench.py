"""`seqgen bench`: measure training, sampling and data preparation on this machine, as tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, handle_errors
from seqgen.measure.suite import PARTS, BenchPlan

DOING = {"train": "training", "sample": "sampling", "prepare": "preparation"}


@app.command("bench", short_help="Measure training, sampling and preparation speed on this machine.")
@handle_errors
def bench_cmd(
    only: Annotated[
        str, typer.Option(help="Comma-separated parts to run: train, sample, prepare.")
    ] = ",".join(PARTS),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (as seqgen train).")] = "auto",
    compile: Annotated[str, typer.Option(help="auto, on or off (as seqgen train).")] = "auto",
    steps: Annotated[
        int, typer.Option(help="Timed training steps per model (after 3 warm-up steps).")
    ] = BenchPlan.steps,
    text_mb: Annotated[
        float, typer.Option(help="Size of the generated text file to prepare, in MB.")
    ] = BenchPlan.text_mb,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny models and sizes: checks the bench runs, in seconds.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every figure to this JSON file.")
    ] = None,
) -> None:
    """Measure what this machine does: training tokens/s, peak memory and MFU per model size;
    sampling tokens/s and per-token latency as a sample grows; preparation throughput.

    Every measurement runs in a fresh process (its peak memory is its own). Run it with nothing else
    busy on the machine: on a small CPU another process slows torch's kernels many times over.

    Examples:

      [bold]seqgen bench[/]

      [bold]seqgen bench --only train --device cuda --compile on --json bench.json[/]
    """
    from seqgen.measure import suite

    plan = BenchPlan(BenchPlan.parse_parts(only), device, precision, compile, steps, text_mb, quick)
    report = suite.machine(plan)
    peak = report["peak"]
    console.print(
        f"seqgen bench, {report['date']}: {report['device']}, {report['threads']} threads, "
        f"torch {report['torch']}"
        + (f"; measured {peak['dtype']} matmul peak {peak['flops'] / 1e12:.2f} TFLOP/s" if peak else ""),
        highlight=False,
    )
    tables = {"train": _train_table, "sample": _sample_table, "prepare": _prepare_table}
    for part in [p for p in suite.PARTS if p in plan.parts]:
        with console.status(f"measuring {DOING[part]} ...") as status:
            rows = suite.measure_part(plan, part, report, status.update)
        report[part] = rows
        _show(tables[part](rows, plan))
    report = {k: v for k, v in report.items() if k not in ("threads", "cuda")}
    if json_out is not None:
        from seqgen.files import atomic_write_text

        atomic_write_text(json_out, json.dumps(report, indent=2) + "\n")
        console.print(f"Wrote {json_out}", highlight=False)


def _show(table: Table) -> None:
    """Tables at full width even when the output is a file or a pipe (rich would squeeze to 80)."""
    console.print(table, width=None if console.is_terminal else 160)


def _train_table(rows: list[dict[str, Any]], plan: BenchPlan) -> Table:
    table = Table(title="Training (median step: forward, backward, clip, fused AdamW)", title_justify="left")
    peak = "peak GPU MB" if rows and rows[0]["device"] == "cuda" else "peak RSS MB"
    for col in ("model", "parameters", "batch x block", "precision", "step ms", "tokens/s", peak, "MFU"):
        table.add_column(col, justify="left" if col in ("model", "precision") else "right")
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['parameters']:,}",
            r["batch"],
            r["precision"] + (", compiled" if r["compiled"] else ""),
            f"{r['step_ms']:.1f}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['peak_memory_mb']:,.0f}",
            f"{100 * r['mfu']:.1f}%",
        )
    return table


def _sample_table(rows: list[dict[str, Any]], plan: BenchPlan) -> Table:
    from seqgen.measure.suite import latency_lengths

    lengths = latency_lengths(plan)
    table = Table(
        title="Sampling (batched tokens/s; ms per token of one sample as it grows)", title_justify="left"
    )
    heads = (
        "model",
        "context",
        "samples x new tokens",
        "tokens/s",
        "peak MB",
        *(f"ms/token @{n}" for n in lengths),
    )
    for col in heads:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            r["model"],
            str(r["context"] or "unbounded"),
            f"{r['samples']} x {r['length']}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['peak_memory_mb']:,.0f}",
            *(f"{r['latency_ms'][n]:.2f}" for n in lengths),
        )
    return table


def _prepare_table(rows: list[dict[str, Any]], plan: BenchPlan) -> Table:
    table = Table(title="Data preparation (in-process)", title_justify="left")
    for col in ("input", "tokens", "seconds", "tokens/s", "peak MB"):
        table.add_column(col, justify="left" if col == "input" else "right")
    for r in rows:
        table.add_row(
            r["what"],
            f"{r['tokens']:,}",
            f"{r['seconds']:.2f}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['peak_memory_mb']:,.0f}",
        )
    return table

"""`seqgen bench`: measure training, sampling and data preparation on this machine, as tables."""

from __future__ import annotations

import json
import platform
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, handle_errors
from seqgen.errors import SeqgenError

PARTS = ("train", "sample", "prepare")
LATENCY_LENGTHS = [128, 256, 512, 1024, 2048]


@app.command("bench", short_help="Measure training, sampling and preparation speed on this machine.")
@handle_errors
def bench_cmd(
    only: Annotated[
        str, typer.Option(help="Comma-separated parts to run: train, sample, prepare.")
    ] = ",".join(PARTS),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (as seqgen train).")] = "auto",
    compile: Annotated[str, typer.Option(help="auto, on or off (as seqgen train).")] = "auto",
    steps: Annotated[int, typer.Option(help="Timed training steps per model (after 3 warm-up steps).")] = 30,
    text_mb: Annotated[
        float, typer.Option(help="Size of the generated text file to prepare, in MB.")
    ] = 100.0,
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
    import torch

    from seqgen.device import resolve_device
    from seqgen.measure import bench

    parts = [p.strip() for p in only.split(",") if p.strip()]
    wrong = [p for p in parts if p not in PARTS]
    if wrong or not parts:
        raise SeqgenError(f"--only takes {', '.join(PARTS)} (comma-separated), got {only!r}")
    if steps < 1:
        raise SeqgenError(f"--steps must be at least 1, got {steps}")
    if text_mb <= 0:
        raise SeqgenError(f"--text-mb must be positive, got {text_mb:g}")
    if precision not in ("auto", "fp32", "bf16") or compile not in ("auto", "on", "off"):
        raise SeqgenError("--precision takes auto, fp32 or bf16 and --compile auto, on or off")
    # The matmul peak MFU is measured against (only needed for training).
    peak = bench.run_isolated(bench.device_peak, device, precision) if "train" in parts else None
    cuda = resolve_device(device).type == "cuda"
    name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    console.print(
        f"seqgen bench, {date.today()}: {name}, {torch.get_num_threads()} threads, torch {torch.__version__}"
        + (f"; measured {peak['dtype']} matmul peak {peak['flops'] / 1e12:.2f} TFLOP/s" if peak else ""),
        highlight=False,
    )
    report: dict[str, Any] = {
        "date": str(date.today()),
        "device": name,
        "torch": torch.__version__,
        "peak": peak,
    }
    if "train" in parts:
        shapes = bench.QUICK_SHAPES if quick else bench.GPU_SHAPES if cuda else bench.CPU_SHAPES
        rows = []
        with console.status("measuring training ...") as status:
            for shape in shapes:
                status.update(
                    f"measuring training: {shape.label}, batch {shape.batch_size} x {shape.block_size}"
                )
                row = bench.run_isolated(
                    bench.measure_training, shape, device, precision, compile, 3 if quick else steps
                )
                assert peak is not None  # measured above whenever training is
                row["mfu"] = row["tokens_per_s"] * row["flops_per_token"] / peak["flops"]
                rows.append(row)
        report["train"] = rows
        _show(_train_table(rows))
    if "sample" in parts:
        shapes = (
            bench.QUICK_SHAPES if quick else [bench.CPU_SHAPES[1], bench.CPU_SHAPES[0], bench.CPU_SHAPES[2]]
        )
        lengths = [16, 32] if quick else LATENCY_LENGTHS
        rows = []
        with console.status("measuring sampling ...") as status:
            for shape in shapes:
                status.update(f"measuring sampling: {shape.label}")
                n, length = (2, 16) if quick else (10, 500)
                rows.append(bench.run_isolated(bench.measure_sampling, shape, device, n, length, lengths))
        report["sample"] = rows
        _show(_sample_table(rows, lengths))
    if "prepare" in parts:
        jobs = (
            [("corpus", 0.0), ("text", 0.5)] if quick else [("corpus", 0.0), ("all", 0.0), ("text", text_mb)]
        )
        rows = []
        with console.status("measuring preparation ...") as status:
            for kind, mb in jobs:
                status.update(f"measuring preparation: {kind}")
                rows.append(bench.run_isolated(bench.measure_prepare, kind, mb))
        report["prepare"] = rows
        _show(_prepare_table(rows))
    if json_out is not None:
        from seqgen.files import atomic_write_text

        atomic_write_text(json_out, json.dumps(report, indent=2) + "\n")
        console.print(f"Wrote {json_out}", highlight=False)


def _show(table: Table) -> None:
    """Tables at full width even when the output is a file or a pipe (rich would squeeze to 80)."""
    console.print(table, width=None if console.is_terminal else 160)


def _train_table(rows: list[dict[str, Any]]) -> Table:
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


def _sample_table(rows: list[dict[str, Any]], lengths: list[int]) -> Table:
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


def _prepare_table(rows: list[dict[str, Any]]) -> Table:
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

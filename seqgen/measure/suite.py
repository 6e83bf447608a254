"""What `seqgen bench` measures, in which order, at which sizes.

Owns: `BenchPlan` (the parts to run and their options, validated), the machine line (device name,
torch, the measured matmul peak that MFU is taken against) and each part's rows: training per
model size (with MFU), sampling (batched tokens/s and latency as a sample grows), preparation.
Each measurement runs in a fresh process (`bench.run_isolated`). Prints nothing; reports what it
is measuring through a callback.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.measure import bench

PARTS = ("train", "sample", "prepare")
Status = Callable[[str], None]  # a line saying what is being measured now


@dataclass(frozen=True)
class BenchPlan:
    parts: tuple[str, ...] = PARTS
    device: str = "auto"
    precision: str = "auto"
    compile: str = "auto"
    steps: int = 30  # timed training steps per model, after 3 warm-up steps
    text_mb: float = 100.0  # size of the generated text file to prepare
    quick: bool = False  # tiny models and sizes: checks the bench runs, in seconds

    def __post_init__(self) -> None:
        wrong = [p for p in self.parts if p not in PARTS]
        if wrong or not self.parts:
            raise SeqgenError(
                f"--only takes {', '.join(PARTS)} (comma-separated), got {','.join(self.parts)!r}"
            )
        if self.steps < 1:
            raise SeqgenError(f"--steps must be at least 1, got {self.steps}")
        if self.text_mb <= 0:
            raise SeqgenError(f"--text-mb must be positive, got {self.text_mb:g}")
        if self.precision not in ("auto", "fp32", "bf16") or self.compile not in ("auto", "on", "off"):
            raise SeqgenError("--precision takes auto, fp32 or bf16 and --compile auto, on or off")

    @classmethod
    def parse_parts(cls, only: str) -> tuple[str, ...]:
        """'train,sample' -> ('train', 'sample'); an unknown or empty list is refused."""
        parts = tuple(p.strip() for p in only.split(",") if p.strip())
        if not parts or any(p not in PARTS for p in parts):
            raise SeqgenError(f"--only takes {', '.join(PARTS)} (comma-separated), got {only!r}")
        return parts


def machine(plan: BenchPlan) -> dict[str, Any]:
    """The report's head: date, device, torch, and (when training is measured) the matmul peak."""
    import torch

    from seqgen.device import resolve_device

    peak = (
        bench.run_isolated(bench.device_peak, plan.device, plan.precision) if "train" in plan.parts else None
    )
    cuda = resolve_device(plan.device).type == "cuda"
    name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    return {
        "date": str(date.today()),
        "device": name,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": cuda,
        "peak": peak,
    }


def measure_part(plan: BenchPlan, part: str, head: dict[str, Any], status: Status) -> list[dict[str, Any]]:
    """The rows of one part ('train', 'sample' or 'prepare') of the plan."""
    if part == "train":
        return _train(plan, head, status)
    if part == "sample":
        return _sample(plan, status)
    return _prepare(plan, status)


def latency_lengths(plan: BenchPlan) -> list[int]:
    """Sample lengths at which per-token latency is read."""
    return [16, 32] if plan.quick else list(bench.LATENCY_LENGTHS)


def _train(plan: BenchPlan, head: dict[str, Any], status: Status) -> list[dict[str, Any]]:
    shapes = bench.QUICK_SHAPES if plan.quick else bench.GPU_SHAPES if head["cuda"] else bench.CPU_SHAPES
    peak = head["peak"]
    rows = []
    for shape in shapes:
        status(f"measuring training: {shape.label}, batch {shape.batch_size} x {shape.block_size}")
        steps = 3 if plan.quick else plan.steps
        row = bench.run_isolated(
            bench.measure_training, shape, plan.device, plan.precision, plan.compile, steps
        )
        row["mfu"] = row["tokens_per_s"] * row["flops_per_token"] / peak["flops"]
        rows.append(row)
    return rows


def _sample(plan: BenchPlan, status: Status) -> list[dict[str, Any]]:
    cpu = bench.CPU_SHAPES
    shapes = bench.QUICK_SHAPES if plan.quick else [cpu[1], cpu[0], cpu[2]]
    n, length = (2, 16) if plan.quick else (10, 500)
    rows = []
    for shape in shapes:
        status(f"measuring sampling: {shape.label}")
        rows.append(
            bench.run_isolated(bench.measure_sampling, shape, plan.device, n, length, latency_lengths(plan))
        )
    return rows


def _prepare(plan: BenchPlan, status: Status) -> list[dict[str, Any]]:
    if plan.quick:
        jobs = [("corpus", 0.0), ("text", 0.5)]
    else:
        jobs = [("corpus", 0.0), ("all", 0.0), ("text", plan.text_mb)]
    rows = []
    for what, mb in jobs:
        status(f"measuring preparation: {what}")
        rows.append(bench.run_isolated(bench.measure_prepare, what, mb))
    return rows

"""The periodic evaluation of a training run: mean train and val loss on fixed windows.

Owns: which windows an evaluation reads (the same ones at every evaluation, from seeds of their
own, so two evaluations of a run are comparable) and averaging them over the processes. Knows
nothing about checkpoints, metrics files or when an evaluation is due (the trainer decides).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from seqgen.datasets.batches import BatchSampler
from seqgen.datasets.store import Dataset
from seqgen.models import SequenceModel
from seqgen.train.distributed import Dist
from seqgen.train.runstate import StopSignals

SPLITS = ("train", "val")


@dataclass(frozen=True)
class Windows:
    """`eval_iters` batches of `batch_size` x `block_size` tokens per split, drawn from `seeds`
    (one per split)."""

    dataset: Dataset
    batch_size: int
    block_size: int
    seeds: tuple[int, int]
    eval_iters: int


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    windows: Windows,
    dist: Dist,
    device: torch.device,
    stop: StopSignals | None = None,
) -> dict[str, float] | None:
    """Mean `loss(x, y)` per split, in eval mode. Returns None, unfinished, as soon as a stop
    signal is pending (a long evaluation must not delay the checkpoint a signal asks for)."""
    model.eval()
    if dist.active:
        stop = None  # ranks would see a signal at different batches; finish, then stop together
    out: dict[str, float] = {}
    try:
        for split, seed in zip(SPLITS, windows.seeds, strict=True):
            sampler = BatchSampler(
                windows.dataset.split(split), windows.batch_size, windows.block_size, seed, device
            )
            losses = []
            for _ in range(windows.eval_iters):
                if stop is not None and stop.signum is not None:
                    return None
                losses.append(loss(*sampler.next()))
            out[split] = dist.mean(torch.stack(losses).mean().item(), device)
    finally:
        model.train()
    return out

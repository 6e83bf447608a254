"""The periodic evaluation of a training run: mean train and val loss on fixed windows.

Owns: which windows an evaluation reads (the same ones at every evaluation, from seeds of their
own, so two evaluations of a run are comparable; placed as the run places its training windows:
at tune starts, or as streams whose state is carried from window to window, so the loss measures
what training teaches) and averaging them over the processes. Knows
nothing about checkpoints, metrics files or when an evaluation is due (the trainer decides).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    placement: str = "random"  # as the training windows: "random", "tunes" or "streams"
    pins: bool = False  # each window keeps its tune's header lines in front (`--pin-header`)


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    loss: Callable[[torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, Any]],
    windows: Windows,
    dist: Dist,
    device: torch.device,
    stop: StopSignals | None = None,
) -> dict[str, float] | None:
    """Mean `loss(x, y, state) -> (loss, state)` per split, in eval mode (the state is carried
    from one window to the next for "streams", else each window starts afresh). Returns None,
    unfinished, as soon as a stop signal is pending (a long evaluation must not delay the
    checkpoint a signal asks for)."""
    model.eval()
    if dist.active:
        stop = None  # ranks would see a signal at different batches; finish, then stop together
    out: dict[str, float] = {}
    try:
        for split, seed in zip(SPLITS, windows.seeds, strict=True):
            sampler = BatchSampler(
                windows.dataset.split(split),
                windows.batch_size,
                windows.block_size,
                seed,
                device,
                windows=windows.placement,
                eos=windows.dataset.tokenizer.eos_id,
                pins=windows.dataset.header_lines(split) if windows.pins else None,
            )
            losses, state = [], None
            for _ in range(windows.eval_iters):
                if stop is not None and stop.signum is not None:
                    return None
                value, state = loss(*sampler.next(), state)
                if windows.placement != "streams":
                    state = None
                losses.append(value)
            out[split] = dist.mean(torch.stack(losses).mean().item(), device)
    finally:
        model.train()
    return out

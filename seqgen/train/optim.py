"""The optimizer and the learning-rate schedule of a training run.

Owns: AdamW with weight decay on matrices only (`p.dim() >= 2`: embeddings, linear and LSTM
weights; never biases or norm gains) and the warm-up + cosine schedule over whichever budget
(steps or minutes) ends first. Knows nothing about data, checkpoints or the loop around it.
"""

from __future__ import annotations

import math

import torch

from seqgen.config import TrainConfig


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, lr: float, device: torch.device):
    params = [p for p in model.parameters() if p.requires_grad]
    # Decay matrices (embeddings, linear and LSTM weights); never biases or norm gains.
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=True)


def warmup_steps(cfg: TrainConfig) -> int:
    """The warm-up's steps: `warmup_iters`, but at most a tenth of a step budget."""
    return min(cfg.warmup_iters, cfg.max_iters // 10) if cfg.max_iters else cfg.warmup_iters


def warm_mark(
    step: int, elapsed_s: float, mark: tuple[int, float] | None, cfg: TrainConfig
) -> tuple[int, float] | None:
    """Where the warm-up ended, as (step, elapsed seconds), kept by the run from one step to the
    next: None during the warm-up. Kept as a step and a time, not as a share of the budget, so a
    run resumed with another budget decays from the same point of its new budget. A run resumed
    from before the warm-up's end was kept at all, already past its warm-up, decays from the start
    ((0, 0.0)), as it did (one that kept it as a share of its budget: `checkpoint._legacy_warm_end`)."""
    warmup = warmup_steps(cfg)
    if mark is not None or step < warmup:
        return mark
    return (step, elapsed_s) if step == warmup else (0, 0.0)


def lr_at(step: int, progress: float, peak: float, cfg: TrainConfig, warm_end: float | None = None) -> float:
    """Linear warm-up over `warmup_steps(cfg)` steps, then cosine from peak to peak * min_lr_ratio
    over the rest of the budget: from `warm_end` (the budget's progress when the warm-up ended;
    None: a step budget's own, warmup / max_iters) to 1. The decay so starts at the peak, whatever
    share of a time budget the warm-up took."""
    warmup = warmup_steps(cfg)
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    start = warm_end if warm_end is not None else (warmup / cfg.max_iters if cfg.max_iters else 0.0)
    decay = min(1.0, max(0.0, (progress - start) / (1.0 - start))) if start < 1.0 else 1.0
    min_lr = peak * cfg.min_lr_ratio
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay)) * (peak - min_lr)

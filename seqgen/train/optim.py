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


def lr_at(step: int, progress: float, peak: float, cfg: TrainConfig) -> float:
    """Linear warm-up over `warmup_iters` steps, then cosine from peak to peak * min_lr_ratio."""
    # A short step budget gets a proportionally short warm-up (at most a tenth of it).
    warmup = min(cfg.warmup_iters, cfg.max_iters // 10) if cfg.max_iters else cfg.warmup_iters
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    min_lr = peak * cfg.min_lr_ratio
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))) * (peak - min_lr)

"""One training loop for every model in the registry.

Owns: device and precision choice, the AdamW optimizer (weight decay on matrices only), the
warm-up + cosine learning-rate schedule over whichever budget (steps or minutes) ends first,
gradient clipping, periodic train/val evaluation, the metrics log, and when to write checkpoints
(the `checkpoint` module decides how). Knows the model only through its contract
(`forward(idx) -> (logits, state)`), and reports progress through a callback; it prints nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seqgen import __version__
from seqgen.checkpoint import BEST, CONFIG, LAST, METRICS, save_checkpoint, write_json_atomic
from seqgen.config import TrainConfig, to_dict
from seqgen.dataset import BatchSampler, Dataset
from seqgen.device import autocast, resolve_device, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.models import build_model, count_parameters

Callback = Callable[[str, dict[str, Any]], None]


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


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_val_loss: float
    val_loss: float
    elapsed_s: float
    tokens_per_sec: float
    parameters: int


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        dataset: Dataset,
        model_cfg: Any,
        run_dir: Path,
        callback: Callback | None = None,
    ):
        self.cfg = cfg
        self.dataset = dataset
        self.model_cfg = model_cfg
        self.run_dir = Path(run_dir)
        self.callback = callback or (lambda kind, info: None)
        self.device = resolve_device(cfg.device)
        self.amp_dtype = resolve_precision(cfg.precision, self.device)
        # Resolve the per-model defaults into the config, so the saved config is the run's own.
        cfg.learning_rate = self.lr = cfg.learning_rate or model_cfg.learning_rate
        cfg.batch_size = self.batch_size = cfg.batch_size or model_cfg.batch_size
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, model_cfg).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg, self.lr, self.device)
        self.block_size = model_cfg.block_size
        self.train_batches = BatchSampler(
            dataset.train, self.batch_size, self.block_size, cfg.seed, self.device
        )

    # -- evaluation ---------------------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp_dtype):
            logits, _ = self.model(x)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss over `eval_iters` batches per split, on the same windows at every evaluation."""
        self.model.eval()
        out = {}
        for i, split in enumerate(("train", "val")):
            sampler = BatchSampler(
                self.dataset.split(split),
                self.batch_size,
                self.block_size,
                self.cfg.seed + 1 + i,
                self.device,
            )
            losses = torch.stack([self.loss(*sampler.next()) for _ in range(self.cfg.eval_iters)])
            out[split] = losses.mean().item()
        self.model.train()
        return out

    # -- checkpoints --------------------------------------------------------------------------
    def payload(self, step: int, best_val: float, val: float, elapsed: float, tokens: int) -> dict[str, Any]:
        return {
            "seqgen_version": __version__,
            "model_type": self.cfg.model,
            "model_config": to_dict(self.model_cfg),
            "train_config": to_dict(self.cfg),
            "tokenizer": self.dataset.tokenizer.to_dict(),
            "data": {
                "name": self.dataset.name,
                "kind": self.dataset.kind,
                "path": str(self.dataset.path.resolve()),
            },
            "model": self.model.state_dict(),
            "step": step,
            "best_val_loss": best_val,
            "val_loss": val,
            "elapsed_s": elapsed,
            "tokens_seen": tokens,
        }

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=False)
        write_json_atomic(
            self.run_dir / CONFIG,
            {
                "seqgen_version": __version__,
                "model_type": cfg.model,
                "model_config": to_dict(self.model_cfg),
                "train_config": to_dict(cfg),
                "data": self.dataset.meta.get("name"),
                "device": str(self.device),
                "precision": "bf16" if self.amp_dtype else "fp32",
                "torch": torch.__version__,
            },
        )
        metrics = open(self.run_dir / METRICS, "a")  # noqa: SIM115
        n_params = count_parameters(self.model)
        tokens_per_step = self.batch_size * self.train_batches.block_size
        max_time_s = cfg.max_time * 60 if cfg.max_time else None
        self.callback(
            "start",
            {
                "parameters": n_params,
                "device": str(self.device),
                "run_dir": str(self.run_dir),
                "precision": "bf16" if self.amp_dtype else "fp32",
                "lr": self.lr,
                "tokens_per_step": tokens_per_step,
            },
        )
        self.model.train()
        step, tokens, best_val, val = 0, 0, float("inf"), float("inf")
        train_time = 0.0  # seconds spent in optimizer steps (eval excluded), for tokens/s
        start = time.perf_counter()
        x, y = self.train_batches.next()
        try:
            while True:
                elapsed = time.perf_counter() - start
                progress = max(
                    step / cfg.max_iters if cfg.max_iters else 0.0,
                    elapsed / max_time_s if max_time_s else 0.0,
                )
                lr = lr_at(step, progress, self.lr, cfg)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                t0 = time.perf_counter()
                loss = self.loss(x, y)
                x, y = self.train_batches.next()  # overlaps the host gather with device work
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                step += 1
                tokens += tokens_per_step
                now = time.perf_counter()
                train_time += now - t0
                elapsed = now - start
                progress = max(
                    step / cfg.max_iters if cfg.max_iters else 0.0,
                    elapsed / max_time_s if max_time_s else 0.0,
                )
                done = progress >= 1.0
                if step % 10 == 0 or done or step == 1:
                    self.callback(
                        "step",
                        {
                            "step": step,
                            "loss": loss.item(),
                            "lr": lr,
                            "progress": min(progress, 1.0),
                            "tokens_per_sec": tokens / max(train_time, 1e-9),
                            "elapsed_s": elapsed,
                        },
                    )
                if step % cfg.eval_interval == 0 or done:
                    losses = self.evaluate()
                    val = losses["val"]
                    record = {
                        "step": step,
                        "train_loss": round(losses["train"], 5),
                        "val_loss": round(val, 5),
                        "lr": lr,
                        "tokens_per_sec": round(tokens / max(train_time, 1e-9), 1),
                        "elapsed_s": round(time.perf_counter() - start, 2),
                        "tokens_seen": tokens,
                    }
                    if not math.isfinite(val):
                        raise SeqgenError(
                            f"the val loss became {val} at step {step}; lower --learning-rate "
                            "(the last good checkpoint is kept)"
                        )
                    improved = val < best_val
                    best_val = min(best_val, val)
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                    ckpt = self.payload(step, best_val, val, record["elapsed_s"], tokens)
                    if improved:
                        save_checkpoint(self.run_dir / BEST, ckpt)
                    save_checkpoint(self.run_dir / LAST, {**ckpt, "optimizer": self.optimizer.state_dict()})
                    self.callback("eval", {**record, "best_val_loss": best_val, "improved": improved})
                if done:
                    break
        finally:
            metrics.close()
        elapsed = time.perf_counter() - start
        result = TrainResult(
            self.run_dir, step, best_val, val, elapsed, tokens / max(train_time, 1e-9), n_params
        )
        self.callback("end", result.__dict__)
        return result

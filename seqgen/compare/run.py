"""`seqgen compare`: an LSTM and a transformer with matched parameter counts, trained under the same
wall-clock budget on the same data, tokenizer, split and seed, then measured side by side.

Owns: the matched pair of model configs, the order of the work (size both, train both, measure),
the measurements that need a trained model (val loss by position in the context window, loss when
streaming through the val split, the music check's pass share) and the results dict that the report
and the plots are made from. Training is the trainer's; throughput, sampling latency and peak memory
are `bench`'s measurements, each in a fresh process. Prints nothing; reports through a callback.
"""

from __future__ import annotations

import collections
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.config import DEFAULT_LENGTH, LSTMConfig, SampleConfig, TrainConfig, model_config, to_dict
from seqgen.datasets.store import Dataset
from seqgen.device import autocast, resolve_device, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.measure import bench
from seqgen.train.checkpoint import BEST, METRICS, load_model

MODELS = ("lstm", "transformer")
CONTEXTS = [64, 128, 256, 512, 1024]
LATENCY_LENGTHS = [128, 256, 512, 1024, 2048]
TOKENS_PER_STEP = 4096  # the throughput sweep: batch = 4096 // context sequences, the same work per step
EVALUATIONS = 30  # points on each val-loss curve
LONG_FACTOR = 4  # the LSTM's loss by position is followed to 4x the training context

# The transformer both models are sized from. CPU: the tuned `seqgen train` default. CUDA:
# nanoGPT's shakespeare_char shape and recipe (dropout 0.2 against over-fitting in long runs).
CUDA_TRANSFORMER = {"n_layer": 6, "n_embd": 384, "n_head": 6, "block_size": 256, "dropout": 0.2}
CUDA_TRAIN = {
    "transformer": {"batch_size": 64, "learning_rate": 1e-3},
    "lstm": {"batch_size": 64, "learning_rate": 2e-3},
}

Callback = Callable[[str, dict[str, Any]], None]


def lstm_parameters(vocab_size: int, n_layer: int, width: int) -> int:
    """Parameters of seqgen's LSTM with embedding width = hidden width: embedding, per layer
    4 gates x (input + recurrent weights + two biases), and the output layer."""
    per_layer = 4 * width * (2 * width) + 8 * width
    return vocab_size * width + n_layer * per_layer + width * vocab_size + vocab_size


def match_lstm(target: int, vocab_size: int, n_layer: int, **overrides: Any) -> LSTMConfig:
    """The `n_layer` LSTM whose parameter count is closest to `target`. A width that is a multiple
    of 8 (faster kernels) is preferred when its count is within 2% of the target."""

    def gap(w: int) -> int:
        return abs(lstm_parameters(vocab_size, n_layer, w) - target)

    width = min(range(1, 8193), key=gap)
    round8 = min(range(8, 8193, 8), key=gap)
    if gap(round8) <= 0.02 * target:
        width = round8
    return model_config("lstm", vocab_size=vocab_size, n_layer=n_layer, n_embd=width, **overrides)


@dataclass
class ComparePlan:
    data: Path
    out: Path
    budget_min: float
    device: str = "auto"
    seed: int = 1337
    compile: str = "auto"
    precision: str = "auto"
    transformer: dict[str, Any] = field(default_factory=dict)  # shape overrides (n_layer, ...)
    lstm_layers: int = 2
    contexts: list[int] = field(default_factory=lambda: list(CONTEXTS))
    lengths: list[int] = field(default_factory=lambda: list(LATENCY_LENGTHS))
    music_samples: int = 20
    timing_steps: int = 10
    command: str = ""

    def __post_init__(self) -> None:
        if not (0 < self.budget_min < math.inf):
            raise SeqgenError(f"--budget must be a positive number of minutes, got {self.budget_min:g}")
        if self.lstm_layers < 1:
            raise SeqgenError(f"--lstm-layers must be at least 1, got {self.lstm_layers}")
        if self.music_samples < 0:
            raise SeqgenError(f"--music-samples must be >= 0, got {self.music_samples}")
        if not self.contexts or min(self.contexts) < 1:
            raise SeqgenError("--contexts needs positive context lengths, e.g. 64,128,256")
        if len(self.lengths) < 1 or any(
            b != 2 * a for a, b in zip(self.lengths, self.lengths[1:], strict=False)
        ):
            raise SeqgenError("sampling lengths must each be twice the one before")


def model_configs(plan: ComparePlan, dataset: Dataset, device: torch.device) -> dict[str, Any]:
    """{'transformer': config, 'lstm': config} with matched parameter counts, and each one's
    training batch size and learning rate (its kind's tuned defaults unless CUDA's recipe)."""
    vocab = dataset.tokenizer.vocab_size
    shape = dict(CUDA_TRANSFORMER) if device.type == "cuda" else {}
    shape.update({k: v for k, v in plan.transformer.items() if v is not None})
    transformer = model_config("transformer", vocab_size=vocab, **shape)
    from seqgen.models import build_model, count_parameters

    target = count_parameters(build_model("transformer", transformer))
    lstm = match_lstm(
        target, vocab, plan.lstm_layers, block_size=transformer.block_size, dropout=transformer.dropout
    )
    return {"transformer": transformer, "lstm": lstm}


def _train_options(model: str, mcfg: Any, device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return dict(CUDA_TRAIN[model])
    return {"batch_size": mcfg.batch_size, "learning_rate": mcfg.learning_rate}


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "type": device.type,
        "name": name,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_curve(run_dir: Path) -> list[dict[str, float]]:
    """The evaluations a run logged: step, wall-clock seconds, tokens seen, train and val loss."""
    import json

    keys = ("step", "elapsed_s", "tokens_seen", "train_loss", "val_loss")
    out = []
    for line in (run_dir / METRICS).read_text().splitlines():
        record = json.loads(line)
        out.append({k: record[k] for k in keys})
    return out


@torch.no_grad()
def loss_by_position(
    model: torch.nn.Module, val: np.ndarray, block: int, long: int, device: torch.device, amp: Any
) -> list[float]:
    """Mean next-token loss at each position of windows that start fresh (no earlier context),
    at every `block`-th position of the val split; every model gets the same windows. A model with
    a context limit is scored on its first `limit` positions, an unbounded one on `long`."""
    long = max(1, min(long, len(val) - 1))
    limit = model.context_limit
    length = long if limit is None else min(limit, long)
    starts = np.arange(0, len(val) - long, block)
    sums = torch.zeros(length, dtype=torch.float64)
    for i in range(0, len(starts), 32):
        idx = starts[i : i + 32, None] + np.arange(length + 1)
        w = torch.from_numpy(val[idx].astype(np.int64)).to(device)  # (B, T+1)
        with autocast(device, amp):
            logits, _ = model(w[:, :-1])
        ce = F.cross_entropy(logits.float().transpose(1, 2), w[:, 1:], reduction="none")  # (B, T)
        sums += ce.sum(0).double().cpu()
    return (sums / len(starts)).tolist()


@torch.no_grad()
def streaming_loss(model: torch.nn.Module, val: np.ndarray, device: torch.device, amp: Any) -> float:
    """Mean loss over the val split read as generation reads a long sequence. An unbounded model
    carries its state through (16 contiguous streams, each starting fresh once). A model with a
    context limit slides its window as the sampler does, a quarter of the context at a time, so
    every token but the first window's is predicted from at least 3/4 of the context."""
    from seqgen.generate.sampler import slide_step

    limit = model.context_limit
    total, count = 0.0, 0
    if limit is None:
        streams = 16 if len(val) > 16 * 64 else 1
        n = (len(val) - 1) // streams
        x_all = torch.from_numpy(val[: n * streams].astype(np.int64)).view(streams, n)
        y_all = torch.from_numpy(val[1 : n * streams + 1].astype(np.int64)).view(streams, n)
        state = None
        for i in range(0, n, 512):
            x, y = x_all[:, i : i + 512].to(device), y_all[:, i : i + 512].to(device)
            with autocast(device, amp):
                logits, state = model(x, state)
            total += F.cross_entropy(logits.float().transpose(1, 2), y, reduction="sum").item()
            count += y.numel()
        return total / count
    limit = min(limit, len(val) - 1)
    step = slide_step(limit)
    # The first window scores all its positions; each later one (start s) its last `step`.
    starts = np.arange(step, len(val) - limit, step)
    first = torch.from_numpy(val[: limit + 1].astype(np.int64)).to(device)[None]
    with autocast(device, amp):
        logits, _ = model(first[:, :-1])
    total += F.cross_entropy(logits.float()[0], first[0, 1:], reduction="sum").item()
    count += limit
    for i in range(0, len(starts), 32):
        idx = starts[i : i + 32, None] + np.arange(limit + 1)
        w = torch.from_numpy(val[idx].astype(np.int64)).to(device)
        with autocast(device, amp):
            logits, _ = model(w[:, :-1])
        ce = F.cross_entropy(logits.float()[:, -step:].transpose(1, 2), w[:, -step:], reduction="sum")
        total += ce.item()
        count += w[:, -step:].numel()
    return total / count


def sample_and_check(
    run_dir: Path, kind: str, n: int, seed: int, device: torch.device, out: Path
) -> dict[str, Any]:
    """Draw `n` samples from a run's best checkpoint (the `seqgen sample` defaults), write them
    under `out`, and for music count those that pass the music check (one try each)."""
    from seqgen.generate import writer
    from seqgen.generate.sampler import document_start, sample

    model, tokenizer, _ = load_model(run_dir / BEST, device)
    start = document_start(tokenizer)
    cfg = SampleConfig(length=DEFAULT_LENGTH[kind] if kind != "text" else 400, num_samples=n, seed=seed)
    renders: dict[tuple[int, ...], Any] = {}

    def render(ids: list[int]) -> Any:
        if tuple(ids) not in renders:
            renders[tuple(ids)] = writer.render(kind, tokenizer, start, ids)
        return renders[tuple(ids)]

    music = kind != "text"
    report = sample(
        model,
        start,
        cfg,
        tokenizer.eos_id,
        device,
        check=(lambda ids, ended: writer.check(kind, render(ids), ended)) if music else None,
    )
    paths = writer.planned_paths(kind, out, n)
    reasons: collections.Counter[str] = collections.Counter()
    example = None
    for s, group in zip(report.samples, paths, strict=True):
        writer.write(kind, render(s.ids), group)
        if music and not s.passed:
            reasons[s.check.reason] += 1
        if example is None and s.passed and render(s.ids).text:
            example = render(s.ids).text
    return {
        "samples": n,
        "passed": sum(s.passed for s in report.samples) if music else None,
        "reasons": dict(reasons.most_common()),
        "example": example,
        "dir": str(out),
        "seed": report.seed,
        "temperature": cfg.temperature,
    }


def _isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """A bench measurement in its own process; a failure (out of memory at a long context, a
    compile error) becomes the row's `error` instead of ending the comparison."""
    try:
        return bench.run_isolated(fn, *args)
    except Exception as e:  # the child's exception, re-raised here by the pool
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        oom = "out of memory" in first.lower() or isinstance(e, MemoryError)
        return {"error": "out of memory" if oom else f"{type(e).__name__}: {first}"}


def run_compare(plan: ComparePlan, dataset: Dataset, callback: Callback | None = None) -> dict[str, Any]:
    """Train both models, measure both, and return every figure (see `seqgen.compare.report`). The two
    runs go to `plan.out`/lstm and `plan.out`/transformer; a comparison that fails before it
    trained anything leaves no directory behind."""
    device = resolve_device(plan.device)
    configs = model_configs(plan, dataset, device)  # refuses a bad shape before anything is made
    block = configs["transformer"].block_size
    if len(dataset.val) < 2 * block + 2:
        raise SeqgenError(
            f"the val split of {plan.data} holds {len(dataset.val)} tokens; the comparison scores "
            f"windows of {block} and needs at least {2 * block + 2}: prepare it with a larger "
            "--val-fraction, or give a smaller --block-size"
        )
    made = not plan.out.exists()
    plan.out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(plan, dataset, device, configs, callback or (lambda kind, info: None))
    except BaseException:
        if made and plan.out.is_dir() and not any(plan.out.iterdir()):
            plan.out.rmdir()
        raise


def _run(
    plan: ComparePlan, dataset: Dataset, device: torch.device, configs: dict[str, Any], say: Callback
) -> dict[str, Any]:
    from seqgen.models import build_model, count_parameters
    from seqgen.train.trainer import Trainer

    amp = resolve_precision(plan.precision, device)
    vocab = dataset.tokenizer.vocab_size
    started = time.time()
    results: dict[str, Any] = {
        "date": str(date.today()),
        "command": plan.command,
        "machine": machine(device),
        "precision": "bf16" if amp else "fp32",
        "data": {
            "name": dataset.name,
            "kind": dataset.kind,
            "path": str(plan.data),
            "vocab_size": vocab,
            "train_tokens": len(dataset.train),
            "val_tokens": len(dataset.val),
        },
        "budget_min": plan.budget_min,
        "seed": plan.seed,
        "models": {},
    }
    shapes = {}
    for m in MODELS:
        mcfg = configs[m]
        opts = _train_options(m, mcfg, device)
        shapes[m] = bench.Shape(
            m,
            opts["batch_size"],
            mcfg.block_size,
            mcfg.n_layer,
            mcfg.n_embd,
            getattr(mcfg, "n_head", 0),
            vocab,
            mcfg.dropout,
        )
        results["models"][m] = {
            "config": to_dict(mcfg),
            "parameters": count_parameters(build_model(m, mcfg)),
            **opts,
        }

    # 1. The training step of each model alone: its speed sets how often it is evaluated (the
    #    same number of evaluations for both), and its peak memory is the training peak.
    results["train_memory"] = {}
    for m in MODELS:
        say("stage", {"text": f"measuring the {m}'s training step"})
        row = _isolated(
            bench.measure_training, shapes[m], str(device), plan.precision, "off", plan.timing_steps
        )
        results["train_memory"][m] = row

    # 2. Train both, the same wall-clock budget each.
    for m in MODELS:
        step_ms = results["train_memory"][m].get("step_ms") or 100.0
        interval = max(5, int(plan.budget_min * 60e3 / step_ms / EVALUATIONS))
        cfg = TrainConfig(
            data=str(plan.data),
            model=m,
            run=m,
            out_dir=str(plan.out),
            max_time=plan.budget_min,
            seed=plan.seed,
            device=plan.device,
            precision=plan.precision,
            compile=plan.compile,
            eval_interval=interval,
            checkpoint_every="10m",
            **{k: results["models"][m][k] for k in ("batch_size", "learning_rate")},
        )
        say("train", {"model": m, "config": cfg})
        result = Trainer(
            cfg,
            dataset,
            configs[m],
            plan.out / m,
            lambda k, i, m=m: say("trainer", {"model": m, "kind": k, "info": i}),
        ).run()
        if result.stopped.startswith("SIG"):
            raise SeqgenError(
                f"stopped by {result.stopped} while training the {m}; its run is in {plan.out / m} "
                "(no report was written)"
            )
        results["models"][m].update(
            {
                "run_dir": str(plan.out / m),
                "steps": result.steps,
                "elapsed_s": result.elapsed_s,
                "tokens_per_s": result.tokens_per_sec,
                "tokens_seen": result.steps * cfg.batch_size * configs[m].block_size,
                "eval_interval": interval,
                "best_val_estimate": result.best_val_loss,
                "compiled": cfg.compile,
            }
        )
        results.setdefault("curves", {})[m] = read_curve(plan.out / m)

    # 3. The trained models on the whole val split: every token in consecutive training-length
    #    windows (as `seqgen eval`), by position in fresh windows, and streaming.
    from seqgen.measure.evaluate import token_loss

    say("stage", {"text": "scoring both models on the val split"})
    block = configs["transformer"].block_size
    val = dataset.val
    results["val"] = {}
    for m in MODELS:
        model, _, _ = load_model(plan.out / m / BEST, device)
        whole = token_loss(model, val, device, block)
        results["val"][m] = {
            "by_position": loss_by_position(model, val, block, LONG_FACTOR * block, device, amp),
            "fresh": whole["loss"],
            "fresh_tokens": whole["tokens"],
            "streaming": streaming_loss(model, val, device, amp),
        }
        del model

    # 4. Training throughput by context length, the same tokens per step for both.
    results["throughput"] = {m: [] for m in MODELS}
    for ctx in plan.contexts:
        for m in MODELS:
            say("stage", {"text": f"measuring training throughput: {m}, context {ctx}"})
            s = shapes[m]
            batch = max(1, TOKENS_PER_STEP // ctx)
            shape = bench.Shape(m, batch, ctx, s.n_layer, s.n_embd, s.n_head, vocab, s.dropout)
            row = _isolated(
                bench.measure_training, shape, str(device), plan.precision, "off", plan.timing_steps
            )
            results["throughput"][m].append({**row, "context": ctx, "batch_size": shape.batch_size})

    # 5. Sampling from the trained checkpoints: batched tokens/s, per-token latency as it grows.
    results["sampling"] = {}
    for m in MODELS:
        say("stage", {"text": f"measuring sampling: {m}"})
        n, length = (10, 500) if plan.lengths[-1] >= 512 else (2, plan.lengths[-1])
        results["sampling"][m] = _isolated(
            bench.measure_sampling, str(plan.out / m / BEST), str(device), n, length, plan.lengths
        )

    # 6. Samples a person can read or play; for music, the share that pass the music check.
    results["samples"] = {}
    n = plan.music_samples if dataset.kind != "text" else min(3, plan.music_samples)
    if n:
        for m in MODELS:
            say(
                "stage",
                {"text": f"sampling {n} {'tunes' if dataset.kind != 'text' else 'texts'} from the {m}"},
            )
            results["samples"][m] = sample_and_check(
                plan.out / m, dataset.kind, n, plan.seed, device, plan.out / "samples" / m
            )
    results["total_s"] = time.time() - started
    return results

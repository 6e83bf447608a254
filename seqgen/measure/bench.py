"""`seqgen bench`: measured throughput of this machine for training, sampling and preparation.

Owns: the measurements (each in a fresh child process, so its peak memory is its own), the FLOP
counts behind model FLOPs utilisation (MFU), and the measured peak of the device MFU is taken
against. Uses the trainer's own pieces (models, fused AdamW, autocast, torch.compile choice) and the
sampler's own `generate`, so the figures are what `seqgen train` and `seqgen sample` get. Prints
nothing; the CLI shows the rows.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgen.config import TrainConfig


@dataclass
class Shape:
    """One model size to measure: a model config plus a batch."""

    model: str
    batch_size: int
    block_size: int
    n_layer: int
    n_embd: int
    n_head: int = 0  # transformer only
    vocab_size: int = 65  # tiny Shakespeare's character count
    dropout: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.model} {self.n_layer}x{self.n_embd}"

    def config(self):
        extra = {"n_head": self.n_head} if self.model == "transformer" else {}
        from seqgen.models import model_config  # imports torch: not at module level (see measure_prepare)

        return model_config(
            self.model,
            vocab_size=self.vocab_size,
            dropout=self.dropout,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_embd=self.n_embd,
            **extra,
        )


# The CPU defaults, nanoGPT's shakespeare_char shape (6 layers, 384 wide, context 256) and two LSTMs.
# Sample lengths at which the per-token latency of one growing sample is read (bench and compare).
LATENCY_LENGTHS = [128, 256, 512, 1024, 2048]

CPU_SHAPES = [
    Shape("transformer", 12, 64, 4, 128, 4),
    Shape("transformer", 8, 256, 6, 384, 6),
    Shape("lstm", 32, 64, 2, 256),
    Shape("lstm", 32, 128, 2, 512),
]
GPU_SHAPES = [
    Shape("transformer", 64, 256, 6, 384, 6),
    Shape("transformer", 16, 1024, 12, 768, 12),
    Shape("lstm", 64, 128, 2, 512),
    Shape("lstm", 64, 256, 3, 1024),
]
QUICK_SHAPES = [Shape("transformer", 4, 32, 1, 32, 2), Shape("lstm", 4, 32, 1, 32)]


def flops_per_token(model: Any) -> float:
    """Training FLOPs per token (forward + backward = 3 x forward, 2 FLOPs per multiply-add):
    6 x the parameters a token multiplies through, plus attention's 12 x layers x context x width
    (PaLM appendix B, as nanoGPT's estimate_mfu). Embedding lookups are not multiplications."""
    cfg = model.cfg
    lookups = sum(m.weight.numel() for m in model.modules() if type(m).__name__ == "Embedding")
    tied = getattr(model.lm_head, "weight", None) is getattr(getattr(model, "wte", None), "weight", 0)
    matmul_params = sum(p.numel() for p in model.parameters()) - lookups
    if tied:
        matmul_params += model.lm_head.weight.numel()  # the tied table is also the output layer
    attention = 12 * cfg.n_layer * cfg.block_size * cfg.n_embd if model.context_limit else 0
    return 6 * matmul_params + attention


def peak_flops(device: str, dtype_name: str) -> float:
    """Measured matmul FLOP/s of `device` in `dtype_name` ('fp32' or 'bf16'): the best of a few
    large square products, the ceiling MFU is measured against."""
    import torch

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    n = 8192 if device == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        reps = 20 if device == "cuda" else 2
        _sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = min(best, (time.perf_counter() - t) / reps)
    return 2 * n**3 / best


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _baseline_mb(device: str) -> float:
    """What the process holds before the model exists: on the CPU its resident memory with torch
    loaded (a few hundred MB that every seqgen process pays); on CUDA the memory already allocated."""
    if device == "cuda":
        import torch

        return torch.cuda.memory_allocated() / 2**20
    return _status_mb("VmRSS") or 0.0


def _peak_memory_mb(device: str) -> float:
    """Peak GPU memory allocated by torch on CUDA; on the CPU, this process's peak resident memory.
    Linux: VmHWM, which covers this process's own memory map only (ru_maxrss would carry over the
    peak of the parent that spawned it)."""
    if device == "cuda":
        import torch  # only here: preparation is measured without torch, as `seqgen prepare` runs

        return torch.cuda.max_memory_allocated() / 2**20
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_training(shape: Shape, device: str, precision: str, compile: str, steps: int) -> dict[str, Any]:
    """Median time of the trainer's step (forward, loss, backward, clip, fused AdamW) on random
    tokens, after warm-up steps (and compilation). Runs in its own process (see `run_isolated`)."""
    import torch
    import torch.nn.functional as F

    from seqgen.device import autocast, resolve_compile, resolve_device, resolve_precision
    from seqgen.models import build_model
    from seqgen.train.optim import make_optimizer

    dev = resolve_device(device)
    amp = resolve_precision(precision, dev)
    if dev.type == "cuda":  # as the trainer: TF32 for whatever runs in fp32
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    baseline = _baseline_mb(dev.type)
    torch.manual_seed(0)
    vocab = shape.vocab_size
    model = build_model(shape.model, shape.config()).to(dev)
    compiled = resolve_compile(compile, dev)
    forward = torch.compile(model) if compiled else model
    cfg = TrainConfig(batch_size=shape.batch_size, max_iters=1)
    opt = make_optimizer(model, cfg, 1e-3, dev)
    x = torch.randint(0, vocab, (shape.batch_size, shape.block_size), device=dev)
    y = torch.randint(0, vocab, (shape.batch_size, shape.block_size), device=dev)

    def step() -> None:
        with autocast(dev, amp):
            logits, _ = forward(x)
        loss = F.cross_entropy(logits.float().view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    t = time.perf_counter()
    for _ in range(3):
        step()
    _sync(dev.type)
    warmup_s = time.perf_counter() - t
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        _sync(dev.type)
        times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    tokens = shape.batch_size * shape.block_size
    return {
        "model": shape.label,
        "batch": f"{shape.batch_size} x {shape.block_size}",
        "parameters": sum(p.numel() for p in model.parameters()),
        "precision": "bf16" if amp else "fp32",
        "compiled": compiled,
        "step_ms": step_s * 1e3,
        "warmup_s": warmup_s,
        "tokens_per_s": tokens / step_s,
        "flops_per_token": flops_per_token(model),
        "peak_memory_mb": _peak_memory_mb(dev.type),
        "baseline_mb": baseline,
        "device": dev.type,
    }


def measure_sampling(
    shape: Shape | str, device: str, n: int, length: int, lengths: list[int]
) -> dict[str, Any]:
    """Tokens/s of `n` samples of `length` new tokens drawn together, and the per-token latency of
    one sample as it grows: for each L in `lengths` (each twice the one before), the mean time per
    token of tokens L/2 to L of one sample (each token timed as it is made; the least of three
    samples, so another process's burst does not count). Flat for a model whose per-token cost
    does not grow with the sample. `shape`: a model size (random weights) or the path of a trained
    checkpoint; no sample stops early either way."""
    import torch

    from seqgen.device import resolve_device
    from seqgen.generate.sampler import generate
    from seqgen.models import build_model

    dev = resolve_device(device)
    baseline = _baseline_mb(dev.type)
    torch.manual_seed(0)
    pins = None
    if isinstance(shape, Shape):
        model, label = build_model(shape.model, shape.config()).to(dev).eval(), shape.label
    else:
        from seqgen.train.checkpoint import load_model

        model, tok, ckpt = load_model(Path(shape), dev)
        label = ckpt.model_type
        if model.pins_header:  # it samples with its tunes' header lines kept, as `seqgen sample` does
            from seqgen.datasets.kinds import kind_named

            lines = kind_named(ckpt.data.kind).header_lines(tok)
            pins = lines.spans if lines is not None else None

    def timed(batch: int, new: int) -> float:
        gen = torch.Generator(device=dev).manual_seed(0)
        _sync(dev.type)
        t = time.perf_counter()
        generate(model, [1], batch, new, 1.0, None, None, gen, device=dev, pins=pins)
        _sync(dev.type)
        return time.perf_counter() - t

    def per_token(new: int) -> list[float]:
        """Seconds each new token of one sample took (the first includes reading the prompt)."""
        stamps: list[float] = []

        def mark(t: int, ids: Any) -> None:
            _sync(dev.type)
            stamps.append(time.perf_counter())

        gen = torch.Generator(device=dev).manual_seed(0)
        _sync(dev.type)
        t0 = time.perf_counter()
        generate(model, [1], 1, new, 1.0, None, None, gen, device=dev, on_token=mark, pins=pins)
        stamps.pop()  # the last token is reported without a model step: not a token's cost
        return [b - a for a, b in zip([t0, *stamps], stamps, strict=False)]

    timed(n, 8)  # warm-up, both batch sizes
    timed(1, 8)
    batch_s = min(timed(n, length) for _ in range(2))
    runs = [per_token(lengths[-1]) for _ in range(3)]
    latency = {L: min(statistics.fmean(r[L // 2 : L]) for r in runs) * 1e3 for L in lengths}
    return {
        "model": label,
        "context": model.context_limit,
        "samples": n,
        "length": length,
        "tokens_per_s": n * length / batch_s,
        "latency_ms": latency,
        "peak_memory_mb": _peak_memory_mb(dev.type),
        "baseline_mb": baseline,
    }


def measure_prepare(what: str, megabytes: float = 0.0) -> dict[str, Any]:
    """Seconds and throughput of `seqgen prepare` in-process: the built-in default corpus
    ('corpus'), every built-in tune ('all'), or a generated text file of `megabytes` ('text')."""
    from seqgen.config import PrepareConfig
    from seqgen.datasets.kinds.abc import prepare_corpus
    from seqgen.datasets.kinds.text import prepare_text

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "d"
        if what == "text":
            src = Path(tmp) / "words.txt"
            _write_text(src, megabytes)
            t = time.perf_counter()
            meta = prepare_text([src], out, PrepareConfig())
        else:
            from seqgen.datasets.corpus.builtin import ALL, DEFAULT_CORPUS

            t = time.perf_counter()
            meta = prepare_corpus(ALL if what == "all" else DEFAULT_CORPUS, Path(tmp), PrepareConfig())
        seconds = time.perf_counter() - t
        size = sum(f.stat().st_size for f in (Path(tmp) / meta["name"]).glob("*.bin"))
    tokens = sum(meta["tokens"].values())
    return {
        "what": {"corpus": "built-in default corpus", "all": "all built-in tunes"}.get(
            what, f"text file, {megabytes:g} MB"
        ),
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "dataset_mb": size / 2**20,
        "peak_memory_mb": _peak_memory_mb("cpu"),
    }


def _write_text(path: Path, megabytes: float) -> None:
    """Deterministic word salad: a fixed vocabulary of 2,000 pseudo-words with lines and punctuation."""
    import random

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(2000)]
    line = " ".join(rng.choice(words) for _ in range(4096)) + ".\n"
    block = "".join(rng.choice((line, line.upper(), line.replace(" ", ", ", 50))) for _ in range(64))
    data = block.encode()
    target = int(megabytes * 2**20)
    with open(path, "wb") as f:
        while target > 0:
            f.write(data[:target])
            target -= len(data)


def run_isolated(fn: Any, *args: Any) -> dict[str, Any]:
    """Run `fn(*args)` in a fresh spawned process and return its result: peak memory is then
    that measurement's own, and one measurement's caches and threads never slow the next."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def device_peak(device: str, precision: str) -> dict[str, Any]:
    from seqgen.device import resolve_device, resolve_precision

    dev = resolve_device(device)
    dtype = "bf16" if resolve_precision(precision, dev) else "fp32"
    return {"device": dev.type, "dtype": dtype, "flops": peak_flops(dev.type, dtype)}

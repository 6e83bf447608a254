"""Side by side on one machine: nanoGPT's documented CPU recipe versus `seqgen train` defaults.

Runs, one after the other (never at once: on a small CPU a second busy process slows torch's
threaded kernels many times over):
  1. nanoGPT's README CPU recipe on tiny Shakespeare (4 layers, 4 heads, 128 wide, context 64,
     batch 12, 2000 iterations), timing its wall clock W and reading its last reported val loss;
  2. `seqgen train` with its defaults and `--max-time W` (equal time);
  3. optionally `seqgen train` with its defaults for --minutes (e.g. 5);
  4. with --sample, nanoGPT's sample.py against `seqgen sample` (10 samples x 500 new tokens) with
     checkpoints of the same shape, at nanoGPT's CPU shape and at its 6-layer, context-256 shape;
and prints a table. nanoGPT is not part of seqgen: pass the path of a checkout of
karpathy/nanoGPT whose data/shakespeare_char/ has been prepared (its prepare.py).

Usage:
  python benchmarks/vs_nanogpt.py --text tinyshakespeare.txt --nanogpt ~/src/nanoGPT [--minutes 5]
  python benchmarks/vs_nanogpt.py --text tinyshakespeare.txt --nanogpt ~/src/nanoGPT --sample --skip-train
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

NANOGPT_RECIPE = [
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--dropout=0.0",
]


NANOGPT_OUT = Path("/tmp/nanogpt-bench-out")


def full_val_loss(forward, val: np.ndarray, block: int) -> float:
    """Mean next-token loss over the whole val split, in consecutive windows of `block` tokens:
    the same number for both tools, unlike their own estimates from a few sampled batches."""
    n = (len(val) - 1) // block
    x = torch.from_numpy(val[: n * block].astype(np.int64)).view(n, block)
    y = torch.from_numpy(val[1 : n * block + 1].astype(np.int64)).view(n, block)
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, 64):
            logits = forward(x[i : i + 64])
            total += F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), y[i : i + 64].reshape(-1), reduction="sum"
            ).item()
    return total / (n * block)


def nanogpt_val(repo: Path, val: np.ndarray, vocab_size: int) -> float:
    """Full val loss of nanoGPT's saved checkpoint (its best), with nanoGPT's own model code."""
    sys.path.insert(0, str(repo))
    from model import GPT, GPTConfig  # nanoGPT's, from the checkout given

    ckpt = torch.load(NANOGPT_OUT / "ckpt.pt", map_location="cpu", weights_only=False)
    if ckpt["model_args"]["vocab_size"] != vocab_size:
        sys.exit(f"nanoGPT's vocabulary ({ckpt['model_args']['vocab_size']}) is not seqgen's ({vocab_size})")
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
    model.eval()
    block = ckpt["model_args"]["block_size"]
    return full_val_loss(lambda x: model(x, torch.zeros_like(x))[0], val, block)


def seqgen_val(run_dir: Path, val: np.ndarray) -> float:
    from seqgen.train.checkpoint import load_model

    model, _, ckpt = load_model(run_dir / "best.pt")
    return full_val_loss(lambda x: model(x)[0], val, ckpt.block_size)


def _run(cmd: list[str], cwd: Path) -> str:
    """Run a command; on failure show its stderr (a traceback from either tool) and stop."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return done.stdout


def _wall(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    _run(cmd, cwd)
    return time.perf_counter() - t0


def _median_wall(cmd: list[str], cwd: Path, repeats: int) -> float:
    return sorted(_wall(cmd, cwd) for _ in range(repeats))[repeats // 2]


def run_nanogpt(repo: Path, iters: int) -> tuple[float, float, float]:
    """(wall seconds, last val loss, tokens/s) of nanoGPT's CPU recipe, `iters` iterations (its
    README: 2000; more fills a longer budget, its cosine decay stretched to the same end)."""
    t0 = time.perf_counter()
    budget = [f"--max_iters={iters}", f"--lr_decay_iters={iters}"]
    out = _run([sys.executable, "train.py", *NANOGPT_RECIPE, *budget, f"--out_dir={NANOGPT_OUT}"], repo)
    wall = time.perf_counter() - t0
    vals = re.findall(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", out)
    iters = re.findall(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", out)
    ms = sorted(float(t) for _, t in iters[10:])  # skip warm-up iterations
    tps = 12 * 64 / (ms[len(ms) // 2] / 1000) if ms else float("nan")
    return wall, float(vals[-1][2]), tps


def run_seqgen(
    data: Path, minutes: float, work: Path, name: str, extra: list[str]
) -> tuple[float, float, float]:
    """(wall seconds, final val loss, tokens/s) of `seqgen train --max-time minutes`."""
    t0 = time.perf_counter()
    cmd = ["-m", "seqgen", "train", "--data", str(data), "--max-time", f"{minutes:.4f}", "--run", name]
    _run([sys.executable, *cmd, *extra], work)
    wall = time.perf_counter() - t0
    last = json.loads((work / "checkpoints" / name / "metrics.jsonl").read_text().splitlines()[-1])
    return wall, last["val_loss"], last["tokens_per_sec"]


# (label, nanoGPT flags, seqgen flags): the same model shape in both tools.
SAMPLE_SHAPES = [
    (
        "4 layers x 128, context 64",
        ["--n_layer=4", "--n_head=4", "--n_embd=128", "--block_size=64"],
        ["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--block-size", "64"],
    ),
    (
        "6 layers x 384, context 256",
        ["--n_layer=6", "--n_head=6", "--n_embd=384", "--block_size=256"],
        ["--n-layer", "6", "--n-head", "6", "--n-embd", "384", "--block-size", "256"],
    ),
]


def compare_sampling(
    repo: Path, data: Path, work: Path, repeats: int
) -> list[tuple[str, float, float, float]]:
    """Tokens/s of 10 samples x 500 new tokens: nanoGPT's sample.py (its samples one after another,
    re-reading the cropped context for every token) against `seqgen sample` (the 10 together, KV
    cache; with its default past the context (a rolling cache for rotary models, else the sliding window),
    and with --window-step 1, nanoGPT's exact crop), each
    with a checkpoint of the same shape (trained for one step: speed does not depend on weights).
    Each tool's start-up (a run making 1 token) is subtracted from its wall time."""
    rows = []
    for label, nano_shape, seq_shape in SAMPLE_SHAPES:
        out = work / f"nano-{nano_shape[0][-1]}"
        _run(
            [sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu",
             "--compile=False", "--eval_iters=1", "--eval_interval=1", "--max_iters=1",
             "--always_save_checkpoint=True", "--batch_size=2", *nano_shape, f"--out_dir={out}"],
            repo,
        )  # fmt: skip
        nano = [
            sys.executable,
            "sample.py",
            f"--out_dir={out}",
            "--device=cpu",
            "--compile=False",
            "--seed=1",
        ]
        full = _median_wall([*nano, "--num_samples=10", "--max_new_tokens=500"], repo, repeats)
        start = _median_wall([*nano, "--num_samples=1", "--max_new_tokens=1"], repo, repeats)
        run = f"s{seq_shape[1]}x{seq_shape[5]}"
        _run(
            [sys.executable, "-m", "seqgen", "train", "--data", str(data), "--max-iters", "1",
             "--batch-size", "2", "--run", run, *seq_shape],
            work,
        )  # fmt: skip
        seq = [sys.executable, "-m", "seqgen", "sample", f"checkpoints/{run}", "--seed", "1", "--force"]
        s_start = _median_wall([*seq, "--num-samples", "1", "--length", "1", "--out", "s1"], work, repeats)
        s_full = _median_wall([*seq, "--num-samples", "10", "--length", "500", "--out", "s10"], work, repeats)
        s_crop = _median_wall(
            [*seq, "--num-samples", "10", "--length", "500", "--window-step", "1", "--out", "s10"],
            work,
            repeats,
        )
        rate = [5000 / max(t - s, 1e-9) for t, s in ((full, start), (s_full, s_start), (s_crop, s_start))]
        rows.append((label, *rate))
        print(
            f"sampling {label}: nanoGPT {full:.1f} s (start-up {start:.1f} s), seqgen {s_full:.1f} s, "
            f"seqgen --window-step 1 {s_crop:.1f} s (start-up {s_start:.1f} s)",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", type=Path, required=True, help="tinyshakespeare.txt")
    ap.add_argument("--nanogpt", type=Path, help="a prepared karpathy/nanoGPT checkout (omit to skip it)")
    ap.add_argument("--nanogpt-iters", type=int, default=2000, help="nanoGPT's iterations (README: 2000)")
    ap.add_argument("--equal-time", type=float, help="seconds for the equal-time run if nanoGPT is skipped")
    ap.add_argument("--minutes", type=float, nargs="*", default=[], help="extra seqgen runs of these budgets")
    ap.add_argument("--seqgen-args", default="", help="extra flags for seqgen train, e.g. '--model lstm'")
    ap.add_argument("--sample", action="store_true", help="also compare sampling speed (needs --nanogpt)")
    ap.add_argument("--skip-train", action="store_true", help="skip the training comparison")
    ap.add_argument("--repeats", type=int, default=3, help="sampling runs per figure (median)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqgen-bench-"))
    print(f"working in {work}", flush=True)
    _run([sys.executable, "-m", "seqgen", "prepare", str(args.text.resolve()), "--name", "shakespeare"], work)
    data = work / "data" / "shakespeare"
    meta = json.loads((data / "meta.json").read_text())
    val_tokens = np.memmap(data / "val.bin", dtype=np.dtype(meta["dtype"]), mode="r")
    extra = args.seqgen_args.split()
    if args.sample and args.nanogpt:
        sampled = compare_sampling(args.nanogpt.resolve(), data, work, args.repeats)
        print(f"\n{'10 samples x 500 new tokens, tokens/s':<38} {'nanoGPT':>8} {'seqgen':>8} {'ratio':>6} "
              f"{'seqgen --window-step 1':>23} {'ratio':>6}")  # fmt: skip
        for label, nano, seq, crop in sampled:
            print(
                f"{label:<38} {nano:8,.0f} {seq:8,.0f} {seq / nano:5.1f}x {crop:23,.0f} {crop / nano:5.1f}x"
            )
    if args.skip_train:
        return
    rows = []
    equal = args.equal_time
    if args.nanogpt:
        wall, val, tps = run_nanogpt(args.nanogpt, args.nanogpt_iters)
        full = nanogpt_val(args.nanogpt.resolve(), val_tokens, meta["counts"]["vocab_size"])
        rows.append((f"nanoGPT CPU recipe ({args.nanogpt_iters} iters)", wall, val, full, tps))
        print(rows[-1], flush=True)
        equal = wall
    if equal:
        wall, val, tps = run_seqgen(data, equal / 60, work, "equal", extra)
        full = seqgen_val(work / "checkpoints" / "equal", val_tokens)
        rows.append((f"seqgen defaults, --max-time {equal / 60:.2f}", wall, val, full, tps))
        print(rows[-1], flush=True)
    for m in args.minutes:
        wall, val, tps = run_seqgen(data, m, work, f"m{m:g}", extra)
        full = seqgen_val(work / "checkpoints" / f"m{m:g}", val_tokens)
        rows.append((f"seqgen defaults, --max-time {m:g}", wall, val, full, tps))
        print(rows[-1], flush=True)
    print(f"\n{'run':<40} {'wall s':>8} {'own val':>8} {'full val':>9} {'tokens/s':>10}")
    for name, wall, val, full, tps in rows:
        print(f"{name:<40} {wall:8.1f} {val:8.4f} {full:9.4f} {tps:10,.0f}")


if __name__ == "__main__":
    main()

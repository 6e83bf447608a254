"""Side by side on one machine: nanoGPT's documented CPU recipe versus `seqgen train` defaults.

Runs, one after the other (never at once: on a small CPU a second busy process slows torch's
threaded kernels many times over):
  1. nanoGPT's README CPU recipe on tiny Shakespeare (4 layers, 4 heads, 128 wide, context 64,
     batch 12, 2000 iterations), timing its wall clock W and reading its last reported val loss;
  2. `seqgen train` with its defaults and `--max-time W` (equal time);
  3. optionally `seqgen train` with its defaults for --minutes (e.g. 5).
and prints a table. nanoGPT is not part of seqgen: pass the path of a checkout of
karpathy/nanoGPT whose data/shakespeare_char/ has been prepared (its prepare.py).

Usage:
  python benchmarks/vs_nanogpt.py --text tinyshakespeare.txt --nanogpt ~/src/nanoGPT [--minutes 5]
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
    "--max_iters=2000",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]


def run_nanogpt(repo: Path) -> tuple[float, float, float]:
    """(wall seconds, last val loss, tokens/s) of nanoGPT's CPU recipe."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "train.py", *NANOGPT_RECIPE, "--out_dir=/tmp/nanogpt-bench-out"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
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
    subprocess.run(
        [
            sys.executable,
            "-m",
            "seqgen",
            "train",
            "--data",
            str(data),
            "--max-time",
            f"{minutes:.4f}",
            "--run",
            name,
            *extra,
        ],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    last = json.loads((work / "checkpoints" / name / "metrics.jsonl").read_text().splitlines()[-1])
    return wall, last["val_loss"], last["tokens_per_sec"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", type=Path, required=True, help="tinyshakespeare.txt")
    ap.add_argument("--nanogpt", type=Path, help="a prepared karpathy/nanoGPT checkout (omit to skip it)")
    ap.add_argument("--equal-time", type=float, help="seconds for the equal-time run if nanoGPT is skipped")
    ap.add_argument("--minutes", type=float, nargs="*", default=[], help="extra seqgen runs of these budgets")
    ap.add_argument("--seqgen-args", default="", help="extra flags for seqgen train, e.g. '--model lstm'")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqgen-bench-"))
    subprocess.run(
        [sys.executable, "-m", "seqgen", "prepare", str(args.text.resolve()), "--name", "shakespeare"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    data = work / "data" / "shakespeare"
    extra = args.seqgen_args.split()
    rows = []
    equal = args.equal_time
    if args.nanogpt:
        wall, val, tps = run_nanogpt(args.nanogpt)
        rows.append(("nanoGPT CPU recipe (2000 iters)", wall, val, tps))
        equal = wall
    if equal:
        wall, val, tps = run_seqgen(data, equal / 60, work, "equal", extra)
        rows.append((f"seqgen defaults, --max-time {equal / 60:.2f}", wall, val, tps))
    for m in args.minutes:
        wall, val, tps = run_seqgen(data, m, work, f"m{m:g}", extra)
        rows.append((f"seqgen defaults, --max-time {m:g}", wall, val, tps))
    print(f"\n{'run':<40} {'wall s':>8} {'val loss':>9} {'tokens/s':>10}")
    for name, wall, val, tps in rows:
        print(f"{name:<40} {wall:8.1f} {val:9.4f} {tps:10,.0f}")


if __name__ == "__main__":
    main()

"""Kill a real training run with SIGKILL at random moments, resume it each time, and compare it
with a run that was never killed: same final weights (bit for bit on a CPU) and the same curve.

Run it in an empty folder holding a prepared dataset (`seqgen prepare FILE --name NAME`):
  python benchmarks/kill_resume.py --data data/NAME [--steps 2000] [--kills 4] [--seed 7]
It trains two runs (`ref` and `cut` under checkpoints/), one after the other, and prints each kill,
the two val-loss curves side by side, and whether the final weights are identical.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch


def train(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "seqgen", "train", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--checkpoint-every", default="100")
    ap.add_argument("--kills", type=int, default=4)
    ap.add_argument("--max-wait", type=float, default=6.0, help="seconds after a save before the kill")
    ap.add_argument("--seed", type=int, default=7, help="seeds the kill moments")
    a = ap.parse_args()
    args = ["--data", a.data, "--max-iters", str(a.steps), "--checkpoint-every", a.checkpoint_every]

    t0 = time.time()
    ref = train(*args, "--run", "ref")
    ref.wait()
    print(f"reference run: exit {ref.returncode}, {time.time() - t0:.0f} s")

    rng = random.Random(a.seed)
    last = Path("checkpoints/cut/last.pt")
    proc, seen = train(*args, "--run", "cut"), 0
    for k in range(a.kills):
        while not (last.exists() and last.stat().st_mtime_ns > seen):  # this process has saved
            time.sleep(0.05)
        time.sleep(rng.uniform(0, a.max_wait))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        step = torch.load(last, weights_only=True)["step"]  # loads: never torn
        seen = last.stat().st_mtime_ns
        print(f"SIGKILL #{k + 1}: last.pt at step {step} loads; resuming")
        proc = train("--resume", "checkpoints/cut")
    proc.wait()
    print(f"killed run finished: exit {proc.returncode}")

    curves = [
        [json.loads(x) for x in Path(f"checkpoints/{r}/metrics.jsonl").read_text().splitlines()]
        for r in ("ref", "cut")
    ]
    print(f"{'step':>6} {'val ref':>9} {'val cut':>9} {'train ref':>10} {'train cut':>10}")
    for r, c in zip(*curves, strict=False):
        vals = f"{r['val_loss']:>9} {c['val_loss']:>9} {r['train_loss']:>10} {c['train_loss']:>10}"
        print(f"{r['step']:>6} {vals}")
    wr, wc = (torch.load(f"checkpoints/{r}/last.pt", weights_only=True)["model"] for r in ("ref", "cut"))
    same = wr.keys() == wc.keys() and all(torch.equal(wr[k], wc[k]) for k in wr)
    print(f"identical final weights: {same}; steps logged: {[m['step'] for m in curves[1]]}")


if __name__ == "__main__":
    main()

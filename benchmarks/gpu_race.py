"""Time a training command to a target val loss, by the wall clock from its launch.

    python benchmarks/gpu_race.py --name nanogpt --target 1.47 --limit 180 --log out/nanogpt.log \
        -- python train.py config/train_shakespeare_char.py
    python benchmarks/gpu_race.py --name seqgen --target 1.47 --limit 180 --log out/seqgen.log \
        --metrics checkpoints/RUN/metrics.jsonl -- seqgen train ...

Each evaluation the command reports (nanoGPT's `step N: train loss A, val loss B` lines on its
output, or seqgen's metrics.jsonl lines) is stamped with the seconds since launch; the command is
stopped (SIGTERM) at the first val loss at or under --target, or at --limit seconds. The last line
printed is one JSON object: the evaluations, the time to target (null if not reached) and the
iteration times the command printed (nanoGPT's `iter N: ... time X ms` lines), for a per-step median.
Used for the GPU side-by-side in BENCHMARKS.md; nothing in seqgen imports it.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

NANO_EVAL = re.compile(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)")
NANO_ITER = re.compile(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--target", type=float, required=True)
    ap.add_argument("--limit", type=float, required=True)
    ap.add_argument("--log", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    evals: list[dict] = []
    iter_ms: list[float] = []
    hit: list[float] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

    def record(step: int, val: float, train: float) -> None:
        t = time.perf_counter() - t0
        evals.append({"step": step, "val_loss": val, "train_loss": train, "t_s": round(t, 2)})
        if val <= a.target and not hit:
            hit.append(t)
            proc.send_signal(signal.SIGTERM)

    def read_output() -> None:
        with a.log.open("w") as log:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(f"{time.perf_counter() - t0:8.2f} {line}")
                log.flush()
                if (m := NANO_ITER.search(line)) and int(m.group(1)) > 0:
                    iter_ms.append(float(m.group(2)))
                if a.metrics is None and (m := NANO_EVAL.search(line)):
                    record(int(m.group(1)), float(m.group(3)), float(m.group(2)))

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    seen = 0
    while proc.poll() is None:
        if time.perf_counter() - t0 > a.limit:
            proc.send_signal(signal.SIGTERM)
            break
        if a.metrics is not None and a.metrics.exists():
            lines = a.metrics.read_text().splitlines()
            for line in lines[seen:]:
                if line.strip():
                    m = json.loads(line)
                    record(m["step"], m["val_loss"], m["train_loss"])
                    evals[-1]["tokens_per_sec"] = m.get("tokens_per_sec")
            seen = len(lines)
        time.sleep(0.2)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    reader.join(timeout=5)
    total = time.perf_counter() - t0
    steady = sorted(iter_ms)
    out = {
        "name": a.name,
        "target": a.target,
        "time_to_target_s": round(hit[0], 2) if hit else None,
        "wall_s": round(total, 2),
        "best_val": min((e["val_loss"] for e in evals), default=None),
        "median_iter_ms": steady[len(steady) // 2] if steady else None,
        "evals": evals,
    }
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

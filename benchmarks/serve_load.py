"""A bounded load test of `seqgen serve` on loopback: CLIENTS clients each ask for GENERATIONS
tunes one after another, all at once, from a tiny model (the test suite's legacy ABC transformer),
while a probe loads the page every half second. Reports: answers by kind (done, error, HTTP
status), the page's response time during the load, generation latency, and the server's memory
(RSS) before, during and after.

    python benchmarks/serve_load.py [--clients 20] [--generations 10] [--json out.json]

The server is the real command (`seqgen serve`, uvicorn) in its own process, in a temporary
folder; only the standard library talks to it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "tests" / "fixtures" / "legacy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def generate(url: str, form: dict[str, Any]) -> tuple[str, float]:
    """One generation: ('done' | 'error: ...' | 'HTTP n', seconds)."""
    start = time.perf_counter()
    req = urllib.request.Request(
        url + "/api/generate", json.dumps(form).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            outcome = "no end"
            for raw in r:
                event = json.loads(raw)
                if event["type"] == "done":
                    outcome = "done"
                elif event["type"] == "error":
                    outcome = "error: " + event["message"]
    except urllib.error.HTTPError as e:
        outcome = f"HTTP {e.code}"
    except (OSError, ValueError) as e:  # a timeout, a dropped connection, a broken line
        outcome = f"failed: {type(e).__name__}"
    return outcome, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--length", type=int, default=300, help="max tokens per tune")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqgen-load-"))
    shutil.copytree(LEGACY / "checkpoints" / "abc-transformer", work / "checkpoints" / "abc-transformer")
    shutil.copytree(LEGACY / "data" / "abc", work / "data" / "abc")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = ["seqgen", "serve", "--no-shipped", "--device", "cpu", "--port", str(port)]
    # The server's log goes to a file: a pipe nobody reads fills after ~64 KB of access-log lines
    # and then blocks the server (an earlier version of this script hung so).
    log = (work / "server.log").open("w")
    server = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api/runs", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"the server did not start: {(work / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
        form = {"run": "abc-transformer", "tunes": 1, "length": args.length, "temperature": 1.0}
        generate(url, {**form, "seed": 0})  # load the model once, as the first user would
        before = rss_mb(server.pid)
        memory: list[tuple[float, float]] = []
        page: list[float] = []
        results: list[tuple[str, float]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(c: int) -> None:
            for g in range(args.generations):
                got = generate(url, {**form, "seed": c * 1000 + g})
                with lock:
                    results.append(got)

        def probe() -> None:
            t0 = time.perf_counter()
            while not stop.is_set():
                s = time.perf_counter()
                try:
                    urllib.request.urlopen(url + "/", timeout=30).read()
                    page.append(time.perf_counter() - s)
                except OSError:
                    page.append(float("inf"))  # not answered within 30 s: counted, not hidden
                memory.append((time.perf_counter() - t0, rss_mb(server.pid)))
                stop.wait(0.5)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        watcher = threading.Thread(target=probe)
        t0 = time.perf_counter()
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        stop.set()
        watcher.join()
        after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    outcomes: dict[str, int] = {}
    for outcome, _ in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    latencies = sorted(s for _, s in results)
    half = len(memory) // 2
    report = {
        "clients": args.clients,
        "generations_each": args.generations,
        "answered": len(results),
        "outcomes": outcomes,
        "wall_s": round(wall, 1),
        "generations_per_s": round(len(results) / wall, 2),
        "latency_s": {
            "median": round(statistics.median(latencies), 2),
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "max": round(latencies[-1], 2),
        },
        "page_ms_during_load": {
            "probes": len(page),
            "median": round(1000 * statistics.median(page), 1),
            "max": round(1000 * max(page), 1),
        },
        "rss_mb": {
            "before": round(before, 1),
            "first_half_max": round(max(m for _, m in memory[: max(half, 1)]), 1),
            "second_half_max": round(max(m for _, m in memory[half:]), 1),
            "after": round(after, 1),
        },
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Training on several processes with torch.distributed: DDP over gloo on the CPU, launched by
torchrun exactly as a user would, plus the launch-environment checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from seqgen.train.checkpoint import load_checkpoint
from seqgen.train.rundir import LAST
from tests.conftest import invoke

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo"
)

SHAPE = ["--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32"]
COMMON = ["--device", "cpu", "--eval-interval", "20", "--eval-iters", "10", "--learning-rate", "3e-3", *SHAPE]


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.run(
        [*cmd, "-m", "seqgen", "train", *args], capture_output=True, text=True, env=env, timeout=600
    )


def metrics(run: str) -> list[dict]:
    return [json.loads(x) for x in (Path("checkpoints") / run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def data(text_file: Path) -> str:
    assert invoke("prepare", text_file, "--name", "t").exit_code == 0
    return "data/t"


def test_two_processes_train_one_model_and_resume_on_one(data: str):
    """2 processes x batch 8 against 1 process x batch 16 (the same global batch and seed): one
    run directory, one set of checkpoints, and val curves within 0.15 of each other (the ranks
    draw other batches than the single process, so the curves match statistically, not exactly).
    Then the 2-process run is resumed on 1 process (2 x grad-accum to keep the global batch)."""
    two = torchrun(2, "--data", data, "--name", "two", "--batch-size", "8", "--max-iters", "60", *COMMON)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 process(es) x batch 8 x grad-accum 1 = 16 sequences per optimizer step" in two.stdout
    assert two.stdout.count("Done: 60 steps") == 1  # rank 0 alone reports
    assert sorted(p.name for p in Path("checkpoints").iterdir()) == ["two"]
    assert {p.name for p in Path("checkpoints/two").iterdir()} - {".lock"} == {
        "best.pt",
        "last.pt",
        "config.json",
        "config.toml",
        "metrics.jsonl",
    }
    assert json.loads(Path("checkpoints/two/config.json").read_text())["world_size"] == 2
    ckpt = load_checkpoint(Path("checkpoints/two") / LAST)
    assert len(ckpt["data_positions"]) == 2 and ckpt["counters"]["tokens"] == 60 * 16 * 32

    # Failures that rank 0 alone can see stop every rank with a message instead of a hang.
    again = torchrun(2, "--data", data, "--name", "two", "--batch-size", "8", "--max-iters", "60", *COMMON)
    assert again.returncode != 0 and "checkpoints/two already exists" in again.stderr
    # (torchrun itself prints a ChildFailedError report; no traceback comes from seqgen's code)
    assert "another rank could not start the run" in again.stderr and "/seqgen/" not in again.stderr
    spent = torchrun(2, "--resume", "checkpoints/two")
    assert spent.returncode != 0 and "already used its budget" in spent.stderr

    one = invoke("train", "--data", data, "--run", "one", "--batch-size", "16", "--max-iters", "60", *COMMON)
    assert one.exit_code == 0, one.output
    a, b = metrics("one"), metrics("two")
    assert [m["step"] for m in a] == [m["step"] for m in b] == [20, 40, 60]
    for x, y in zip(a, b, strict=True):
        assert abs(x["val_loss"] - y["val_loss"]) < 0.15, (a, b)
        assert x["lr"] == pytest.approx(y["lr"])
    assert b[-1]["val_loss"] < b[0]["val_loss"]  # it learns

    more = invoke("train", "--resume", "checkpoints/two", "--max-iters", "80", "--grad-accum", "2")
    assert more.exit_code == 0, more.output
    rest = metrics("two")
    assert [m["step"] for m in rest] == [20, 40, 60, 80]
    assert rest[-1]["tokens_seen"] == 80 * 16 * 32  # 1 process x 8 x 2 micro-batches: still 16


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RANK": "0"},
            "the launch environment is incomplete (WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set)",
        ),
        (
            {
                "RANK": "3",
                "WORLD_SIZE": "2",
                "LOCAL_RANK": "0",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": "29999",
            },
            "inconsistent launch environment: RANK=3, WORLD_SIZE=2, LOCAL_RANK=0",
        ),
    ],
)
def test_an_inconsistent_launch_is_one_line(data: str, monkeypatch, env, message):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = invoke("train", "--data", data, "--max-iters", "5", *COMMON)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not Path("checkpoints").exists()


def test_grad_accum_counts_every_micro_batch(data: str):
    result = invoke(
        "train",
        "--data",
        data,
        "--run",
        "acc",
        "--batch-size",
        "4",
        "--grad-accum",
        "3",
        "--max-iters",
        "20",
        *COMMON,
    )
    assert result.exit_code == 0, result.output
    assert "1 process(es) x batch 4 x grad-accum 3 = 12 sequences per optimizer step" in result.output
    assert metrics("acc")[-1]["tokens_seen"] == 20 * 12 * 32


def test_sigterm_to_torchrun_stops_every_rank_at_one_step_and_resumes(data: str):
    """torchrun forwards SIGTERM to its workers; they agree on the step, save last.pt once (with
    both ranks' data positions), and a 2-process resume finishes the run."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = [
        "--data",
        data,
        "--name",
        "sig",
        "--batch-size",
        "8",
        "--max-iters",
        "100000",
        "--checkpoint-every",
        "5",
    ]
    proc = subprocess.Popen(
        [*cmd, "-m", "seqgen", "train", *args, *COMMON],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = Path("checkpoints/sig") / LAST
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert last.exists(), proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert "Stopped by SIGTERM at step" in out, err[-3000:]
    step = int(out.split("Stopped by SIGTERM at step ")[1].split(";")[0].replace(",", ""))
    ckpt = load_checkpoint(last)
    assert ckpt["counters"]["step"] == step and len(ckpt["data_positions"]) == 2
    done = torchrun(2, "--resume", "checkpoints/sig", "--max-iters", str(step + 10))
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(last)["counters"]["step"] == step + 10

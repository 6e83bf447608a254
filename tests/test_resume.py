"""Exact resume, signals, divergence and early stopping: a stopped run continued with `--resume`
must produce the same weights and losses, bit for bit, as a run that was never stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqgen.config import PrepareConfig, TrainConfig
from seqgen.datasets.kinds.text import prepare_text
from seqgen.datasets.store import open_dataset
from seqgen.errors import SeqgenError
from seqgen.models import model_config
from seqgen.train.checkpoint import Checkpoint, load_checkpoint, load_model
from seqgen.train.events import CheckpointSaved, StepDone, TrainEvent
from seqgen.train.rundir import BEST, LAST
from seqgen.train.trainer import Trainer
from tests.conftest import invoke

SIZES = {
    "transformer": dict(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.1),
    "lstm": dict(n_layer=2, n_embd=48, block_size=32, dropout=0.1),
}


def make_trainer(name: str, run: str, callback=None, resume=None, **kw) -> Trainer:
    if not Path("data/t/meta.json").exists():
        prepare_text([Path("poem.txt")], Path("data/t"), PrepareConfig())
    ds = open_dataset("data/t")
    mcfg = model_config(name, vocab_size=ds.tokenizer.vocab_size, **SIZES[name])
    opts = dict(max_iters=30, eval_interval=10, eval_iters=3, batch_size=8, checkpoint_every="7")
    cfg = TrainConfig(data="data/t", model=name, **{**opts, **kw})
    ckpt = Checkpoint.from_payload(resume) if resume is not None else None  # a loaded last.pt
    return Trainer(cfg, ds, mcfg, Path("checkpoints") / run, callback, resume=ckpt)


def metrics(run: str) -> list[dict]:
    return [json.loads(x) for x in (Path("checkpoints") / run / "metrics.jsonl").read_text().splitlines()]


def untimed(lines: list[dict]) -> list[dict]:
    """Metrics without the wall-clock fields, which differ from run to run."""
    return [{k: v for k, v in m.items() if k not in ("elapsed_s", "tokens_per_sec")} for m in lines]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# Where the signal lands: just after a periodic checkpoint (step 7; the loop sees it at step 8), or
# just before an evaluation (step 10: the evaluation is skipped, saved as due, and the resumed run
# does it first), or in the middle of one (the evaluation stops at once).
STOPS = {
    "after-checkpoint": ("checkpoint", 7, 8),
    "before-eval": ("step", 10, 10),
    "mid-eval": ("eval-batch", 10, 10),
}


@pytest.mark.parametrize("name", ["transformer", "lstm"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("where", STOPS)
def test_signal_stop_then_resume_matches_an_uninterrupted_run(
    text_file: Path, name: str, sig: int, where: str, monkeypatch: pytest.MonkeyPatch
):
    """Dropout is on, so the resumed run must restore the torch RNG as well as the data position."""
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, else Python's default
    full = make_trainer(name, "full").run()
    kind, at, stops_at = STOPS[where]

    def send(event: TrainEvent | str, step: int | None = None) -> None:
        named = {StepDone: "step", CheckpointSaved: "checkpoint"}.get(type(event), event)
        if named == kind and getattr(event, "step", step) == at:
            os.kill(os.getpid(), sig)  # the handler only sets a flag; the loop saves and returns

    cut = make_trainer(name, "cut", send)
    if kind == "eval-batch":  # a signal between two evaluation batches
        real_loss, calls = cut.loss, []

        def loss(x, y):
            if not cut.model.training:
                calls.append(1)
                if len(calls) == 2:
                    send("eval-batch", cut.state.step)
            return real_loss(x, y)

        monkeypatch.setattr(cut, "loss", loss)
    first = cut.run()
    assert first.steps == stops_at and first.stopped == signal.Signals(sig).name
    assert first.exit_code == 128 + sig  # 130 for SIGINT, 143 for SIGTERM
    assert signal.getsignal(signal.SIGINT) is handler_before  # handlers restored

    ckpt = load_checkpoint(Path("checkpoints/cut") / LAST)
    assert ckpt["step"] == stops_at and ckpt["counters"]["eval_due"] == (stops_at == 10)
    assert all(m["step"] < stops_at for m in metrics("cut"))  # the cut evaluation was not logged
    rest = make_trainer(name, "cut", resume=ckpt).run()
    assert rest.resumed_from == stops_at and rest.steps == 30 and rest.stopped == "budget"
    assert untimed(metrics("cut")) == untimed(metrics("full"))
    assert rest.best_val_loss == full.best_val_loss
    assert same_weights(Path("checkpoints/full") / LAST, Path("checkpoints/cut") / LAST)
    assert same_weights(Path("checkpoints/full") / BEST, Path("checkpoints/cut") / BEST)


def test_a_longer_budget_continues_the_run(text_file: Path):
    make_trainer("transformer", "r", max_iters=20).run()
    ckpt = load_checkpoint(Path("checkpoints/r") / LAST)
    with pytest.raises(SeqgenError, match="already used its budget"):
        make_trainer("transformer", "r", resume=ckpt, max_iters=20).run()
    more = make_trainer("transformer", "r", resume=ckpt, max_iters=40).run()
    assert more.resumed_from == 20 and more.steps == 40
    assert [m["step"] for m in metrics("r")] == [10, 20, 30, 40]


def test_divergence_stops_and_keeps_the_last_good_checkpoint(text_file: Path):
    make_trainer("transformer", "r", max_iters=20).run()
    good = load_checkpoint(Path("checkpoints/r") / LAST)
    bad = make_trainer("transformer", "r", resume=good, max_iters=200, learning_rate=1e8, grad_clip=0.0)
    with pytest.raises(SeqgenError, match=r"training diverged: the loss became (nan|inf) at step 2\d") as e:
        bad.run()
    assert "seqgen train --resume checkpoints/r --max-iters 200 --learning-rate 3.3e+07" in str(e.value)
    config = json.loads((Path("checkpoints/r") / "config.json").read_text())
    assert config["train_config"]["learning_rate"] != 1e8  # a failed resume leaves the run's files
    kept = load_checkpoint(Path("checkpoints/r") / LAST)
    assert kept["step"] == 20
    assert all(torch.isfinite(v).all() for v in kept["model"].values())
    load_model(Path("checkpoints/r") / LAST)  # still loads


def test_divergence_before_any_checkpoint_leaves_no_run_behind(text_file: Path):
    with pytest.raises(SeqgenError, match="no checkpoint was written; start again with a lower"):
        make_trainer("transformer", "r", learning_rate=1e8, grad_clip=0.0).run()
    assert not Path("checkpoints/r").exists()


def test_a_run_directory_made_by_someone_else_is_never_removed(text_file: Path):
    """Two runs given the same name: the one that loses the race fails and leaves the other alone."""
    other = Path("checkpoints/r")
    other.mkdir(parents=True)
    (other / "metrics.jsonl").write_text('{"step": 10}\n')
    with pytest.raises(SeqgenError, match="checkpoints/r already exists"):
        make_trainer("transformer", "r").run()
    assert (other / "metrics.jsonl").read_text() == '{"step": 10}\n'


def test_resume_tolerates_a_damaged_metrics_log(text_file: Path):
    make_trainer("transformer", "r", max_iters=20).run()
    log = Path("checkpoints/r/metrics.jsonl")
    with open(log, "ab") as f:
        f.write(b'{"note": 1}\n5\n\xff\xfe\n{"step": 30, "val_loss": 9}\nnot json\n')
    ckpt = load_checkpoint(Path("checkpoints/r") / LAST)
    make_trainer("transformer", "r", resume=ckpt, max_iters=30).run()
    assert [m["step"] for m in metrics("r")] == [10, 20, 30]


def test_patience_stops_when_val_loss_stops_improving(text_file: Path):
    # Frequent evaluations of a noisy small-batch run on a small text: the val loss soon fails to
    # beat its best three times in a row.
    result = make_trainer(
        "transformer", "r", max_iters=1000, eval_interval=5, patience=3, learning_rate=0.05
    ).run()
    assert result.stopped == "patience"
    vals = [m["val_loss"] for m in metrics("r")]
    best = vals.index(min(vals))
    assert len(vals) == best + 1 + 3, vals  # stopped exactly three evaluations after the best
    assert result.steps == 5 * len(vals) < 1000
    assert load_checkpoint(Path("checkpoints/r") / BEST)["step"] == 5 * (best + 1)


# -- the real thing: a training subprocess killed at random moments, resumed each time ------------

ARGS = [
    "--data", "data/t", "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32",
    "--dropout", "0.1", "--batch-size", "8", "--eval-interval", "100", "--eval-iters", "3",
    "--checkpoint-every", "25",
]  # fmt: skip


def seqgen(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "seqgen", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kw,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60, newer_than: float = 0.0) -> None:
    """Wait until `proc` has written `path` (a version newer than `newer_than`, an mtime)."""
    end = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_mtime_ns > newer_than):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(text_file: Path):
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    steps = "1200"
    ref = seqgen("train", *ARGS, "--max-iters", steps, "--run", "ref")
    out, _ = ref.communicate(timeout=300)
    assert ref.returncode == 0, out

    rng = random.Random(0)
    last = Path("checkpoints/cut") / LAST
    first = seqgen("train", *ARGS, "--max-iters", steps, "--run", "cut")
    procs = [first]
    kills, before, killed_when_done = 0, 0.0, False
    while kills < 3:
        proc = procs[-1]
        wait_for(last, proc, newer_than=before)  # this process is training and has saved
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment: mid-step, mid-eval or mid-save
        if proc.poll() is not None:
            break  # the run finished before the kill; the kills so far still count
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        saved = load_checkpoint(last)  # never torn: the last good checkpoint always loads
        before = last.stat().st_mtime_ns
        killed_when_done = saved["counters"]["step"] == int(steps)
        if killed_when_done:
            break  # killed after its final save, before it exited: nothing is left to resume
        procs.append(seqgen("train", "--resume", "checkpoints/cut"))
    out, _ = procs[-1].communicate(timeout=300)
    if not killed_when_done:
        assert procs[-1].returncode == 0, out
        assert kills == 3
        assert "Done: 1,200 steps" in out

    assert same_weights(Path("checkpoints/ref") / LAST, last)
    ref_m, cut_m = metrics("ref"), metrics("cut")
    assert [m["step"] for m in cut_m] == [m["step"] for m in ref_m]  # no gap, no repeat
    assert [m["val_loss"] for m in cut_m] == [m["val_loss"] for m in ref_m]  # no jump
    assert not list(Path("checkpoints/cut").glob(".*.tmp"))  # a resume sweeps torn temporaries


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_a_training_process_saves_and_exits_with_128_plus_signal(text_file: Path, sig: int):
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    proc = seqgen("train", *ARGS, "--max-iters", "100000", "--run", "r")
    wait_for(Path("checkpoints/r") / LAST, proc)
    busy = invoke("train", "--resume", "checkpoints/r")  # a second trainer on the same run
    assert busy.exit_code == 1 and "is being trained by another seqgen process" in busy.output
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, out
    name = signal.Signals(sig).name
    assert f"Stopped by {name} at step" in out
    assert "Resume with: seqgen train --resume checkpoints/r" in out
    stopped_at = int(out.split(f"Stopped by {name} at step ")[1].split(";")[0].replace(",", ""))
    assert load_checkpoint(Path("checkpoints/r") / LAST)["step"] == stopped_at

    again = invoke("train", "--resume", "checkpoints/r", "--max-iters", stopped_at + 5)
    assert again.exit_code == 0, again.output
    assert f"Resuming at step {stopped_at:,}" in again.output
    assert load_checkpoint(Path("checkpoints/r") / LAST)["step"] == stopped_at + 5

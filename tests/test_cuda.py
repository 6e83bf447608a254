"""The CUDA path (bf16 autocast, fused AdamW, cuDNN LSTM, SDPA, CUDA RNG in checkpoints). These
tests skip themselves where no GPU is visible; run them on a CUDA machine with `pytest -m cuda`."""

from __future__ import annotations

import math
import signal
from pathlib import Path

import pytest
import torch

from seqgen.train.checkpoint import load_checkpoint, load_model
from seqgen.train.events import CheckpointSaved, TrainEvent
from seqgen.train.rundir import LAST
from seqgen.train.runstate import rng_state
from tests.test_resume import make_trainer, metrics

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_trains_in_bf16_on_cuda(text_file: Path, name: str):
    result = make_trainer(name, "r", device="cuda", max_iters=60).run()
    assert math.isfinite(result.best_val_loss) and result.best_val_loss < math.log(40)
    cfg = (Path("checkpoints/r") / "config.json").read_text()
    assert '"precision": "bf16"' in cfg and '"device": "cuda' in cfg
    assert '"compiled": true' in cfg  # --compile auto compiles on CUDA
    model, _, _ = load_model(Path("checkpoints/r") / LAST, "cuda")
    assert next(model.parameters()).is_cuda


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_resume_on_cuda_continues_the_run(text_file: Path, name: str):
    """CUDA kernels (atomics in embedding backward, cuDNN) are not bit-reproducible, so the resumed
    curve must match the uninterrupted one closely rather than exactly; the counters, schedule and
    data position must match exactly."""
    full = make_trainer(name, "full", device="cuda").run()

    def stop(event: TrainEvent) -> None:
        if isinstance(event, CheckpointSaved) and event.step == 7:
            signal.raise_signal(signal.SIGTERM)

    assert make_trainer(name, "cut", stop, device="cuda").run().stopped == "SIGTERM"
    ckpt = load_checkpoint(Path("checkpoints/cut") / LAST)
    assert "cuda" in ckpt["rng"] and ckpt["counters"]["step"] == 8  # the loop sees the signal at step 8
    rest = make_trainer(name, "cut", resume=ckpt, device="cuda").run()
    assert rest.steps == full.steps == 30
    for a, b in zip(metrics("full"), metrics("cut"), strict=True):
        assert a["step"] == b["step"] and a["lr"] == b["lr"]
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=0.05)
    assert "cuda" in rng_state()


def test_sampling_on_cuda_uses_the_cache_and_slides():
    from seqgen.generate.sampler import generate
    from seqgen.models import build_model, model_config

    torch.manual_seed(0)
    cfg = model_config("transformer", vocab_size=19, n_layer=2, n_head=2, n_embd=32, block_size=16)
    model = build_model("transformer", cfg).cuda().eval()
    rows = generate(
        model, [1, 2], 4, 100, 1.0, None, None, torch.Generator("cuda").manual_seed(1), device="cuda"
    )
    assert len(rows) == 4 and all(len(r) == 100 and all(0 <= t < 19 for t in r) for r in rows)


def test_bench_on_cuda_reports_mfu():
    from seqgen.measure import bench

    shape = bench.Shape("transformer", 8, 128, 2, 128, 2)
    row = bench.measure_training(shape, "cuda", "auto", "off", 5)
    peak = bench.peak_flops("cuda", "bf16")
    mfu = row["tokens_per_s"] * row["flops_per_token"] / peak
    assert row["precision"] == "bf16" and 0 < mfu < 1 and row["peak_memory_mb"] > 0


def test_compare_on_cuda_writes_a_full_report(text_file: Path):
    """A tiny comparison on the GPU: compiled bf16 training of both models, GPU peak memory, and a
    report whose every measurement succeeded."""
    import json

    from tests.conftest import invoke

    assert invoke("prepare", text_file, "--name", "poem").exit_code == 0
    args = ["--data", "data/poem", "--budget", "0.2", "--out", "cmp", "--device", "cuda", "--quick"]
    r = invoke("compare", *args, "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "32")
    assert r.exit_code == 0, r.output
    results = json.loads(Path("cmp/results.json").read_text())
    assert results["machine"]["type"] == "cuda" and results["precision"] == "bf16"
    for m in ("lstm", "transformer"):
        assert all("tokens_per_s" in row for row in results["throughput"][m]), results["throughput"][m]
        assert results["train_memory"][m]["peak_memory_mb"] > 0
    assert "CUDA" in Path("cmp/report.md").read_text()


def test_lstm_streams_tunes_and_samples_judged_tunes_on_cuda():
    """Issue 15's training on the GPU: the LSTM reads each tune window by window with its state
    carried (zeroed where a tune starts, targets past a tune's end ignored) inside the compiled bf16
    step, evaluates the same way, and samples on CUDA tunes that the judge reads."""
    import json

    from seqgen.config import read_toml
    from tests.conftest import FIXTURES, invoke

    src = FIXTURES / "legacy" / "data" / "abc"
    r = invoke(
        "train", "--data", str(src), "--model", "lstm", "--max-iters", "80", "--eval-interval", "20",
        "--eval-iters", "2", "--run", "s", "--n-layer", "1", "--n-embd", "64", "--device", "cuda", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert read_toml(Path("checkpoints/s/config.toml"))["windows"] == "streams"
    cfg = (Path("checkpoints/s") / "config.json").read_text()
    assert '"device": "cuda' in cfg and '"precision": "bf16"' in cfg
    losses = [m["val_loss"] for m in metrics("s")]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    r = invoke("sample", "checkpoints/s", "--num-samples", "4", "--max-retries", "0", "--device", "cuda",
               "--seed", "1", "--out", "tunes", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{") :])
    assert len(list(Path("tunes").glob("*.abc"))) == 4
    assert "judge" in json.dumps(summary)

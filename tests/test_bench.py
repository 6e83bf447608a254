import json

import pytest
import torch

from seqgen.measure import bench
from seqgen.models import build_model, model_config
from tests.conftest import invoke


def test_transformer_flops_per_token_by_hand():
    model = build_model(
        "transformer",
        model_config("transformer", vocab_size=19, n_layer=1, n_head=2, n_embd=16, block_size=8),
    )
    # Per layer: c_attn 16x48, c_proj 16x16, c_fc 16x64, mlp c_proj 64x16, two LayerNorm gains of 16;
    # final LayerNorm 16; the tied 19x16 table is the output layer. Positions are a lookup only.
    multiplied = 16 * 48 + 16 * 16 + 16 * 64 + 64 * 16 + 2 * 16 + 16 + 19 * 16
    assert bench.flops_per_token(model) == 6 * multiplied + 12 * 1 * 8 * 16


def test_lstm_flops_per_token_by_hand():
    model = build_model("lstm", model_config("lstm", vocab_size=19, n_layer=1, n_embd=16))
    lstm = 4 * 16 * (16 + 16) + 2 * 4 * 16  # input and recurrent weights, two biases
    head = 16 * 19 + 19
    assert bench.flops_per_token(model) == 6 * (lstm + head)  # the embedding is a lookup


def test_peak_flops_is_measured():
    assert 1e8 < bench.peak_flops("cpu", "fp32") < 1e14


def test_sampling_latency_of_the_lstm_is_flat():
    shape = bench.Shape("lstm", 1, 16, 1, 32)
    row = bench.measure_sampling(shape, "cpu", 2, 16, [128, 256, 512])
    assert row["tokens_per_s"] > 0
    # The 257th-512th tokens cost about what the 65th-128th did (an RNN step does not grow).
    assert 0 < row["latency_ms"][512] < 3 * row["latency_ms"][128]


def test_prepare_measures_a_generated_text(tmp_path):
    row = bench.measure_prepare("text", 0.25)
    assert row["tokens"] > 200_000 and row["seconds"] > 0 and row["dataset_mb"] > 0.2


def test_bench_command_quick(tmp_path):
    out = tmp_path / "b.json"
    result = invoke("bench", "--quick", "--only", "train,sample", "--json", out)
    assert result.exit_code == 0, result.output
    assert "Training" in result.output and "Sampling" in result.output
    report = json.loads(out.read_text())
    assert report["torch"] == torch.__version__ and report["peak"]["flops"] > 0
    assert [r["model"] for r in report["train"]] == ["transformer 1x32", "lstm 1x32"]
    for r in report["train"]:
        assert r["tokens_per_s"] > 0 and r["peak_memory_mb"] > 50 and 0 < r["mfu"] < 1
    for r in report["sample"]:
        assert r["tokens_per_s"] > 0 and set(r["latency_ms"]) == {"16", "32"}


@pytest.mark.parametrize("args", [["--only", "nope"], ["--steps", "0"], ["--text-mb", "-1"]])
def test_bench_refuses_bad_options(args):
    result = invoke("bench", *args)
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output

"""`seqgen eval`: model scores checked against values computed by hand on models whose predictions
are known, and generated tunes scored for the check, key, meter and novelty."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.measure.evaluate import token_loss
from seqgen.measure.samples import abc_body, longest_copy, score_abc
from seqgen.models import build_model, model_config
from tests.conftest import FIXTURES, invoke

CPU = torch.device("cpu")


def constant_model(kind: str, bias: list[float]) -> torch.nn.Module:
    """A model whose every prediction is softmax(bias), whatever it reads: all weights zero, the
    output layer's bias set (the transformer's head has no bias, so its logits are all 0)."""
    extra = {"n_head": 2} if kind == "transformer" else {}
    cfg = model_config(kind, vocab_size=len(bias), n_layer=1, n_embd=8, block_size=4, **extra)
    model = build_model(kind, cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        if model.lm_head.bias is not None:
            model.lm_head.bias.copy_(torch.tensor(bias))
    return model


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_a_uniform_model_scores_log_v_nats_log2_v_bits_and_perplexity_v(kind):
    model = constant_model(kind, [0.0] * 5)
    tokens = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 1])  # 11 tokens: 10 predictions, 2 windows + 2
    r = token_loss(model, tokens, CPU, window=4)
    assert r["tokens"] == 10
    assert r["loss"] == pytest.approx(math.log(5), abs=1e-6)
    assert r["bits_per_token"] == pytest.approx(math.log2(5), abs=1e-6)
    assert r["perplexity"] == pytest.approx(5.0, abs=1e-5)


def test_a_skewed_model_scores_the_hand_computed_mean_surprise():
    # p = softmax([ln 6, ln 3, ln 1]) = (0.6, 0.3, 0.1); targets 1, 0, 2, 0, 0 (the ids after the first).
    model = constant_model("lstm", [math.log(6), math.log(3), 0.0])
    tokens = np.array([2, 1, 0, 2, 0, 0])
    by_hand = -(math.log(0.3) + math.log(0.6) + math.log(0.1) + math.log(0.6) + math.log(0.6)) / 5
    r = token_loss(model, tokens, CPU, window=4, precision="fp32")  # bf16 on an AMX CPU is ~1e-3 off
    assert r["tokens"] == 5
    assert r["loss"] == pytest.approx(by_hand, abs=1e-6)  # 1.2877 nats
    assert r["perplexity"] == pytest.approx(math.exp(by_hand), rel=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_token_loss_reads_consecutive_windows_that_each_start_fresh(kind):
    """Against a loop written out by hand, with a model whose predictions depend on what it read."""
    torch.manual_seed(0)
    extra = {"n_head": 2} if kind == "transformer" else {}
    model = build_model(kind, model_config(kind, vocab_size=7, n_layer=1, n_embd=8, block_size=4, **extra))
    model.eval()
    tokens = np.random.default_rng(1).integers(0, 7, 23)
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, 22, 4):  # windows 0-3, 4-7, ..., 20-21 (the last one shorter)
            x = torch.tensor(tokens[s : min(s + 4, 22)])[None]
            y = torch.tensor(tokens[s + 1 : min(s + 5, 23)])
            logits, _ = model(x)  # a fresh start: no state from the window before
            total += torch.nn.functional.cross_entropy(logits[0], y, reduction="sum").item()
            count += len(y)
    r = token_loss(model, tokens, CPU, window=4, precision="fp32")  # as the fp32 loop above
    assert count == 22 and r["tokens"] == 22
    assert r["loss"] == pytest.approx(total / count, abs=1e-6)


def test_longest_copy_finds_the_longest_verbatim_run():
    assert longest_copy("xxcdeyy", "abcdefg") == 3
    assert longest_copy("abc", "abc") == 3
    assert longest_copy("zzz", "abc") == 0
    assert longest_copy("", "abc") == 0
    # Two copied runs: the longer one counts.
    assert longest_copy("ab-cdef-gh", "..ab..cdef..gh..") == 4


TUNE = """X:1
T:Scale
M:4/4
L:1/8
K:D
DEFG ABcd|edcB AGFE|D2F2 A2d2|d8|]
"""


def test_score_abc_reads_key_meter_and_copying():
    s = score_abc("scale", TUNE, corpus="\x00" + abc_body(TUNE) + "\x00other")
    assert s.ok and s.notes == 21
    assert s.key_agrees is True and s.header_key and s.found_key  # D major notes, K:D
    assert s.full_bars == 1.0  # every inner bar is 8 eighths long
    assert s.copy_share == 1.0 and s.longest_copy == len(abc_body(TUNE))
    # D major written out with accidentals under a K:C header: the header does not fit the notes.
    in_c = TUNE.replace("K:D", "K:C").replace("DEFG ABcd|edcB AGFE|D2F2", "DE^FG AB^cd|ed^cB AG^FE|D2^F2")
    wrong = score_abc("wrong", in_c, corpus="nothing alike")
    assert wrong.key_agrees is False
    assert wrong.copy_share is not None and wrong.copy_share < 0.2
    # A bar one eighth short: one of the two inner bars is not as long as M: says.
    short = score_abc("short", TUNE.replace("edcB AGFE", "edcB AGF"), corpus=None)
    assert short.full_bars == 0.5 and short.longest_copy is None


def test_full_bars_count_a_section_end_and_its_pickup_as_one_bar():
    from seqgen.measure.samples import full_bar_share

    assert full_bar_share([4, 4, 4, 4], 4) == 1.0
    assert full_bar_share([4, 3, 1, 4], 4) == 1.0  # `G2G2 G2z || G |`: 3/4 + 1/4
    assert full_bar_share([4, 3, 4, 4], 4) == 0.75  # a bar one beat short, not made up
    assert full_bar_share([4, 5, 3, 4], 4) == 0.5  # too long then too short: two wrong bars


def test_score_abc_reports_a_tune_that_does_not_parse():
    s = score_abc("bad", "X:1\nT:Nothing\nK:D\n", corpus=None)
    assert not s.ok and s.reason == "no music after K:"


@pytest.fixture
def tunes_run() -> None:
    assert (
        invoke("prepare", FIXTURES / "abc_reels.abc", "--name", "reels", "--val-fraction", "0.2").exit_code
        == 0
    )
    args = ["--model", "lstm", "--n-layer", "1", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"]
    r = invoke(
        "train", "--data", "data/reels", *args, "--max-iters", "10", "--eval-interval", "5", "--run", "m"
    )
    assert r.exit_code == 0, r.output


def test_eval_cli_scores_the_val_split_and_a_raw_file(tunes_run):
    from seqgen.datasets.store import open_dataset
    from seqgen.train.checkpoint import load_model

    r = invoke("eval", "checkpoints/m", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    model, _, _ = load_model(Path("checkpoints/m/best.pt"))
    direct = token_loss(model, open_dataset("data/reels").val, CPU, window=16)
    assert got["loss"] == pytest.approx(direct["loss"], abs=1e-6) and got["tokens"] == direct["tokens"]
    assert got["unit"] == "character" and got["bits_per_token"] == pytest.approx(got["loss"] / math.log(2))
    # A raw ABC file is read as `seqgen prepare` reads it: tunes, each followed by the end token.
    r = invoke("eval", "checkpoints/m", FIXTURES / "abc_reels.abc")
    assert r.exit_code == 0, r.output
    assert "bits per character" in r.output and "perplexity" in r.output
    Path("odd.abc").write_text("X:1\nT:Odd\nM:4/4\nK:D\nDEF@ G4|]\n")  # the reels hold no '@'
    r = invoke("eval", "checkpoints/m", "odd.abc")
    assert r.exit_code == 1 and "the model never saw" in r.output and "'@'" in r.output, r.output
    Path("prose.txt").write_text("no tune here\n")
    r = invoke("eval", "checkpoints/m", "prose.txt")
    assert r.exit_code == 1 and "holds no usable ABC tune" in r.output


def test_eval_samples_scores_generated_tunes_and_finds_copies(tunes_run):
    from seqgen.datasets.store import open_dataset
    from seqgen.measure.samples import training_corpus

    Path("gen").mkdir()
    ds = open_dataset("data/reels")
    corpus = training_corpus(ds.train, ds.kind, ds.tokenizer)
    first = corpus.split("\x00")[0]  # a training tune, copied whole
    Path("gen/sample_001.abc").write_text(first)
    Path("gen/sample_002.abc").write_text(TUNE)
    Path("gen/sample_003.abc").write_text("X:1\nT:Broken\nK:D\n")
    r = invoke("eval", "--samples", "gen", "--data", "data/reels", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    rows = {row["name"]: row for row in got["rows"]}
    assert rows["sample_001.abc"]["copy_share"] == 1.0
    assert rows["sample_002.abc"]["copy_share"] < 0.5 and rows["sample_002.abc"]["key_agrees"] is True
    assert rows["sample_003.abc"]["ok"] is False
    s = got["summary"]
    # Copying is measured on tunes with music: sample 3 has none.
    assert s["samples"] == 3 and s["passed"] == 2 and s["mostly_copied"] == 0.5
    r = invoke("eval", "--samples", "gen", "--data", "data/reels")
    words = " ".join(r.output.split())  # the terminal wraps long lines
    assert r.exit_code == 0 and "2 of 3 pass the music check" in words and "copy half of it or more" in words


def test_eval_samples_of_midi_reports_a_broken_file_and_refuses_other_data(tunes_run):
    from seqgen.music.midi_io import write_midi
    from seqgen.music.notes import Note

    Path("mids").mkdir()
    write_midi([Note(i * 0.5, i * 0.5 + 0.4, 60 + i, 90) for i in range(12)], "mids/sample_001.mid")
    Path("mids/sample_002.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    r = invoke("eval", "--samples", "mids", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)["rows"]}
    assert rows["sample_001.mid"]["ok"] and rows["sample_001.mid"]["notes"] == 12
    assert not rows["sample_002.mid"]["ok"] and rows["sample_002.mid"]["reason"]
    # The novelty check needs the data the samples' model learned from: ABC data is refused.
    r = invoke("eval", "--samples", "mids", "--data", "data/reels")
    assert r.exit_code == 1 and "holds MIDI samples but data/reels is abc data" in r.output

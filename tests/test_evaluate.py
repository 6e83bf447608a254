"""`seqgen eval`: model scores checked against values computed by hand on models whose predictions
are known, and generated tunes scored for the check, key, meter and novelty."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.measure.evaluate import token_loss
from seqgen.measure.samples import longest_copy, score_abc
from seqgen.models import build_model, model_config
from seqgen.music.judge import abc_body
from tests.conftest import FIXTURES, invoke
from tests.test_judge import REEL

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


def test_document_loss_reads_each_tune_whole_from_a_fresh_state():
    """A model trained on streams (the LSTM on tunes) is scored as it was trained and as it
    writes: each document from its end-of-document id, state carried through it, against a loop
    written out by hand; in chunks shorter than the documents and batches smaller than their
    number, the same."""
    from seqgen.measure.evaluate import document_loss

    torch.manual_seed(0)
    model = build_model("lstm", model_config("lstm", vocab_size=7, n_layer=1, n_embd=8, block_size=4)).eval()
    tokens = np.array([3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 0, 2, 2, 0, 5, 6, 1, 1])  # eos = 0
    total, count = 0.0, 0
    with torch.no_grad():
        for a, b in ((0, 3), (3, 10), (10, 13), (13, 17)):  # each from its eos (the first: from 0)
            doc = torch.tensor(tokens[a : b + 1])
            logits, _ = model(doc[:-1][None])  # the whole document at once, from zeros
            total += torch.nn.functional.cross_entropy(logits[0], doc[1:], reduction="sum").item()
            count += b - a
    assert count == len(tokens) - 1
    for chunk, batch in ((512, 64), (2, 3), (3, 1)):
        r = document_loss(model, tokens, CPU, eos=0, chunk=chunk, precision="fp32", batch=batch)
        assert r["tokens"] == count and r["loss"] == pytest.approx(total / count, abs=1e-6)
    assert token_loss(model, tokens, CPU, window=4, precision="fp32")["loss"] != pytest.approx(total / count)


def test_document_loss_reads_a_rotary_transformer_through_its_rolling_cache():
    """A rotary transformer trained on streams is scored tune by tune as its rolling cache writes:
    a tune longer than its context is read a context at a time, its memory carried (no error
    for a tune past the context), against token-by-token rolling decoding."""
    from seqgen.measure.evaluate import document_loss

    torch.manual_seed(0)
    cfg = model_config("transformer", vocab_size=7, n_layer=2, n_head=2, n_embd=8, block_size=4)
    model = build_model("transformer", cfg).eval()
    tokens = np.array([3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 0, 2, 2, 0, 5, 6, 1, 1])  # eos = 0
    total, count = 0.0, 0
    with torch.no_grad():
        for a, b in ((0, 3), (3, 14), (14, 17), (17, 21)):  # a tune of 11 tokens: past the context
            doc = torch.tensor(tokens[a : b + 1])
            state = model.init_state(1, CPU, rolling=True)
            for t in range(b - a):
                logits, state = model(doc[t : t + 1][None], state)
                total += torch.nn.functional.cross_entropy(
                    logits[0], doc[t + 1 : t + 2], reduction="sum"
                ).item()
            count += b - a
    for batch in (64, 1):
        r = document_loss(model, tokens, CPU, eos=0, precision="fp32", batch=batch)
        assert r["tokens"] == count and r["loss"] == pytest.approx(total / count, abs=1e-5)


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


def test_score_abc_reads_key_meter_copying_and_the_judge():
    s = score_abc("scale", TUNE, corpus="\x00" + abc_body(TUNE) + "\x00other")
    assert s.ok and s.notes == 21
    assert s.key_agrees is True and s.header_key and s.found_key  # D major notes, K:D
    assert s.copy_share == 1.0 and s.longest_copy == len("".join(abc_body(TUNE).split()))
    # The judge: both inner bars fill 4/4; copied whole, and too short for a tune.
    assert s.judge is not None and (s.judge.inner_bars, s.judge.full_inner_bars) == (2, 2)
    assert s.judge.copy_share == 1.0 and s.judge.ends_on_tonic
    assert [n for n, c in s.judge.criteria.items() if not c.ok] == ["form", "plagiarism"]
    assert not s.passed
    # D major written out with accidentals under a K:C header: the header does not fit the notes.
    in_c = TUNE.replace("K:D", "K:C").replace("DEFG ABcd|edcB AGFE|D2F2", "DE^FG AB^cd|ed^cB AG^FE|D2^F2")
    wrong = score_abc("wrong", in_c, corpus="nothing alike")
    assert wrong.key_agrees is False
    assert wrong.copy_share is not None and wrong.copy_share < 0.2
    # A bar one eighth short: one of the two inner bars does not fill the metre.
    short = score_abc("short", TUNE.replace("edcB AGFE", "edcB AGF"), corpus=None)
    assert short.judge is not None and (short.judge.inner_bars, short.judge.full_inner_bars) == (2, 1)
    assert short.longest_copy is None and short.judge.copy_share is None  # no corpus: not measured


def test_judge_summary_weighs_bar_fill_by_bars_and_leaves_unmeasured_plagiarism_out():
    from seqgen.measure.samples import judge_summary

    half = score_abc("half", TUNE.replace("edcB AGFE", "edcB AGF"), corpus=None).judge  # 1 of 2
    whole = score_abc("whole", REEL, corpus=None).judge  # a reel whose 14 inner bars all fill 4/4
    assert half is not None and whole is not None
    assert (whole.inner_bars, whole.full_inner_bars) == (14, 14) and whole.ok
    s = judge_summary([half, whole], plagiarism=False)
    assert s["inner_bars_full"] == pytest.approx(15 / 16)  # not the mean of 50% and 100%
    assert s["tunes"] == 2 and s["all"] == 0.5 and s["ends_on_tonic"] == 1.0
    assert s["criteria"] == {"rhythm": 1.0, "mode": 1.0, "form": 0.5, "plagiarism": None}
    assert s["median_bars_played"] == pytest.approx((half.played_bars + whole.played_bars) / 2)


def test_score_abc_reports_a_tune_that_does_not_parse():
    s = score_abc("bad", "X:1\nT:Nothing\nK:D\n", corpus=None)
    assert not s.ok and s.reason == "no music after K:"
    assert s.judge is not None and not s.judge.readable
    assert all(not c.ok for n, c in s.judge.criteria.items() if n != "plagiarism")


# Hand-made samples for `seqgen eval --samples` against the legacy ABC dataset (7 training tunes,
# one held out): an original jig that passes, one with bars that do not fill 6/8, a training tune
# copied whole, and a header without music.
JIG = (
    "|:FAF DFA|dcB AFD|EFG ABc|dAF D3|FAF DFA|dcB AFD|EFG ABc|dAF D3:|\n"
    "|:fdf afd|gfe dcB|AFA Bcd|AFD D3|fdf afd|gfe dcB|AFA Bcd|AFD D3:|\n"
)
LIMPING = JIG.replace("dcB AFD|EFG ABc|dAF D3|FAF DFA", "dcB AF|EFG AB|dAF D3|FAF DF", 1)  # 3 bars of 5/8
SAMPLES = {
    "sample_001.abc": f"X:1\nT:New Jig\nM:6/8\nL:1/8\nK:D\n{JIG}",
    "sample_002.abc": f"X:1\nT:Limping Jig\nM:6/8\nL:1/8\nK:D\n{LIMPING}",
    "sample_003.abc": "X:1\nT:Hill Jig\nM:6/8\nL:1/8\nK:G\n|:GAB dBG|cBA BGE|GAB dBG|AFD G3:|\n",
    "sample_004.abc": "X:1\nT:Broken\nK:D\n",
}


@pytest.fixture
def legacy_abc(tmp_path: Path) -> Path:
    """The legacy ABC dataset in data/abc, and the hand-made samples in gen/."""
    shutil.copytree(FIXTURES / "legacy" / "data" / "abc", tmp_path / "data" / "abc")
    (tmp_path / "gen").mkdir()
    for name, text in SAMPLES.items():
        (tmp_path / "gen" / name).write_text(text)
    return tmp_path


def narrow(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """A terminal `columns` wide, as `COLUMNS=80 seqgen ...` gives (rich reads COLUMNS when the
    console is made, at import, unless it was unset then: make it read it again)."""
    from seqgen.cli import console, err_console

    monkeypatch.setenv("COLUMNS", str(columns))
    for c in (console, err_console):
        monkeypatch.setattr(c, "_width", None)


def blocks_of(output: str) -> dict[str, str]:
    """Each sample's block of `seqgen eval --samples` / `seqgen sample`, its lines joined."""
    blocks: dict[str, str] = {}
    name = None
    for line in output.splitlines():
        if line.startswith("sample_"):
            name = line.split()[0]
            blocks[name] = line
        elif name is not None and line.startswith(" "):
            blocks[name] += " " + line.strip()
        else:
            name = None
    return blocks


@pytest.mark.parametrize("columns", [80, 60])
def test_eval_samples_shows_the_judge_beside_the_held_out_tunes_in_narrow_lines(
    legacy_abc, monkeypatch, columns
):
    narrow(monkeypatch, columns)
    r = invoke("eval", "--samples", "gen", "--data", "data/abc")
    assert r.exit_code == 0, r.output
    assert all(len(line) <= columns for line in r.output.splitlines()), r.output
    assert "…" not in r.output, r.output
    blocks = blocks_of(r.output)
    assert list(blocks) == list(SAMPLES)
    assert blocks["sample_001.abc"].startswith("sample_001.abc  pass  32 bars played;")
    assert "ends on the tonic" in blocks["sample_001.abc"]
    limping = " ".join(blocks["sample_002.abc"].split())
    assert limping.startswith("sample_002.abc fail rhythm: 3 of 16 bars do not fill 6/8;")
    assert "mode, form and plagiarism ok" in limping and "9 of 12 inner bars fill 6/8" in limping
    copied = " ".join(blocks["sample_003.abc"].split())
    assert "fail plagiarism: 100% of it is copied from a training tune" in copied
    assert "copy 100% (30 characters)" in copied  # the whole body, its 4 spaces left out
    broken = " ".join(blocks["sample_004.abc"].split())
    assert "fail music check: no music after K:" in broken and "music21 cannot read it" in broken
    # The summary: the samples beside the one held-out tune, judged the same way.
    words = " ".join(r.output.split())
    assert "criterion ┃ samples ┃ held-out tunes" in words
    for row in ("rhythm │ 50% │ 100%", "plagiarism │ 75% │ 100%", "all four │ 25% │ 100%", "tunes │ 4 │ 1"):
        assert row in words, row
    assert "3 of 4 samples play" in words and "1 of 4 play and pass the tune judge" in words


def test_eval_samples_json_has_the_judge_per_tune_and_for_the_held_out_tunes(legacy_abc):
    from seqgen.datasets.store import open_dataset
    from seqgen.measure.samples import held_out_tunes
    from seqgen.music.judge import copy_share, judge_tune

    r = invoke("eval", "--samples", "gen", "--data", "data/abc", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    rows = {row["name"]: row for row in got["rows"]}
    limping = rows["sample_002.abc"]["judge"]
    assert limping["criteria"]["rhythm"] == {"ok": False, "reason": "3 of 16 bars do not fill 6/8"}
    assert (limping["inner_bars"], limping["full_inner_bars"], limping["meter"]) == (12, 9, "6/8")
    assert rows["sample_001.abc"]["passed"] and not rows["sample_003.abc"]["passed"]
    judge = got["summary"]["judge"]
    full = sum(row["judge"]["full_inner_bars"] or 0 for row in got["rows"])
    inner = sum(
        row["judge"]["inner_bars"] for row in got["rows"] if row["judge"]["full_inner_bars"] is not None
    )
    assert judge["inner_bars_full"] == pytest.approx(full / inner)
    assert judge["criteria"]["plagiarism"] == 0.75 and judge["plagiarism_measured"]
    # The held-out tunes: the val split's one tune, judged against the training text.
    ds = open_dataset("data/abc")
    (tune,) = held_out_tunes(ds)
    assert tune.startswith("X:1\nT:Harbour Polka") and ds.meta["counts"]["val_tunes"] == 1
    corpus = ds.data_kind.corpus_text(ds.train, ds.tokenizer)
    share = copy_share(tune, corpus)
    held = got["held_out"]["judge"]
    assert held["tunes"] == 1 and held["all"] == float(judge_tune(tune, share).ok)
    assert held["median_copy_share"] == pytest.approx(share)


def test_eval_samples_without_data_leaves_plagiarism_and_held_out_tunes_out(legacy_abc, monkeypatch):
    narrow(monkeypatch, 80)
    r = invoke("eval", "--samples", "gen")
    assert r.exit_code == 0, r.output
    words = " ".join(r.output.split())
    assert "held-out tunes" not in words.split("Novelty")[0]
    assert "plagiarism │ - │" in words and "all but plagiarism │ 50% │" in words
    assert "plagiarism not measured" in blocks_of(r.output)["sample_001.abc"]
    assert "Novelty, plagiarism and the held-out tunes: not measured" in words


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
    model, tokenizer, ckpt = load_model(Path("checkpoints/m/best.pt"))
    # The LSTM on tunes trains on streams: it is scored tune by tune from a fresh state, as trained.
    from seqgen.measure.evaluate import document_loss

    assert ckpt.train_config["windows"] == "streams" and got["read"].startswith(
        "each tune from a fresh state"
    )
    direct = document_loss(model, open_dataset("data/reels").val, CPU, tokenizer.eos_id)
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
    assert r.exit_code == 0 and "2 of 3 samples play" in words and "copy half of it or more" in words


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


def test_eval_samples_of_midi_fits_a_narrow_terminal(monkeypatch):
    from seqgen.music.midi_io import write_midi
    from seqgen.music.notes import Note

    Path("mids").mkdir()
    write_midi([Note(i * 0.5, i * 0.5 + 0.4, 60 + i, 90) for i in range(12)], "mids/sample_001.mid")
    Path("mids/sample_002.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    narrow(monkeypatch, 60)
    r = invoke("eval", "--samples", "mids")
    assert r.exit_code == 0, r.output
    assert all(len(line) <= 60 for line in r.output.splitlines()) and "…" not in r.output, r.output
    blocks = {name: " ".join(b.split()) for name, b in blocks_of(r.output).items()}
    assert blocks["sample_001.mid"] == "sample_001.mid pass 12 notes, 5.9 s, pitches 60-71, 2.0 notes/s"
    assert blocks["sample_002.mid"].startswith("sample_002.mid fail music check: cannot read MIDI file")
    assert "1 of 2 pass the music check" in " ".join(r.output.split())
    assert "tune judge" not in r.output  # MIDI has no K: or M: header to judge

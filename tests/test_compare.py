"""`seqgen compare`: matched sizes, the context measurements against direct computations, the
verdicts, and tiny end-to-end comparisons that must fill every section of the report with numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqgen.compare.plan import lstm_parameters, match_lstm
from seqgen.compare.report import failure_kind, write_markdown
from seqgen.compare.results import (
    CompareResults,
    DataInfo,
    JudgeCounts,
    Machine,
    SampleResult,
    SamplingRun,
    ThroughputRow,
    TrainStep,
    ValScores,
    load,
)
from seqgen.compare.run import loss_by_position, streaming_loss
from seqgen.compare.sections import FORM_WORDS
from seqgen.compare.verdicts import verdicts
from seqgen.models import build_model, count_parameters, model_config
from seqgen.music.judge import RULES
from tests.conftest import FIXTURES, invoke

CPU = torch.device("cpu")


@pytest.mark.parametrize("vocab,layers,width", [(65, 2, 220), (91, 1, 37), (10, 3, 8)])
def test_lstm_parameter_formula_counts_the_real_model(vocab, layers, width):
    cfg = model_config("lstm", vocab_size=vocab, n_layer=layers, n_embd=width)
    assert lstm_parameters(vocab, layers, width) == count_parameters(build_model("lstm", cfg))


def test_matched_lstm_is_within_two_percent_of_the_default_transformer():
    transformer = build_model("transformer", model_config("transformer", vocab_size=91))
    target = count_parameters(transformer)
    lstm = match_lstm(target, 91, 2)
    got = count_parameters(build_model("lstm", lstm))
    assert abs(got - target) / target < 0.02, (got, target)
    # A width that is a multiple of 8 wins when it is within 2% of the target...
    near_216 = lstm_parameters(91, 2, 217)  # 0.9% above 216's count
    assert match_lstm(near_216, 91, 2).n_embd == 216
    # ...and otherwise the closest width, multiple of 8 or not.
    assert match_lstm(lstm_parameters(91, 2, 219), 91, 2).n_embd == 219
    assert match_lstm(4832, 91, 2).n_embd == 12


def _tiny(kind: str, block: int = 8, **recipe):
    torch.manual_seed(0)
    extra = {"n_head": 2, **recipe} if kind == "transformer" else {}
    cfg = model_config(kind, vocab_size=11, n_layer=1, n_embd=16, block_size=block, **extra)
    return build_model(kind, cfg).eval()


VAL = np.random.default_rng(0).integers(0, 11, 300).astype(np.uint16)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_loss_by_position_matches_each_window_scored_alone(kind):
    model = _tiny(kind)
    curve = loss_by_position(model, VAL, 8, 32, CPU, None)
    assert len(curve) == (32 if kind == "lstm" else 8)
    starts = range(0, len(VAL) - 32, 8)
    expected = torch.zeros(len(curve), dtype=torch.float64)
    with torch.no_grad():
        for s in starts:
            w = torch.from_numpy(VAL[s : s + len(curve) + 1].astype(np.int64))
            logits, _ = model(w[None, :-1])
            expected += F.cross_entropy(logits[0], w[1:], reduction="none").double()
    assert np.allclose(curve, (expected / len(starts)).numpy(), atol=1e-5)


def test_lstm_streaming_loss_carries_the_state_through_the_split():
    model = _tiny("lstm")
    val = VAL[:200]  # short: one stream
    with torch.no_grad():
        x = torch.from_numpy(val[:-1].astype(np.int64))[None]
        logits, _ = model(x)
        direct = F.cross_entropy(logits[0], torch.from_numpy(val[1:].astype(np.int64))).item()
    assert streaming_loss(model, val, CPU, None) == pytest.approx(direct, abs=1e-5)


def test_transformer_streaming_loss_slides_like_the_sampler():
    """Every token is scored with the window the sampler would use: the first window whole, then
    windows moved a quarter of the context (2 of 8 tokens) at a time (learned positions: a rotary
    model rolls its cache instead, below)."""
    model = _tiny("transformer", positions="learned")
    val = VAL[:100]
    limit, step = 8, 2
    losses = []
    with torch.no_grad():
        for j in range(len(val) - 1):  # predict val[j + 1] from a window ending at j
            if j < limit:
                start = 0
            else:
                k = (j - limit) // step + 1  # the k-th slide is the first whose window holds j
                start = k * step
            if start + limit > len(val) - 1:
                break  # the last partial slide is not scored
            logits, _ = model(torch.from_numpy(val[start : j + 1].astype(np.int64))[None])
            losses.append(F.cross_entropy(logits[0, -1:], torch.tensor([int(val[j + 1])])).item())
    assert streaming_loss(model, val, CPU, None) == pytest.approx(float(np.mean(losses)), abs=1e-5)


def test_a_rotary_transformer_streams_through_its_rolling_cache_as_the_sampler_does():
    """16 streams would need 16 x 2 contexts: one stream here, its first context read whole,
    then one token at a time through the rolling cache (what `generate` does by default)."""
    model = _tiny("transformer", positions="rotary")
    val = VAL[:100]
    state = model.init_state(1, CPU, rolling=True)
    x = torch.from_numpy(val.astype(np.int64))[None]
    losses = []
    with torch.no_grad():
        logits, state = model(x[:, :8], state)
        losses += F.cross_entropy(logits[0], x[0, 1:9], reduction="none").tolist()
        for j in range(8, len(val) - 1):
            logits, state = model(x[:, j : j + 1], state)
            losses.append(F.cross_entropy(logits[0, -1:], x[0, j + 1 : j + 2]).item())
    assert streaming_loss(model, val, CPU, None) == pytest.approx(float(np.mean(losses)), abs=1e-5)


def _results(lstm_val: float, transformer_val: float) -> dict:
    """A results dict with only what `verdicts` reads."""

    def tput(a, b):
        return [{"context": 64, "tokens_per_s": a}, {"context": 1024, "tokens_per_s": b}]

    return {
        "val": {
            "lstm": {"fresh": lstm_val, "streaming": lstm_val, "by_position": [1.2] * 4},
            "transformer": {"fresh": transformer_val, "streaming": transformer_val, "by_position": [1.3] * 4},
        },
        "models": {"transformer": {"config": {"block_size": 64}}},
        "throughput": {"lstm": tput(1000, 900), "transformer": tput(2000, 300)},
        "sampling": {
            "lstm": {"latency_ms": {128: 1.0, 2048: 1.0}, "tokens_per_s": 900.0, "samples": 10},
            "transformer": {"latency_ms": {128: 0.5, 2048: 2.0}, "tokens_per_s": 800.0, "samples": 10},
        },
        "train_memory": {
            "lstm": {"peak_memory_mb": 300.0, "baseline_mb": 200.0},
            "transformer": {"peak_memory_mb": 400.0, "baseline_mb": 200.0},
        },
        "samples": {
            "lstm": {"passed": 3, "samples": 20},
            "transformer": {"passed": 15, "samples": 20},
        },
    }


def _typed(r: dict) -> CompareResults:
    """The typed results `verdicts` takes, from a dict of `_results`; what it does not read is blank."""
    step = {"model": "", "batch": "", "parameters": 0, "precision": "fp32", "compiled": False}
    step |= {"step_ms": 1.0, "warmup_s": 0.0, "flops_per_token": 0, "device": "cpu"}
    step |= {"tokens_per_s": 0.0, "peak_memory_mb": 0.0, "baseline_mb": 0.0}
    run = {"model": "", "context": None, "length": 0, "peak_memory_mb": 0.0, "baseline_mb": 0.0}
    sample = {"reasons": {}, "example": None, "dir": "", "seed": 0, "temperature": 1.0}
    return CompareResults(
        date="",
        command="",
        machine=Machine("cpu", "", 1, 1, "", ""),
        precision="fp32",
        data=DataInfo("", "abc", "", 11, 0, 0),
        budget_min=1.0,
        seed=0,
        models={},
        train_memory={m: TrainStep(**{**step, **row}) for m, row in r["train_memory"].items()},
        curves={},
        val={m: ValScores(v["by_position"], v["fresh"], None, v["streaming"]) for m, v in r["val"].items()},
        throughput={
            m: [
                ThroughputRow(x["context"], 1, TrainStep(**{**step, "tokens_per_s": x["tokens_per_s"]}))
                for x in rows
            ]
            for m, rows in r["throughput"].items()
        },
        sampling={m: SamplingRun(**{**run, **row}) for m, row in r["sampling"].items()},
        samples={m: SampleResult(**{**sample, **row}) for m, row in r["samples"].items()},
    )


def test_verdicts_name_the_winner_and_where_the_other_model_is_better():
    v = verdicts(_typed(_results(1.60, 1.50)))
    assert (v.winner, v.loser) == ("transformer", "lstm")
    lstm = " | ".join(v.wins["lstm"])
    transformer = " | ".join(v.wins["transformer"])
    # The headline reads each model as it writes; fresh windows are a measure of their own.
    assert "windows that start fresh, over their first 4 positions (1.200 against 1.300)" in lstm
    assert "context 1024 (3.00x the tokens" in lstm
    assert "less time per generated token (1.00 against 1.25 ms" in lstm
    assert "less memory" in lstm and "10 samples at once" in lstm
    assert "context 64 (2.00x" in transformer and "music check (15 of 20" in transformer
    assert verdicts(_typed(_results(1.40, 1.50))).winner == "lstm"
    # Timings within 5% of each other are called even, not a win for either.
    close = _results(1.60, 1.50)
    close["throughput"]["transformer"][1]["tokens_per_s"] = 880  # 900 against 880: 2%
    close["samples"]["transformer"]["passed"] = 3
    v = verdicts(_typed(close))
    assert (
        "training speed at context 1024" in v.even
        and "tunes passing the music check (3 of 20 each)" in v.even
    )
    assert not any("1024" in w for w in v.wins["lstm"] + v.wins["transformer"])


@pytest.mark.parametrize("name", ["oneills1850", "tinyshakespeare"])
def test_committed_comparisons_load_and_give_their_report_again(name):
    """The results.json under docs/ loads, saves back byte for byte, and writes the committed report.md."""
    folder = Path(__file__).parent.parent / "docs" / f"compare-{name}"
    r = load(folder / "results.json")
    assert json.dumps(r.to_json(), indent=1, default=str) + "\n" == (folder / "results.json").read_text()
    assert write_markdown(r) == (folder / "report.md").read_text()


def test_failure_reasons_are_grouped_without_the_tunes_details():
    assert failure_kind('cannot parse tune "X:1": ValueError: bad') == "does not parse as ABC"
    assert failure_kind("only 3 notes") == failure_kind("no notes") == "too few notes"
    assert failure_kind("lasts 1.0 s (min 2)") == "too short"
    assert failure_kind("the tune did not end within --length") == "did not end within the length"
    assert failure_kind("no K: field") == "no K: field"
    # The tune judge's reasons, by criterion (a verdict's reason is its first failed criterion's).
    assert (
        failure_kind("rhythm: 3 of 14 inner bars do not fill 6/8")
        == "rhythm: bars that do not fill the metre"
    )
    assert (
        failure_kind("mode: ends on the 5th, not on a cadence of K:Gm") == "mode: ends off the key's cadences"
    )
    assert failure_kind("mode: 9 of 40 notes are foreign to K:D") == "mode: notes foreign to the key"
    assert failure_kind("form: 8 bars played: a reel has two parts of eight bars") == "form: too short"
    assert failure_kind("form: 160 bars played: a runaway") == "form: a runaway loop or repeat"
    assert failure_kind("form: one bar 4 times in a row") == "form: a runaway loop or repeat"
    assert failure_kind("form: its repeats run away") == "form: a runaway loop or repeat"
    assert failure_kind("form: only 20% of its bars differ: a loop") == "form: a runaway loop or repeat"
    # The form rules of the judge's second edition, each under its own name (not "a runaway").
    assert failure_kind("form: parts of 8 + 12 bars: a part of 12 is no phrase of a reel") == (
        "form: a part of no phrase length"
    )
    assert (
        failure_kind("form: its last part is 2.375 bars: it stops mid-phrase")
        == "form: the last part stops short"
    )
    assert failure_kind("form: its last part is 4 bars after a first of 8: it stops mid-tune") == (
        "form: the last part stops short"
    )
    assert failure_kind("form: a first ending with no second ending") == "form: a first ending with no second"
    assert failure_kind('form: stray text "BAG" in the music: no chord symbol or marking') == (
        "form: stray text in the music"
    )
    # The third edition's: music after `|]`, and a part in C| with no dance named.
    assert failure_kind("form: music after a final bar line |]: the tune ends, then goes on") == (
        "form: music after a final bar line"
    )
    assert failure_kind("form: parts of 8 + 5.25 bars: a part of 5.25 is no phrase of a tune in C|") == (
        "form: a part of no phrase length"
    )
    assert failure_kind("plagiarism: 80% of it is copied from a training tune") == (
        "plagiarism: copied from a training tune"
    )
    assert failure_kind("unreadable: music21 cannot read it (bad)") == "does not parse as ABC"


def _judged(r: dict) -> CompareResults:
    """`_typed` results whose samples went before the tune judge: the LSTM's 3 passing tunes of
    20 and the transformer's 15, with their counts criterion by criterion."""
    typed = _typed(r)
    counts = {
        "lstm": JudgeCounts(19, {"rhythm": 10, "mode": 12, "form": 18, "plagiarism": 19}, 9, 200, 150),
        "transformer": JudgeCounts(
            20, {"rhythm": 18, "mode": 17, "form": 19, "plagiarism": 20}, 16, 300, 291
        ),
    }
    for m, s in typed.samples.items():
        s.judge = counts[m]
        s.reasons = {
            "rhythm: 3 of 14 inner bars do not fill 6/8": 5,
            "the tune did not end within --length": 2,
        }
    return typed


def test_the_tune_judge_is_reported_criterion_by_criterion():
    from seqgen.compare.sections import samples as samples_section

    v = verdicts(_judged(_results(1.60, 1.50)))
    assert "more sampled tunes pass the tune judge (15 of 20 against 3)" in v.wins["transformer"]
    lines = "\n".join(samples_section(_judged(_results(1.60, 1.50))))
    assert lines.startswith("## 6. Sampled tunes and the tune judge")
    assert (
        "| LSTM | 3 of 20 | rhythm: bars that do not fill the metre (5); did not end within the length (2) |"
        in lines
    )
    assert (
        "| plays (the music check) | 95% | 100% |" in lines
        and "| rhythm | 50% | 90% |" in lines
        and "| plagiarism | 95% | 100% |" in lines
    )
    assert "| passed: it plays and meets all four | 15% | 75% |" in lines
    assert "| ends on the tonic | 45% | 80% |" in lines
    assert "| inner bars that fill the metre | 75% | 97% |" in lines  # 150 / 200 and 291 / 300
    assert "(temperature 1, seed 0), one try each" in lines  # no bar guide recorded: no words
    r = _judged(_results(1.60, 1.50))
    r.samples["lstm"].bar_guide = False
    assert "seed 0, no bar guide (`--free-bars`)), one try each" in "\n".join(samples_section(r))
    # The words name the rules the tunes were judged by: results from before the phrase rule (rules
    # 1, none recorded) keep the older words, and results judged by today's judge get today's.
    assert "form (long enough once its repeats are played, no runaway loop)" in lines
    for s in r.samples.values():
        assert s.judge is not None
        s.judge.rules = RULES
    now = "\n".join(samples_section(r))
    assert max(FORM_WORDS) == RULES  # today's judge has its words
    assert "a dance's parts in phrases of 4, 8 or 16 bars" in now and "no stray text in the music" in now
    # Results from before the judge keep the music check's words.
    old = "\n".join(samples_section(_typed(_results(1.60, 1.50))))
    assert "## 6. Sampled tunes and the music check" in old and "tune judge" not in old


def test_results_with_the_judge_load_back_and_older_ones_without_it():
    r = _judged(_results(1.60, 1.50))
    doc = r.samples["lstm"].to_json()
    assert doc["judge"] == {
        "judged": 19,
        "criteria": {"rhythm": 10, "mode": 12, "form": 18, "plagiarism": 19},
        "ends_on_tonic": 9,
        "inner_bars": 200,
        "full_inner_bars": 150,
    }
    assert SampleResult.from_json(json.loads(json.dumps(doc))) == r.samples["lstm"]
    assert r.samples["lstm"].judge is not None
    r.samples["lstm"].judge.rules = RULES  # a judge's rules after the first are kept and read back
    doc = r.samples["lstm"].to_json()
    assert doc["judge"]["rules"] == RULES
    assert SampleResult.from_json(json.loads(json.dumps(doc))) == r.samples["lstm"]
    del doc["judge"]  # a results.json written before the judge
    old = SampleResult.from_json(doc)
    assert old.judge is None and "judge" not in old.to_json()
    assert old.bar_guide is None and "bar_guide" not in old.to_json()  # nor the bar guide recorded


TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--quick"]
PNG = b"\x89PNG\r\n\x1a\n"


def _check_report(out: Path, music: bool) -> str:
    """report.md, every figure it shows (real PNGs) and results.json; no section without numbers."""
    report = (out / "report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert sorted(figures) == sorted(["val_loss.png", "throughput.png", "latency.png", "context.png"])
    for name in figures:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
    sections = re.split(r"\n## ", report)[1:]
    titles = [s.splitlines()[0] for s in sections]
    assert titles[:2] == ["The answer in short", "What was compared"]
    assert any(t.startswith("6. Sampled tunes" if music else "6. Samples") for t in titles), titles
    cell = re.compile(r"\|\s*\d[\d,.]*(\s*(MB|x|of \d+))?\s*\|")  # a table cell holding a number
    for section in sections:
        if section.startswith(("The answer", "Reproduce", "6. Samples")):
            continue  # prose, the command, and text samples (checked below)
        assert cell.search(section), section[:300]
    assert re.search(r"loss of \*\*\d\.\d{3}\*\* against", report)
    for bad in (r"\bnan\b", r"\bNone\b", r"\binf\b", r"failed:", r"out of memory"):
        assert not re.search(bad, report), bad
    results = json.loads((out / "results.json").read_text())
    for m in ("lstm", "transformer"):
        assert (out / m / "best.pt").is_file()
        assert len(results["curves"][m]) >= 2
        assert all("tokens_per_s" in row for row in results["throughput"][m])
        assert set(results["sampling"][m]["latency_ms"]) == {"16", "32", "64"}
        assert results["val"][m]["fresh_tokens"] == results["data"]["val_tokens"] - 1  # every val token
    return report


def test_compare_on_abc_writes_the_report_plots_and_tunes():
    assert invoke("prepare", FIXTURES / "abc_tunebook.abc", "--name", "tunes").exit_code == 0
    r = invoke(
        "compare", "--data", "data/tunes", "--budget", "0.03", "--out", "cmp", *TINY, "--contexts", "8,16"
    )
    assert r.exit_code == 0, r.output
    report = _check_report(Path("cmp"), music=True)
    assert "| 8 |" in report and "| 16 |" in report  # both contexts of the throughput table
    assert re.search(r"\| LSTM \| \d+ of 2 \|", report) and re.search(
        r"\| transformer \| \d+ of 2 \|", report
    )
    assert "## 6. Sampled tunes and the tune judge" in report
    assert re.search(r"\| rhythm \| \d+% \| \d+% \|", report)
    judged = json.loads(Path("cmp/results.json").read_text())["samples"]["lstm"]["judge"]
    assert set(judged["criteria"]) == {"rhythm", "mode", "form", "plagiarism"}
    assert judged["rules"] == RULES and "no stray text in the music" in report  # today's judge, named
    assert json.loads(Path("cmp/results.json").read_text())["samples"]["lstm"]["bar_guide"] is True
    assert "decoding guided by the metre's bars" in report
    assert "tunes passing the tune judge" in r.output and "rhythm" in r.output
    assert len(list(Path("cmp/samples/lstm").glob("*.abc"))) == 2  # (a .mid for those that parse)
    assert "LSTM vs transformer on tunes" in r.output and "winner on val loss" in r.output
    # --redraw rewrites the same report and plots from results.json, training nothing.
    for f in ["report.md", "val_loss.png", "throughput.png", "latency.png", "context.png"]:
        Path("cmp", f).unlink()
    r = invoke("compare", "--redraw", "cmp")
    assert r.exit_code == 0, r.output
    assert Path("cmp/report.md").read_text() == report and Path("cmp/context.png").is_file()
    r = invoke("compare", "--redraw", ".")
    assert r.exit_code == 1 and "results.json" in r.output


def test_compare_on_text_reports_samples_instead_of_the_music_check(text_file):
    assert invoke("prepare", text_file, "--name", "poem").exit_code == 0
    r = invoke("compare", "--data", "data/poem", "--budget", "0.03", *TINY, "--contexts", "16")
    assert r.exit_code == 0, r.output
    (out,) = Path("checkpoints").glob("compare-poem-*")
    report = _check_report(out, music=False)
    assert "music check" not in report
    assert "The LSTM's first sample" in report and "The transformer's first sample" in report
    assert len(list((out / "samples" / "transformer").glob("*.txt"))) == 2  # --quick draws 2


def test_compare_refuses_free_bars_on_text_before_training(text_file):
    assert invoke("prepare", text_file, "--name", "poem").exit_code == 0
    r = invoke("compare", "--data", "data/poem", "--free-bars", "--out", "cmp", *TINY)
    assert r.exit_code == 1 and "--free-bars turns off the ABC bar guide" in r.output, r.output
    assert not Path("cmp").exists()


def test_compare_refuses_a_shape_before_making_anything():
    assert invoke("prepare", FIXTURES / "abc_tunebook.abc", "--name", "tunes").exit_code == 0
    r = invoke("compare", "--data", "data/tunes", "--out", "cmp", "--n-embd", "30", "--n-head", "4")
    assert r.exit_code == 1 and "divisible" in r.output
    assert not Path("cmp").exists()

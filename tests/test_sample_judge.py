"""`seqgen sample` shows the tune judge: each sample's failed criteria with their reasons, the
summary line criterion by criterion, and `--json`; in lines that fit a narrow terminal. The model is
a stand-in whose every prediction is the end of the tune, so a sample is exactly the header and
the `--start` music it was given: a tune written by hand, judged as a sampled one."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import FIXTURES, invoke
from tests.test_evaluate import JIG, LIMPING, blocks_of, narrow

HILL_JIG = "|:GAB dBG|cBA BGE|GAB dBG|AFD G3:|\\n"  # a training tune of the legacy ABC dataset
QUICK = ("--device", "cpu", "--num-samples", "2", "--seed", "1", "--out", "o")


def ending_model(run: Path, data: Path) -> Path:
    """A checkpoint of the legacy ABC dataset's tokenizer whose model always ends the tune at
    once: an LSTM with a zero output layer whose bias puts all the probability on the end token."""
    from seqgen.config import to_dict
    from seqgen.models import build_model, model_config
    from seqgen.train.checkpoint import Checkpoint

    legacy = Checkpoint.load(FIXTURES / "legacy" / "checkpoints" / "abc-transformer" / "best.pt")
    eos = 0  # the legacy character tokenizer's end-of-tune id
    cfg = model_config("lstm", vocab_size=53, n_layer=1, n_embd=16, block_size=32)
    model = build_model("lstm", cfg)
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.bias.fill_(-30.0)
        model.lm_head.bias[eos] = 30.0
    ckpt = dataclasses.replace(
        legacy,
        model_type="lstm",
        model_config=to_dict(cfg),
        model=model.state_dict(),
        data=dataclasses.replace(legacy.data, path=str(data.resolve())),
    )
    run.mkdir(parents=True)
    ckpt.save(run / "best.pt")
    return run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "legacy" / "data" / "abc", tmp_path / "data" / "abc")
    return ending_model(tmp_path / "checkpoints" / "ends", tmp_path / "data" / "abc")


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("columns", [80, 60])
def test_each_sample_names_the_criteria_it_failed_in_narrow_lines(run, monkeypatch, columns):
    narrow(monkeypatch, columns)
    r = invoke(
        "sample", run, "--meter", "6/8", "--key", "G", "--start", HILL_JIG, *QUICK, "--max-retries", "1"
    )
    assert r.exit_code == 0, r.output
    assert all(len(line) <= columns for line in r.output.splitlines()) and "…" not in r.output, r.output
    blocks = blocks_of(r.output)
    assert list(blocks) == ["sample_001.abc", "sample_002.abc"]
    first = words(blocks["sample_001.abc"])
    assert first.startswith("sample_001.abc .mid fail 2 tries; plagiarism: 100% of it is copied from a")
    assert "rhythm, mode and form ok; 8 bars played; 2 of 2 inner bars fill 6/8; ends on the tonic" in first
    said = words(r.output)
    assert (
        "0 of 2 passed the tune judge on the first try; 0 of 2 after retries (--max-retries 1). "
        "The tunes written: rhythm 2/2, mode 2/2, form 2/2, plagiarism 0/2; 2 of 2 end on the tonic."
    ) in said
    assert "music check" not in said


def test_a_tune_that_passes_and_one_that_limps(run, monkeypatch):
    narrow(monkeypatch, 80)
    r = invoke("sample", run, "--meter", "6/8", "--key", "D", "--start", JIG.replace("\n", "\\n"), *QUICK)
    assert r.exit_code == 0, r.output
    assert words(blocks_of(r.output)["sample_002.abc"]).startswith(
        "sample_002.abc .mid pass 1 try; 32 bars played; 12 of 12 inner bars fill 6/8; ends on the tonic;"
    )
    assert "2 of 2 passed the tune judge on the first try; 2 of 2 after retries" in words(r.output)
    assert "The tunes written: rhythm 2/2, mode 2/2, form 2/2, plagiarism 2/2" in words(r.output)
    r = invoke(
        "sample",
        run,
        "--key",
        "D",
        "--meter",
        "6/8",
        "--start",
        LIMPING.replace("\n", "\\n"),
        *QUICK,
        "--force",
    )
    assert r.exit_code == 0, r.output
    limping = words(blocks_of(r.output)["sample_001.abc"])
    assert "fail 11 tries; rhythm: 3 of 16 bars do not fill 6/8; mode, form and plagiarism ok" in limping


def test_json_holds_the_judge_of_each_sample(run):
    start = LIMPING.replace("\n", "\\n")
    r = invoke(
        "sample",
        run,
        "--meter",
        "6/8",
        "--key",
        "D",
        "--start",
        start,
        *QUICK,
        "--max-retries",
        "0",
        "--json",
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["checked_by"] == "tune judge"
    judge = got["samples"][0]["judge"]
    assert judge["ok"] is False and judge["ends_on_tonic"] is True
    assert judge["criteria"]["rhythm"] == {"ok": False, "reason": "3 of 16 bars do not fill 6/8"}
    assert all(judge["criteria"][c]["ok"] for c in ("mode", "form", "plagiarism"))
    assert got["samples"][0]["check"] == {"ok": False, "reason": "rhythm: 3 of 16 bars do not fill 6/8"}
    assert got["judge"] == {
        "judged": 2,
        "passed": 0,
        "criteria": {"rhythm": 0, "mode": 2, "form": 2, "plagiarism": 2},
        "ends_on_tonic": 2,
        "plagiarism_measured": True,
    }


def test_without_the_training_data_plagiarism_is_not_measured(run, monkeypatch):
    narrow(monkeypatch, 80)
    shutil.rmtree("data/abc")
    r = invoke("sample", run, "--meter", "6/8", "--key", "G", "--start", HILL_JIG, *QUICK)
    assert r.exit_code == 0, r.output
    assert "plagiarism not measured" in blocks_of(r.output)["sample_001.abc"]
    said = words(r.output)
    assert "2 of 2 passed the tune judge on the first try" in said
    assert "rhythm 2/2, mode 2/2, form 2/2, plagiarism not measured (the training data was not found)" in said


def test_midi_samples_keep_the_music_check(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES / "legacy" / "checkpoints" / "midi-transformer", tmp_path / "m")
    narrow(monkeypatch, 60)
    r = invoke(
        "sample", "m", "--seed", "3", "--length", "100", "--max-retries", "0", *QUICK[:2], "--out", "o"
    )
    assert r.exit_code == 0, r.output
    assert all(len(line) <= 60 for line in r.output.splitlines()) and "…" not in r.output, r.output
    assert words(blocks_of(r.output)["sample_001.mid"]).startswith("sample_001.mid ")
    assert "passed the music check" in words(r.output) and "tune judge" not in r.output


def test_a_tune_that_leaves_the_asked_key_fails_the_check(run):
    """Asked for K:D, a tune whose second part turns to K:A passes the judge (it comes home) but
    not the asking: it fails the check that sampling's retries redraw by, saying why."""
    from seqgen.datasets.kinds import kind_named
    from seqgen.datasets.store import open_dataset
    from seqgen.generate import pipeline
    from seqgen.music.header import TuneHeader

    tokenizer = open_dataset(FIXTURES / "legacy" / "data" / "abc").tokenizer
    kind = kind_named("abc")
    header = TuneHeader(meter="6/8", key="D")
    start = pipeline.header_ids(kind, tokenizer, header)
    asked = pipeline.SamplePipeline(None, tokenizer, kind, torch.device("cpu"), start, None, header)  # type: ignore[arg-type]
    unasked = pipeline.SamplePipeline(None, tokenizer, kind, torch.device("cpu"), start, None)  # type: ignore[arg-type]
    turns = tokenizer.encode(JIG.replace("\n|:fdf", "\nK:A\n|:fdf", 1))
    found = asked.check(turns, True)
    assert found is not None and found.judge is not None and found.judge.ok
    assert (found.ok, found.reason) == (False, "did not keep the asked M:6/8 and K:D")
    assert unasked.check(turns, True).ok  # type: ignore[union-attr]
    assert asked.check(tokenizer.encode(JIG), True).ok  # type: ignore[union-attr]
    # A tune that leaves the asked key and fails the judge too is farther from passing than one
    # that fails the same criteria in the asked key: retries keep the one in the asked key, and a
    # new ending (which cannot bring the key back) is not tried for it.
    assert JIG.endswith("AFD D3:|\n")
    off = JIG.removesuffix("D3:|\n") + "c3:|\n"  # ends on the 7th of D
    off_turned = off.replace("\n|:fdf", "\nK:A\n|:fdf", 1)
    near, far = asked.check(tokenizer.encode(off), True), asked.check(tokenizer.encode(off_turned), True)
    assert near is not None and far is not None and near.judge is not None and far.judge is not None
    assert not near.ok and not far.ok and near.asked_kept and far.asked_kept is False
    assert not near.judge.passed("mode") and not far.judge.passed("mode")
    assert near.misses < far.misses and near.ending_at_fault and not far.ending_at_fault
    assert unasked.check(tokenizer.encode(off_turned), True).asked_kept is None  # type: ignore[union-attr]
    # Decoding holds the asked header (no field line in the music) unless told not to.
    assert asked.ban is not None and unasked.ban is None
    free = pipeline.SamplePipeline(
        None, tokenizer, kind, torch.device("cpu"), start, None, header, hold=False
    )  # type: ignore[arg-type]
    assert free.ban is None


def test_the_bar_guide_keeps_a_tune_from_ending_inside_a_bar(run):
    """Started half-way through a bar, the model that always ends the tune may not end it there:
    the guide takes the end out of its choice until the bar is full. --free-bars leaves it."""
    half = "GAB dBG|cBA"
    r = invoke("sample", run, "--meter", "6/8", "--key", "G", "--start", half, *QUICK, "--max-retries", "0")
    assert r.exit_code == 0, r.output
    guided = (Path("o") / "sample_001.abc").read_text()
    body = guided.split("K:G\n", 1)[1]
    assert body.startswith(half) and len(body.strip()) > len(half)
    r = invoke(
        "sample", run, "--meter", "6/8", "--key", "G", "--start", half, *QUICK, "--max-retries", "0",
        "--force", "--free-bars",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (Path("o") / "sample_001.abc").read_text().split("K:G\n", 1)[1].strip() == half


@pytest.mark.parametrize(
    ("passed", "said"),
    [
        (True, "4 tries (kept try 2: no later try passed and ended on the tonic)"),
        (False, "4 tries (kept try 2, the nearest miss: no try passed)"),
    ],
)
def test_a_kept_earlier_try_says_whether_it_passed(passed: bool, said: str) -> None:
    """A tune kept from an earlier try is either a passing one no later try bettered, or, when no
    try passed, the nearest miss: the line says which, never calling a failed tune a pass."""
    from rich.console import Console

    from seqgen.cli.sample import _show_samples
    from seqgen.datasets.kinds.base import Rendered
    from seqgen.generate.pipeline import WrittenSample
    from seqgen.generate.sampler import Sample
    from seqgen.music.check import TuneCheck
    from seqgen.music.judge import judge_tune

    text = f"X:1\nT:T\nM:6/8\nL:1/8\nR:jig\nK:D\n{JIG.removesuffix('D3:|' + chr(10))}c3:|\n"  # off the tonic
    v = judge_tune(text)
    check = TuneCheck(passed, v.reason, 64, 30.0, 60, 80, judge=v)
    sample = Sample([1, 2], True, attempts=2, check=check, passed=passed, settled=False, draws=4)
    console = Console(width=200, record=True)
    _show_samples([WrittenSample(sample, Rendered(text=text), [Path("sample_001.abc")])], True, console)
    out = console.export_text()
    assert said in out and ("fail" in out) is not passed

"""Datasets and checkpoints written by seqgen before the package layout changed (committed under
fixtures/legacy, made by the pre-redesign code) still open, sample the same, evaluate and resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, invoke

LEGACY = FIXTURES / "legacy"
CPU = ("--device", "cpu")


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A copy of the legacy data/ and checkpoints/ in the test's working directory."""
    for part in ("data", "checkpoints"):
        shutil.copytree(LEGACY / part, tmp_path / part)
    return tmp_path


def test_legacy_abc_checkpoint_samples_the_same_tunes(legacy: Path) -> None:
    r = invoke(
        "sample",
        "checkpoints/abc-transformer",
        "--seed",
        3,
        "--num-samples",
        2,
        "--length",
        120,
        "--max-retries",
        0,
        *CPU,
        "--out",
        "out",
    )
    assert r.exit_code == 0, r.output
    expected = LEGACY / "expected" / "abc"
    for f in sorted(expected.iterdir()):
        assert (legacy / "out" / f.name).read_bytes() == f.read_bytes(), f.name
    assert sorted(p.name for p in (legacy / "out").iterdir()) == sorted(p.name for p in expected.iterdir())


def test_legacy_text_checkpoint_samples_the_same_text(legacy: Path) -> None:
    r = invoke("sample", "checkpoints/text-lstm", "--seed", 3, "--length", 100, *CPU)
    assert r.exit_code == 0, r.output
    assert (LEGACY / "expected" / "text.txt").read_text() in r.stdout


def test_legacy_midi_checkpoint_samples_the_same_midi(legacy: Path) -> None:
    r = invoke(
        "sample",
        "checkpoints/midi-transformer",
        "--seed",
        3,
        "--length",
        100,
        "--max-retries",
        0,
        *CPU,
        "--out",
        "out",
    )
    assert r.exit_code == 0, r.output
    got = (legacy / "out" / "sample_001.mid").read_bytes()
    assert got == (LEGACY / "expected" / "midi" / "sample_001.mid").read_bytes()


@pytest.mark.parametrize("name", ["abc", "text", "midi"])
def test_legacy_datasets_open_and_evaluate(legacy: Path, name: str) -> None:
    run = {"abc": "abc-transformer", "text": "text-lstm", "midi": "midi-transformer"}[name]
    r = invoke("eval", f"checkpoints/{run}", "--data", f"data/{name}", *CPU)
    assert r.exit_code == 0, r.output
    r = invoke("info", f"data/{name}")
    assert r.exit_code == 0, r.output
    assert name in r.output


def test_legacy_run_resumes(legacy: Path) -> None:
    r = invoke("train", "--resume", "checkpoints/abc-transformer", "--data", "data/abc", "--max-iters", 50)
    assert r.exit_code == 0, r.output
    lines = (legacy / "checkpoints" / "abc-transformer" / "metrics.jsonl").read_text().splitlines()
    assert '"step": 50' in lines[-1]
    # It was trained on random windows, and goes on with them (new ABC runs start at tunes).
    saved = (legacy / "checkpoints" / "abc-transformer" / "config.toml").read_text()
    assert 'windows = "random"' in saved


def test_info_describes_each_tokenizer(legacy: Path) -> None:
    """The summary names what a token is: characters (with the end-of-document id) or MIDI events."""
    r = invoke("info", "data/midi", "--json")
    assert r.exit_code == 0, r.output
    assert "MIDI events (517 ids): note on/off, time shifts of 10 ms" in r.output
    r = invoke("info", "checkpoints/abc-transformer", "--json")
    assert r.exit_code == 0, r.output
    assert "characters: 52 + end-of-document (53 ids)" in r.output


def test_a_runs_own_config_file_from_before_the_recipe_fields_trains_gpt2s_recipe_again(legacy: Path) -> None:
    """The file says "Train the same again"; it was written when GPT-2's recipe was the only one,
    so it must not pick up today's default (rotary + relu2). A hand-written file takes the default."""
    import json

    toml = "checkpoints/abc-transformer/config.toml"
    r = invoke("train", "--config", toml, "--run", "again", "--max-iters", 2, "--eval-interval", 1)
    assert r.exit_code == 0, r.output
    cfg = json.loads((legacy / "checkpoints" / "again" / "config.json").read_text())["model_config"]
    assert cfg.get("positions", "learned") == "learned" and cfg.get("mlp", "gelu") == "gelu"
    Path("mine.toml").write_text(
        'data = "data/abc"\nmodel = "transformer"\nn_layer = 1\nn_head = 2\nn_embd = 16\n'
    )
    r = invoke("train", "--config", "mine.toml", "--run", "mine", "--max-iters", 2, "--eval-interval", 1)
    assert r.exit_code == 0, r.output
    cfg = json.loads((legacy / "checkpoints" / "mine" / "config.json").read_text())["model_config"]
    assert cfg["positions"] == "rotary" and cfg["mlp"] == "relu2"


def test_a_last_pt_that_kept_the_warm_up_end_as_a_share_resumes_from_the_same_point() -> None:
    """Between the warm-end fix and format 2, last.pt kept `warm_end` as a share of its budget;
    it reads back as the (step, seconds) mark of that budget, so the decay goes on where it was."""
    from seqgen.config import TrainConfig
    from seqgen.train.checkpoint import ResumeState, _legacy_warm_end
    from seqgen.train.policy import StopPolicy

    d = {
        "counters": {"step": 50, "elapsed_s": 40.0, "warm_end": 0.25},
        "train_config": {"max_iters": None, "max_time": 2.0},
        "optimizer": {},
        "rng": {},
        "data_position": None,
    }
    resume = _legacy_warm_end(ResumeState.from_payload(d), d)
    mark = resume.counters.warm_end
    assert mark == (0, 30.0)
    assert StopPolicy(TrainConfig(data="d", max_time=2.0)).progress(*mark) == pytest.approx(0.25)

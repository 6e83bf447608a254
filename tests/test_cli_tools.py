"""CLI manners: `seqgen info`, `train --config` TOML round trips, --quiet, --json, --stream,
examples in every --help, and shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

TINY = ["--model", "lstm", "--n-layer", "1", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"]


@pytest.fixture
def poem(text_file) -> str:
    assert invoke("prepare", text_file, "--name", "p").exit_code == 0
    return "data/p"


def test_info_shows_a_checkpoint_and_a_dataset(poem):
    assert (
        invoke(
            "train", "--data", poem, *TINY, "--max-iters", "6", "--eval-interval", "3", "--run", "r"
        ).exit_code
        == 0
    )
    r = invoke("info", "checkpoints/r", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    from seqgen.models import count_parameters
    from seqgen.train.checkpoint import load_model

    model, _, ckpt = load_model(Path("checkpoints/r/best.pt"))
    assert got["model"] == "lstm" and got["parameters"] == count_parameters(model)
    # The whole run's totals (last.pt), and the best checkpoint's own step.
    assert got["trained"]["steps"] == 6 and got["trained"]["evaluations"] == 2  # steps 3, 6
    assert got["this_checkpoint"]["step"] == ckpt.step
    assert got["best_val_loss"] == pytest.approx(ckpt.best_val_loss)
    assert got["shape"]["n_embd"] == 16 and "characters:" in got["tokenizer"]
    r = invoke("info", poem)
    assert r.exit_code == 0 and "text" in r.output and "train" in r.output
    r = invoke("info", poem, "--json")
    d = json.loads(r.output)
    assert d["tokens"]["train"] > 0 and d["kind"] == "text"
    r = invoke("info", "nothing")
    assert r.exit_code == 1 and "does not exist" in r.output


def test_train_config_file_with_flags_winning_and_a_reproducible_saved_config(poem):
    Path("run.toml").write_text(
        f'data = "{poem}"\nmodel = "lstm"\nn-layer = 1\nn_embd = 16\nblock_size = 16\n'
        "batch_size = 4\nmax_iters = 8\neval_interval = 4\nlearning_rate = 0.002\nseed = 7\n"
    )
    r = invoke("train", "--config", "run.toml", "--max-iters", "4", "--run", "a")
    assert r.exit_code == 0, r.output
    cfg = json.loads(Path("checkpoints/a/config.json").read_text())["train_config"]
    assert cfg["max_iters"] == 4  # the flag beat the file's 8
    assert cfg["learning_rate"] == 0.002 and cfg["seed"] == 7 and cfg["model"] == "lstm"
    saved = Path("checkpoints/a/config.toml").read_text()
    assert "# run = " in saved and "max_iters = 4" in saved
    # The saved file trains the same run again under a new name.
    r = invoke("train", "--config", "checkpoints/a/config.toml", "--run", "b")
    assert r.exit_code == 0, r.output
    a = json.loads(Path("checkpoints/a/config.json").read_text())
    b = json.loads(Path("checkpoints/b/config.json").read_text())
    assert {**a["train_config"], "run": ""} == {**b["train_config"], "run": ""}
    assert a["model_config"] == b["model_config"]
    la = [json.loads(x)["val_loss"] for x in Path("checkpoints/a/metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["val_loss"] for x in Path("checkpoints/b/metrics.jsonl").read_text().splitlines()]
    assert la == lb  # same seed, same settings: the same curve


def test_a_recipe_run_saves_a_config_file_that_trains_it_again_and_resumes_with_its_flags(poem):
    """The recipe's true/false keys read back from the run's own config.toml, which writes every
    field (GPT-2's values too, so the file means the same run whatever the defaults become); a
    resume may repeat the run's recipe flags."""
    recipe = ["--qk-norm", "--mlp", "relu2", "--positions", "rotary", "--untie-head"]
    tiny = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "4"]
    budget = ["--max-iters", "4", "--eval-interval", "2"]
    r = invoke("train", "--data", poem, *tiny, *budget, *recipe, "--run", "a")
    assert r.exit_code == 0, r.output
    saved = Path("checkpoints/a/config.toml").read_text()
    assert "qk_norm = true" in saved and "tie_head = false" in saved and "zero_init = false" in saved
    r = invoke("train", "--config", "checkpoints/a/config.toml", "--run", "b")
    assert r.exit_code == 0, r.output
    a = json.loads(Path("checkpoints/a/config.json").read_text())["model_config"]
    b = json.loads(Path("checkpoints/b/config.json").read_text())["model_config"]
    assert a == b and a["qk_norm"] is True and a["mlp"] == "relu2"
    r = invoke("train", "--resume", "checkpoints/a", "--max-iters", "6", "--qk-norm", "--zero-init")
    assert r.exit_code == 1 and "--zero-init True contradicts the run being resumed" in r.output, r.output
    r = invoke("train", "--resume", "checkpoints/a", "--max-iters", "6", "--qk-norm", "--mlp", "relu2")
    assert r.exit_code == 0, r.output
    # Past its 16-token context the rotary model rolls its cache, or re-encodes when asked.
    for how in ("--rolling", "--re-encode"):
        r = invoke("sample", "checkpoints/a", "--length", "40", "--seed", "1", how, "--out", "s", "--force")
        assert r.exit_code == 0, r.output
    r = invoke("sample", "checkpoints/a", "--rolling", "--window-step", "4", "--out", "s", "--force")
    assert r.exit_code == 1 and "give one of them" in r.output, r.output
    r = invoke("train", "--data", poem, *TINY, *budget, "--run", "lstm")
    assert r.exit_code == 0, r.output
    r = invoke("sample", "checkpoints/lstm", "--rolling", "--out", "s2")
    assert r.exit_code == 1 and "--rolling needs a transformer with rotary positions" in r.output, r.output
    assert "Traceback" not in r.output and not Path("s2").exists()


@pytest.mark.parametrize(
    "text,message",
    [
        ("max_tme = 3\n", "'max_tme' is not an option of seqgen train"),
        ('max_time = "soon"\n', "max_time = 'soon' must be a number"),
        ("n_layer = 2.7\n", "n_layer = 2.7 must be a whole number"),
        ("max_time = true\n", "max_time = True must be a number"),
        ('qk_norm = "false"\n', "qk_norm = 'false' must be true or false"),
        ('resume = "checkpoints/x"\n', "resume cannot come from a config file"),
        ("[model]\nn_layer = 2\n", "[model] is a table"),
        ("max_time = \n", "is not valid TOML"),
    ],
)
def test_bad_config_files_get_one_line(poem, text, message):
    Path("bad.toml").write_text(text)
    r = invoke("train", "--data", poem, "--config", "bad.toml")
    assert r.exit_code == 1 and message in r.output, r.output
    assert "Traceback" not in r.output
    assert not Path("checkpoints").exists() or not any(Path("checkpoints").iterdir())


def test_quiet_and_json(poem):
    r = invoke(
        "--quiet", "train", "--data", poem, *TINY, "--max-iters", "4", "--eval-interval", "2", "--run", "q"
    )
    assert r.exit_code == 0 and r.output == ""
    r = invoke(
        "train", "--data", poem, *TINY, "--max-iters", "4", "--eval-interval", "2", "--run", "j", "--json"
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)  # nothing but the JSON document on stdout
    assert got["steps"] == 4 and got["run_dir"].endswith("j")
    r = invoke("sample", "checkpoints/j", "--length", "20", "--seed", "1", "--json")
    assert r.exit_code == 0
    assert len(json.loads(r.output)["samples"][0]["text"]) >= 20


def test_resume_with_json_prints_the_summary(poem):
    """--json is an option of the command, not a setting of the run: resume accepts it."""
    r = invoke("train", "--data", poem, *TINY, "--max-iters", "4", "--eval-interval", "2", "--run", "j")
    assert r.exit_code == 0, r.output
    r = invoke("train", "--resume", "checkpoints/j", "--max-iters", "6", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)  # nothing but the JSON document on stdout
    assert got["steps"] == 6 and got["resumed_from"] == 4 and got["run_dir"].endswith("j")


def test_stream_prints_the_same_text_as_a_normal_sample(poem):
    assert invoke("train", "--data", poem, *TINY, "--max-iters", "6", "--run", "s").exit_code == 0
    plain = invoke("sample", "checkpoints/s", "--length", "60", "--seed", "5", "--prompt", "The")
    streamed = invoke(
        "sample", "checkpoints/s", "--length", "60", "--seed", "5", "--prompt", "The", "--stream"
    )
    assert plain.exit_code == 0 and streamed.exit_code == 0, streamed.output
    text = plain.stdout.strip("\n")
    assert text.startswith("The") and streamed.stdout.strip("\n") == text
    r = invoke("sample", "checkpoints/s", "--stream", "--num-samples", "2")
    assert r.exit_code == 1 and "--stream prints one sample" in r.output


COMMANDS = [
    ["prepare"], ["train"], ["sample"], ["convert", "midi"], ["convert", "wav"], ["compare"], ["bench"],
    ["plot"], ["eval"], ["info"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_shows_an_example(command):
    r = invoke(*command, "--help")
    assert r.exit_code == 0
    assert "Examples" in r.output and "seqgen " + " ".join(command) in r.output


def test_shell_completion_offers_commands():
    env = {**os.environ, "_SEQGEN_COMPLETE": "complete_bash", "COMP_WORDS": "seqgen tra", "COMP_CWORD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "from seqgen.cli import main; main()"], env=env, capture_output=True, text=True
    )
    assert "train" in done.stdout.split(), done.stdout + done.stderr
    r = invoke("--show-completion", "bash")
    assert r.exit_code == 0 and "_SEQGEN_COMPLETE" in r.output


def test_the_command_list_gives_each_command_one_line(monkeypatch):
    """`seqgen --help` lists the commands with a one-line summary each (no docstring paragraph
    broken into ragged lines) when the terminal is wide enough."""
    monkeypatch.setenv("COLUMNS", "110")
    r = invoke("--help")
    assert r.exit_code == 0, r.output
    box = r.output.split("Commands")[1].splitlines()[1:]
    rows = [line.strip("│ ") for line in box if line.startswith("│")]
    names = [row.split()[0] for row in rows]
    commands = ["bench", "compare", "eval", "info", "plot", "prepare", "sample", "serve", "train", "convert"]
    assert names == commands, rows

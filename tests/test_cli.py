from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgen.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


TINY = {
    "transformer": ["--n-layer", "1", "--n-head", "2", "--n-embd", "32"],
    "lstm": ["--n-layer", "1", "--n-embd", "64"],
}


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_prepare_train_sample_end_to_end(text_file: Path, model: str):
    r = invoke("prepare", text_file, "--name", "poem")
    assert r.exit_code == 0, r.output
    assert "train tokens" in r.output and Path("data/poem/meta.json").is_file()
    r = invoke(
        "train",
        "--data",
        "data/poem",
        "--model",
        model,
        *TINY[model],
        "--block-size",
        "32",
        "--max-iters",
        "60",
        "--eval-interval",
        "30",
        "--eval-iters",
        "4",
        "--run",
        "run1",
    )
    assert r.exit_code == 0, r.output
    assert "best val loss" in r.output
    assert {p.name for p in Path("checkpoints/run1").iterdir()} >= {
        "best.pt",
        "last.pt",
        "config.json",
        "metrics.jsonl",
    }
    # No run given: the newest run; no --out: printed.
    r = invoke("sample", "--length", "50", "--seed", "3", "--prompt", "The miller")
    assert r.exit_code == 0, r.output
    assert "The miller" in r.output and "seed 3" in r.output
    again = invoke("sample", "--length", "50", "--seed", "3", "--prompt", "The miller")
    assert again.output == r.output
    r = invoke(
        "sample", "checkpoints/run1", "--num-samples", "3", "--length", "40", "--out", "out", "--seed", "1"
    )
    assert r.exit_code == 0, r.output
    files = sorted(Path("out").glob("*.txt"))
    assert [f.name for f in files] == ["sample_001.txt", "sample_002.txt", "sample_003.txt"]
    assert all(len(f.read_text()) >= 40 for f in files)
    r = invoke("sample", "checkpoints/run1", "--num-samples", "3", "--out", "out")
    assert r.exit_code == 1 and "already exists" in r.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["prepare", "missing.txt"], "missing.txt does not exist"),
        (["train", "--data", "data/none"], "not a prepared dataset"),
        (["sample", "checkpoints/none"], "does not exist"),
        (["sample"], "no trained run found"),
        (["prepare", "poem.txt", "--drums"], "--drums/--no-drums does not apply to text input"),
        (["prepare", "poem.txt", "--val-fraction", "1.5"], "--val-fraction must lie in (0, 1)"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(text_file: Path, args: list[str], message: str):
    r = invoke(*args)
    assert r.exit_code == 1
    assert message in r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_model_options_that_do_not_apply_fail(text_file: Path):
    assert invoke("prepare", text_file, "--name", "p").exit_code == 0
    r = invoke("train", "--data", "data/p", "--model", "lstm", "--n-head", "4")
    assert r.exit_code == 1 and "--n-head does not apply to the lstm model" in r.output
    r = invoke("train", "--data", "data/p", "--n-embd", "30", "--n-head", "4")
    assert r.exit_code == 1 and "divisible" in r.output


def test_sampling_flags_are_validated(text_file: Path):
    assert invoke("prepare", text_file, "--name", "p").exit_code == 0
    assert invoke("train", "--data", "data/p", *TINY["lstm"], "--max-iters", "2", "--run", "r").exit_code == 0
    for flags, msg in [
        (["--temperature", "-1"], "--temperature"),
        (["--top-p", "0"], "--top-p"),
        (["--top-k", "0"], "--top-k"),
        (["--length", "0"], "--length"),
        (["--prompt", "Zebra#"], "never saw: '#' 'Z'"),
    ]:
        r = invoke("sample", "checkpoints/r", *flags)
        assert r.exit_code == 1 and msg in r.output, (flags, r.output)


def test_python_dash_m_and_version():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "seqgen", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("seqgen ")

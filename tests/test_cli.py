import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

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


def test_python_dash_m_and_version():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "seqgen", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("seqgen ")


def _tiny_run(text_file: Path) -> None:
    assert invoke("prepare", text_file, "--name", "p").exit_code == 0
    assert invoke("train", "--data", "data/p", *TINY["lstm"], "--max-iters", "2", "--run", "r").exit_code == 0


def test_printed_sample_is_the_text_itself(text_file: Path):
    _tiny_run(text_file)
    prompt = "The miller " * 12  # longer than a terminal line: must not be wrapped
    r = invoke("sample", "checkpoints/r", "--prompt", prompt, "--length", "5", "--seed", "1")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(prompt) and "(seed" not in r.stdout
    assert len(r.stdout.splitlines()[0]) >= len(prompt.rstrip())


def test_existing_output_is_refused_before_sampling(text_file: Path, monkeypatch: pytest.MonkeyPatch):
    _tiny_run(text_file)
    Path("afile").write_text("keep me")
    r = invoke("sample", "checkpoints/r", "--out", "afile")
    assert r.exit_code == 1 and "is a file, not a directory" in r.output
    assert Path("afile").read_text() == "keep me"
    Path("out").mkdir()
    Path("out/sample_001.txt").write_text("keep me")
    import seqgen.generate.sampler

    def boom(*a, **k):
        raise AssertionError("sampled before checking the output")

    monkeypatch.setattr(seqgen.generate.sampler, "sample", boom)
    r = invoke("sample", "checkpoints/r", "--out", "out")
    assert r.exit_code == 1 and "already exists" in r.output
    assert Path("out/sample_001.txt").read_text() == "keep me"


def test_force_never_replaces_a_folder_that_is_not_a_dataset(text_file: Path):
    Path("proj/src").mkdir(parents=True)
    Path("proj/src/code.py").write_text("important")
    r = invoke("prepare", text_file, "--data-dir", "proj", "--name", "src", "--force")
    assert r.exit_code == 1 and "not a seqgen dataset" in r.output
    assert Path("proj/src/code.py").read_text() == "important"
    Path("dfile").write_text("x")
    r = invoke("prepare", text_file, "--data-dir", "dfile")
    assert r.exit_code == 1 and "cannot create dfile" in r.output and "internal error" not in r.output


@pytest.mark.parametrize("args", [["prepare", "poem.txt", "--name", "../escaped"], ["train", "--run", "a/b"]])
def test_names_are_plain(text_file: Path, args: list[str]):
    r = invoke(*args)
    assert r.exit_code == 1 and "must be a plain name" in r.output
    assert not Path("../escaped").exists()


def test_prepare_never_imports_torch(text_file: Path):
    """torch takes ~1.5 s to import; a text, ABC or MIDI prepare does not need it."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "seqgen", "prepare", str(text_file), "--name", "p"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert "numpy" in imported and "torch" not in imported


def test_prepare_summary_headline_stays_on_one_line_in_a_pipe(text_file):
    """Piped output (80 columns) keeps the headline whole; it used to wrap to the table's width."""
    r = invoke("prepare", text_file, "--name", "poem")
    assert r.exit_code == 0, r.output
    (line,) = [ln for ln in r.output.splitlines() if ln.startswith("Prepared ")]
    assert line.startswith("Prepared data/poem (text) in ") and line.rstrip().endswith(" s")

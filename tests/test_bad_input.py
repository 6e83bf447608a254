"""The table of bad inputs: each row gets one error line naming what was wrong and what to do, a
non-zero exit, no traceback, and leaves every file that was there before exactly as it was."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import FIXTURES, invoke

TINY = ["--model", "lstm", "--n-layer", "1", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"]


def _tampered(src: Path, dst: Path, change) -> None:
    ckpt = torch.load(src, weights_only=True)
    change(ckpt)
    torch.save(ckpt, dst)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo PWNED > pwned.txt",))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs good and bad, a prepared dataset and a tiny trained run, made once per module."""
    root = tmp_path_factory.mktemp("world")
    old = Path.cwd()
    os.chdir(root)
    try:
        shutil.copy(FIXTURES / "text_small.txt", "poem.txt")
        Path("empty.txt").write_bytes(b"")
        Path("blob.bin").write_bytes(bytes(range(256)) * 8)
        Path("latin.txt").write_bytes("Caf\u00e9 cr\u00e8me, na\u00efve\n".encode("latin-1") * 40)
        Path("junk").mkdir()
        Path("junk/photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
        Path("headers.abc").write_text("X:1\nT:Header only\n\nX:2\nT:Another\nM:6/8\n")
        Path("bad.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
        Path("text.mid").write_text("this is not a MIDI file\n")
        Path("midis").mkdir()
        shutil.copy("bad.mid", "midis/one.mid")
        Path("digits.txt").write_text("0123456789 \n" * 300)
        Path("utf16.txt").write_text("Hello, world.\n" * 40, encoding="utf-16")
        for args in (["poem.txt", "--name", "p"], ["digits.txt", "--name", "other"]):
            assert invoke("prepare", *args).exit_code == 0
        r = invoke(
            "train", "--data", "data/p", *TINY, "--max-iters", "4", "--eval-interval", "2", "--run", "r"
        )
        assert r.exit_code == 0, r.output
        assert invoke("sample", "checkpoints/r", "--length", "20", "--out", "samples").exit_code == 0
        # A run whose dataset has since been deleted.
        assert invoke("prepare", "poem.txt", "--name", "gone").exit_code == 0
        r = invoke("train", "--data", "data/gone", *TINY, "--max-iters", "2", "--run", "orphan")
        assert r.exit_code == 0, r.output
        shutil.rmtree("data/gone")

        ck, best = Path("ck"), Path("checkpoints/r/best.pt")
        ck.mkdir()
        torch.save({"format": "seqgen-checkpoint", "payload": _Exploit()}, ck / "evil.pt")
        (ck / "trunc.pt").write_bytes(best.read_bytes()[: best.stat().st_size // 2])
        torch.save({"weights": torch.zeros(3)}, ck / "plain.pt")
        (ck / "text.pt").write_text("not a checkpoint\n")
        (ck / "empty.pt").write_bytes(b"")
        _tampered(best, ck / "v99.pt", lambda c: c.update(format_version=99))
        _tampered(best, ck / "vocab.pt", lambda c: c["tokenizer"]["chars"].append("\u2603"))
        _tampered(best, ck / "shape.pt", lambda c: c["model_config"].update(n_embd=24))
        _tampered(best, ck / "kind.pt", lambda c: c.update(model_type="gru"))
        shutil.copytree("data/p", "data/broken")
        Path("data/broken/meta.json").write_text("{")
        shutil.copytree("data/p", "data/short")
        with open("data/short/train.bin", "r+b") as f:
            f.truncate(10)
    finally:
        os.chdir(old)
    return root


@pytest.fixture
def here(world: Path) -> Path:
    """A fresh copy of the world in this test's working directory."""
    shutil.copytree(world, Path.cwd(), dirs_exist_ok=True)
    return Path.cwd()


def snapshot(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def error_line(output: str) -> str:
    """The one error line, and nothing that looks like a traceback."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")

ROWS = [
    # -- prepare ------------------------------------------------------------------------------------
    ("missing path", ["prepare", "missing.txt"], "missing.txt does not exist"),
    ("empty file", ["prepare", "empty.txt"], "empty.txt holds no text"),
    ("binary file", ["prepare", "blob.bin"], "blob.bin looks like a binary file (NUL byte at offset 0)"),
    ("non-UTF-8 text", ["prepare", "latin.txt"], "latin.txt is not valid utf-8 text (bad byte at offset 3)"),
    ("non-UTF-8 text offers --encoding", ["prepare", "latin.txt"], "pass --encoding (e.g. latin-1)"),
    ("UTF-16 text without --encoding", ["prepare", "utf16.txt"],
     "utf16.txt looks like UTF-16 or UTF-32 text; pass --encoding utf-16"),
    ("unknown encoding", ["prepare", "poem.txt", "--encoding", "klingon"], "unknown encoding 'klingon'"),
    ("directory without usable files", ["prepare", "junk"], "directory junk holds no text files"),
    ("ABC file whose tunes are all unusable", ["prepare", "headers.abc"], "no usable ABC tunes in headers.abc"),
    ("corrupt MIDI file", ["prepare", "bad.mid"], "bad.mid"),
    ("text saved as .mid", ["prepare", "text.mid"], "text.mid"),
    ("folder of corrupt MIDI only", ["prepare", "midis"], "midis"),
    ("dataset exists", ["prepare", "poem.txt", "--name", "p"], "data/p already exists; pass --force"),
    ("--data-dir is a file", ["prepare", "poem.txt", "--data-dir", "poem.txt"], "cannot create poem.txt"),
    ("--val-fraction out of range", ["prepare", "poem.txt", "--val-fraction", "1.5"], "--val-fraction"),
    ("--drums on text", ["prepare", "poem.txt", "--drums"], "--drums/--no-drums does not apply to text"),
    ("--no-drums on text", ["prepare", "poem.txt", "--no-drums"], "--drums/--no-drums does not apply to text"),
    ("--no-titles on text", ["prepare", "poem.txt", "--no-titles"], "--titles/--no-titles does not apply to text"),
    ("name with a path", ["prepare", "poem.txt", "--name", "../x"], "--name"),
    # -- train --------------------------------------------------------------------------------------
    ("no such dataset", ["train", "--data", "data/none"], "data/none is not a prepared dataset directory"),
    ("raw file as dataset", ["train", "--data", "poem.txt"], "run `seqgen prepare` first"),
    ("corrupt meta.json", ["train", "--data", "data/broken"], "data/broken/meta.json is unreadable"),
    ("truncated train.bin", ["train", "--data", "data/short"], "data/short/train.bin holds 10 tokens"),
    ("unknown model", ["train", "--data", "data/p", "--model", "gru"], "unknown model 'gru'"),
    ("option for the other model", ["train", "--data", "data/p", "--model", "lstm", "--n-head", "2"],
     "--n-head does not apply to the lstm model"),
    ("heads do not divide width", ["train", "--data", "data/p", "--n-embd", "30", "--n-head", "4"], "divisible"),
    ("zero context", ["train", "--data", "data/p", "--block-size", "0"], "--block-size must be at least 1"),
    ("negative budget", ["train", "--data", "data/p", "--max-time", "-1"], "--max-time must be a positive number"),
    ("zero batch", ["train", "--data", "data/p", "--batch-size", "0"], "--batch-size must be at least 1"),
    ("bad checkpoint interval", ["train", "--data", "data/p", "--checkpoint-every", "soon"], "--checkpoint-every"),
    ("checkpoint interval in ms", ["train", "--data", "data/p", "--checkpoint-every", "10ms"], "--checkpoint-every"),
    ("endless budget", ["train", "--data", "data/p", "--max-time", "inf"], "--max-time must be a positive number"),
    ("infinite learning rate", ["train", "--data", "data/p", "--learning-rate", "inf"],
     "--learning-rate must be a positive number"),
    ("zero patience", ["train", "--data", "data/p", "--patience", "0"], "--patience must be at least 1"),
    ("bad precision", ["train", "--data", "data/p", "--precision", "fp8"], "--precision must be auto"),
    ("run exists", ["train", "--data", "data/p", "--run", "r"], "checkpoints/r already exists"),
    ("--out-dir is a file", ["train", "--data", "data/p", *TINY, "--out-dir", "poem.txt"], "cannot write"),
    ("resume: no such run", ["train", "--resume", "nope"], "--resume nope: no such run"),
    ("resume: contradicting option", ["train", "--resume", "r", "--n-layer", "3"],
     "--n-layer 3 contradicts the run being resumed (--n-layer 1)"),
    ("resume: another seed", ["train", "--resume", "r", "--seed", "7"], "--seed 7 contradicts"),
    ("resume: dataset does not match", ["train", "--resume", "r", "--data", "data/other"],
     "data/other does not match the run being resumed"),
    ("resume: budget used up", ["train", "--resume", "r"], "already used its budget (4 steps"),
    ("resume: budget used up, options changed", ["train", "--resume", "r", "--max-iters", "3", "--eval-interval", "50"],
     "already used its budget (4 steps"),
    ("resume: its dataset is gone", ["train", "--resume", "orphan", "--max-iters", "9"],
     "the dataset of checkpoints/orphan (data/gone) is gone; give --data DIR with the same vocabulary"),
    ("resume: a run without last.pt", ["train", "--resume", "ck"], "ck holds no last.pt"),
    # -- sample -------------------------------------------------------------------------------------
    ("no such run", ["sample", "checkpoints/none"], "checkpoints/none does not exist"),
    ("temperature < 0", ["sample", "checkpoints/r", "--temperature", "-1"], "--temperature must be >= 0"),
    ("top-p = 0", ["sample", "checkpoints/r", "--top-p", "0"], "--top-p must lie in (0, 1]"),
    ("top-p > 1", ["sample", "checkpoints/r", "--top-p", "1.5"], "--top-p must lie in (0, 1]"),
    ("top-k < 1", ["sample", "checkpoints/r", "--top-k", "0"], "--top-k must be at least 1"),
    ("length < 1", ["sample", "checkpoints/r", "--length", "0"], "--length must be at least 1"),
    ("no samples", ["sample", "checkpoints/r", "--num-samples", "0"], "--num-samples must be at least 1"),
    ("prompt outside the vocabulary", ["sample", "checkpoints/r", "--prompt", "Zebra#\u00e9"],
     "the prompt holds characters the model never saw: '#' 'Z' '\u00e9'"),
    ("MIDI primer for a text model", ["sample", "checkpoints/r", "--primer", "bad.mid"], "--primer applies to MIDI"),
    ("sample files exist", ["sample", "checkpoints/r", "--length", "20", "--out", "samples"],
     "samples/sample_001.txt already exists (1 files would be overwritten); pass --force"),
    ("--out is a file", ["sample", "checkpoints/r", "--out", "poem.txt"], "--out poem.txt is a file"),
    ("--out under a file", ["sample", "checkpoints/r", "--length", "20", "--out", "poem.txt/new"],
     "cannot write poem.txt/new/sample_001.txt"),
    ("malicious pickle", ["sample", "ck/evil.pt"], "refusing to load ck/evil.pt: it would import posix.system"),
    ("truncated checkpoint", ["sample", "ck/trunc.pt"], "ck/trunc.pt is not a readable checkpoint (truncated"),
    ("not a seqgen checkpoint", ["sample", "ck/plain.pt"], "ck/plain.pt is not a seqgen checkpoint"),
    ("text file as checkpoint", ["sample", "ck/text.pt"], "ck/text.pt is not a checkpoint file"),
    ("empty checkpoint", ["sample", "ck/empty.pt"], "ck/empty.pt is empty"),
    ("format version", ["sample", "ck/v99.pt"], "ck/v99.pt has checkpoint format 99; this seqgen reads 1"),
    ("vocabulary does not match", ["sample", "ck/vocab.pt"], "ck/vocab.pt: tokenizer has"),
    ("weights do not match the config", ["sample", "ck/shape.pt"], "ck/shape.pt does not match this seqgen's models (size mismatch for"),
    ("unknown model type", ["sample", "ck/kind.pt"], "ck/kind.pt holds a model of unknown type 'gru'; this seqgen has transformer, lstm"),
    # -- compare ------------------------------------------------------------------------------------
    ("compare: no such dataset", ["compare", "--data", "data/none"], "data/none is not a prepared dataset directory"),
    ("compare: zero budget", ["compare", "--data", "data/p", "--budget", "0"],
     "--budget must be a positive number of minutes"),
    ("compare: bad contexts", ["compare", "--data", "data/p", "--contexts", "64,x"],
     "--contexts takes comma-separated whole numbers"),
    ("compare: --out holds files", ["compare", "--data", "data/p", "--out", "data"],
     "--out data already exists and is not empty"),
    ("compare: heads do not divide width", ["compare", "--data", "data/p", "--n-embd", "30", "--n-head", "4"],
     "divisible"),
    # -- convert ------------------------------------------------------------------------------------
    ("convert: missing file", ["convert", "midi", "missing.abc"], "missing.abc"),
    ("convert: nothing convertible", ["convert", "midi", "headers.abc"],
     "no MIDI file written: all 2 tune(s) failed (first, headers_001: it has no notes)"),
]  # fmt: skip


@pytest.mark.parametrize("what,args,message", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input(here: Path, what: str, args: list[str], message: str):
    before = snapshot(here)
    r = invoke(*args)
    assert r.exit_code == 1, r.output
    line = error_line(r.output)
    assert message in line, line
    after = snapshot(here)
    changed = [str(p) for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"{what}: a failed run changed {changed}"
    assert not Path("pwned.txt").exists()


@NO_CUDA
def test_cuda_without_a_gpu(here: Path):
    r = invoke("train", "--data", "data/p", "--device", "cuda")
    assert r.exit_code == 1 and "no CUDA GPU is visible; use --device cpu" in error_line(r.output)


def test_usage_errors_exit_2_without_a_traceback(here: Path):
    r = invoke("train", "--frobnicate")
    assert r.exit_code == 2 and "No such option" in r.output and "Traceback" not in r.output


def test_debug_shows_the_traceback(here: Path):
    r = invoke("--debug", "prepare", "missing.txt")
    assert r.exit_code == 1
    assert isinstance(r.exception, Exception) and "missing.txt does not exist" in str(r.exception)


def test_a_pipe_is_refused_not_read_forever(here: Path):
    os.mkfifo("pipe.txt")
    r = invoke("prepare", "pipe.txt")
    assert r.exit_code == 1 and "pipe.txt is not a regular file or a folder" in error_line(r.output)


def test_utf16_text_prepares_with_encoding(here: Path):
    r = invoke("prepare", "utf16.txt", "--encoding", "utf-16", "--name", "u16")
    assert r.exit_code == 0, r.output
    assert json.loads(Path("data/u16/meta.json").read_text())["tokens"]["train"] > 0


def test_same_named_inputs_convert_to_distinct_files(here: Path):
    tune = (FIXTURES / "abc_plain.abc").read_text()
    for d in ("a", "b"):
        Path(d).mkdir()
        Path(d, "t.abc").write_text(tune)
    r = invoke("convert", "midi", "a/t.abc", "b/t.abc", "--out", "mo")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in Path("mo").iterdir()) == ["t-2.mid", "t.mid"]


def test_bad_abc_tunes_are_skipped_and_counted(here: Path):
    good = (FIXTURES / "abc_reels.abc").read_text()
    Path("mixed.abc").write_text(good + "\nX:99\nT:Header only\n\nX:100\nT:No key\nM:4/4\n")
    r = invoke("prepare", "mixed.abc", "--name", "mixed")
    assert r.exit_code == 0, r.output
    assert "2 no K: field" in r.output, r.output
    meta = json.loads(Path("data/mixed/meta.json").read_text())
    assert meta["counts"]["tunes"] == good.count("X:") and meta["counts"]["skipped"] == {"no K: field": 2}


def test_corrupt_midi_among_good_ones_is_skipped_with_its_reason(here: Path):
    from seqgen.music.midi_io import read_midi, write_midi

    Path("mix").mkdir()
    notes = read_midi(FIXTURES / "midi_small.mid")
    write_midi(notes, "mix/good.mid")
    write_midi([dataclasses.replace(n, pitch=n.pitch + 2) for n in notes], "mix/higher.mid")
    shutil.copy("bad.mid", "mix/bad.mid")
    r = invoke("prepare", "mix", "--name", "mix")
    assert r.exit_code == 0, r.output
    assert "bad.mid" in r.output and "skipped" in r.output.lower(), r.output


# -- a full disk, for real: the kernel refuses writes past RLIMIT_FSIZE (root included) ----------

FULL = [
    ["prepare", "poem.txt", "--name", "p", "--force"],
    ["train", "--data", "data/p", *TINY, "--max-iters", "4", "--run", "fresh"],
    ["train", "--resume", "r", "--max-iters", "8"],
    ["sample", "checkpoints/r", "--length", "300", "--out", "samples", "--force"],
    ["convert", "midi", str(FIXTURES / "abc_tunebook.abc"), "--out", "midi"],
]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("args", FULL, ids=[" ".join(a[:2]) for a in FULL])
def test_full_disk_is_one_line_and_loses_nothing(here: Path, args: list[str]):
    before = snapshot(here)
    limit = 200  # bytes: every real output is larger, so its first large write fails

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run(
        [sys.executable, "-m", "seqgen", *args],
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        env={**os.environ, "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    line = error_line(r.stderr)
    assert "cannot write" in line and "File too large" in line, line
    after = snapshot(here)
    changed = [str(p) for p, digest in before.items() if after.get(p) != digest]
    assert not changed, changed
    assert not [p for p in here.rglob("*.tmp")], "a temporary file was left behind"
    assert not Path("checkpoints/fresh").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_output_directory(here: Path):
    Path("locked").mkdir()
    Path("locked").chmod(0o500)
    try:
        r = invoke("sample", "checkpoints/r", "--length", "20", "--out", "locked")
        assert r.exit_code == 1 and "Permission denied" in error_line(r.output)
    finally:
        Path("locked").chmod(0o700)


def test_disk_full_at_a_checkpoint_keeps_the_last_good_one_and_resumes(here: Path):
    """The disk fills up exactly when last.pt is rewritten: the run stops with one line, the old
    last.pt is untouched, and once there is room again the run resumes from it."""
    last = Path("checkpoints/r/last.pt")
    before = last.read_bytes()
    limit = (Path("checkpoints/r/best.pt").stat().st_size + last.stat().st_size) // 2

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run(
        [sys.executable, "-m", "seqgen", "train", "--resume", "r", "--max-iters", "8"],
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot write checkpoints/r/last.pt: File too large" in error_line(r.stderr)
    assert last.read_bytes() == before
    assert not list(Path("checkpoints/r").glob(".*.tmp"))
    again = invoke("train", "--resume", "r", "--max-iters", "8")
    assert again.exit_code == 0, again.output
    assert torch.load(last, weights_only=True)["step"] == 8

"""`seqgen sample` conditioned on --meter/--key/--rhythm/--title/--start, end to end through the
CLI on the small committed ABC, text and MIDI checkpoints (tests/fixtures/legacy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqgen.music.header import kept_header
from tests.conftest import FIXTURES, invoke

ABC_RUN = "checkpoints/abc-transformer"
QUICK = ("--device", "cpu", "--max-retries", "0", "--length", "40", "--seed", "3")


@pytest.fixture(autouse=True)
def checkpoints(tmp_path: Path) -> Path:
    """The legacy checkpoints, copied into the test's working directory."""
    shutil.copytree(FIXTURES / "legacy" / "checkpoints", tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


def error_line(output: str) -> str:
    """The one line a refused command prints (and nothing like a traceback)."""
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    ("options", "header"),
    [
        (
            [
                "--meter",
                "6/8",
                "--key",
                "Ador",
                "--rhythm",
                "reel",
                "--title",
                "Hill",
                "--start",
                "A B c\\nd",
            ],
            "X:1\nT:Hill\nM:6/8\nL:1/8\nR:reel\nK:Ador\nA B c\nd",
        ),
        (["--key", "D"], "X:1\nL:1/8\nK:D\n"),
        (["--meter", "C|"], "X:1\nM:C|\nL:1/8\n"),
    ],
)
def test_conditioned_samples_start_with_the_header(options: list[str], header: str) -> None:
    r = invoke("sample", ABC_RUN, *options, *QUICK, "--num-samples", "2", "--out", "o")
    assert r.exit_code == 0, r.output
    tunes = [p.read_text() for p in sorted(Path("o").glob("*.abc"))]
    assert len(tunes) == 2
    assert all(t.startswith(header) for t in tunes), tunes
    meter = options[options.index("--meter") + 1] if "--meter" in options else None
    key = options[options.index("--key") + 1] if "--key" in options else None
    kept = sum(kept_header(t, meter, key) for t in tunes)
    asked = " and ".join(f"{f}:{v}" for f, v in (("M", meter), ("K", key)) if v)
    assert f"{kept} of 2 kept the asked {asked}" in r.output


def test_json_counts_the_samples_that_kept_the_header() -> None:
    r = invoke(
        "sample",
        ABC_RUN,
        "--meter",
        "6/8",
        "--key",
        "D",
        *QUICK,
        "--num-samples",
        "3",
        "--json",
        "--out",
        "j",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    tunes = [Path(s["files"][0]).read_text() for s in doc["samples"]]
    flags = [kept_header(t, "6/8", "D") for t in tunes]
    assert [s["kept_header"] for s in doc["samples"]] == flags
    assert doc["header"] == {
        "text": "X:1\nM:6/8\nL:1/8\nK:D\n",
        "meter": "6/8",
        "key": "D",
        "kept": sum(flags),
    }


def test_a_header_without_meter_or_key_reports_no_count() -> None:
    r = invoke("sample", ABC_RUN, "--rhythm", "reel", *QUICK, "--json", "--out", "j")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["header"]["kept"] is None
    assert "kept_header" not in doc["samples"][0]
    assert Path(doc["samples"][0]["files"][0]).read_text().startswith("X:1\nL:1/8\nR:reel\n")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--key", "H"],
            "error: --key 'H' is not an ABC key: give a tonic A-G with an optional # or b and a mode "
            "(maj, min/m, mix, dor, phr, lyd, ion, aeo), e.g. D, Em, Dmix, F#dor",
        ),
        (
            ["--meter", "7/0"],
            "error: --meter '7/0' is not an ABC meter (the beat unit 0 is not a power of two from 1 to 64): "
            "give N/D with N at least 1 and D a power of two up to 64, e.g. 6/8, 3/4, 2/2, or C (4/4) or "
            "C| (2/2)",
        ),
        (
            ["--prompt", "X:1\\n", "--key", "D", "--meter", "6/8"],
            "error: --prompt cannot be combined with --meter, --key: they build the prompt; "
            "use one or the other",
        ),
        (
            ["--start", "DEF"],
            "error: --start needs --key: a tune's music begins after its K: line; give the key too, "
            "e.g. --key D",
        ),
        (  # the fixture's model never saw a 'j'
            ["--key", "D", "--rhythm", "jig"],
            "error: --rhythm 'jig': the prompt holds characters the model never saw: 'j'; remove them",
        ),
        (  # nor an 'x' (nor an 'm'): the key is valid ABC but not this model's
            ["--key", "Dmix"],
            "error: --key 'Dmix': the prompt holds characters the model never saw: 'm' 'x'; remove them",
        ),
    ],
)
def test_refused_with_one_line(options: list[str], message: str) -> None:
    r = invoke("sample", ABC_RUN, *options, *QUICK, "--out", "o")
    assert r.exit_code == 1
    assert error_line(r.output) == message
    assert not Path("o").exists()


@pytest.mark.parametrize(
    ("run", "options", "message"),
    [
        (
            "text-lstm",
            ["--key", "D"],
            "error: --key applies to ABC models only; this model was trained on text",
        ),
        (
            "midi-transformer",
            ["--meter", "6/8", "--rhythm", "reel"],
            "error: --meter, --rhythm apply to ABC models only; this model was trained on MIDI",
        ),
    ],
)
def test_conditioning_refused_for_other_kinds(run: str, options: list[str], message: str) -> None:
    r = invoke("sample", f"checkpoints/{run}", *options, *QUICK)
    assert r.exit_code == 1
    assert error_line(r.output) == message


def test_a_primer_is_still_refused_with_a_header() -> None:
    r = invoke("sample", ABC_RUN, "--key", "D", "--primer", FIXTURES / "midi_small.mid", *QUICK)
    assert r.exit_code == 1
    assert "--primer applies to MIDI models only" in error_line(r.output)


@pytest.mark.parametrize(
    ("options", "retries"),
    [(["--key", "D"], 10), (["--meter", "6/8"], 10), (["--title", "A"], 3), ([], 3)],
)
def test_a_key_or_metre_asked_gets_more_retries_by_default(options: list[str], retries: int) -> None:
    """A tune asked for a key or metre must keep them too, and in a mode the corpus barely has the
    first tries rarely do: 10 retries by default then, 3 otherwise (and --max-retries still rules)."""
    quick = ("--device", "cpu", "--length", "40", "--seed", "3", "--out", "r")
    r = invoke("sample", ABC_RUN, *options, *quick)
    assert r.exit_code == 0, r.output
    assert f"after retries (--max-retries {retries})" in " ".join(r.output.split())
    r = invoke("sample", ABC_RUN, *options, *quick, "--max-retries", "1", "--force")
    assert "after retries (--max-retries 1)" in " ".join(r.output.split())

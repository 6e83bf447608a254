"""Engraved scores (seqgen.music.score, `seqgen plot TUNE.abc`, `seqgen sample --score`): a real
verovio engraving of a known tune, read back from the SVG."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seqgen.music.score import ScoreFacts, engrave_abc, engrave_midi

from .conftest import FIXTURES, invoke

PLAIN = (FIXTURES / "abc_plain.abc").read_text()  # "Plain Air": 6 bars, 19 notes (chords count each)


def test_a_known_tune_is_engraved_with_its_staves_bars_notes_and_title() -> None:
    facts = ScoreFacts.of(engrave_abc(PLAIN))
    assert facts.title == "Plain Air"
    assert facts.bars == 6 and facts.notes == 19 and facts.rests == 0
    assert facts.staff_lines == 5 * facts.staves > 0


def test_a_tune_without_an_x_line_is_engraved() -> None:
    """A hand-written tune often starts at T:; the engraver adds X: as music21 needs."""
    tune = "T:Two Bars\nM:2/4\nL:1/8\nK:G\nGABc|d4|]\n"
    facts = ScoreFacts.of(engrave_abc(tune))
    assert facts.notes == 5 and facts.bars == 2


def test_a_tune_without_a_title_gets_none_rather_than_music21s() -> None:
    """music21 names an untitled piece "Music21 Fragment" by "Music21"; a sampled tune without T:
    is shown untitled instead."""
    svg = engrave_abc("X:1\nM:2/4\nL:1/8\nK:G\nGABc|d4|]\n")
    assert ScoreFacts.of(svg).notes == 5
    assert ScoreFacts.of(svg).title == "" and "Music21" not in svg


def test_no_notes_is_a_clear_error() -> None:
    """An empty tune (as a barely trained model writes) is refused before verovio sees it: its
    own ABC reader crashes the process on one."""
    from seqgen.errors import SeqgenError

    with pytest.raises(SeqgenError, match="could not be engraved"):
        engrave_abc("X:1\nT:Empty\nK:C\n", "empty.abc")


def test_a_note_hundreds_of_beats_long_is_refused_at_once() -> None:
    """A model's `d381` (381 eighths) kept music21's MusicXML writer busy for minutes, which
    stalled the composer page under load: such a tune is refused before it is written."""
    import time

    from seqgen.errors import SeqgenError

    start = time.perf_counter()
    with pytest.raises(SeqgenError, match="a note or rest lasts 190.5 beats"):
        engrave_abc("X:1\nL:1/8\nK:D\nDFA d381 tg|\n", "long.abc")
    assert time.perf_counter() - start < 10
    assert "<svg" in engrave_abc("X:1\nM:4/4\nL:1/8\nK:D\nd8|d8-|d8|]\n", "tied.abc")  # long, tied: fine


def test_a_tune_music21_cannot_write_as_musicxml_is_a_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    """A barely trained model's tune that music21 reads but cannot export (it once escaped as a
    MusicXMLExportException and ended the whole sampling run), and no parser warnings printed."""
    from seqgen.errors import SeqgenError

    junk = "X:1\nM:6/8\nL:1/8\nK:D\n\nB4:SaHGBAKyy0bT]vg=1EK2Giy3/nJob=CQveeE=H6baahSJeFPh/\n"
    with pytest.raises(SeqgenError, match="could not be engraved: music21 cannot write it as MusicXML"):
        engrave_abc(junk, "junk.abc")
    out, err = capfd.readouterr()
    assert "WARNING" not in out + err


def test_plot_writes_a_tune_score_as_svg_and_png(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "abc_plain.abc", "air.abc")
    r = invoke("plot", "air.abc")
    assert r.exit_code == 0, r.output
    assert "6 bars, 19 notes" in r.output
    assert ScoreFacts.of(Path("air.svg").read_text()).notes == 19
    again = invoke("plot", "air.abc")
    assert again.exit_code != 0 and "already exists" in again.output  # nothing overwritten
    pytest.importorskip("cairosvg")
    r = invoke("plot", "air.abc", "--out", "air.png")
    assert r.exit_code == 0, r.output
    assert Path("air.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_refuses_a_score_of_the_wrong_kind() -> None:
    shutil.copy(FIXTURES / "abc_plain.abc", "air.abc")
    r = invoke("plot", "air.abc", "--out", "air.jpg")
    assert r.exit_code != 0 and "must end in .svg or .png" in r.output


def test_a_midi_file_is_engraved_from_its_tune_or_alone() -> None:
    from seqgen.music.abc import abc_to_notes
    from seqgen.music.midi_io import write_midi

    write_midi(abc_to_notes(PLAIN).notes, Path("air.mid"))
    alone = ScoreFacts.of(engrave_midi(Path("air.mid")))
    assert alone.notes >= 19 and alone.title == "air"  # guessed 4/4: notes across bar lines are tied
    shutil.copy(FIXTURES / "abc_plain.abc", "air.abc")
    r = invoke("plot", "air.mid", "--score", "--out", "beside.svg")
    assert r.exit_code == 0, r.output
    assert "engraved from air.abc" in r.output
    assert ScoreFacts.of(Path("beside.svg").read_text()).title == "Plain Air"


def test_sample_score_writes_one_svg_per_tune() -> None:
    src = FIXTURES / "legacy" / "checkpoints" / "abc-transformer"
    r = invoke("sample", str(src), "--num-samples", "2", "--seed", "1", "--out", "tunes", "--score",
               "--max-retries", "0")  # fmt: skip
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in Path("tunes").iterdir())
    abcs = [n for n in written if n.endswith(".abc")]
    svgs = [n for n in written if n.endswith(".svg")]
    assert len(abcs) == 2
    assert len(svgs) + r.output.count("no score:") == 2
    for n in svgs:
        assert ScoreFacts.of(Path("tunes", n).read_text()).notes > 0


def test_score_refuses_text_models() -> None:
    src = FIXTURES / "legacy" / "checkpoints" / "text-lstm"
    r = invoke("sample", str(src), "--score", "--out", "x")
    assert r.exit_code != 0 and "--score engraves music" in r.output
    for option in ("--free-bars", "--whole-redraws"):  # ABC decoding switches: refused, not ignored
        r = invoke("sample", str(src), option, "--out", "x")
        assert r.exit_code == 1 and f"{option} turns off" in r.output and "this model writes text" in r.output
        assert not Path("x").exists()


def test_a_tune_is_engraved_off_the_main_thread_too() -> None:
    """The composer page engraves in worker threads; verovio drew nothing there once it had drawn
    on the main thread ("verovio drew no notes"), so all engraving runs on one thread of its own."""
    engrave_abc("X:1\nT:First\nM:2/4\nL:1/8\nK:G\nGABc|d4|]\n")  # first on the main thread
    import threading

    tune = "X:1\nT:Two Bars\nM:2/4\nL:1/8\nK:G\nGABc|d4|]\n"
    got: list[int] = []
    worker = threading.Thread(target=lambda: got.append(ScoreFacts.of(engrave_abc(tune)).notes))
    worker.start()
    worker.join()
    assert got == [5]

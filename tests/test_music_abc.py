"""One ABC tune -> notes and MIDI (checked against music21's own reading), and the tune checks."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest
from music21 import converter

import seqgen.music.abc as music_abc
from seqgen.errors import SeqgenError
from seqgen.music.abc import DEFAULT_QPM, abc_to_midi, abc_to_notes
from seqgen.music.check import check_abc, check_notes
from seqgen.music.notes import Note

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def _music21_onsets(stream, qpm: float) -> list[tuple[float, int]]:
    """(start seconds, MIDI pitch) of every sounding pitch music21 reads, chord members counted."""
    return sorted(
        (round(float(n.getOffsetInHierarchy(stream)) * 60 / qpm, 6), p.midi)
        for n in stream.recurse().notes
        if not n.duration.isGrace
        for p in n.pitches
    )


def _onsets(notes: list[Note]) -> list[tuple[float, int]]:
    return sorted((round(n.start, 6), n.pitch) for n in notes)


def test_plain_tune_matches_music21():
    text = fixture("abc_plain.abc")
    music = abc_to_notes(text)
    reference = converter.parse(text, format="abc").stripTies()
    assert len(music.notes) == sum(len(n.pitches) for n in reference.flatten().notes) == 18
    assert _onsets(music.notes) == _music21_onsets(reference, DEFAULT_QPM)
    assert music.title == "Plain Air" and music.tempo_qpm == DEFAULT_QPM
    fs = [(n.start, n.duration) for n in music.notes if n.pitch == 65]  # F
    assert fs[2:4] == [pytest.approx((4.0, 1.0)), pytest.approx((6.5, 0.5))]  # F2-|F2 is one note


def test_repeats_and_endings_match_music21():
    text = fixture("abc_repeats.abc")
    music = abc_to_notes(text)
    expanded = converter.parse(text, format="abc").expandRepeats().stripTies()
    assert music.repeats_expanded
    assert len(music.notes) == sum(len(n.pitches) for n in expanded.recurse().notes) == 63
    assert _onsets(music.notes) == _music21_onsets(expanded, DEFAULT_QPM)


RUNAWAY = "X:1\nT:Runaway\nM:2/4\nL:1/8\nK:C\nCD EF|GA Bc:|cB AG|FE DC:|CE Gc|cG EC:|ED CD|E4:|\n"


def test_repeats_without_start_do_not_snowball():
    written = 29
    snowball = converter.parse(RUNAWAY, format="abc").expandRepeats()
    assert sum(len(n.pitches) for n in snowball.recurse().notes) > 4 * written  # music21's reading
    music = abc_to_notes(RUNAWAY)
    assert music.repeats_expanded and len(music.notes) == 2 * written  # each section twice


def test_runaway_repeats_fall_back_to_the_written_tune(monkeypatch):
    monkeypatch.setattr(music_abc, "MAX_REPEAT_RATIO", 1.5)
    music = abc_to_notes(RUNAWAY)
    assert not music.repeats_expanded
    assert len(music.notes) == 29


def test_grace_notes_make_a_clean_midi(tmp_path):
    path = abc_to_midi(fixture("abc_grace.abc"), tmp_path / "grace.mid")
    mid = mido.MidiFile(path)
    open_notes: dict[int, list[int]] = {}
    lengths = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault(msg.note, []).append(tick)
            elif msg.type in ("note_off", "note_on"):
                assert open_notes.get(msg.note), f"note_off {msg.note} at {tick} without a note_on"
                lengths.append(tick - open_notes[msg.note].pop(0))
    assert not any(open_notes.values()), "a note_on never ends"
    assert len(lengths) == 20  # the 20 written notes; the 6 grace notes are gone
    assert min(lengths) > 0


def test_tempo_from_q_field():
    body = "M:4/4\nL:1/4\nK:C\nCDEF|GABc|\n"
    default = abc_to_notes(f"X:1\n{body}")
    slow = abc_to_notes(f"X:1\nQ:1/4=60\n{body}")
    dotted = abc_to_notes(f"X:1\nQ:3/8=120\n{body}")
    assert default.tempo_qpm == 120 and slow.tempo_qpm == 60 and dotted.tempo_qpm == 180
    assert default.seconds == pytest.approx(4.0)
    assert slow.seconds == pytest.approx(2 * default.seconds)
    assert slow.notes[4].start == pytest.approx(4.0)  # the second bar starts twice as late


def test_missing_unit_length_defaults_to_an_eighth():
    music = abc_to_notes("X:1\nT:No L\nK:C\nCDEF GABc|\n")
    assert len(music.notes) == 8
    assert music.notes[0].duration == pytest.approx(0.25)  # an eighth at 120 qpm


def test_chords_and_voices_are_all_kept():
    text = "X:1\nT:Two Voices\nM:2/4\nL:1/8\nK:C\nV:1\nCDEF|[ceg]4|\nV:2\nC,4|G,,4|\n"
    music = abc_to_notes(text)
    assert sorted(n.pitch for n in music.notes if n.start == pytest.approx(1.0)) == [43, 72, 76, 79]
    assert len(music.notes) == 4 + 3 + 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "X:1\nT:Open Chord\nM:4/4\nL:1/8\nK:C\n[ceg4|CDEF|\n",
            'tune "Open Chord": ABCHandlerException: Bad chord',
        ),
        ("X:1\nT:Zero Meter\nM:7/0\nL:1/8\nK:C\nCDEF|\n", "ZeroDivisionError"),
        ("   \n", "empty"),
        ("X:1\nT:Too High\nL:1/8\nK:C\nc'''''''''2 C2|\n", "outside MIDI's 0..127"),
        ("X:1\nT:Too Long\nL:1/8\nK:C\nC9999|\n", "more than the 600 s allowed"),
    ],
    ids=["unclosed-chord", "meter-7-0", "empty", "pitch-overflow", "too-long"],
)
def test_bad_tunes_raise_and_fail_the_check(text, message):
    with pytest.raises(SeqgenError, match=message.replace("[", r"\[")):
        abc_to_notes(text)
    result = check_abc(text)
    assert not result.ok and result.reason


def test_check_abc_accepts_a_real_tune_and_reports_reasons():
    good = check_abc(fixture("abc_repeats.abc"))
    assert good.ok and good.reason is None and good.notes == 63
    assert (good.lowest, good.highest) == (62, 79)
    assert check_abc("X:1\nT:Keyless\nL:1/8\nCDEF|\n").reason == "no K: field"
    assert check_abc("X:1\nT:Empty\nL:1/8\nK:C\n% nothing\n").reason == "no music after K:"
    assert check_abc('X:1\nT:Quote\nL:1/8\nK:C\n"Am CDEF|GABc|\n').reason == "no notes"
    assert check_abc("X:1\nT:Long\nL:1/8\nK:C\nC9999|\n", min_notes=1).reason == "lasts 2500 s (max 600)"


def test_check_notes_reasons():
    notes = [Note(i * 0.5, i * 0.5 + 0.5, 60 + i) for i in range(10)]
    assert check_notes(notes).ok
    assert check_notes(notes[:3]).reason == "only 3 notes"
    assert check_notes([*notes, Note(5.0, 5.5, 130)]).reason == "pitch 130 outside 21..108"
    assert check_notes([*notes, Note(5.0, 900.0, 60)]).reason == "lasts 900 s (max 600)"
    assert check_notes([Note(i * 0.1, i * 0.1 + 0.1, 60) for i in range(8)]).reason == "lasts 0.8 s (min 2)"
    result = check_notes(notes, pitch_range=(62, 108))
    assert result.reason == "pitch 60 outside 62..108" and result.lowest == 60 and result.highest == 69


def test_a_note_under_an_h_fermata_is_played() -> None:
    """music21 drops a note written `HG3` (O'Neill's fermata, often on a tune's last note); seqgen
    spells it `!fermata!`, which music21 reads. `H` in fields, annotations and comments stays."""
    from seqgen.music.abc import abc_to_notes, fermatas_spelled

    plain = "X:1\nT:Hold\nM:2/4\nL:1/8\nK:G\nGG B>G|B d3|d>B G>A|G3:|\n"
    held = plain.replace("G3:|", "HG3:|")
    assert [n.pitch for n in abc_to_notes(held).notes] == [n.pitch for n in abc_to_notes(plain).notes]
    assert abc_to_notes(held).notes[-1].pitch == 67
    text = 'X:1\nT:H H\nH:history\nK:G\n"H"G HG3 !trill!A [P:H] (3HGAB % H here'
    assert fermatas_spelled(text) == (
        'X:1\nT:H H\nH:history\nK:G\n"H"G !fermata!G3 !trill!A [P:H] (3!fermata!GAB % H here'
    )
    # A lone ! is an old ABC line break, not the start of a decoration.
    assert fermatas_spelled("K:G\nGABc dBGB!cAFA HG4|]") == "K:G\nGABc dBGB!cAFA !fermata!G4|]"


def test_a_metre_of_hundreds_of_beats_is_refused_at_once():
    """music21 takes time growing with the square of a metre's beats (M:1000/8: 17 s), and a
    barely trained model writes such fields, inline too: they are refused before music21 reads."""
    import time

    from seqgen.music.header import parse_meter

    start = time.perf_counter()
    tunes = (
        "X:1\nM:1000/8\nK:D\nabc|\n",
        "X:1\nM:6/8\nK:D\nabc [M:40+40/8] def|\n",
        "X:1\nL:1/8\nK:D\nKGKM:8 x1 y0 00/4 abc|\n",  # mid-line, digits apart: read as 81000/4
    )
    for tune in tunes:
        with pytest.raises(SeqgenError, match=r"has (1000|4040|81000) beats in a bar as music21 reads it"):
            music_abc.parse_abc(tune)
    assert time.perf_counter() - start < 5
    assert music_abc.parse_abc("X:1\nM:12/8\nL:1/8\nK:D\nabc abc abc abc|\n") is not None
    for line in (
        "T:Reel M:100/8",
        "% transcribed 10 AM: 2005/06/01",
        "Z:JM: 2003/12/01",
        "N:see PM: 1999/2000",
    ):
        tune = f"X:1\n{line}\nM:4/4\nL:1/8\nK:G\nGABc dedB|\n"  # an M: inside a field or comment: not a metre
        assert music_abc.parse_abc(tune) is not None, line
    with pytest.raises(SeqgenError, match="at most 64"):
        parse_meter("100/8")

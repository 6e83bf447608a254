"""MIDI reading and writing (seqgen.music.midi_io) and MIDI corpora (seqgen.datasets.corpus.midi)."""

from __future__ import annotations

import importlib.util
import random
import shutil
from pathlib import Path

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgen.datasets.corpus.midi import find_midi_files, read_midi_files
from seqgen.errors import SeqgenError
from seqgen.music.midi_io import read_midi, resolve_overlaps, write_midi
from seqgen.music.notes import Note

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "midi_small.mid"
TRUNCATED = FIXTURES / "midi_truncated.mid"

# What midi_small.mid holds (see make_midi_fixture.py): (start s, end s, pitch, velocity, drum).
EXPECTED = [
    (0.0, 0.125, 36, 100, True),
    (0.0, 0.5, 60, 80, False),
    (0.0, 0.5, 64, 80, False),
    (0.0, 0.5, 67, 80, False),
    (0.5, 0.75, 62, 100, False),
    (0.75, 1.0, 64, 90, False),
    (1.0, 1.25, 67, 90, False),  # cut where the second G starts
    (1.25, 1.75, 67, 90, False),
    (2.0, 2.25, 38, 100, True),  # after the tempo change a beat is 1 s
    (2.0, 3.0, 65, 70, False),
    (2.0, 3.0, 69, 70, False),
    (2.0, 3.0, 72, 70, False),
    (3.0, 4.0, 48, 60, False),  # never released: closed at the end of the file
    (3.0, 4.0, 72, 70, False),
]  # and no pitch 74: the zero-length grace note is dropped


def _rows(notes: list[Note]) -> list[tuple]:
    return [(round(n.start, 6), round(n.end, 6), n.pitch, n.velocity, n.drum) for n in notes]


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_midi_fixture", FIXTURES / "make_midi_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(path: Path, events: list[tuple[int, str, int, int]], tpb: int = 96) -> Path:
    """A one-track file from (delta ticks, type, pitch, velocity) on channel 1."""
    mid = mido.MidiFile(type=0, ticks_per_beat=tpb)
    track = mido.MidiTrack(mido.Message(t, note=p, velocity=v, time=d) for d, t, p, v in events)
    mid.tracks.append(track)
    mid.save(path)
    return path


# -- the fixture -------------------------------------------------------------------------------


def test_committed_fixtures_are_what_the_generator_writes(tmp_path):
    small, truncated = _load_generator().write_fixtures(tmp_path)
    assert small.read_bytes() == SMALL.read_bytes()
    assert truncated.read_bytes() == TRUNCATED.read_bytes()
    assert 100 < SMALL.stat().st_size < 1000


def test_fixture_reads_to_the_expected_notes():
    assert _rows(read_midi(SMALL)) == EXPECTED


def test_drums_off_drops_the_drum_notes():
    assert _rows(read_midi(SMALL, drums=False)) == [e for e in EXPECTED if not e[4]]


# -- reading details ---------------------------------------------------------------------------


def test_grace_note_written_off_first_does_not_steal_the_next_note_off(tmp_path):
    # music21's pattern: a zero-length grace A (off, on at one tick), a real A later.
    path = _save(
        tmp_path / "grace.mid",
        [
            (0, "note_off", 69, 0),
            (0, "note_on", 69, 90),
            (0, "note_on", 74, 90),
            (96, "note_off", 74, 0),
            (0, "note_on", 69, 90),
            (48, "note_off", 69, 0),
        ],
    )
    assert _rows(read_midi(path)) == [(0.0, 0.5, 74, 90, False), (0.5, 0.75, 69, 90, False)]


def test_zero_length_notes_written_off_first_never_hang(tmp_path):
    # music21 writes grace notes and chord symbols with no duration as note-off, note-on at one
    # tick; two of them on one pitch must not pair into a note 2 s long.
    path = _save(
        tmp_path / "zero.mid",
        [
            (0, "note_off", 66, 0),
            (0, "note_on", 66, 90),
            (0, "note_on", 62, 90),
            (384, "note_off", 66, 0),
            (0, "note_on", 66, 90),
            (0, "note_off", 62, 0),
        ],
    )
    assert _rows(read_midi(path)) == [(0.0, 2.0, 62, 90, False)]


def test_stray_note_off_before_a_real_note_keeps_the_note(tmp_path):
    path = _save(
        tmp_path / "stray.mid", [(0, "note_off", 60, 0), (0, "note_on", 60, 90), (96, "note_off", 60, 0)]
    )
    assert _rows(read_midi(path)) == [(0.0, 0.5, 60, 90, False)]


def test_unmatched_offs_and_zero_length_notes_are_dropped(tmp_path):
    path = _save(
        tmp_path / "odd.mid",
        [
            (0, "note_off", 50, 0),
            (0, "note_on", 62, 90),
            (0, "note_off", 62, 0),
            (0, "note_on", 64, 90),
            (96, "note_off", 64, 0),
        ],
    )
    assert _rows(read_midi(path)) == [(0.0, 0.5, 64, 90, False)]


def test_file_without_notes_is_an_error(tmp_path):
    mid = mido.MidiFile()
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000)]))
    mid.save(tmp_path / "empty.mid")
    with pytest.raises(SeqgenError, match=r"empty\.mid has no notes"):
        read_midi(tmp_path / "empty.mid")


def test_drums_only_file_with_drums_off_is_an_error(tmp_path):
    write_midi([Note(0, 0.1, 36, drum=True)], tmp_path / "kit.mid")
    assert read_midi(tmp_path / "kit.mid")[0].drum
    with pytest.raises(SeqgenError, match="no notes other than drums"):
        read_midi(tmp_path / "kit.mid", drums=False)


def _corrupt_files(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    files = {
        "truncated": shutil.copy(TRUNCATED, d / "truncated.mid"),
        "random": d / "random.mid",
        "text": d / "tune.mid",
        "empty": d / "empty.MID",
        "header only": d / "header.midi",
    }
    files["random"].write_bytes(random.Random(0).randbytes(1024))
    files["text"].write_text("X:1\nT:Not MIDI\nK:D\nDEFG|\n")
    files["empty"].write_bytes(b"")
    files["header only"].write_bytes(SMALL.read_bytes()[:14] + b"MTrk\x00\x00\x00\x40garbage")
    return {k: Path(v) for k, v in files.items()}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "ends too early"),
        ("random", "MThd not found"),
        ("text", r"MThd not found \(not a MIDI file\?\)"),
        ("empty", "ends too early"),
        ("header only", "."),
    ],
)
def test_corrupt_file_raises_a_one_line_error_naming_it(tmp_path, kind, reason):
    path = _corrupt_files(tmp_path)[kind]
    with pytest.raises(SeqgenError, match=reason) as info:
        read_midi(path)
    message = str(info.value)
    assert message.startswith(f"cannot read MIDI file {path}: ")
    assert "\n" not in message


def test_missing_file_is_a_seqgen_error(tmp_path):
    with pytest.raises(SeqgenError, match="no such file"):
        read_midi(tmp_path / "nope.mid")


# -- resolve_overlaps and write_midi -----------------------------------------------------------


def test_resolve_overlaps_cuts_at_the_next_onset_and_keeps_the_longest_of_equal_onsets():
    notes = [
        Note(0, 1, 60),
        Note(0.5, 2, 60),
        Note(3, 4, 60),
        Note(3, 5, 60),
        Note(1, 1, 62),
        Note(0, 9, 60, drum=True),
    ]
    assert resolve_overlaps(notes) == [
        Note(0, 0.5, 60),
        Note(0, 9, 60, drum=True),
        Note(0.5, 2, 60),
        Note(3, 5, 60),
    ]


def test_write_then_read_keeps_the_notes(tmp_path):
    notes = read_midi(SMALL)
    out = write_midi(notes, tmp_path / "sub" / "copy.mid", tempo_qpm=97.0, program=40)
    back = read_midi(out)
    assert [(n.pitch, n.velocity, n.drum) for n in back] == [(n.pitch, n.velocity, n.drum) for n in notes]
    tick = 60 / 97.0 / 480
    assert all(
        abs(a.start - b.start) <= tick and abs(a.end - b.end) <= tick
        for a, b in zip(notes, back, strict=True)
    )
    assert mido.MidiFile(out).tracks[1][0].program == 40


def test_write_cuts_same_pitch_overlaps_so_nothing_hangs(tmp_path):
    write_midi([Note(0, 2, 60), Note(1, 1.5, 60)], tmp_path / "o.mid")
    assert _rows(read_midi(tmp_path / "o.mid")) == [(0.0, 1.0, 60, 90, False), (1.0, 1.5, 60, 90, False)]


@pytest.mark.parametrize(
    ("note", "match"), [(Note(0, 1, 128), "outside MIDI's range"), (Note(-1, 1, 60), "not valid")]
)
def test_write_rejects_bad_notes(tmp_path, note, match):
    with pytest.raises(SeqgenError, match=match):
        write_midi([note], tmp_path / "bad.mid")
    assert not (tmp_path / "bad.mid").exists()


_grid_notes = st.lists(
    st.builds(
        lambda s, d, p, v, drum: Note(s / 100, (s + d) / 100, p, v, drum),
        st.integers(0, 500),
        st.integers(1, 300),
        st.integers(0, 127),
        st.integers(1, 127),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=30, deadline=None)
@given(_grid_notes)
def test_property_read_of_write_is_the_cleaned_notes(tmp_path_factory, notes):
    path = write_midi(notes, tmp_path_factory.mktemp("w") / "p.mid")
    expected, back = resolve_overlaps(notes), read_midi(path)
    assert [(n.pitch, n.velocity, n.drum) for n in back] == [(n.pitch, n.velocity, n.drum) for n in expected]
    assert all(
        abs(a.start - b.start) < 1e-3 and abs(a.end - b.end) < 1e-3
        for a, b in zip(expected, back, strict=True)
    )


# -- corpora -----------------------------------------------------------------------------------


def test_read_midi_files_skips_corrupt_files_and_reads_the_good_ones(tmp_path):
    corrupt = _corrupt_files(tmp_path / "corpus" / "bad")
    good = [
        shutil.copy(SMALL, tmp_path / "corpus" / "a.mid"),
        shutil.copy(SMALL, tmp_path / "corpus" / "B.MIDI"),
    ]
    (tmp_path / "corpus" / "notes.txt").write_text("not a MIDI file and not named like one")
    progress = []
    result = read_midi_files(
        [tmp_path / "corpus"], on_progress=lambda done, total: progress.append((done, total))
    )
    assert result.files == len(corrupt) + len(good) == 7
    assert sorted(name for name, _ in result.pieces) == sorted(str(p) for p in good)
    assert all(_rows(notes) == EXPECTED for _, notes in result.pieces)
    skipped = dict(result.skipped)
    assert sorted(skipped) == sorted(str(p) for p in corrupt.values())
    assert skipped[str(corrupt["text"])] == "MThd not found (not a MIDI file?)"
    assert all(reason and "\n" not in reason for reason in skipped.values())
    assert progress == [(i, 7) for i in range(1, 8)]


def test_read_midi_files_takes_files_and_folders_without_repeats(tmp_path):
    (tmp_path / "d").mkdir()
    one = shutil.copy(SMALL, tmp_path / "d" / "one.mid")
    result = read_midi_files([Path(one), tmp_path / "d"], drums=False)
    assert result.files == 1 and not result.skipped
    assert not any(n.drum for n in result.pieces[0][1])
    assert find_midi_files([tmp_path]) == [Path(one)]


def test_read_midi_files_errors(tmp_path):
    with pytest.raises(SeqgenError, match="no such file or folder"):
        read_midi_files([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeqgenError, match="no MIDI files"):
        read_midi_files([tmp_path / "empty"])
    _corrupt_files(tmp_path / "bad")
    with pytest.raises(SeqgenError, match="none of the 5 MIDI files could be used"):
        read_midi_files([tmp_path / "bad"])

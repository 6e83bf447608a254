"""Reading repeated notes of one pitch (seqgen.music.midi_io.read_midi): legato repeats, stray
note-offs and music21's zero-length grace notes, which all put a note-off and a note-on of one key
at one instant."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgen.errors import SeqgenError
from seqgen.music.midi_io import read_midi, resolve_overlaps
from seqgen.music.notes import Note

TPB = 96  # ticks per beat; at mido's default 120 qpm a beat is 0.5 s, so 192 ticks are 1 s
TOL = 1e-6

Event = tuple[int, str, int]  # (absolute tick, "on" or "off", pitch), in file order


def _save(path: Path, events: list[Event], channel: int = 0) -> Path:
    """A one-track file (no tempo event: 120 qpm) from absolute-tick events, kept in the given order."""
    track, now = mido.MidiTrack(), 0
    for tick, kind, pitch in events:
        assert tick >= now, "events must be in time order"
        velocity = 90 if kind == "on" else 0
        msg_type = "note_on" if kind == "on" else "note_off"
        track.append(mido.Message(msg_type, note=pitch, velocity=velocity, channel=channel, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid = mido.MidiFile(type=0, ticks_per_beat=TPB)
    mid.tracks.append(track)
    mid.save(path)
    return path


def _read(tmp_path: Path, events: list[Event]) -> list[tuple[float, float, int]]:
    return [(n.start, n.end, n.pitch) for n in read_midi(_save(tmp_path / "t.mid", events))]


def _assert_notes(got: list[tuple[float, float, int]], expected: list[tuple[float, float, int]]) -> None:
    """Same count and pitches, and start/end times (seconds) within TOL."""
    assert len(got) == len(expected), f"{len(got)} notes read, {len(expected)} expected: {got}"
    for (s, e, p), (xs, xe, xp) in zip(got, expected, strict=True):
        assert p == xp, got
        assert s == pytest.approx(xs, abs=TOL) and e == pytest.approx(xe, abs=TOL), got


P = 60


# -- (a) legato repeats: the note-off and the next note-on of one pitch at one tick ----------------


@pytest.mark.parametrize("off_first", [True, False], ids=["off-then-on", "on-then-off"])
def test_legato_repeat_keeps_both_notes(tmp_path, off_first):
    at_1 = [(96, "off", P), (96, "on", P)] if off_first else [(96, "on", P), (96, "off", P)]
    got = _read(tmp_path, [(0, "on", P), *at_1, (192, "off", P)])
    _assert_notes(got, [(0.0, 0.5, P), (0.5, 1.0, P)])


@pytest.mark.parametrize("off_first", [True, False], ids=["off-then-on", "on-then-off"])
def test_legato_repeat_after_a_stray_note_off_keeps_both_notes(tmp_path, off_first):
    # A stray note-off right before the first note-on (some sequencers send one as a reset).
    at_1 = [(96, "off", P), (96, "on", P)] if off_first else [(96, "on", P), (96, "off", P)]
    got = _read(tmp_path, [(0, "off", P), (0, "on", P), *at_1, (192, "off", P)])
    _assert_notes(got, [(0.0, 0.5, P), (0.5, 1.0, P)])


def test_legato_repeat_with_an_extra_note_off_keeps_both_notes(tmp_path):
    # The first note's note-off, a stray second note-off, then the repeat: all at one tick.
    got = _read(tmp_path, [(0, "on", P), (96, "off", P), (96, "off", P), (96, "on", P), (192, "off", P)])
    _assert_notes(got, [(0.0, 0.5, P), (0.5, 1.0, P)])


# -- (b) a stray note-off at a note-on of its pitch, then more repeats of that pitch ---------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (  # the repeat is legato (its note-off ends the first note at the same tick)
            [(0, "off", P), (0, "on", P), (96, "off", P), (96, "on", P), (192, "off", P)],
            [(0.0, 0.5, P), (0.5, 1.0, P)],
        ),
        (  # the repeat comes after a rest, with its own stray note-off
            [(0, "off", P), (0, "on", P), (96, "off", P), (144, "off", P), (144, "on", P), (192, "off", P)],
            [(0.0, 0.5, P), (0.75, 1.0, P)],
        ),
        (  # other pitches in between do not matter
            [
                (0, "off", P),
                (0, "on", P),
                (0, "on", 64),
                (96, "off", 64),
                (96, "off", P),
                (96, "on", P),
                (96, "on", 67),
                (192, "off", P),
                (192, "off", 67),
            ],
            [(0.0, 0.5, P), (0.0, 0.5, 64), (0.5, 1.0, P), (0.5, 1.0, 67)],
        ),
    ],
    ids=["legato", "after-a-rest", "among-other-pitches"],
)
def test_stray_note_off_then_a_repeat_loses_no_note(tmp_path, events, expected):
    _assert_notes(_read(tmp_path, events), expected)


# -- (c) music21's zero-length grace notes are still dropped ---------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (  # a grace A, then a real A later: the grace note's note-on must not take the real A's off
            [(0, "off", 69), (0, "on", 69), (0, "on", 74), (96, "off", 74), (96, "on", 69), (144, "off", 69)],
            [(0.0, 0.5, 74), (0.5, 0.75, 69)],
        ),
        (  # music21's order for a grace A right after a real A: off, grace off, grace on, real on
            [
                (0, "on", 69),
                (96, "off", 69),
                (96, "off", 69),
                (96, "on", 69),
                (96, "on", 69),
                (192, "off", 69),
            ],
            [(0.0, 0.5, 69), (0.5, 1.0, 69)],
        ),
        (  # a grace note nothing ever closes
            [
                (0, "on", 62),
                (96, "off", 62),
                (96, "off", 74),
                (96, "on", 74),
                (96, "on", 72),
                (192, "off", 72),
            ],
            [(0.0, 0.5, 62), (0.5, 1.0, 72)],
        ),
        (  # two grace notes on one pitch must not pair into one 2 s note
            [
                (0, "off", 66),
                (0, "on", 66),
                (0, "on", 62),
                (384, "off", 66),
                (384, "on", 66),
                (384, "off", 62),
            ],
            [(0.0, 2.0, 62)],
        ),
        (  # but a stray note-off before a real note keeps the note
            [(0, "off", 60), (0, "on", 60), (96, "off", 60)],
            [(0.0, 0.5, 60)],
        ),
    ],
    ids=["grace-then-real", "music21-order", "never-closed", "two-graces", "stray-off-real-note"],
)
def test_music21_grace_notes_are_still_dropped(tmp_path, events, expected):
    _assert_notes(_read(tmp_path, events), expected)


def test_a_file_music21_writes_with_grace_notes(tmp_path):
    music21 = pytest.importorskip("music21")
    s = music21.stream.Stream()
    s.append(music21.note.Note("A4").getGrace())
    s.append(music21.note.Note("D5", quarterLength=1))
    s.append(music21.note.Note("A4", quarterLength=0.5))
    s.append(music21.note.Note("A4").getGrace())
    s.append(music21.note.Note("A4", quarterLength=1))
    path = s.write("midi", fp=tmp_path / "m21.mid")
    got = [(n.start, n.end, n.pitch) for n in read_midi(path)]
    _assert_notes(got, [(0.0, 0.5, 74), (0.5, 0.75, 69), (0.75, 1.25, 69)])


# -- (d) runs of repeats -----------------------------------------------------------------------------


def test_run_of_repeats_with_stray_note_offs_keeps_every_note(tmp_path):
    events: list[Event] = [
        (0, "off", P),  # stray
        (0, "on", P),
        (48, "off", P),  # legato, off first
        (48, "on", P),
        (96, "on", P),  # legato, on first
        (96, "off", P),
        (144, "off", P),
        (144, "off", P),  # stray
        (144, "on", P),
        (192, "off", P),
        (240, "off", P),  # a music21 grace note nothing closes: dropped
        (240, "on", P),
    ]
    got = _read(tmp_path, events)
    _assert_notes(got, [(0.0, 0.25, P), (0.25, 0.5, P), (0.5, 0.75, P), (0.75, 1.0, P)])


@pytest.mark.parametrize("count", [2, 3, 6])
def test_chain_of_legato_repeats_after_one_stray_note_off(tmp_path, count):
    events: list[Event] = [(0, "off", P)]
    for i in range(count):
        events += [(48 * i, "on", P), (48 * (i + 1), "off", P)]
    # in file order: off@0 on@0 off@48 on@48 ... so every repeat is an (off, on) pair at one tick
    got = _read(tmp_path, events)
    _assert_notes(got, [(0.25 * i, 0.25 * (i + 1), P) for i in range(count)])


def test_chain_of_grace_notes_nothing_closes_is_dropped(tmp_path):
    events: list[Event] = [(0, "on", 50)]
    for i in range(4):
        events += [(48 * i, "off", P), (48 * i, "on", P)]
    events.append((192, "off", 50))
    _assert_notes(_read(tmp_path, events), [(0.0, 1.0, 50)])


# -- every reading against the rule, by brute force --------------------------------------------------


def _best_readings(events: list[tuple[int, bool]], end: int) -> set[tuple[tuple[int, int], ...]]:
    """All readings of one key's (tick, is note-on) events that explain the most events.

    Note-ons pair with note-offs first-in first-out. A note-off with nothing sounding may be read
    as a stray or, when a note-on of its key follows at the same tick, together with it as a
    zero-length grace note. Cost: stray note-offs plus notes left sounding at the end; among the
    cheapest readings, those with the fewest grace notes. Returns their (start, end) pairs.
    """
    found: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []

    def walk(i: int, sounding: tuple[int, ...], notes: tuple[tuple[int, int], ...], cost: int, graces: int):
        if i == len(events):
            found.append((cost + len(sounding), graces, notes + tuple((s, end) for s in sounding)))
            return
        tick, is_on = events[i]
        if is_on:
            walk(i + 1, (*sounding, tick), notes, cost, graces)
        elif sounding:
            walk(i + 1, sounding[1:], (*notes, (sounding[0], tick)), cost, graces)
        else:
            walk(i + 1, sounding, notes, cost + 1, graces)
            if i + 1 < len(events) and events[i + 1] == (tick, True):
                walk(i + 2, sounding, notes, cost, graces + 1)

    walk(0, (), (), 0, 0)
    best = min((c, g) for c, g, _ in found)
    return {tuple(sorted(n)) for c, g, n in found if (c, g) == best}


_STEPS = {"on": (True,), "off": (False,), "off-on": (False, True), "on-off": (True, False)}
_one_key = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(sorted(_STEPS))), min_size=1, max_size=8
).map(
    lambda steps: [
        (sum(d for d, _ in steps[: i + 1]), on) for i, (_, kind) in enumerate(steps) for on in _STEPS[kind]
    ]
)  # one key's events, in time order, with plenty of note-offs and note-ons sharing a tick


@settings(max_examples=60, deadline=None)
@given(_one_key)
def test_property_read_is_the_reading_that_explains_most_events(tmp_path_factory, events):
    path = _save(tmp_path_factory.mktemp("p") / "k.mid", [(t, "on" if on else "off", P) for t, on in events])
    end = events[-1][0]
    expected = {
        tuple((n.start, n.end) for n in resolve_overlaps([Note(s / 192, e / 192, P) for s, e in reading]))
        for reading in _best_readings(events, end)
    }
    try:
        got = tuple((n.start, n.end) for n in read_midi(path))
    except SeqgenError as e:
        assert "has no notes" in str(e)
        got = ()
    assert any(
        len(got) == len(x)
        and all(abs(a - b) < TOL for pair in zip(got, x, strict=True) for a, b in zip(*pair, strict=True))
        for x in expected
    ), (events, got, expected)

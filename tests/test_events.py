"""The MIDI event tokenizer (seqgen.datasets.tokenizers.events): layout, round trips, robust decoding."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgen.datasets.tokenizers import tokenizer_from_dict
from seqgen.datasets.tokenizers.events import DRUM_SECONDS, MAX_NOTE_SECONDS, EventTokenizer
from seqgen.errors import SeqgenError
from seqgen.music.midi_io import read_midi, resolve_overlaps
from seqgen.music.notes import Note

SMALL = Path(__file__).parent / "fixtures" / "midi_small.mid"
TOK = EventTokenizer()
STEP = TOK.step_ms / 1000


def folk_tune(seed: int = 0, bars: int = 16, qpm: float = 120.0, drone: bool = True) -> list[Note]:
    """A music21-free jig-like melody: legato 6/8 eighths and dotted figures, repeated pitches,
    grace notes and a rest longer than a time shift; with `drone`, also a held chord per bar and
    varied velocities."""
    rng = random.Random(seed)
    eighth = 30 / qpm
    notes, t, pitch = [], 0.0, 67
    for bar in range(bars):
        if drone:
            notes += [Note(t, t + 6 * eighth * 0.95, p, 60) for p in (43, 50)]
        beat = 0
        while beat < 6:
            length = rng.choice([1, 1, 1, 2, 3]) if beat < 5 else 1
            pitch = min(84, max(55, pitch + rng.choice([-2, -1, 0, 0, 1, 2, 5, -5])))
            velocity = rng.choice([80, 90, 90, 100]) if drone else 90
            if t > 0 and rng.random() < 0.1:
                notes.append(Note(t - 0.03, t - 0.005, pitch + 2, velocity))  # a grace note
            notes.append(Note(t, t + length * eighth, pitch, velocity))
            t += length * eighth
            beat += length
        if bar == bars // 2:
            t += 2.5  # a rest longer than the longest time shift
    return resolve_overlaps(notes)  # a grace note may cut the note before it, as in read_midi


def _key(n: Note, step: float) -> tuple[int, int]:
    return int(n.start / step + 0.5), n.pitch


def assert_round_trip(notes: list[Note], tok: EventTokenizer = TOK) -> list[int]:
    """notes -> ids -> notes keeps pitches, onsets and durations within one step; ids -> notes
    -> ids is the identity. Returns the ids."""
    ids = tok.encode_notes(notes)
    back = tok.decode_notes(ids)
    step = tok.step_ms / 1000
    melodic = sorted((n for n in notes if not n.drum), key=lambda n: _key(n, step))
    got = sorted((n for n in back if not n.drum), key=lambda n: _key(n, step))
    assert [n.pitch for n in got] == [n.pitch for n in melodic]
    for a, b in zip(melodic, got, strict=True):
        assert abs(a.start - b.start) <= step / 2 + 1e-9
        assert abs(a.duration - b.duration) <= step + 1e-9
        assert tok.velocity_bin(a.velocity) == tok.velocity_bin(b.velocity)
    hits = sorted((n for n in notes if n.drum), key=lambda n: _key(n, step))
    got_hits = sorted((n for n in back if n.drum), key=lambda n: _key(n, step))
    assert [n.pitch for n in got_hits] == [n.pitch for n in hits]
    assert all(abs(a.start - b.start) <= step / 2 + 1e-9 for a, b in zip(hits, got_hits, strict=True))
    assert tok.encode_notes(back) == ids
    return ids


# -- layout ------------------------------------------------------------------------------------


def test_default_vocabulary_layout():
    assert (TOK.kind, TOK.eos_id, TOK.vocab_size) == ("midi-event", 0, 517)
    names = TOK.token_names([0, 1, 128, 129, 256, 257, 356, 357, 388, 389, 516])
    assert names == [
        "EOS",
        "ON0",
        "ON127",
        "OFF0",
        "OFF127",
        "SHIFT1",
        "SHIFT100",
        "V0",
        "V31",
        "DRUM0",
        "DRUM127",
    ]
    assert EventTokenizer(drums=False).vocab_size == 389


def test_encoding_rules():
    notes = [
        Note(0.0, 0.5, 60, 90),
        Note(0.5, 0.75, 62, 90),  # same step as the C's end: OFF60 comes first
        Note(0.5, 0.75, 67, 40),  # a new velocity bin: one V token
        Note(0.75, 0.7501, 64, 40),  # quantizes to zero length: gets one step
        Note(3.25, 3.5, 60, 40),  # a 2.49 s gap: three time shifts
    ]
    assert TOK.to_text(TOK.encode_notes(notes)) == (
        "V22 ON60 SHIFT50 OFF60 ON62 V9 ON67 SHIFT25 OFF62 OFF67 ON64 SHIFT1 OFF64 "
        "SHIFT100 SHIFT100 SHIFT49 ON60 SHIFT25 OFF60"
    )


def test_same_pitch_overlaps_are_cut_and_long_notes_capped():
    notes = [Note(0, 1, 60), Note(0.5, 1.5, 60), Note(0.5, 0.6, 60), Note(2, 2 + 3 * MAX_NOTE_SECONDS, 62)]
    back = TOK.decode_notes(TOK.encode_notes(notes))
    assert [(n.start, n.end, n.pitch) for n in back] == [
        (0, 0.5, 60),
        (0.5, 1.5, 60),
        (2, 2 + MAX_NOTE_SECONDS, 62),
    ]


def test_fixture_round_trip():
    notes = read_midi(SMALL)
    ids = assert_round_trip(notes)
    assert [n.duration for n in TOK.decode_notes(ids) if n.drum] == pytest.approx([DRUM_SECONDS] * 2)


@pytest.mark.parametrize("seed", range(5))
def test_folk_tune_round_trip_and_cost(seed):
    assert_round_trip(folk_tune(seed))
    melody = folk_tune(seed, drone=False)
    ids = assert_round_trip(melody)
    assert 2.9 < len(ids) / len(melody) < 3.3  # a legato melody costs ON, SHIFT, OFF per note


@pytest.mark.parametrize(
    "tok",
    [
        EventTokenizer(step_ms=5, max_shift_steps=50, velocity_bins=16),
        EventTokenizer(step_ms=25, drums=False),
    ],
    ids=repr,
)
def test_round_trip_with_other_resolutions(tok):
    assert_round_trip(folk_tune(7), tok)


def test_drum_notes_need_drum_tokens():
    with pytest.raises(SeqgenError, match="no drum tokens"):
        EventTokenizer(drums=False).encode_notes([Note(0, 0.1, 36, drum=True)])


@pytest.mark.parametrize("bins", range(1, 128))
def test_velocity_bins_decode_into_themselves(bins):
    tok = EventTokenizer(velocity_bins=bins)
    assert sorted({tok.velocity_bin(v) for v in range(1, 128)}) == list(range(bins))
    assert all(tok.velocity_bin(tok.bin_velocity(b)) == b for b in range(bins))
    if bins == 32:
        assert tok.bin_velocity(tok.velocity_bin(90)) == 90


# -- robust decoding ---------------------------------------------------------------------------


def test_decoding_odd_sequences():
    t = TOK.from_text
    # unmatched OFF ignored; ON without V gets velocity 90; unclosed ON ends at the last time
    assert TOK.decode_notes(t("OFF61 ON60 SHIFT10")) == [Note(0, 0.1, 60, 90)]
    # a repeated ON restarts the note; a repeated ON in the same step is ignored
    assert TOK.decode_notes(t("ON60 ON60 SHIFT10 ON60 SHIFT5 OFF60")) == [
        Note(0, 0.1, 60),
        Note(0.1, 0.15, 60),
    ]
    # zero-length notes vanish; EOS stops decoding
    assert TOK.decode_notes(t("ON60 OFF60 ON62 SHIFT1 EOS ON64 SHIFT9")) == [Note(0, 0.01, 62)]
    # a note never closed stops at the cap
    held = TOK.decode_notes(t("ON60 " + "SHIFT100 " * 40))
    assert held == [Note(0, MAX_NOTE_SECONDS, 60)]
    # drum hits last DRUM_SECONDS or until the next hit of that drum
    assert TOK.decode_notes(t("V31 DRUM36 SHIFT5 DRUM36 DRUM36")) == [
        Note(0, 0.05, 36, 126, drum=True),
        Note(0.05, 0.15, 36, 126, drum=True),  # DRUM_SECONDS = 0.1
    ]


@pytest.mark.parametrize("bad", [-1, TOK.vocab_size, 2**63])
def test_ids_outside_the_vocabulary_are_an_error(bad):
    with pytest.raises(SeqgenError, match=f"token id {bad} is outside"):
        TOK.decode_notes([1, bad])


# -- text and metadata -------------------------------------------------------------------------


def test_text_round_trip():
    ids = TOK.encode_notes(read_midi(SMALL))
    text = TOK.to_text(ids)
    assert text.startswith("V") and "DRUM36" in text
    assert TOK.from_text(text) == ids
    assert TOK.from_text(" on60\n\tshift012  eos ") == [61, 268, 0]


@pytest.mark.parametrize("bad", ["ON128", "SHIFT0", "SHIFT101", "V32", "NOTE60", "60", "ON"])
def test_from_text_names_the_bad_token(bad):
    with pytest.raises(SeqgenError, match=f"'{bad}' is not an event token"):
        TOK.from_text(f"ON60 {bad} OFF60")


def test_to_dict_from_dict(tmp_path):
    tok = EventTokenizer(step_ms=8, max_shift_steps=125, velocity_bins=16, drums=False)
    d = tok.to_dict()
    assert json.loads(json.dumps(d)) == d
    torch.save({"tokenizer": d}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)["tokenizer"]
    for rebuilt in (EventTokenizer.from_dict(loaded), tokenizer_from_dict(loaded)):
        assert isinstance(rebuilt, EventTokenizer)
        assert rebuilt.to_dict() == d and rebuilt.vocab_size == tok.vocab_size
        notes = folk_tune(3)
        assert rebuilt.encode(notes) == tok.encode(notes)
    with pytest.raises(SeqgenError, match="lacks velocity_bins"):
        EventTokenizer.from_dict({"kind": "midi-event", "step_ms": 10, "max_shift_steps": 100, "drums": True})


@pytest.mark.parametrize(
    "kwargs", [{"step_ms": 0}, {"step_ms": 2.5}, {"max_shift_steps": 0}, {"velocity_bins": 128}]
)
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(SeqgenError):
        EventTokenizer(**kwargs)


# -- properties --------------------------------------------------------------------------------

_jitter = st.floats(-0.0049, 0.0049)


@st.composite
def clean_notes(draw) -> list[Note]:
    """Notes whose quantized versions do not overlap per pitch: the lossless input space."""
    notes = []
    for pitch in draw(st.lists(st.integers(0, 127), min_size=1, max_size=6, unique=True)):
        step = 0
        for _ in range(draw(st.integers(1, 8))):
            start = step + draw(st.integers(0, 300))
            end = start + draw(st.integers(1, 250))
            velocity, drum = draw(st.integers(1, 127)), draw(st.booleans())
            s = max(0.0, start * STEP + draw(_jitter))
            notes.append(Note(s, end * STEP + draw(_jitter), pitch, velocity, drum))
            step = end
    return notes


@settings(max_examples=200, deadline=None)
@given(clean_notes())
def test_property_round_trip_of_clean_notes(notes):
    assert_round_trip(notes)


_any_note = st.builds(
    Note,
    st.floats(0, 60, allow_nan=False),
    st.floats(-1, 90, allow_nan=False),
    st.integers(0, 127),
    st.integers(-5, 200),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_any_note, max_size=40))
def test_property_any_notes_keep_their_pitches(notes):
    back = TOK.decode_notes(TOK.encode_notes(notes))
    assert {(n.pitch, n.drum) for n in back} == {(n.pitch, n.drum) for n in notes}
    assert len(back) <= len(notes)
    assert TOK.encode_notes(back) == TOK.encode_notes(notes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, TOK.vocab_size - 1), max_size=200))
def test_property_any_ids_decode_to_sane_notes(ids):
    notes = TOK.decode_notes(ids)
    for n in notes:
        assert 0 <= n.start < n.end <= n.start + MAX_NOTE_SECONDS + 1e-9
        assert 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127
    assert TOK.decode_notes(TOK.encode_notes(notes)) == notes
    assert TOK.from_text(TOK.to_text(ids)) == ids

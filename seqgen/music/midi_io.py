"""MIDI files in and out, through mido.

Owns: writing a list of `Note`s to a Standard MIDI File, reading one back into notes, and the
cleaning every reader needs (pairing note-ons with note-offs, telling music21's zero-length grace
notes from stray note-offs, resolving same-pitch overlaps).
Knows nothing about tokens, ABC or directories of files (see `seqgen.datasets.corpus.midi`).
"""

from __future__ import annotations

import math
from collections import deque
from itertools import pairwise
from pathlib import Path

import mido

from seqgen.errors import SeqgenError
from seqgen.files import atomic_write
from seqgen.music.notes import Note

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # General MIDI channel 10, counted from 0


def write_midi(notes: list[Note], path: str | Path, tempo_qpm: float = 120.0, program: int = 0) -> Path:
    """Write `notes` as a type-1 MIDI file: a conductor track with the tempo, one note track.

    Times are rounded to ticks; a note-off sorts before a note-on at the same tick so repeated
    pitches never swallow each other, and same-pitch overlaps are cut at the later onset so no
    note hangs. Drum notes go to channel 10. Returns `path`.
    """
    path = Path(path)
    if not (math.isfinite(tempo_qpm) and tempo_qpm > 0):
        raise SeqgenError(f"tempo {tempo_qpm} qpm is not a positive number; cannot write {path}")
    if not 0 <= program <= 127:
        raise SeqgenError(f"MIDI program {program} is outside 0..127; cannot write {path}")
    tempo = mido.bpm2tempo(tempo_qpm)
    ticks_per_second = TICKS_PER_BEAT * 1_000_000 / tempo
    events: list[tuple[int, int, mido.Message]] = []
    for n in resolve_overlaps(_checked(notes, path)):
        ch = DRUM_CHANNEL if n.drum else 0
        on = round(n.start * ticks_per_second)
        off = max(on + 1, round(n.end * ticks_per_second))
        vel = min(127, max(1, int(n.velocity)))
        events.append((on, 1, mido.Message("note_on", note=n.pitch, velocity=vel, channel=ch)))
        events.append((off, 0, mido.Message("note_off", note=n.pitch, velocity=0, channel=ch)))
    events.sort(key=lambda e: (e[0], e[1]))

    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    track = mido.MidiTrack()
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.extend([conductor, track])
    return atomic_write(path, lambda f: mid.save(file=f))


def _checked(notes: list[Note], path: Path) -> list[Note]:
    for n in notes:
        if not 0 <= n.pitch <= 127:
            raise SeqgenError(f"pitch {n.pitch} is outside MIDI's range 0..127; cannot write {path}")
        if not (math.isfinite(n.start) and math.isfinite(n.end) and n.start >= 0):
            raise SeqgenError(f"note times {n.start}..{n.end} s are not valid; cannot write {path}")
    return notes


def read_midi(path: str | Path, drums: bool = True) -> list[Note]:
    """Read a MIDI file into notes with absolute times in seconds, sorted.

    Tempo changes are honoured and all tracks are merged. Note-ons pair with note-offs (or
    note-ons of velocity 0) first-in first-out per (channel, pitch); notes on channel 10 are
    drums (dropped when `drums` is False); notes still sounding at the end close at the end of
    the file. The result is cleaned by `resolve_overlaps`. Music21 writes a zero-length grace
    note as a note-off then a note-on at one tick, which would otherwise hang until the next
    note-off of that pitch: an unmatched note-off followed at the same tick by a note-on of its
    key is read as such a grace note and dropped, unless that would leave a later note-off of
    the key unmatched; then the note-off was a stray and the note-on a real note (as in legato
    repeats after a stray note-off), so no note is lost.
    Raises SeqgenError when the file cannot be read or holds no notes.
    """
    path = Path(path)
    try:
        notes = resolve_overlaps(_parse(mido.MidiFile(path)))
    except Exception as e:  # mido raises many types on corrupt input; see music-data-facts §4
        raise SeqgenError(f"cannot read MIDI file {path}: {_reason(e)}") from e
    if not notes:
        raise SeqgenError(f"MIDI file {path} has no notes")
    if not drums:
        notes = [n for n in notes if not n.drum]
        if not notes:
            raise SeqgenError(f"MIDI file {path} has no notes other than drums (channel 10)")
    return notes


_Event = tuple[float, bool, int]  # (seconds, is note-on, velocity) on one (channel, pitch)


def _parse(mid: mido.MidiFile) -> list[Note]:
    now = 0.0
    by_key: dict[tuple[int, int], list[_Event]] = {}  # (channel, pitch) -> its events, in order
    for msg in mid:
        now += msg.time
        if msg.type == "note_on" or msg.type == "note_off":
            is_on = msg.type == "note_on" and msg.velocity > 0
            by_key.setdefault((msg.channel, msg.note), []).append((now, is_on, msg.velocity))
    notes: list[Note] = []
    for (channel, pitch), events in by_key.items():
        for start, end, velocity in _pair(events, now):
            if end > start:
                notes.append(Note(start, end, pitch, velocity, channel == DRUM_CHANNEL))
    return notes


def _pair(events: list[_Event], end_of_file: float) -> list[tuple[float, float, int]]:
    """One key's note-ons paired first-in first-out with its note-offs: (start, end, velocity).

    A note-off with nothing sounding, followed at the same instant by a note-on of the key, is
    either music21's zero-length grace note (drop both) or a stray note-off before a real note
    (keep the note-on). It is read as the grace note unless that would leave a later note-off of
    the key unmatched (`_strays_ahead`); then the note-on is real and that note-off ends a note.
    So the reading has the fewest stray note-offs and notes left sounding, and of equally good
    readings keeps the most notes. Notes still sounding at `end_of_file` close there.
    """
    strays_ahead = _strays_ahead(events)
    sounding: deque[tuple[float, int]] = deque()
    pairs: list[tuple[float, float, int]] = []
    i = 0
    while i < len(events):
        t, is_on, velocity = events[i]
        if is_on:
            sounding.append((t, velocity))
        elif sounding:
            start, vel = sounding.popleft()
            pairs.append((start, t, vel))
        elif _opens_grace(events, i) and not strays_ahead[i + 2]:
            i += 1  # a grace note: skip its note-on too
        i += 1
    pairs.extend((start, end_of_file, vel) for start, vel in sounding)
    return pairs


def _opens_grace(events: list[_Event], i: int) -> bool:
    """Whether note-off `i` is followed, at the same instant, by a note-on of its key."""
    return i + 1 < len(events) and events[i + 1][1] and events[i + 1][0] == events[i][0]


def _strays_ahead(events: list[_Event]) -> list[bool]:
    """For each index j (and len(events)): reading events[j:] from silence, with every possible
    grace note (`_opens_grace`) read as one, is some note-off left unmatched?

    If so, a grace-note candidate whose note-on is at j - 1 was a real note after all: read as
    real, it leaves one more note sounding, and that note-off ends a note instead of being a
    stray. If not, read as real it would leave a note sounding to the end of the file.
    """
    # note-on j -> the first note-off by which as many note-offs as note-ons follow j (the count
    # of sounding notes drops back below what it was before j); None when there is none
    closes: list[int | None] = [None] * len(events)
    open_ons: list[int] = []
    for j, (_, is_on, _) in enumerate(events):
        if is_on:
            open_ons.append(j)
        elif open_ons:
            closes[open_ons.pop()] = j
    ahead = [False] * (len(events) + 2)
    for j in range(len(events) - 1, -1, -1):
        if events[j][1]:
            c = closes[j]
            ahead[j] = c is not None and ahead[c + 1]
        else:
            ahead[j] = ahead[j + 2] if _opens_grace(events, j) else True
    return ahead


def resolve_overlaps(notes: list[Note]) -> list[Note]:
    """Cut each note at the next onset of the same pitch (drums and melody apart), sorted.

    A piano-roll, a MIDI channel and the event vocabulary can all sound a pitch only once at a
    time, so an overlap would otherwise hang or swallow a note. Of notes starting together on
    one pitch the longest is kept; notes of zero or negative length are dropped.
    """
    by_key: dict[tuple[bool, int], list[Note]] = {}
    for n in sorted(notes):
        if n.end > n.start:
            by_key.setdefault((n.drum, n.pitch), []).append(n)
    out: list[Note] = []
    for group in by_key.values():
        for cur, nxt in pairwise(group):
            if nxt.start > cur.start:
                out.append(cur if cur.end <= nxt.start else Note(cur.start, nxt.start, *_rest(cur)))
        out.append(group[-1])
    return sorted(out)


def _rest(n: Note) -> tuple[int, int, bool]:
    return n.pitch, n.velocity, n.drum


def _reason(e: Exception) -> str:
    """A short reason for a failed read, without the traceback."""
    if isinstance(e, FileNotFoundError):
        return "no such file"
    if isinstance(e, IsADirectoryError):
        return "it is a directory"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, EOFError):
        return "the file ends too early (truncated?)"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if text.startswith("MThd not found"):
        return "MThd not found (not a MIDI file?)"
    return f"damaged or unsupported MIDI data ({text or type(e).__name__})"

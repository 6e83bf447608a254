"""MIDI event tokenizer: notes <-> Performance-RNN-style event ids.

Owns: the event vocabulary, notes -> ids (quantized), ids -> notes (robust to any id sequence),
and a readable text form of the ids. Knows nothing about MIDI files (see `seqgen.music.midi_io`).

Vocabulary (defaults; `vocab_size` = 517):

    id 0                 EOS        end of a piece; also the start context for sampling
    1 .. 128             ON<p>      note-on of pitch p = 0..127
    129 .. 256           OFF<p>     note-off of pitch p
    257 .. 356           SHIFT<k>   advance time by k steps, k = 1..max_shift_steps
    357 .. 388           V<b>       velocity bin b = 0..velocity_bins-1 for the following onsets
    389 .. 516           DRUM<p>    a percussion hit (General MIDI channel 10) of drum p

Resolution, and why:
- `step_ms` = 10. Onsets and ends are quantized to 10 ms, below what a listener notices in a
  melody (asynchrony thresholds are a few tens of ms). Folk material at 120 qpm has a 16th note of
  125 ms = 12.5 steps: quantizing absolute times (never deltas) keeps the error within +-5 ms with
  no drift, and a 250 ms eighth note costs one SHIFT. A tempo-relative grid would be exact for
  such tunes but breaks on expressive MIDI and on tempo changes; 10 ms serves both.
- `max_shift_steps` = 100 (1 s). A longer gap is several SHIFTs; at 120 qpm a half note is one
  token, a whole note two. About 3 events per note on folk melodies (ON, OFF, SHIFT).
- `velocity_bins` = 32 over 1..127 (4 velocities per bin). Velocity 90, music21's default,
  decodes to exactly 90. A V token is emitted only when the bin changes.
- Drums (`drums`=True): a DRUM<p> token is a hit; the decoded note lasts DRUM_SECONDS (cut at the
  next hit of that drum). GM percussion ignores note length, so an off token would only spend
  sequence length; drum durations are therefore not kept, only onset and pitch.

Encoding rules: note-offs come before note-ons within a step (onsets grouped by velocity bin,
then pitch, so the order is canonical); a note that quantizes to zero length gets one step (a
grace note keeps its pitch); a note is at most MAX_NOTE_SECONDS long, in both directions, so a
note-on a model never closes cannot hang for minutes; same-pitch overlaps are cut at the later
onset (the vocabulary can sound a pitch once at a time).
Round trip: notes -> ids -> notes keeps every note's pitch, and its onset and duration within one
step (for clean melodic notes shorter than the cap); ids -> notes -> ids is the identity for ids
made by `encode_notes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.music.notes import Note

MAX_NOTE_SECONDS = 20.0  # longest note, in encoding and decoding
DRUM_SECONDS = 0.1  # length of a decoded drum hit
DEFAULT_VELOCITY = 90  # for onsets before any V token (model output only; encode always sets one)

_TOKEN = re.compile(r"(ON|OFF|SHIFT|V|DRUM)(\d+)")


class EventTokenizer:
    kind = "midi-event"
    eos_id = 0

    def __init__(
        self, step_ms: int = 10, max_shift_steps: int = 100, velocity_bins: int = 32, drums: bool = True
    ):
        if not (isinstance(step_ms, int) and 1 <= step_ms <= 1000):
            raise SeqgenError(f"event step {step_ms!r} ms must be a whole number of ms in 1..1000")
        if not (isinstance(max_shift_steps, int) and 1 <= max_shift_steps <= 10_000):
            raise SeqgenError(f"max time shift {max_shift_steps!r} steps must be an integer in 1..10000")
        if not (isinstance(velocity_bins, int) and 1 <= velocity_bins <= 127):
            raise SeqgenError(f"velocity bins {velocity_bins!r} must be an integer in 1..127")
        self.step_ms = step_ms
        self.max_shift_steps = max_shift_steps
        self.velocity_bins = velocity_bins
        self.drums = bool(drums)
        self.on_base = 1
        self.off_base = self.on_base + 128
        self.shift_base = self.off_base + 128  # SHIFT<k> is shift_base + k - 1
        self.velocity_base = self.shift_base + max_shift_steps
        self.drum_base = self.velocity_base + velocity_bins
        self.vocab_size = self.drum_base + (128 if self.drums else 0)
        self.max_note_steps = max(1, round(MAX_NOTE_SECONDS * 1000 / step_ms))
        self.drum_steps = max(1, round(DRUM_SECONDS * 1000 / step_ms))
        self._names = self._make_names()
        self._ids = {name: i for i, name in enumerate(self._names)}

    # -- velocity bins ---------------------------------------------------------------------------

    def velocity_bin(self, velocity: int) -> int:
        """Bin 0..velocity_bins-1 of a MIDI velocity (clamped to 1..127)."""
        v = min(127, max(1, int(velocity)))
        return (v - 1) * self.velocity_bins // 127

    def bin_velocity(self, b: int) -> int:
        """The velocity a bin decodes to: the middle of the velocities that fall in it."""
        lo = 1 + (b * 127 + self.velocity_bins - 1) // self.velocity_bins
        hi = 1 + ((b + 1) * 127 - 1) // self.velocity_bins
        return (lo + hi) // 2

    # -- notes -> ids ----------------------------------------------------------------------------

    def _step(self, seconds: float) -> int:
        return int(seconds * 1000 / self.step_ms + 0.5)  # round half up: deterministic on the grid

    def _quantize(
        self, notes: Iterable[Note]
    ) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int]]]:
        """Melodic (start, end, pitch, bin) and drum (start, pitch, bin) notes in steps, cleaned."""
        melodic: dict[int, list[tuple[int, int, int]]] = {}
        hits: dict[tuple[int, int], int] = {}
        for n in notes:
            if not 0 <= n.pitch <= 127:
                raise SeqgenError(f"pitch {n.pitch} is outside MIDI's range 0..127; cannot encode it")
            if not (math.isfinite(n.start) and math.isfinite(n.end) and n.start >= 0):
                raise SeqgenError(f"note times {n.start}..{n.end} s are not valid; cannot encode them")
            s, b = self._step(n.start), self.velocity_bin(n.velocity)
            if n.drum:
                if not self.drums:
                    raise SeqgenError(
                        "the notes hold drum hits (MIDI channel 10) but this tokenizer has no drum tokens; "
                        "read the MIDI with drums off"
                    )
                hits[(s, n.pitch)] = max(b, hits.get((s, n.pitch), 0))  # loudest of equal hits
                continue
            e = s + min(self.max_note_steps, max(1, self._step(n.end) - s))
            melodic.setdefault(n.pitch, []).append((s, e, b))
        out: list[tuple[int, int, int, int]] = []
        for pitch, group in melodic.items():
            group.sort()
            for (s, e, b), (s2, _, _) in pairwise(group):
                if s2 > s:  # of notes starting together, the longest (last sorted) survives
                    out.append((s, min(e, s2), pitch, b))
            s, e, b = group[-1]
            out.append((s, e, pitch, b))
        return out, [(s, p, b) for (s, p), b in hits.items()]

    def encode_notes(self, notes: Iterable[Note]) -> list[int]:
        """Event ids of `notes` (seconds), without EOS; the caller appends `eos_id` per piece."""
        melodic, hits = self._quantize(notes)
        offs: dict[int, list[int]] = {}
        onsets: dict[int, list[tuple[int, int, int]]] = {}  # step -> (velocity bin, is drum, pitch)
        for s, e, p, b in melodic:
            offs.setdefault(e, []).append(p)
            onsets.setdefault(s, []).append((b, 0, p))
        for s, p, b in hits:
            onsets.setdefault(s, []).append((b, 1, p))
        ids: list[int] = []
        now, current_bin = 0, -1
        for step in sorted(offs.keys() | onsets.keys()):
            while step > now:
                k = min(step - now, self.max_shift_steps)
                ids.append(self.shift_base + k - 1)
                now += k
            ids.extend(self.off_base + p for p in sorted(offs.get(step, ())))
            # Onsets in the current velocity bin first, so a step costs at most one V per new bin.
            for b, drum, p in sorted(onsets.get(step, ()), key=lambda o, c=current_bin: (o[0] != c, o)):
                if b != current_bin:
                    ids.append(self.velocity_base + b)
                    current_bin = b
                ids.append((self.drum_base if drum else self.on_base) + p)
        return ids

    encode = encode_notes

    # -- ids -> notes ----------------------------------------------------------------------------

    def decode_notes(self, ids: Sequence[int]) -> list[Note]:
        """Notes (seconds, sorted) from event ids. Never fails on ids in range: an unmatched OFF
        is ignored, a repeated ON restarts the note, an unclosed ON ends at the last time reached
        or after MAX_NOTE_SECONDS, zero-length notes are dropped, and EOS stops decoding.
        Raises SeqgenError for an id outside the vocabulary."""
        now, velocity = 0, DEFAULT_VELOCITY
        sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start step, velocity)
        spans: list[tuple[int, int, int, int]] = []  # (start, end, pitch, velocity) in steps
        hits: dict[tuple[int, int], int] = {}  # (drum pitch, step) -> velocity

        def close(pitch: int, at: int) -> None:
            start, vel = sounding.pop(pitch)
            end = min(at, start + self.max_note_steps)
            if end > start:
                spans.append((start, end, pitch, vel))

        for i in self._checked(ids):
            if i == self.eos_id:
                break
            if i < self.off_base:
                pitch = i - self.on_base
                if pitch in sounding:
                    if sounding[pitch][0] == now:
                        continue
                    close(pitch, now)
                sounding[pitch] = (now, velocity)
            elif i < self.shift_base:
                if i - self.off_base in sounding:
                    close(i - self.off_base, now)
            elif i < self.velocity_base:
                now += i - self.shift_base + 1
            elif i < self.drum_base:
                velocity = self.bin_velocity(i - self.velocity_base)
            else:
                hits.setdefault((i - self.drum_base, now), velocity)
        for pitch in list(sounding):
            close(pitch, now)

        ms = self.step_ms
        notes = [Note(s * ms / 1000, e * ms / 1000, p, v) for s, e, p, v in spans]
        last_hit: dict[int, int] = {}
        for pitch, s in sorted(hits, reverse=True):  # latest first, to cut at the next hit
            e = min(s + self.drum_steps, last_hit.get(pitch, s + self.drum_steps))
            notes.append(Note(s * ms / 1000, e * ms / 1000, pitch, hits[(pitch, s)], drum=True))
            last_hit[pitch] = s
        return sorted(notes)

    decode = decode_notes

    def _checked(self, ids: Sequence[int]) -> list[int]:
        out = [int(i) for i in ids]
        for i in out:
            if not 0 <= i < self.vocab_size:
                raise SeqgenError(f"token id {i} is outside the event vocabulary (size {self.vocab_size})")
        return out

    # -- readable text ---------------------------------------------------------------------------

    def _make_names(self) -> list[str]:
        names = ["EOS"]
        names += [f"ON{p}" for p in range(128)]
        names += [f"OFF{p}" for p in range(128)]
        names += [f"SHIFT{k}" for k in range(1, self.max_shift_steps + 1)]
        names += [f"V{b}" for b in range(self.velocity_bins)]
        if self.drums:
            names += [f"DRUM{p}" for p in range(128)]
        return names

    def token_names(self, ids: Sequence[int]) -> list[str]:
        """Readable names of ids, e.g. ['V22', 'ON60', 'SHIFT25', 'OFF60']."""
        return [self._names[i] for i in self._checked(ids)]

    def to_text(self, ids: Sequence[int]) -> str:
        """Ids as space-separated token names."""
        return " ".join(self.token_names(ids))

    def from_text(self, text: str) -> list[int]:
        """Ids from whitespace-separated token names (any case); SeqgenError names a bad token."""
        ids = []
        for word in text.split():
            i = self._ids.get(_canonical(word))
            if i is None:
                raise SeqgenError(f"{word!r} is not an event token of this vocabulary ({self.describe()})")
            ids.append(i)
        return ids

    def summary(self) -> str:
        return (
            f"MIDI events ({self.vocab_size} ids): note on/off, time shifts of {self.step_ms} ms up to "
            f"{self.max_shift_steps} steps, {self.velocity_bins} velocity bins, "
            f"drums {'on' if self.drums else 'off'}"
        )

    def describe(self) -> str:
        """One line naming the token families and their ranges."""
        drums = ", DRUM0..DRUM127" if self.drums else ""
        return (
            f"EOS, ON0..ON127, OFF0..OFF127, SHIFT1..SHIFT{self.max_shift_steps} "
            f"(x{self.step_ms} ms), V0..V{self.velocity_bins - 1}{drums}"
        )

    def document_start(self) -> list[int]:
        """A piece starts right after an end-of-piece."""
        return [self.eos_id]

    # -- metadata --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "step_ms": self.step_ms,
            "max_shift_steps": self.max_shift_steps,
            "velocity_bins": self.velocity_bins,
            "drums": self.drums,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EventTokenizer:
        missing = [k for k in ("step_ms", "max_shift_steps", "velocity_bins", "drums") if k not in d]
        if missing:
            raise SeqgenError(f"midi-event tokenizer metadata lacks {', '.join(missing)}; it is damaged")
        return cls(d["step_ms"], d["max_shift_steps"], d["velocity_bins"], d["drums"])


def _canonical(word: str) -> str:
    """Upper-case, and strip leading zeros from the number so 'on060' reads as ON60."""
    word = word.upper()
    m = _TOKEN.fullmatch(word)
    return f"{m.group(1)}{int(m.group(2))}" if m else word

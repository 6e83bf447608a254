"""ABC text of one tune -> notes in seconds (and a MIDI file), through music21, minus its defects.

Owns: `parse_abc` (one tune's text -> a music21 Score, every failure a `SeqgenError`),
`abc_to_notes` and `abc_to_midi`. Does not own tunebooks, splitting or normalization (see
`seqgen.datasets.corpus.abc`) or the MIDI file format (see `seqgen.music.midi_io`).

music21 (10.5) is used to parse only; its own MIDI export is avoided because it duplicates shared
TimeSignatures, leaves zero-length grace notes hanging and snowballs repeats. Here:
- a tune with neither `L:` nor `M:` gets `L:1/8`, the ABC standard's default, which music21 lacks;
- inline `[K:]`, `[M:]` and `[L:]` fields are moved to lines of their own, which music21 reads;
- the `H` decoration (a fermata) is spelled `!fermata!`: music21 drops the note `H` decorates
  (`HG3 :|`, a tune's last note in 134 of O'Neill's 2,009 tunes, is lost);
- grace notes are dropped (they have no duration in music21);
- repeats are expanded here, bar by bar, ABC-style: a `:|` with no `|:` repeats from the previous
  `:|`, double bar or the start (music21's `expandRepeats` goes back to the very start, which
  snowballs a 507-note reel into 50,580 notes in 20 s). If the expansion would play more than
  `MAX_REPEAT_RATIO` x the written bars, the tune is played as written. D.C./segno are ignored;
- ties are merged, chords become one note per pitch, all voices are kept;
- pitches are computed from step and octave, because music21 silently folds out-of-range ones.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.music.midi_io import write_midi
from seqgen.music.notes import Note, total_seconds

# ABC does not fix a playing speed; 120 quarter notes per minute is abc2midi's default and a
# moderate pace for airs and marches (reels are played faster, but most tunes carry no Q:).
DEFAULT_QPM = 120.0
# Well-formed repeats at most double or triple a tune (AABB, voltas); past 4x it is a runaway.
MAX_REPEAT_RATIO = 4.0

_STEP_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SECTION_BARS = {"double", "final", "heavy", "heavy-light", "light-heavy", "heavy-heavy"}
_TITLE = re.compile(r"(?m)^T:[ \t]*(.*?)[ \t]*$")
_HAS_LENGTH_OR_METER = re.compile(r"(?m)^[ \t]*[LM]:")
_X_LINE = re.compile(r"(?m)^X:.*$")
# A metre field as music21's tokenizer finds one: `M:` anywhere (not `M:|`), its value to the line's end.
_METER_FIELD = re.compile(r"M:(?!\|)([^\n]*)")
# The most beats in a bar a tune may state. music21's time to read a metre grows with the square
# of its beats (M:1000/8: 17 s; M:2000/4: 64 s; a model writes such things); O'Neill's largest is 12.
MAX_METER_BEATS = 64
_INLINE_FIELD = re.compile(r"\[([KLM]):([^\]\n]*)\]")


def fields_on_lines(text: str) -> str:
    """Inline key, metre and note-length fields (`[K:C]`, `[M:3/4]`, `[L:1/16]`) moved to lines of
    their own: music21 ignores them inline (notes after `[K:C]` keep the old key's sharps) but
    reads `K:`, `M:` and `L:` lines in the music. No blank line is made (one would end the tune)."""
    if "[" not in text or not _INLINE_FIELD.search(text):
        return text
    lines: list[str] = []
    for line in text.split("\n"):
        pieces = _INLINE_FIELD.split(line)  # text, letter, value, text, letter, value, ..., text
        if len(pieces) == 1:
            lines.append(line)
            continue
        for i in range(0, len(pieces), 3):
            if pieces[i].strip():
                lines.append(pieces[i])
            if i + 2 < len(pieces):
                lines.append(f"{pieces[i + 1]}:{pieces[i + 2].strip()}")
    return "\n".join(lines)


FIELD_OR_COMMENT_LINE = re.compile(r"^[ \t]*(?:[A-Za-z+]:|%)")  # not music


def fermatas_spelled(text: str) -> str:
    """The `H` decoration (fermata) in the music written `!fermata!`, which music21 reads; music21
    drops a note written `HG`. Field lines, comments, annotations ("..."), long decorations
    (`!...!`, `+...+`) and inline fields (`[P:A]`) are left as they are."""
    if "H" not in text:
        return text
    return "\n".join(
        line if FIELD_OR_COMMENT_LINE.match(line) else _fermatas_in(line) for line in text.split("\n")
    )


_CLOSES = {'"': '"', "+": "+"}
_LONG_DECORATION = re.compile(r"![^!\s]{1,30}!")  # !trill!; a lone ! is an old ABC line break


def _fermatas_in(line: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "%":  # a comment runs to the end of the line
            out.append(line[i:])
            break
        if c == "!" and (long := _LONG_DECORATION.match(line, i)):
            out.append(long.group(0))
            i = long.end()
            continue
        closer = _CLOSES.get(c) or ("]" if c == "[" and re.match(r"\[[A-Za-z]:", line[i:]) else None)
        if closer:
            j = line.find(closer, i + 1)
            j = len(line) if j < 0 else j + 1
            out.append(line[i:j])
            i = j
            continue
        out.append("!fermata!" if c == "H" else c)
        i += 1
    return "".join(out)


@dataclass
class AbcMusic:
    """One tune as notes. `notes` are sorted by start; times in seconds at `tempo_qpm`."""

    notes: list[Note]
    tempo_qpm: float  # quarter notes per minute, from Q: or DEFAULT_QPM
    title: str | None
    repeats_expanded: bool  # False when played as written: runaway repeats, or no measures

    @property
    def seconds(self) -> float:
        return total_seconds(self.notes)


def tune_title(text: str) -> str | None:
    """The first `T:` field of a tune, or None."""
    m = _TITLE.search(text)
    return (m.group(1) or None) if m else None


def _label(text: str) -> str:
    title = tune_title(text)
    return f'"{title}"' if title else "(untitled)"


def _reason(exc: BaseException) -> str:
    """`ExceptionName: first line of its message`, at most ~100 characters."""
    lines = str(exc).strip().splitlines()
    msg = lines[0] if lines else ""
    if len(msg) > 90:
        msg = msg[:87] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


_OTHER_FIELD_LINE = re.compile(r"[ \t]*(%|[A-LN-Za-z+]:)")  # a comment, or a field line but M:


def _meter_fields(text: str):
    """The metre fields music21's tokenizer finds: an `M:` line, or an `M:` inside a line of music
    (a model writes them there); not one inside another field (a title, a note, lyrics) or a
    comment, which music21 reads as a whole."""
    for line in text.splitlines():
        if _OTHER_FIELD_LINE.match(line):
            continue
        yield from _METER_FIELD.finditer(line.split("%", 1)[0])


def parse_abc(text: str):
    """Parse ONE tune with music21 (never a path, never its pickle cache) -> `music21.stream.Score`.

    Raises SeqgenError for empty text, several tunes, or anything music21 raises.
    """
    from music21 import converter, stream

    if not text or not text.strip():
        raise SeqgenError("cannot parse an empty ABC tune")
    if len(_X_LINE.findall(text)) > 1:
        raise SeqgenError(
            f"tune {_label(text)} holds {len(_X_LINE.findall(text))} tunes (X: lines); give one"
        )
    text = fermatas_spelled(fields_on_lines(text))
    for meter in _meter_fields(text):
        value = meter.group(1).strip()
        digits = re.sub(r"\D", "", value.split("/")[0]) if "/" in value else ""
        if digits and int(digits) > MAX_METER_BEATS:  # music21 joins the digits: 2+3+2/8 is 232/8
            raise SeqgenError(
                f"cannot parse tune {_label(text)}: M:{value[:20]} has {int(digits)} beats in a bar "
                f"as music21 reads it (at most {MAX_METER_BEATS})"
            )
    if not _HAS_LENGTH_OR_METER.search(text):
        m = _X_LINE.search(text)
        text = text[: m.end()] + "\nL:1/8" + text[m.end() :] if m else "L:1/8\n" + text
    try:
        # music21 prints parser warnings straight to stderr; a bad generated tune is reported by
        # the caller's check instead, so keep them off the user's terminal.
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(text, format="abc")
    except Exception as exc:  # music21 raises many unrelated types on bad ABC
        raise SeqgenError(f"cannot parse tune {_label(text)}: {_reason(exc)}") from exc
    if isinstance(score, stream.Opus):  # should not happen with one X:, but never hand back an Opus
        scores = list(score.scores)
        if len(scores) != 1:
            raise SeqgenError(f"tune {_label(text)} parsed as {len(scores)} tunes; give one")
        score = scores[0]
    return score


def _drop_grace_notes(score) -> None:
    for n in list(score.recurse().notes):
        if n.duration.isGrace and n.activeSite is not None:
            n.activeSite.remove(n)


def _is_repeat(b, direction: str) -> bool:
    from music21 import bar

    return isinstance(b, bar.Repeat) and b.direction == direction


def _opens_repeat(measures: list, i: int) -> bool:
    # music21 sometimes hangs a `|:` on the right of the measure before
    return _is_repeat(measures[i].leftBarline, "start") or (
        i > 0 and _is_repeat(measures[i - 1].rightBarline, "start")
    )


def _closes_repeat(m):
    """The end-repeat barline of measure `m`, or None. music21 sometimes hangs a `:|` that ends
    a line on the left of the measure it closes."""
    for b in (m.rightBarline, m.leftBarline):
        if _is_repeat(b, "end"):
            return b
    return None


def _is_section_bar(b) -> bool:
    from music21 import bar

    return b is not None and not isinstance(b, bar.Repeat) and b.type in _SECTION_BARS


def _play_order(part) -> list[int] | None:
    """Indices of `part`'s measures in the order they are played, or None for runaway repeats.

    ABC as players read it: `|:` opens a repeat; `:|` jumps back to the open `|:`, or,
    if there is none, to the previous `:|`, double bar or the start; endings `[1`, `[2` are played
    on the matching pass.
    """
    from music21 import spanner

    measures = list(part.getElementsByClass("Measure"))
    endings: dict[int, list[int]] = {}
    for rb in part.recurse().getElementsByClass(spanner.RepeatBracket):
        for m in rb.getSpannedElements():
            endings[id(m)] = list(rb.numberRange)
    limit = int(MAX_REPEAT_RATIO * len(measures)) + 1
    order: list[int] = []
    i = start = 0
    passno, is_open, jumped_from = 1, False, -1
    while i < len(measures):
        if len(order) > limit:
            return None
        m = measures[i]
        numbers = endings.get(id(m))
        if passno > 1 and i > jumped_from and not numbers:  # past the repeat and its endings
            passno, start, is_open = 1, i, False
        if numbers and passno not in numbers:
            i += 1
            continue
        order.append(i)
        if _opens_repeat(measures, i):
            if i != start or not is_open:
                start, is_open = i, True
        elif _is_section_bar(m.leftBarline) and not is_open and passno == 1:
            start = i
        end = _closes_repeat(m)
        if end is not None:
            times = min(max(end.times or 2, 2), 4)
            if passno < times:
                passno, jumped_from, i = passno + 1, max(jumped_from, i), start
                continue
            passno, start, is_open, jumped_from = 1, i + 1, False, -1
        elif _is_section_bar(m.rightBarline) and not is_open and passno == 1:
            start = i + 1
        i += 1
    return order


Event = tuple[float, float, Any]  # (offset, quarter length, music21 note or chord: untyped)


def _written_events(part) -> list[Event]:
    return [(float(el.offset), float(el.quarterLength), el) for el in part.flatten().notes]


def _expanded_events(part) -> list[Event] | None:
    """A part's notes with its repeats written out, or None when they run away or the part has
    no measures (music21 makes none for a tune without plain bar lines)."""
    measures = list(part.getElementsByClass("Measure"))
    order = _play_order(part) if measures else None
    if order is None:
        return None
    lengths = [float(b.offset - a.offset) for a, b in itertools.pairwise(measures)]
    lengths.append(float(measures[-1].highestTime))
    events: list[Event] = []
    now = 0.0
    for i in order:
        events.extend(
            (now + float(el.offset), float(el.quarterLength), el) for el in measures[i].flatten().notes
        )
        now += lengths[i]
    return events


def _events(score) -> tuple[list[Event], bool]:
    """Every voice's notes, ties merged, repeats written out if every voice with notes allows it
    (else all voices as written, so they stay aligned). Second value: whether expanded."""
    parts = [p for p in (list(score.parts) or [score]) if p.recurse().notes]
    for part in parts:
        part.stripTies(inPlace=True)  # in place: a copy costs as much as the parse
    expanded = [_expanded_events(p) for p in parts]
    whole = [evs for evs in expanded if evs is not None]
    if len(whole) == len(expanded):
        return [ev for evs in whole for ev in evs], True
    return [ev for p in parts for ev in _written_events(p)], False


def _midi_pitch(p) -> int:
    """MIDI number from step, octave and alteration (music21's `p.midi`/`p.ps` fold overflow)."""
    alter = p.accidental.alter if p.accidental is not None else 0.0
    return round((p.implicitOctave + 1) * 12 + _STEP_SEMITONES[p.step] + alter)


def _tempo_qpm(score, label: str) -> float:
    from music21 import tempo

    for mm in score.recurse().getElementsByClass(tempo.MetronomeMark):
        qpm = mm.getQuarterBPM()
        if qpm is None:
            continue
        if qpm <= 0:
            raise SeqgenError(f"tune {label} has tempo {qpm} quarter notes per minute; it must be positive")
        return float(qpm)
    return DEFAULT_QPM


def abc_to_notes(text: str, max_seconds: float = 600.0) -> AbcMusic:
    """One ABC tune -> `AbcMusic` (notes in seconds, at the first `Q:` tempo or 120 qpm).

    Raises SeqgenError if music21 cannot read the tune, a pitch lies outside MIDI's 0..127, or
    the tune lasts longer than `max_seconds`.
    """
    label = _label(text)
    score = parse_abc(text)
    try:
        _drop_grace_notes(score)
        qpm = _tempo_qpm(score, label)
        sec_per_quarter = 60.0 / qpm
        events, expanded = _events(score)
        notes: list[Note] = []
        for offset, ql, el in events:
            if ql <= 0:
                continue
            start = offset * sec_per_quarter
            end = start + ql * sec_per_quarter
            for p in el.pitches:
                midi = _midi_pitch(p)
                if not 0 <= midi <= 127:
                    raise SeqgenError(
                        f"tune {label} has pitch {p.nameWithOctave} (MIDI {midi}), outside MIDI's 0..127"
                    )
                notes.append(Note(start, end, midi))
    except SeqgenError:
        raise
    except Exception as exc:
        raise SeqgenError(f"cannot read the notes of tune {label}: {_reason(exc)}") from exc
    notes.sort()
    seconds = total_seconds(notes)
    if seconds > max_seconds:
        raise SeqgenError(f"tune {label} lasts {seconds:.0f} s, more than the {max_seconds:.0f} s allowed")
    return AbcMusic(notes=notes, tempo_qpm=qpm, title=tune_title(text), repeats_expanded=expanded)


def abc_to_midi(text: str, path: str | Path, max_seconds: float = 600.0) -> Path:
    """Write one ABC tune as a MIDI file at `path` (via `write_midi`); returns the path."""
    music = abc_to_notes(text, max_seconds=max_seconds)
    if not music.notes:
        raise SeqgenError(f"tune {_label(text)} has no notes; nothing to write to {path}")
    return write_midi(music.notes, path, tempo_qpm=music.tempo_qpm)

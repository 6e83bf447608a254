"""Reading a tune for the judge: what `seqgen.music.judge` looks at in one ABC tune.

Owns: `read_tune` (one ABC tune read once with music21 into a `TuneReading`: its metre, key and
mode, the bars that must fill the metre, notes foreign to the key, the last note, bars written and
played, runs of one bar), `parse_key` (an ABC K: value as a tonic and a mode), and reading a tune
that changes key, metre or note length section by section. Does not own the verdict or its
thresholds (`seqgen.music.judge`), nor how a section's bars are read (its parts, the bars at its
edges, the melody's notes: `seqgen.music.measures`). Parsing is music21's
(`seqgen.music.abc.parse_abc`); nothing here prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.music.header import AbcKey
from seqgen.music.measures import (
    bad_bars,
    bar_quarters,
    bar_signature,
    closes_part,
    early_ends,
    edge_bar_ok,
    end_pc,
    first_endings,
    longest_run,
    melody,
    opens_part,
    pitch_class,
    read_parts,
    section_edges,
)

# ABC key modes -> semitones of the scale above the tonic.
_MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
_TONIC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_FIELD = re.compile(r"(?m)^K:")
_METER_FIELD = re.compile(r"(?m)^M:[ \t]*(\S+)")
_RHYTHM_FIELD = re.compile(r"(?m)^R:[ \t]*(.*?)[ \t]*$")
# Markings that end a tune elsewhere than its last written note, in the music (not in fields or
# comments), as an annotation or a decoration. Fine (or O'Neill's "end") marks the note the tune
# ends on; a D.C. or D.S. without it ends the tune where its first part ends. O'Neill writes
# about 190 of them. !segno! and !coda! do not move the ending (a coda is written last).
_FINE = re.compile(r'"[\^_<>@]?\s*\(?\s*(fine|end)\s*\)?\s*"|!(fine)!', re.IGNORECASE)
_DA_CAPO = re.compile(
    r'"[\^_<>@]?\s*(d\.?\s?c\b\.?|da\s+capo|d\.\s?s\.?|dal\s+segno)[^"]*"'
    r"|!(d\.c\.|d\.s\.|d\.c\.alfine|d\.c\.alcoda|d\.s\.alfine|d\.s\.alcoda|dacapo)!",
    re.IGNORECASE,
)
_MULTI_ENDING = re.compile(r"[|\[]\s*\d\s*[,-]\s*\d")  # [1,3 |1-2: music21 reads only the first number


@dataclass
class TuneReading:
    """What the judge reads in one tune."""

    meter: str | None  # the M: field ("3/4 and 3/8" when the music changes metre)
    rhythm: str | None  # the first R: field, lower case
    key: str | None  # the K: field in force at the end, as written
    tonic: int | None  # pitch class of that key's tonic
    mode: str | None  # major, minor, dorian, ...
    bar_lengths: list[float]  # the inner bars that must fill the metre, in bars of their metre
    bar_quarters: float | None  # the (first) metre's bar, in quarter notes
    bad_bars: int  # bars that do not fill it (inner bars; edge bars of the wrong length)
    notes: int  # sounding notes, grace notes excepted
    foreign: int  # of them, outside the key's scale
    last_degree: int | None  # semitones of the last note above the tonic (0: the tonic)
    written_bars: float  # in bars of the metre, as written
    played_bars: float | None  # repeats played; None: the repeats run away
    same_bars_run: int  # the longest run of one bar repeated
    distinct_share: float  # distinct bars / bars
    error: str | None = None  # why music21 could not read it
    judged_bars: int = 0  # the bars whose length was judged (inner and section-edge bars)
    inner_bad: int = 0  # of `bad_bars`, the inner bars
    keys: tuple[str, ...] = ()  # every K: field in force somewhere, in order
    meters: tuple[str, ...] = ()  # every M: field in force somewhere, in order
    foreign_to: str = ""  # the keys notes were judged against, for reasons: "K:D and K:Dm"
    # A tune that changes key may end in its first key (a da capo): the last note's degree above
    # the first key's tonic and that key's mode; None when it never changes key.
    home_ending: tuple[int, str] | None = None
    # The pitch class of the last note of each part (a section closed by a repeat or a double bar,
    # a second ending, the tune), in order, the tune's last note last; first-time bars, which lead
    # back into the repeat, are not ends. A modal tune written in its signature's major (E dorian as
    # K:D) ends its parts on its real home; a generated tune that strays ends them apart.
    section_ends: tuple[int, ...] = ()
    # A tune in one part: the pitch class of the last note of its middle bar (the end of its first
    # half, where a written-out AABB tune ends its A part); None otherwise.
    half_end: int | None = None
    # Where a marking ends the tune when it is not its last written note: the note under "Fine",
    # or, with only a D.C. or D.S., the end of the first part (pitch class); None: no such marking.
    marked_ending: int | None = None
    marking: str | None = None  # that marking: "Fine", "D.C." or "D.S."
    # First endings (`[1`) with no second ending after them: a player stops at a dangling volta.
    open_endings: int = 0
    # The last part's length in bars of the metre, first-time bars left out (None: one part).
    last_part_bars: float | None = None
    # The first part's length in bars of the metre, first-time bars left out (None: one part).
    first_part_bars: float | None = None
    # Every part's length in bars of the metre, in order, first-time bars left out (() with one part).
    part_bars: tuple[float, ...] = ()
    # Between each two parts: True where no repeat sign divides them (a double bar, perhaps
    # mid-part), False at `:|` or `|:` (two parts played apart) and where the key or metre changes.
    part_joins: tuple[bool, ...] = ()
    # The quoted texts in the music (chord symbols, annotations, O'Neill's "p" and "D.C."), as written.
    texts: tuple[str, ...] = ()
    # Final bar lines `|]` with notes after them, other than one closing an ending: the tune ends
    # there and music follows. O'Neill writes `|]` mid-tune only under a second ending (`|2 d3
    # d2|]`); standard notation writes one at a Fine (`marking`), which the judge allows.
    early_ends: int = 0


def parse_key(text: str) -> tuple[int, str] | None:
    """(tonic pitch class, mode) of an ABC `K:` value such as `D`, `Em`, `Ador`, `F#mix` (read by
    `seqgen.music.header.key_of`; anything after the key, such as `clef=`, is ignored), or None."""
    from seqgen.music.header import key_of

    text = re.sub(r"\s+\w+=\S*", "", text)  # clef=treble, transpose=-2 ...: not the key
    words = text.split()
    found = key_of(text)
    if not isinstance(found, AbcKey) and words:
        found = key_of(words[0])
    if not isinstance(found, AbcKey):
        return None
    tonic = (_TONIC[found.tonic[0]] + {"#": 1, "b": -1}.get(found.tonic[1:], 0)) % 12
    mode = {"ionian": "major", "aeolian": "minor"}.get(found.mode, found.mode)
    return (tonic, mode) if mode in _MODES else None


def read_tune(text: str) -> TuneReading:
    """Read one ABC tune with music21 for the judge. Never raises for a bad tune: a tune music21
    cannot read comes back with `error` set. A tune that changes key, metre or note length in its
    music (`K:`, `M:`, `L:` lines or inline fields) is read section by section, each in its own
    key and metre (music21 applies a new key to the notes, but not always a new metre to the
    bars), and the sections' readings are added up; its ending is judged in the last key."""
    sections = _sections(text)
    if len(sections) == 1:
        reading = _read_section(sections[0]).reading
    else:
        reading = _merge([_read_section(section) for section in sections])
    reading.texts = tuple(m.group(1) for _, line in _music_lines(text) for m in _QUOTED_TEXT.finditer(line))
    return reading


@dataclass
class _Section:
    reading: TuneReading
    signatures: list[tuple[Any, ...]]  # each bar's notes, for runs and distinct bars
    # Each part's length in bars (one part: the section's), and whether its last bar closes a
    # part: a section that does not runs on into the next one's first part, unless that opens one.
    parts: tuple[float, ...] = ()
    joins: tuple[bool, ...] = ()  # `TuneReading.part_joins` within the section
    closed: bool = True
    opens: bool = False  # its first bar starts a part (`|:` or a double bar on its left)
    ends_early: bool = False  # its last bar closes with `|]`, no ending's (`TuneReading.early_ends`)


_BODY_FIELD = re.compile(r"^([KLM]):[ \t]*(.*?)[ \t]*$")


def _sections(text: str) -> list[str]:
    """The tune as one text per key, metre or note-length section: each the tune's header with
    the fields in force, then that section's music. One section: the tune as given."""
    from seqgen.music.abc import fields_on_lines

    lines = fields_on_lines(text).split("\n")
    k = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if k is None:
        return [text]
    fields = {"M": None, "L": None, "K": lines[k][2:].strip()}
    for line in lines[:k]:
        m = _BODY_FIELD.match(line)
        if m and m.group(1) in ("M", "L"):
            fields[m.group(1)] = m.group(2)
    head = [line for line in lines[:k] if not _BODY_FIELD.match(line)]
    parts: list[tuple[dict[str, str | None], list[str]]] = []
    body: list[str] = []
    changed = False
    for line in lines[k + 1 :]:
        m = _BODY_FIELD.match(line)
        if m is None:
            body.append(line)
            continue
        changed = True
        if any(b.strip() for b in body):
            parts.append((dict(fields), body))
            body = []
        fields[m.group(1)] = m.group(2)
    if any(b.strip() for b in body):
        parts.append((dict(fields), body))
    if not changed or not parts:
        return [text]
    return [
        "\n".join([*head, *(f"{f}:{fs[f]}" for f in ("M", "L", "K") if fs[f] is not None), *_barred(b)])
        + "\n"
        for fs, b in parts
    ]


def _barred(body: list[str]) -> list[str]:
    """A section's music opening with a bar line: music21 makes no bars of a fragment such as
    `gfga bgdB|cAFA A4:|` (the rest of a line after an inline field) unless one opens it."""
    first = next((i for i, line in enumerate(body) if line.strip()), None)
    if first is None or body[first].lstrip().startswith(("|", ":", "[|")):
        return body
    return [*body[:first], "|" + body[first], *body[first + 1 :]]


def _merge(sections: list[_Section]) -> TuneReading:
    """One reading of a tune read section by section: counts added, its ending from the last."""
    readings = [s.reading for s in sections]
    first, last = readings[0], readings[-1]
    error = next((r.error for r in readings if r.error), None)
    signatures = [sig for s in sections for sig in s.signatures]
    parts, joins = _joined_parts(sections)
    played = [r.played_bars for r in readings]
    meters = tuple(dict.fromkeys(m for r in readings for m in r.meters))
    keys = tuple(dict.fromkeys(k for r in readings for k in r.keys))
    sounding = [i for i, r in enumerate(readings) if r.notes]
    early = sum(s.ends_early for s in sections[: sounding[-1]]) if sounding else 0
    return TuneReading(
        meter=" and ".join(meters) if meters else None,
        rhythm=first.rhythm,
        key=last.key,
        tonic=last.tonic,
        mode=last.mode,
        bar_lengths=[b for r in readings for b in r.bar_lengths],
        bar_quarters=first.bar_quarters if all(r.bar_quarters for r in readings) else None,
        bad_bars=sum(r.bad_bars for r in readings),
        notes=sum(r.notes for r in readings),
        foreign=sum(r.foreign for r in readings),
        last_degree=last.last_degree,
        written_bars=sum(r.written_bars for r in readings),
        played_bars=None if any(p is None for p in played) else sum(p for p in played if p is not None),
        same_bars_run=longest_run(signatures),
        distinct_share=len(set(signatures)) / len(signatures) if signatures else 0.0,
        error=error,
        judged_bars=sum(r.judged_bars for r in readings),
        inner_bad=sum(r.inner_bad for r in readings),
        keys=keys,
        meters=meters,
        foreign_to=" and ".join(f"K:{k}" for k in keys),
        home_ending=_home_ending(first, last),
        section_ends=tuple(pc for r in readings for pc in r.section_ends),
        marked_ending=next((r.marked_ending for r in readings if r.marked_ending is not None), None),
        marking=next((r.marking for r in readings if r.marking is not None), None),
        open_endings=sum(r.open_endings for r in readings),
        last_part_bars=parts[-1] if len(parts) > 1 else None,
        first_part_bars=parts[0] if len(parts) > 1 else None,
        part_bars=parts if len(parts) > 1 else (),
        part_joins=joins if len(parts) > 1 else (),
        early_ends=sum(r.early_ends for r in readings) + early,
    )


def _joined_parts(sections: list[_Section]) -> tuple[tuple[float, ...], tuple[bool, ...]]:
    """The tune's parts across its sections, and the joins between them: a key or metre change
    inside a part (the section before it does not close a part) does not start a new part."""
    parts: list[float] = []
    joins: list[bool] = []
    runs_on = False
    for s in sections:
        more = list(s.parts)
        if more:
            if runs_on and not s.opens and parts:
                parts[-1] += more.pop(0)  # s.joins[0] now joins that part to the next
            elif parts:
                joins.append(False)  # a new key or metre between two parts: not one part
            parts += more
            joins += s.joins
        runs_on = not s.closed
    return tuple(parts), tuple(joins)


def _home_ending(first: TuneReading, last: TuneReading) -> tuple[int, str] | None:
    if last.last_degree is None or last.tonic is None or first.tonic is None or first.mode is None:
        return None
    return (last.last_degree + last.tonic - first.tonic) % 12, first.mode


def _read_section(text: str) -> _Section:
    from music21 import spanner

    from seqgen.music.abc import _play_order, parse_abc

    meter_m = _METER_FIELD.search(text)
    key_m = _KEY_FIELD.search(text)
    key_text = text[key_m.start() + 2 :].split("\n", 1)[0].strip() if key_m else None
    parsed_key = parse_key(key_text) if key_text else None
    tonic, mode = parsed_key if parsed_key else (None, None)
    rhythm_m = _RHYTHM_FIELD.search(text)
    meter = meter_m.group(1) if meter_m else None
    meters, keys = (meter,) if meter else (), (key_text,) if key_text else ()
    empty = TuneReading(
        meter,
        rhythm_m.group(1).lower() if rhythm_m else None,
        key_text,
        tonic,
        mode,
        [],
        None,
        0,
        0,
        0,
        None,
        0.0,
        None,
        0,
        0.0,
        keys=keys,
        meters=meters,
        foreign_to=f"K:{key_text}",
    )
    try:
        score = parse_abc(text)
    except SeqgenError as e:
        empty.error = str(e)
        return _Section(empty, [])
    if not score.parts:
        empty.error = "no music"
        return _Section(empty, [])
    part = score.parts[0]
    measures = [m for m in part.getElementsByClass("Measure")]
    if not measures:
        empty.error = "no bar lines"
        return _Section(empty, [])
    brackets = list(part.recurse().getElementsByClass(spanner.RepeatBracket))
    in_volta = {id(m) for rb in brackets for m in rb}
    early, ends_early = early_ends(measures, brackets, in_volta)
    first_time, open_endings = first_endings(brackets, measures)
    if _MULTI_ENDING.search(text):  # endings music21 cannot number: do not call them open
        open_endings = 0
    bar_q = bar_quarters(measures)
    lengths = [float(m.duration.quarterLength) for m in measures]
    edge = section_edges(measures)
    inner = [i for i in range(len(measures)) if not edge[i] and id(measures[i]) not in in_volta]
    inner_bad = bad_bars([lengths[i] for i in inner], bar_q) if bar_q else 0
    bad = inner_bad
    if bar_q:  # a section's edge bars may be short as the corpus writes them, not any length
        outer = [i for i in range(len(measures)) if edge[i] and id(measures[i]) not in in_volta]
        bad += sum(not edge_bar_ok(i, lengths, edge, bar_q) for i in outer)
        judged = len(inner) + len(outer)
    else:
        judged = len(inner)
    notes = [n for n in melody(part) if not n.duration.isGrace]
    pcs = [pitch_class(n) for n in notes]
    scale = {(tonic + s) % 12 for s in _MODES[mode]} if tonic is not None and mode else None
    foreign = sum(pc not in scale for pc in pcs) if scale else 0
    last = (end_pc(notes[-1], tonic) - tonic) % 12 if notes and tonic is not None else None
    written = sum(lengths) / bar_q if bar_q else float(len(measures))
    order = _play_order(part)
    played = sum(lengths[i] for i in order) / bar_q if order is not None and bar_q else None
    if order is not None and not bar_q:
        played = float(len(order))
    signatures = [bar_signature(m) for m in measures if m.notesAndRests]
    reading = TuneReading(
        meter=meter,
        rhythm=empty.rhythm,
        key=key_text,
        tonic=tonic,
        mode=mode,
        bar_lengths=[lengths[i] / bar_q for i in inner] if bar_q else [],
        bar_quarters=bar_q,
        bad_bars=bad,
        notes=len(notes),
        foreign=foreign,
        last_degree=last,
        written_bars=written,
        played_bars=played,
        same_bars_run=longest_run(signatures),
        distinct_share=len(set(signatures)) / len(signatures) if signatures else 0.0,
        judged_bars=judged,
        inner_bad=inner_bad,
        keys=keys,
        meters=meters,
        foreign_to=f"K:{key_text}",
        open_endings=open_endings,
        early_ends=early,
    )
    parts = read_parts(measures, lengths, first_time, bar_q, tonic)
    reading.section_ends, reading.half_end = parts.end_pcs, parts.half_end
    if len(parts.bars) > 1:
        reading.part_bars, reading.part_joins = parts.bars, parts.joins
        reading.first_part_bars, reading.last_part_bars = parts.bars[0], parts.bars[-1]
    _read_marking(reading, text)
    return _Section(
        reading,
        signatures,
        parts.bars,
        parts.joins,
        closes_part(measures[-1]),
        opens_part(measures[0]),
        ends_early,
    )


def _music_lines(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each line of music after the K: line, comments cut off."""
    from seqgen.music.abc import FIELD_OR_COMMENT_LINE

    k = _KEY_FIELD.search(text)
    if k is None:
        return []
    offset = text.find("\n", k.start()) + 1 or len(text)
    out = []
    for line in text[offset:].split("\n"):
        if not FIELD_OR_COMMENT_LINE.match(line):
            out.append((offset, line.split("%", 1)[0]))
        offset += len(line) + 1
    return out


_QUOTED_TEXT = re.compile(r'"([^"\n]*)"')
_QUOTED = re.compile(r'(?m)"[^"\n]*"|![^!\s]*!|^[ \t]*[A-Za-z+]:.*$|%.*$')
_NOTE_LETTER = re.compile(r"[A-Ga-g]")


def _read_marking(reading: TuneReading, text: str) -> None:
    """Fill in `marked_ending`: where a Fine marking stands, the note before it (the tune stops
    there: O'Neill writes `G3"fine"||` and `BG"end "Bd`), or with only a D.C. or D.S., the end of
    the first part. A Fine after the last note changes nothing."""
    lines = _music_lines(text)
    fine = next(((o, m) for o, line in lines for m in [_FINE.search(line)] if m), None)
    if fine is not None:
        offset, m = fine
        cut = offset + m.start()
        if not _NOTE_LETTER.search(_QUOTED.sub("", text[cut:])):
            return  # Fine on the last note: the tune ends where it is written
        reading.marking = "Fine"
        reading.marked_ending = _last_pc(text[:cut], reading.tonic)
        return
    dc = next((m for _, line in lines for m in [_DA_CAPO.search(line)] if m), None)
    if dc is not None and len(reading.section_ends) > 1:
        word = (dc.group(1) or dc.group(2)).lower()
        reading.marking = "D.S." if word.startswith(("d.s", "dal")) else "D.C."
        reading.marked_ending = reading.section_ends[0]


def _last_pc(text: str, tonic: int | None) -> int | None:
    """The pitch class of the last note of a tune cut short (None when music21 reads none)."""
    from seqgen.music.abc import parse_abc

    try:
        notes = melody(parse_abc(text.rstrip() + "\n"))
    except SeqgenError:
        return None
    notes = [n for n in notes if not n.duration.isGrace]
    return end_pc(notes[-1], tonic) if notes else None

"""The tune judge: would a folk musician take this as a tune? Rhythm, mode, form, plagiarism.

Owns: `read_tune` (what the judge looks at in one ABC tune, read once with music21), `judge_tune`
(the verdict: each criterion passed or failed, with a short reason) and the thresholds
(`JudgeLimits`), calibrated on O'Neill's Music of Ireland (music21's `oneills1850`): run
`python benchmarks/calibrate_judge.py` to measure them again. Modelled on the first stage of the
AI Music Generation Challenge (Sturm et al., 2020-2022), where a tune judged against O'Neill's
collection is rejected for:

- rhythm: inner bars that do not fill the metre. The first and last bar of each section (a pickup
  and the short bar that completes it, as the corpus writes them), bars under a volta bracket
  and two short bars that make one full bar together are not counted (music21 splits a bar longer
  than the metre into a full bar and a short one, so an overfull inner bar is counted too);
- mode: notes foreign to the K: key and mode beyond what the corpus shows, or a last note on a
  degree the corpus's tunes do not end on;
- form: too short once its repeats are played, a runaway repeat of one bar or one figure, or
  repeats that run away;
- plagiarism: a long passage copied verbatim from the training tunes.

Parsing is music21's (`seqgen.music.abc.parse_abc`); nothing here prints.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.music.header import AbcKey

CRITERIA = ("rhythm", "mode", "form", "plagiarism")

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


@dataclass(frozen=True)
class JudgeLimits:
    """Where a tune stops passing. Each limit is set from O'Neill's training tunes (see
    benchmarks/calibrate_judge.py) so that about 97-99% of them pass each criterion."""

    max_bad_bars: int = 2  # inner bars that do not fill the metre (training p97: 3)
    max_bad_bar_share: float = 0.15  # ... or at most this share of the inner bars (p97: 0.2)
    max_foreign_share: float = 0.15  # notes outside the K: key's scale (p99: 0.10)
    # Degrees (semitones above the K: tonic) a tune may end on, by the K: field's mode: those that
    # end at least 3% of the training tunes. Major (1,473 tunes): the tonic 80.0%, the 2nd 5.1%
    # (K:D written for E dorian), the 5th 4.2% (tunes ending at a D.C.), the 4th 3.7% and the 6th
    # 3.3% (K:D written for G, K:C for A minor); minor (290): the tonic 89.7%, the flat 7th 4.5%, the
    # 2nd 3.1%; the other modes (44): the tonic 86.4%, the flat 7th 6.8%.
    cadences: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"major": (0, 2, 5, 7, 9), "minor": (0, 2, 10), "other": (0, 10)}
    )
    min_bars: float = 8.0  # bars played, repeats included, in bars of the metre (p1: 8)
    # A dance tune (R: reel, jig, hornpipe, slip jig ...) has two parts of eight bars: each
    # played at least 15.75 bars in 98% of the training tunes (a pickup short).
    min_dance_bars: float = 15.5
    dances: tuple[str, ...] = ("reel", "jig", "hornpipe", "double", "slip", "polka", "slide", "strathspey")
    max_bars: float = 160.0  # p99: 64.5; a stuck loop runs to the length limit
    max_same_bars: int = 3  # the same bar this many times in a row is a stuck loop
    min_distinct_share: float = 0.25  # distinct bars / bars written; this or lower is a loop
    max_copy_share: float = 0.5  # longest passage copied from the training tunes / the tune's music


LIMITS = JudgeLimits()


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
    foreign_to: str = ""  # the keys notes were judged against, for reasons: "K:D and K:Dm"
    # A tune that changes key may end in its first key (a da capo): the last note's degree above
    # the first key's tonic and that key's mode; None when it never changes key.
    home_ending: tuple[int, str] | None = None


@dataclass
class Criterion:
    name: str
    ok: bool
    reason: str | None = None


@dataclass
class Verdict:
    """The judge's verdict on one tune: every criterion, and the figures behind them."""

    criteria: list[Criterion]
    reading: TuneReading | None
    copy_share: float | None  # longest copied passage / the tune's music; None: not checked

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.criteria)

    @property
    def reason(self) -> str | None:
        """The first failed criterion's reason, or None."""
        return next((f"{c.name}: {c.reason}" for c in self.criteria if not c.ok), None)

    def passed(self, name: str) -> bool:
        return next(c.ok for c in self.criteria if c.name == name)

    @property
    def ends_on_tonic(self) -> bool:
        return self.reading is not None and self.reading.last_degree == 0


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


def _mode_family(mode: str | None) -> str:
    return mode if mode in ("major", "minor") else "other"


def read_tune(text: str) -> TuneReading:
    """Read one ABC tune with music21 for the judge. Never raises for a bad tune: a tune music21
    cannot read comes back with `error` set. A tune that changes key, metre or note length in its
    music (`K:`, `M:`, `L:` lines or inline fields) is read section by section, each in its own
    key and metre (music21 applies a new key to the notes, but not always a new metre to the
    bars), and the sections' readings are added up; its ending is judged in the last key."""
    sections = _sections(text)
    if len(sections) == 1:
        return _read_section(sections[0]).reading
    return _merge([_read_section(section) for section in sections])


@dataclass
class _Section:
    reading: TuneReading
    signatures: list[tuple[Any, ...]]  # each bar's notes, for runs and distinct bars
    meters: list[str]
    keys: list[str]


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
        "\n".join([*head, *(f"{f}:{fs[f]}" for f in ("M", "L", "K") if fs[f] is not None), *b]) + "\n"
        for fs, b in parts
    ]


def _merge(sections: list[_Section]) -> TuneReading:
    """One reading of a tune read section by section: counts added, its ending from the last."""
    readings = [s.reading for s in sections]
    first, last = readings[0], readings[-1]
    error = next((r.error for r in readings if r.error), None)
    signatures = [sig for s in sections for sig in s.signatures]
    played = [r.played_bars for r in readings]
    meters = list(dict.fromkeys(m for s in sections for m in s.meters))
    keys = list(dict.fromkeys(k for s in sections for k in s.keys))
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
        same_bars_run=_longest_run(signatures),
        distinct_share=len(set(signatures)) / len(signatures) if signatures else 0.0,
        error=error,
        judged_bars=sum(r.judged_bars for r in readings),
        inner_bad=sum(r.inner_bad for r in readings),
        keys=tuple(keys),
        foreign_to=" and ".join(f"K:{k}" for k in keys),
        home_ending=_home_ending(first, last),
    )


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
    meters, keys = [meter] if meter else [], [key_text] if key_text else []
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
        keys=tuple(keys),
        foreign_to=f"K:{key_text}",
    )
    try:
        score = parse_abc(text)
    except SeqgenError as e:
        empty.error = str(e)
        return _Section(empty, [], meters, keys)
    if not score.parts:
        empty.error = "no music"
        return _Section(empty, [], meters, keys)
    part = score.parts[0]
    measures = [m for m in part.getElementsByClass("Measure")]
    if not measures:
        empty.error = "no bar lines"
        return _Section(empty, [], meters, keys)
    in_volta = {id(m) for rb in part.recurse().getElementsByClass(spanner.RepeatBracket) for m in rb}
    bar_q = _bar_quarters(measures)
    lengths = [float(m.duration.quarterLength) for m in measures]
    edge = _section_edges(measures)
    inner = [i for i in range(len(measures)) if not edge[i] and id(measures[i]) not in in_volta]
    inner_bad = _bad_bars([lengths[i] for i in inner], bar_q) if bar_q else 0
    bad = inner_bad
    if bar_q:  # a section's edge bars may be short as the corpus writes them, not any length
        outer = [i for i in range(len(measures)) if edge[i] and id(measures[i]) not in in_volta]
        bad += sum(not _edge_bar_ok(i, lengths, edge, bar_q) for i in outer)
        judged = len(inner) + len(outer)
    else:
        judged = len(inner)
    notes = [n for n in _melody(part) if not n.duration.isGrace]
    pcs = [_pitch_class(n) for n in notes]
    scale = {(tonic + s) % 12 for s in _MODES[mode]} if tonic is not None and mode else None
    foreign = sum(pc not in scale for pc in pcs) if scale else 0
    last = (pcs[-1] - tonic) % 12 if pcs and tonic is not None else None
    written = sum(lengths) / bar_q if bar_q else float(len(measures))
    order = _play_order(part)
    played = sum(lengths[i] for i in order) / bar_q if order is not None and bar_q else None
    if order is not None and not bar_q:
        played = float(len(order))
    signatures = [_bar_signature(m) for m in measures if m.notesAndRests]
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
        same_bars_run=_longest_run(signatures),
        distinct_share=len(set(signatures)) / len(signatures) if signatures else 0.0,
        judged_bars=judged,
        inner_bad=inner_bad,
        keys=tuple(keys),
        foreign_to=f"K:{key_text}",
    )
    return _Section(reading, signatures, meters, keys)


def _bar_quarters(measures: list[Any]) -> float | None:
    for m in measures:
        ts = m.timeSignature or m.getContextByClass("TimeSignature")
        if ts is not None:
            return float(ts.barDuration.quarterLength)
    return None


def _section_edges(measures: list[Any]) -> list[bool]:
    """For each bar: is it the first or last of a section (a part, a repeat, the tune)? Those may
    be short: a pickup, and the bar that completes it before the next part or repeat."""
    from music21 import bar

    n = len(measures)
    edge = [False] * n
    edge[0] = edge[-1] = True
    for i, m in enumerate(measures):
        right, left = m.rightBarline, m.leftBarline
        ends = right is not None and (isinstance(right, bar.Repeat) or right.type != "regular")
        starts = left is not None and (isinstance(left, bar.Repeat) or left.type != "regular")
        if ends:
            edge[i] = True
            if i + 1 < n:
                edge[i + 1] = True
        if starts:
            edge[i] = True
            if i > 0:
                edge[i - 1] = True
    return edge


MAX_PAIRED = 2  # short bar pairs a tune may have: parts that end short mid-line, not a habit


def _bad_bars(lengths: list[float], bar: float) -> int:
    """Bars not as long as the metre says; two short bars that make one full bar together are
    fine up to MAX_PAIRED times (a part that ends short before its next pickup, mid-line), but a
    tune barred in half-bars throughout has the wrong metre."""
    bad, i, paired = 0, 0, 0
    while i < len(lengths):
        if abs(lengths[i] - bar) < 1e-6:
            i += 1
        elif paired < MAX_PAIRED and i + 1 < len(lengths) and abs(lengths[i] + lengths[i + 1] - bar) < 1e-6:
            paired += 1
            i += 2
        else:
            bad, i = bad + 1, i + 1
    return bad


def _edge_bar_ok(i: int, lengths: list[float], edge: list[bool], bar: float) -> bool:
    """A bar at a section's edge is right when it is full; or short and the tune's first or last
    bar (a pickup, the bar it completes); or short and completing a bar with the tune's pickup,
    or with the edge bar across its section line (a part ending short before its next pickup).
    Never when it is longer than the metre."""
    eps, n, length = 1e-6, len(lengths), lengths[i]
    if abs(length - bar) < eps or i in (0, n - 1):
        return length < bar + eps
    if length > bar:
        return False
    pickup = lengths[0] if lengths[0] < bar - eps else 0.0
    if pickup and abs(length + pickup - bar) < eps:
        return True
    return any(0 <= j < n and edge[j] and abs(length + lengths[j] - bar) < eps for j in (i - 1, i + 1))


def _melody(container: Any) -> list[Any]:
    """The notes and chords played, without chord symbols ("G", and O'Neill's "f" and "p"
    markings, which music21 reads as chord symbols of no length)."""
    from music21 import harmony

    return [n for n in container.recurse().notes if not isinstance(n, harmony.ChordSymbol) and n.pitches]


def _pitch_class(n: Any) -> int:
    """The pitch class of a note, or of a chord's lowest note."""
    p = min(n.pitches, key=lambda q: q.ps) if n.isChord else n.pitch
    return round(p.ps) % 12


def _bar_signature(m: Any) -> tuple[Any, ...]:
    """A bar's notes and rests as played: no chord symbols, no grace notes (a bar repeated with
    only those changed is the same bar)."""
    from music21 import harmony

    return tuple(
        (tuple(round(p.ps) for p in n.pitches) if not n.isRest else (), float(n.quarterLength))
        for n in m.notesAndRests
        if not isinstance(n, harmony.ChordSymbol) and not n.duration.isGrace
    )


def _longest_run(items: list[Any]) -> int:
    best = run = 0
    prev: Any = object()
    for it in items:
        run = run + 1 if it == prev else 1
        best, prev = max(best, run), it
    return best


def judge_reading(
    reading: TuneReading, copy_share: float | None = None, limits: JudgeLimits = LIMITS
) -> Verdict:
    """The verdict on a tune already read (`read_tune`); `copy_share`: its longest passage copied
    from the training tunes / its music (None: not checked, the plagiarism criterion passes)."""
    r = reading
    if r.error:
        failed = [Criterion(name, False, f"music21 cannot read it ({r.error})") for name in CRITERIA[:3]]
        return Verdict([*failed, _plagiarism(copy_share, limits)], r, copy_share)
    return Verdict(
        [_rhythm(r, limits), _mode(r, limits), _form(r, limits), _plagiarism(copy_share, limits)],
        r,
        copy_share,
    )


def _rhythm(r: TuneReading, limits: JudgeLimits) -> Criterion:
    if r.bar_quarters is None:
        return Criterion("rhythm", False, "no M: metre")
    n = r.judged_bars
    if r.bad_bars > max(limits.max_bad_bars, limits.max_bad_bar_share * n):
        return Criterion("rhythm", False, f"{r.bad_bars} of {n} bars do not fill {r.meter}")
    return Criterion("rhythm", True)


def _mode(r: TuneReading, limits: JudgeLimits) -> Criterion:
    if r.tonic is None or r.mode is None:
        return Criterion("mode", False, f"K:{r.key} is not a key the judge reads" if r.key else "no K: key")
    if r.notes and r.foreign / r.notes > limits.max_foreign_share:
        return Criterion("mode", False, f"{r.foreign} of {r.notes} notes are foreign to {r.foreign_to}")
    allowed = limits.cadences.get(_mode_family(r.mode), (0,))
    home = r.home_ending
    home_ok = home is not None and home[0] in limits.cadences.get(_mode_family(home[1]), (0,))
    if not home_ok and (r.last_degree is None or r.last_degree not in allowed):
        return Criterion("mode", False, f"ends {_degree_name(r.last_degree)}, not on a cadence of K:{r.key}")
    return Criterion("mode", True)


_DEGREES = [
    "on the tonic",
    "a semitone up",
    "on the 2nd",
    "on the minor 3rd",
    "on the 3rd",
    "on the 4th",
    "on the tritone",
    "on the 5th",
    "on the minor 6th",
    "on the 6th",
    "on the minor 7th",
    "on the 7th",
]


def _degree_name(degree: int | None) -> str:
    return "on no note" if degree is None else _DEGREES[degree]


def _form(r: TuneReading, limits: JudgeLimits) -> Criterion:
    if r.played_bars is None:
        return Criterion("form", False, "its repeats run away")
    dance = r.rhythm is not None and any(d in r.rhythm for d in limits.dances)
    if r.played_bars < (limits.min_dance_bars if dance else limits.min_bars):
        what = f"a {r.rhythm} has two parts of eight bars" if dance else "too short for a tune"
        return Criterion("form", False, f"{r.played_bars:.0f} bars played: {what}")
    if r.played_bars > limits.max_bars:
        return Criterion("form", False, f"{r.played_bars:.0f} bars played: a runaway")
    if r.same_bars_run >= limits.max_same_bars:
        return Criterion("form", False, f"one bar {r.same_bars_run} times in a row")
    if r.distinct_share <= limits.min_distinct_share:
        return Criterion("form", False, f"only {r.distinct_share:.0%} of its bars differ: a loop")
    return Criterion("form", True)


def _plagiarism(copy_share: float | None, limits: JudgeLimits) -> Criterion:
    if copy_share is not None and copy_share > limits.max_copy_share:
        return Criterion("plagiarism", False, f"{copy_share:.0%} of it is copied from a training tune")
    return Criterion("plagiarism", True)


def longest_copy(sample: str, corpus: str) -> int:
    """Length of the longest substring of `sample` that occurs verbatim in `corpus`. Two pointers:
    if sample[i:j] occurs, so does sample[i+1:j], so j never moves back (about 2 x len(sample)
    substring searches, each CPython's fast search)."""
    best, j = 0, 0
    for i in range(len(sample)):
        j = max(j, i)
        while j < len(sample) and sample[i : j + 1] in corpus:
            j += 1
        best = max(best, j - i)
        if j == len(sample):
            break
    return best


def abc_body(text: str) -> str:
    """The music of an ABC tune: everything after its K: line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            return "\n".join(lines[i + 1 :]).strip("\n")
    return text


_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=2)
def _squeezed(corpus: str) -> str:
    return _SPACE.sub("", corpus)


def copied(text: str, corpus: str) -> tuple[int, int]:
    """(the longest passage of the tune's music found verbatim in `corpus`, the length of its
    music), both in characters of music: spaces and line breaks, which ABC uses only for layout,
    are left out of both, so a copy re-spaced or re-wrapped is still a copy."""
    body = _SPACE.sub("", abc_body(text))
    return longest_copy(body, _squeezed(corpus)), len(body)


def copy_share(text: str, corpus: str | None) -> float | None:
    """The longest passage of the tune's music found verbatim in `corpus` (the training tunes'
    text), as a share of its music (see `copied`); None without a corpus."""
    if corpus is None:
        return None
    longest, length = copied(text, corpus)
    return longest / length if length else 0.0


def judge_tune(text: str, copy_share: float | None = None, limits: JudgeLimits = LIMITS) -> Verdict:
    """Read and judge one ABC tune (see the module's docstring)."""
    return judge_reading(read_tune(text), copy_share, limits)

"""The tune judge: would a folk musician take this as a tune? Rhythm, mode, form, plagiarism.

Owns: `judge_tune` and `judge_reading` (the verdict: each criterion passed or failed, with a
short reason) and the thresholds (`JudgeLimits`), calibrated on O'Neill's Music of Ireland
(music21's `oneills1850`): run `python benchmarks/calibrate_judge.py` to measure them again.
Modelled on the first stage of the AI Music Generation Challenge (Sturm et al., 2020-2022), where
a tune judged against O'Neill's collection is rejected for:

- rhythm: inner bars that do not fill the metre. The first and last bar of each section (a pickup
  and the short bar that completes it, as the corpus writes them), bars under a volta bracket
  and two short bars that make one full bar together are not counted (music21 splits a bar longer
  than the metre into a full bar and a short one, so an overfull inner bar is counted too), or a
  section in bars of one beat (M:1/8);
- mode: notes foreign to the K: key and mode beyond what the corpus shows, or a last note off the
  tonic, unless it is a degree the corpus's tunes end on and the tune itself makes it home (an
  earlier part ends there too, or a D.C./Fine marking ends the tune at an earlier part's end);
- form: too short once its repeats are played, a runaway repeat of one bar or one figure,
  repeats that run away, a first ending `[1` with no second ending, a final bar line `|]` with
  more music after it (unless it closes an ending, or the tune is marked Fine, D.C. or D.S.), a
  part that is no phrase length in a dance tune (an 8-bar A part, then a 12-bar B part) or in a
  tune in C| or 4/4 with no dance R: (4, 8, 12 or 16 bars), a dance's last part that stops short,
  or stray text in the music (letters that are no chord symbol and no marking: `"BAG"`);
- plagiarism: a long passage copied verbatim from the training tunes.

What the judge looks at in a tune is read by `seqgen.music.reading` (music21 parses it); the
plagiarism measure (`copy_share`) is here. Nothing here prints.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from seqgen.music.reading import TuneReading, read_tune

CRITERIA = ("rhythm", "mode", "form", "plagiarism")
# Which rules this judge applies, recorded with a comparison's results so that its report names the
# rules its tunes were judged by: 1, the first judge (2026-12-05); 2, form also fails a dance's part
# of no phrase length and stray text in the music (2026-12-07); 3, form also fails music after a
# final bar line and a part of no phrase length in a tune in C| or 4/4 with no dance R: (2026-12-08).
RULES = 3

_ONE_BEAT = re.compile(r"1/\d+")  # M:1/8, M:1/4: 2 of the ~13,000 M: fields in music21's corpora
# An ABC chord symbol as tunebooks write them: a root, a quality, extensions ("7", "b9", "sus4",
# "6/9", "(maj7)") and a bass note: "Am", "D7", "Gmaj7", "Bm7b5", "C6/9", "D/F#", "A°", "N.C.".
CHORD = re.compile(
    r"[A-G][#b]?(maj|min|mi|m|M|dim|aug|sus|add|\+|-|o|°|ø)?"
    r"((maj|sus|add|b|#|\+|-|/)?\d+|sus|\((maj|min|add|sus|b|#|\+|-)?\d+\))*"
    r"(/[A-Ga-g][#b]?)?|N\.?C\.?"
)
_MARKING_WORDS = """
    p pp ppp mp mf f ff fff fp sf sfz fz rf rfz cresc crescendo dim diminuendo decresc
    rall rit ritard ritardando accel a tempo atempo slow slower slowly fast faster lively quick
    moderato allegro andante adagio lento presto tr trill h t s w m o natural roll cut
    dc ds al da capo dal to fine end segno sign coda segue chorus major minor dacapo dalsegno tocoda
"""
_MARK_SYMBOLS = re.compile(r"[~#=<>+\-^_]+")  # accents, rolls, accidentals over a note: "~", "#~"
_FINGERING = re.compile(r"[0-5]")  # "4" over a note: Ryan's Mammoth writes fiddle fingerings
_NOTE_LETTERS = re.compile(r"[A-Ga-g]{2,}")  # "BAG": note names, not words


@dataclass(frozen=True)
class JudgeLimits:
    """Where a tune stops passing. Each limit is set from O'Neill's training tunes (see
    benchmarks/calibrate_judge.py) so that about 97-99% of them pass each criterion."""

    max_bad_bars: int = 2  # inner bars that do not fill the metre (training p97: 3)
    max_bad_bar_share: float = 0.15  # ... or at most this share of the inner bars (p97: 0.2)
    max_foreign_share: float = 0.15  # notes outside the K: key's scale (p99: 0.10)
    # Degrees (semitones above the K: tonic) a tune may end on besides the tonic, where an earlier
    # part ends on it too (see `_cadence_ok`), by the K: field's mode: those that end at least 3%
    # of the training tunes. Major (1,472 tunes): the tonic 80.4%, the 2nd 4.8% (K:D written for E
    # dorian), the 5th 4.1% (tunes ending at a D.C.), the 4th 3.6% and the 6th 3.3% (K:D written
    # for G, K:C for A minor); minor (290): the tonic 90.3%, the flat 7th 4.5%; the other modes
    # (43): the tonic 83.7%, the flat 7th 7.0%. Of the 239 tunes ending off the tonic with no
    # D.C. or Fine, 163 end an earlier part on the same degree.
    cadences: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"major": (0, 2, 5, 7, 9), "minor": (0, 2, 10), "other": (0, 10)}
    )
    min_bars: float = 8.0  # bars played, repeats included, in bars of the metre (p1: 8)
    # A dance tune (R: reel, jig, hornpipe, slip jig ...) has two parts of eight bars: each
    # played at least 15.75 bars in 98% of the training tunes (a pickup short).
    min_dance_bars: float = 15.5
    dances: tuple[str, ...] = ("reel", "jig", "hornpipe", "double", "slip", "polka", "slide", "strathspey")
    # ... and its last part at least this many bars (an 8-bar part less a pickup): a reel whose B
    # part stops after 2 bars stops mid-phrase (training dance tunes in parts: p1 4 bars).
    min_last_part: float = 3.5
    # ... and, in any tune in parts, at least this share of its first part: an 8-bar part A, then
    # a B part that ends after 4 bars, is half a tune (last / first part in 1,677 training tunes
    # in parts: p1 0.84; 11 of the 1,805 readable training tunes are below 0.6).
    min_last_part_share: float = 0.6
    # A dance tune's parts are phrases of four bars: parts of 4, 8 or 16 bars, give or take half a
    # bar (a pickup, the short bar it completes), and also of 10 where its R: field says jig
    # (O'Neill's writes 27 such parts). A part shorter than `short_part` (a pickup before a repeat
    # sign) counts with the next; two parts with no repeat sign between them that make one
    # phrase together (a double bar mid-part: 6 + 2) are one. Training dance tunes in parts: 4
    # of 754 have another part length; a reel with an 8-bar A part and a 12-bar B part is not a
    # reel a session plays.
    part_lengths: tuple[float, ...] = (4.0, 8.0, 16.0)
    jig_part_lengths: tuple[float, ...] = (10.0,)
    part_slack: float = 0.5
    short_part: float = 1.0
    # A tune with no dance R: field (an air, a march, or a reel or hornpipe whose writer left R:
    # out) in these metres is in phrases of four bars too, and may have 12-bar parts: O'Neill's
    # training tunes with no dance R: in C| have another part length in 2 of 140 (two set dances,
    # whose parts are irregular by design: 8 + 10 and 8 + 20 bars; a known cost), in 4/4 in 0 of
    # 27 (held out: 0 of 19). In other metres they do not keep to phrases (C: 17 of 184, 2/4: 13
    # of 137, 6/8: 33 of 341, 3/4: 33 of 199; calibrate_judge.py prints these), so a part length
    # is not judged there. (M:2/2, C| written otherwise, is not judged: O'Neill's has none.)
    phrase_metres: tuple[str, ...] = ("C|", "4/4")
    phrase_metre_part_lengths: tuple[float, ...] = (4.0, 8.0, 12.0, 16.0)
    # Text in the music: an annotation placed with ^ _ < > @ is the writer's text (unless it is a
    # word of note names: "^BAG"); other quoted text must be one or two chord symbols as
    # tunebooks write them (`CHORD`), a fiddle fingering (0-5), or a marking the old tunebooks
    # write unplaced (these words, lower case, without dots or brackets, word by word or run
    # together: "D.C.", "p", "cresc.", "Da Capo", "DaCapo"). Anything else ("BAG", "Gn", "G A B")
    # is letters a model wrote where notes belong.
    markings: frozenset[str] = frozenset(_MARKING_WORDS.split())
    max_bars: float = 160.0  # p99: 64.5; a stuck loop runs to the length limit
    max_same_bars: int = 3  # the same bar this many times in a row is a stuck loop
    min_distinct_share: float = 0.25  # distinct bars / bars written; this or lower is a loop
    max_copy_share: float = 0.5  # longest passage copied from the training tunes / the tune's music


LIMITS = JudgeLimits()


@dataclass
class Criterion:
    name: str
    ok: bool
    reason: str | None = None
    at_ending: bool = False  # failed only at the tune's ending (its last note is not a cadence)


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
        if self.reading is not None and self.reading.error:  # not a rhythm fault: no reading at all
            return f"unreadable: music21 cannot read it ({self.reading.error})"
        return next((f"{c.name}: {c.reason}" for c in self.criteria if not c.ok), None)

    def passed(self, name: str) -> bool:
        return next(c.ok for c in self.criteria if c.name == name)

    @property
    def ends_on_tonic(self) -> bool:
        return self.reading is not None and self.reading.last_degree == 0

    @property
    def ending_at_fault(self) -> bool:
        """Only its ending keeps the tune from settling: it does not end on the tonic, and every
        criterion passes but the mode's cadence (a new ending may bring it home)."""
        return (
            self.reading is not None
            and not self.reading.error
            and not self.ends_on_tonic
            and self.reading.marked_ending is None  # a D.C. or Fine ends it elsewhere
            and all(c.ok or c.at_ending for c in self.criteria)
        )


def _mode_family(mode: str | None) -> str:
    return mode if mode in ("major", "minor") else "other"


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
    one_beat = next((m for m in r.meters if _ONE_BEAT.fullmatch(m)), None)
    if one_beat:  # M:1/8 (a model's way out of a bar that does not fit): no tune's metre
        return Criterion("rhythm", False, f"M:{one_beat} is a bar of one beat, not a metre")
    n = r.judged_bars
    if r.bad_bars > max(limits.max_bad_bars, limits.max_bad_bar_share * n):
        return Criterion("rhythm", False, f"{r.bad_bars} of {n} bars do not fill {r.meter}")
    return Criterion("rhythm", True)


def _mode(r: TuneReading, limits: JudgeLimits) -> Criterion:
    if r.tonic is None or r.mode is None:
        return Criterion("mode", False, f"K:{r.key} is not a key the judge reads" if r.key else "no K: key")
    if r.notes and r.foreign / r.notes > limits.max_foreign_share:
        return Criterion("mode", False, f"{r.foreign} of {r.notes} notes are foreign to {r.foreign_to}")
    if r.last_degree is None:
        return Criterion("mode", False, "ends on no note")
    # The ending is read in the last key and, where the tune changed key, in its first key too (a
    # da capo): (semitones to add to a degree, that key's cadences).
    views = [(0, limits.cadences.get(_mode_family(r.mode), (0,)))]
    if r.home_ending is not None:
        views.append(
            (r.home_ending[0] - r.last_degree, limits.cadences.get(_mode_family(r.home_ending[1]), (0,)))
        )
    if r.marked_ending is not None:  # a Fine, D.C. or D.S.: the tune ends where that says
        degree = (r.marked_ending - r.tonic) % 12
        if any((degree + s) % 12 == 0 or (degree + s) % 12 in c for s, c in views):
            return Criterion("mode", True)
        return Criterion(
            "mode",
            False,
            f"ends at its {r.marking} {_degree_name(degree)}, not on a cadence of K:{r.key}",
        )
    ends = r.section_ends[:-1] or ([r.half_end] if r.half_end is not None else [])
    earlier = [(pc - r.tonic) % 12 for pc in ends]
    if any(_cadence_ok((r.last_degree + s) % 12, [(d + s) % 12 for d in earlier], c) for s, c in views):
        return Criterion("mode", True)
    names = " and ".join(dict.fromkeys(_degree_name(d).removeprefix("on ") for d in earlier))
    part = "other parts end" if r.section_ends[:-1] else "first half ends"
    elsewhere = f" (its {part} on {names})" if earlier else ""
    return Criterion(
        "mode", False, f"ends {_degree_name(r.last_degree)}, not on a cadence of K:{r.key}{elsewhere}", True
    )


def _cadence_ok(degree: int, earlier: list[int], cadences: tuple[int, ...]) -> bool:
    """Is a last note `degree` semitones above the tonic home? The tonic is. Another degree the
    corpus ends on (`cadences`) is home only where the tune says so: an earlier part (or a one-part
    tune's first half) ends on it too, as an E dorian tune written as K:D ends each part on E. A G
    reel whose second part stops on A, its first part on G, is not home."""
    return degree == 0 or (degree in cadences and degree in earlier)


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
    if r.open_endings:
        return Criterion("form", False, "a first ending with no second ending")
    if r.early_ends and r.marking is None:  # at a Fine, or where a D.C. returns to, the tune ends
        return Criterion("form", False, "music after a final bar line |]: the tune ends, then goes on")
    dance = r.rhythm is not None and any(d in r.rhythm for d in limits.dances)
    if r.played_bars < (limits.min_dance_bars if dance else limits.min_bars):
        what = f"a {r.rhythm} has two parts of eight bars" if dance else "too short for a tune"
        return Criterion("form", False, f"{r.played_bars:.0f} bars played: {what}")
    parts = _parts(r, limits)
    first, last = (parts[0], parts[-1]) if len(parts) > 1 else (None, None)
    if dance and last is not None and last < limits.min_last_part:
        return Criterion("form", False, f"its last part is {last:g} bars: it stops mid-phrase")
    if first is not None and last is not None and last < limits.min_last_part_share * first:
        return Criterion(
            "form", False, f"its last part is {last:g} bars after a first of {first:g}: it stops mid-tune"
        )
    phrased = dance or (r.meter in limits.phrase_metres and len(parts) > 1)
    odd = next((b for b in parts if not _phrase(b, r, limits)), None) if phrased else None
    if odd is not None:
        lengths = " + ".join(f"{round(b, 2):g}" for b in parts)
        of = f"a {r.rhythm}" if dance else f"a tune in {r.meter}"
        why = f"parts of {lengths} bars: a part of {round(odd, 2):g} is no phrase of {of}"
        return Criterion("form", False, why)
    if r.played_bars > limits.max_bars:
        return Criterion("form", False, f"{r.played_bars:.0f} bars played: a runaway")
    if r.same_bars_run >= limits.max_same_bars:
        return Criterion("form", False, f"one bar {r.same_bars_run} times in a row")
    if r.distinct_share <= limits.min_distinct_share:
        return Criterion("form", False, f"only {r.distinct_share:.0%} of its bars differ: a loop")
    stray = next((t for t in r.texts if not _is_marking(t, limits)), None)
    if stray is not None:
        return Criterion("form", False, f'stray text "{stray}" in the music: no chord symbol or marking')
    return Criterion("form", True)


def _phrase(bars: float, r: TuneReading, limits: JudgeLimits) -> bool:
    """Is a part this long a phrase length of the tune's dance (`JudgeLimits.part_lengths`), or,
    with no dance R: field in C| or 4/4, of its metre (`JudgeLimits.phrase_metre_part_lengths`)?"""
    dance = r.rhythm is not None and any(d in r.rhythm for d in limits.dances)
    if not dance and r.meter in limits.phrase_metres:
        lengths = limits.phrase_metre_part_lengths
    else:  # a dance's; in other metres only how parts are joined (`_parts`) asks
        jig = r.rhythm is not None and "jig" in r.rhythm
        lengths = limits.part_lengths + (limits.jig_part_lengths if jig else ())
    return min(abs(bars - n) for n in lengths) <= limits.part_slack + 1e-6


def _parts(r: TuneReading, limits: JudgeLimits) -> list[float]:
    """The tune's parts as a player hears them, in bars: a part under `short_part` (a pickup
    before a repeat sign) counted with the next (or, last, the one before), and two parts with no
    repeat sign between them that make a phrase only together (a double bar mid-part: 6 + 2
    bars) counted as one."""
    joins = r.part_joins if len(r.part_joins) == len(r.part_bars) - 1 else (False,) * len(r.part_bars)
    short: list[float] = []
    plain: list[bool] = []  # between short[k] and short[k + 1]
    carry = 0.0
    for k, bars in enumerate(r.part_bars):
        if bars < limits.short_part:
            carry += bars
            continue
        if short:
            plain.append(joins[k - 1])
        short.append(bars + carry)
        carry = 0.0
    if carry and short:
        short[-1] += carry
    parts: list[float] = []
    i = 0
    while i < len(short):
        pair = short[i] + short[i + 1] if i + 1 < len(short) and plain[i] else None
        if not _phrase(short[i], r, limits) and pair is not None and _phrase(pair, r, limits):
            parts.append(pair)
            i += 2
        else:
            parts.append(short[i])
            i += 1
    return parts


def _is_marking(text: str, limits: JudgeLimits) -> bool:
    """Is a quoted text in the music an annotation, chord symbols, a fingering or a marking the
    old tunebooks write (see `JudgeLimits.markings`)?"""
    bare = text.strip()
    if len(bare) > 1 and bare[0] in "^_<>@":  # placed text: the writer's words, not note names
        return not _NOTE_LETTERS.fullmatch(bare[1:].strip())
    if bare.startswith("(") and bare.endswith(")"):  # "(D)": an alternative chord
        bare = bare[1:-1]
    words = re.sub(r"[()\[\]]", " ", bare.lower().replace(".", "")).split()
    if not words or "".join(words) in limits.markings:  # "", ".", "Da Capo", "D. C."
        return True
    tokens = bare.split()
    chords = [t for t in tokens if CHORD.fullmatch(t) or CHORD.fullmatch(t.strip("()"))]
    if len(chords) > 2:  # "G A B": note names, not chords
        return False
    return all(
        t in chords or _FINGERING.fullmatch(t) or w in limits.markings or _MARK_SYMBOLS.fullmatch(w)
        for t in tokens
        for w in [re.sub(r"[()\[\]]", "", t.lower().replace(".", ""))]
    )


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

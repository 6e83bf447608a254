"""Music21's bars of one ABC section, as the judge reads them (`seqgen.music.reading`).

Owns: where a section's parts begin and end (repeat signs, double bars, a start repeat after a
plain bar line, first-time bars), their lengths and the notes they end on (`read_parts`); which
bars stand at a section's edge and may be short (`section_edges`, `edge_bar_ok`); inner bars that
do not fill the metre (`bad_bars`); the melody's notes, their pitch classes and the bars' shapes
(`melody`, `pitch_class`, `end_pc`, `bar_signature`, `longest_run`). Takes music21 objects
(`Measure`, notes), never ABC text; does not own the reading (`TuneReading`) or the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def first_bar(rb: Any, where: dict[int, int], n: int) -> int:
    """The index of a repeat bracket's first bar (`where`: each bar's index by id; n: none)."""
    return min((where.get(id(m), n) for m in rb.getSpannedElements()), default=n)


def first_endings(brackets: list[Any], measures: list[Any]) -> tuple[set[int], int]:
    """The bars under first-time brackets (`[1`, and `[2` before a `[3`), which lead back into the
    repeat, and how many first endings have no next ending after them."""
    where = {id(m): i for i, m in enumerate(measures)}
    ordered = sorted(brackets, key=lambda rb: first_bar(rb, where, len(measures)))
    leading: set[int] = set()
    open_ = 0
    for k, rb in enumerate(ordered):
        numbers = list(rb.numberRange)
        after = ordered[k + 1] if k + 1 < len(ordered) else None
        followed = after is not None and min(after.numberRange, default=0) == max(numbers, default=0) + 1
        if followed or (numbers and min(numbers) == 1):
            leading.update(id(m) for m in rb.getSpannedElements())
        if numbers and min(numbers) == 1 and not followed:
            open_ += 1
    return leading, open_


def closes_part(m: Any) -> bool:
    from music21 import bar

    right = m.rightBarline
    return right is not None and (isinstance(right, bar.Repeat) or right.type != "regular")


def final_bar(m: Any) -> bool:
    """Does this bar close with a final bar line `|]` (not a repeat)?"""
    from music21 import bar

    right = m.rightBarline
    return right is not None and not isinstance(right, bar.Repeat) and right.type == "final"


def early_ends(measures: list[Any], brackets: list[Any], in_volta: set[int]) -> tuple[int, bool]:
    """The bars closed by a final bar line `|]` before the section's last bar with notes after
    them, and whether its last bar is closed by one; a `|]` that closes an ending (`ends_ending`)
    is not counted (O'Neill writes `|2 d3 d2|]` mid-tune)."""
    where = {id(m): i for i, m in enumerate(measures)}
    starts = [first_bar(rb, where, len(measures)) for rb in brackets]
    early = sum(
        not ends_ending(i, measures, starts, in_volta) and any(melody(later) for later in measures[i + 1 :])
        for i, m in enumerate(measures[:-1])
        if final_bar(m)
    )
    last = len(measures) - 1
    return early, final_bar(measures[-1]) and not ends_ending(last, measures, starts, in_volta)


def ends_ending(i: int, measures: list[Any], starts: list[int], in_volta: set[int]) -> bool:
    """Does bar `i` end an ending (a volta)? It is under a bracket, or after one that starts after
    the last part-closing bar line before it, where that is a repeat `:|` (music21 brackets only
    the first bar of an ending no repeat sign closes: `|2 BAG AGF|G3 G2|]`), or a repeat that
    closes an ending itself (a third ending, which music21 does not bracket)."""
    from music21 import bar

    if id(measures[i]) in in_volta:
        return True
    j = next((k for k in range(i - 1, -1, -1) if closes_part(measures[k])), None)
    if j is None or not isinstance(measures[j].rightBarline, bar.Repeat):
        return False
    return id(measures[j]) in in_volta or any(j < s <= i for s in starts)


def opens_part(m: Any) -> bool:
    """Does a part start at this bar (a start repeat `|:` or a double bar on its left)?"""
    from music21 import bar

    left = m.leftBarline
    return left is not None and (isinstance(left, bar.Repeat) or left.type != "regular")


def part_ends(
    measures: list[Any], lengths: list[float], first_time: set[int], bar_q: float | None
) -> list[int]:
    """The bars that end a part: the last; one closed by a repeat or double bar, first-time bars
    excepted; one before a start repeat `|:` after a plain bar line, when the part it ends is at
    least a bar long (a pickup before the first `|:` is no part), and where that bar is a short
    pickup bar of its own after whole bars (`d8|A2|:`), the bar before it: the pickup leads into
    the next part (a short bar that completes the part's pickup, `gedBA2|:(BA)|`, stays)."""
    n, eps = len(measures), 1e-6
    ends: list[int] = []
    done = 0.0
    for i, m in enumerate(measures):
        done += lengths[i]
        if id(m) in first_time and i < n - 1:
            continue
        if i == n - 1 or closes_part(m):
            ends.append(i)
            done = 0.0
        elif i + 1 < n and opens_part(measures[i + 1]) and (bar_q is None or done >= bar_q - eps):
            before = done - lengths[i]  # the part without this bar: whole bars, and this one short?
            pickup = (
                bar_q is not None
                and lengths[i] < bar_q - eps
                and before >= bar_q - eps
                and _whole(before / bar_q)
                and not _whole(done / bar_q)
            )
            if pickup and (not ends or ends[-1] != i - 1):
                ends.append(i - 1)
                done = lengths[i]
            else:
                ends.append(i)
                done = 0.0
    return ends


def _whole(bars: float) -> bool:
    return abs(bars - round(bars)) < 1e-6


@dataclass(frozen=True)
class Parts:
    """A section's parts: where they end and how long they are."""

    end_pcs: tuple[int, ...]  # the pitch class of each part's last note (`TuneReading.section_ends`)
    bars: tuple[float, ...]  # each part's length in bars, first-time bars left out; () with no metre
    joins: tuple[bool, ...]  # between each two parts: no repeat sign divides them
    half_end: int | None  # in one part: the pitch class of the last note of its middle bar


def read_parts(
    measures: list[Any], lengths: list[float], first_time: set[int], bar_q: float | None, tonic: int | None
) -> Parts:
    """Where a section's parts end (see `part_ends`), the note each ends on, their lengths in bars
    of the metre (`bar_q` quarters) and the joins between them (`TuneReading.part_joins`); with
    one part, where its first half ends (`TuneReading.half_end`)."""
    from music21 import bar

    ends = part_ends(measures, lengths, first_time, bar_q)
    pcs = []
    for i in ends:
        notes = melody(measures[i])
        if notes:
            pcs.append(end_pc(notes[-1], tonic))
    if not bar_q:
        return Parts(tuple(pcs), (), (), None)
    starts = [0] + [e + 1 for e in ends[:-1]]
    parts = tuple(
        sum(lengths[i] for i in range(a, b + 1) if id(measures[i]) not in first_time) / bar_q
        for a, b in zip(starts, ends, strict=True)
    )
    joins = tuple(
        not isinstance(measures[e].rightBarline, bar.Repeat)
        and not isinstance(measures[e + 1].leftBarline, bar.Repeat)
        for e in ends[:-1]
    )
    half_end = None
    if len(parts) == 1:
        total, done = sum(lengths), 0.0
        for i, length in enumerate(lengths[:-1]):
            done += length
            if abs(done - total / 2) <= bar_q / 2 + 1e-6:
                notes = melody(measures[i])
                half_end = end_pc(notes[-1], tonic) if notes else None
                break
    return Parts(tuple(pcs), parts, joins, half_end)


def end_pc(n: Any, tonic: int | None) -> int:
    """The pitch class a tune ending on `n` ends on: a chord (a double stop, a drone under the
    melody) ends on the tonic when it holds it, else on its top note."""
    if not n.isChord:
        return pitch_class(n)
    pcs = [round(p.ps) % 12 for p in n.pitches]
    if tonic is not None and tonic in pcs:
        return tonic
    return round(max(p.ps for p in n.pitches)) % 12


def bar_quarters(measures: list[Any]) -> float | None:
    for m in measures:
        ts = m.timeSignature or m.getContextByClass("TimeSignature")
        if ts is not None:
            return float(ts.barDuration.quarterLength)
    return None


def section_edges(measures: list[Any]) -> list[bool]:
    """For each bar: is it the first or last of a section (a part, a repeat, the tune)? Those may
    be short: a pickup, and the bar that completes it before the next part or repeat."""
    n = len(measures)
    edge = [False] * n
    edge[0] = edge[-1] = True
    for i, m in enumerate(measures):
        if closes_part(m):
            edge[i] = True
            if i + 1 < n:
                edge[i + 1] = True
        if opens_part(m):
            edge[i] = True
            if i > 0:
                edge[i - 1] = True
    return edge


MAX_PAIRED = 2  # short bar pairs a tune may have: parts that end short mid-line, not a habit


def bad_bars(lengths: list[float], bar: float) -> int:
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


def edge_bar_ok(i: int, lengths: list[float], edge: list[bool], bar: float) -> bool:
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


def melody(container: Any) -> list[Any]:
    """The notes and chords played, without chord symbols ("G", and O'Neill's "f" and "p"
    markings, which music21 reads as chord symbols of no length)."""
    from music21 import harmony

    return [n for n in container.recurse().notes if not isinstance(n, harmony.ChordSymbol) and n.pitches]


def pitch_class(n: Any) -> int:
    """The pitch class of a note, or of a chord's lowest note."""
    p = min(n.pitches, key=lambda q: q.ps) if n.isChord else n.pitch
    return round(p.ps) % 12


def bar_signature(m: Any) -> tuple[Any, ...]:
    """A bar's notes and rests as played: no chord symbols, no grace notes (a bar repeated with
    only those changed is the same bar)."""
    from music21 import harmony

    return tuple(
        (tuple(round(p.ps) for p in n.pitches) if not n.isRest else (), float(n.quarterLength))
        for n in m.notesAndRests
        if not isinstance(n, harmony.ChordSymbol) and not n.duration.isGrace
    )


def longest_run(items: list[Any]) -> int:
    best = run = 0
    prev: Any = object()
    for it in items:
        run = run + 1 if it == prev else 1
        best, prev = max(best, run), it
    return best

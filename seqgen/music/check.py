"""Is a generated tune usable? Content checks on notes and on ABC text.

Owns: `TuneCheck`, `check_notes` and `check_abc`. "music21 did not raise" is a weak test (it
accepts an unclosed quote as a tune of 0 notes, folds impossible octaves), so these checks look
at what comes out: enough notes, a sane length, pitches in an instrument's range. Does not own
parsing (see `seqgen.music.abc`). Never raises for a bad tune: it returns `ok=False` and a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seqgen.errors import SeqgenError
from seqgen.music.abc import abc_to_notes
from seqgen.music.notes import Note, total_seconds

if TYPE_CHECKING:
    from seqgen.music.judge import Verdict

PIANO_RANGE = (21, 108)  # A0..C8, MIDI pitches
_K_FIELD = re.compile(r"(?m)^K:")
_FIELD_LINE = re.compile(r"[A-Za-z+]:")


@dataclass
class TuneCheck:
    ok: bool
    reason: str | None  # short and human, e.g. "only 3 notes"; None when ok
    notes: int
    seconds: float
    lowest: int | None  # MIDI pitch
    highest: int | None
    judge: Verdict | None = None  # the tune judge's verdict (ABC), when the tune got that far
    # Did every M: and K: field keep the key and metre asked for (`seqgen sample --key/--meter`)?
    # None: none was asked.
    asked_kept: bool | None = None

    @property
    def settled(self) -> bool:
        """Good enough to stop redrawing: it passes, and a judged tune also ends on its key's
        tonic. The judge passes another degree the corpus ends on where the tune makes it home (a
        modal tune ending each part there), as a session player would; a retry still looks for the
        tune that goes home, and keeps the passing one when none does."""
        return self.ok and (self.judge is None or self.judge.ends_on_tonic)

    @property
    def misses(self) -> int:
        """How far the tune is from passing, so that when no redraw passes the nearest miss is kept
        (lower is nearer; 0: it passes). Farthest first: a tune that does not play (the judge never
        read it: it ran on past the length, has too few notes or cannot be read); then one that
        left the key or metre asked for in its fields; then, asked for a key or metre, one whose
        bars or notes leave them (the judge's rhythm or mode: a G major tune asked for as Dmix);
        then a copy of a training tune; then, among the rest, the number of criteria failed."""
        if self.ok:
            return 0
        if self.judge is None or (self.judge.reading is not None and self.judge.reading.error):
            return 1000
        failed = sum(not c.ok for c in self.judge.criteria)
        left = self.asked_kept is not None and not (self.judge.passed("rhythm") and self.judge.passed("mode"))
        copied = not self.judge.passed("plagiarism")
        return max(1, 100 * (self.asked_kept is False) + 50 * left + 10 * copied + failed)  # failing: never 0

    @property
    def ending_at_fault(self) -> bool:
        """Not settled only because of its ending (see `Verdict.ending_at_fault`): nothing but the
        judge's verdict on the ending failed, so a redraw of the ending alone may settle it."""
        return (
            self.judge is not None
            and self.judge.ending_at_fault
            and self.asked_kept is not False  # a new ending does not bring the asked key back
            and (self.ok or self.reason == self.judge.reason)
        )


def check_notes(
    notes: list[Note],
    min_notes: int = 8,
    pitch_range: tuple[int, int] = PIANO_RANGE,
    min_seconds: float = 2.0,
    max_seconds: float = 600.0,
) -> TuneCheck:
    """Check a list of notes against count, pitch range (inclusive) and duration (seconds)."""
    seconds = total_seconds(notes)
    lowest = min((n.pitch for n in notes), default=None)
    highest = max((n.pitch for n in notes), default=None)
    lo, hi = pitch_range
    reason = None
    if len(notes) < min_notes:
        reason = "no notes" if not notes else f"only {len(notes)} note{'s' if len(notes) > 1 else ''}"
    elif lowest is not None and lowest < lo:
        reason = f"pitch {lowest} outside {lo}..{hi}"
    elif highest is not None and highest > hi:
        reason = f"pitch {highest} outside {lo}..{hi}"
    elif seconds < min_seconds:
        reason = f"lasts {seconds:.1f} s (min {min_seconds:g})"
    elif seconds > max_seconds:
        reason = f"lasts {seconds:.0f} s (max {max_seconds:g})"
    return TuneCheck(reason is None, reason, len(notes), seconds, lowest, highest)


def _has_body_after_k(text: str) -> bool:
    m = _K_FIELD.search(text)
    if m is None:
        return False
    rest = text[m.end() :].split("\n")[1:]
    return any(ln.strip() and not ln.lstrip().startswith("%") and not _FIELD_LINE.match(ln) for ln in rest)


def header_problem(text: str) -> str | None:
    """Why an ABC tune's text is not a tune (no `K:`, no music after it), or None."""
    if not _K_FIELD.search(text):
        return "no K: field"
    if not _has_body_after_k(text):
        return "no music after K:"
    return None


def check_abc(
    text: str,
    min_notes: int = 8,
    pitch_range: tuple[int, int] = PIANO_RANGE,
    min_seconds: float = 2.0,
    max_seconds: float = 600.0,
) -> TuneCheck:
    """Check one ABC tune: a `K:` header with music after it, readable by music21, then
    `check_notes` on what it plays (repeats expanded, grace notes dropped)."""
    empty = TuneCheck(False, None, 0, 0.0, None, None)
    empty.reason = header_problem(text)
    if empty.reason:
        return empty
    try:  # no length cap here, so an overlong tune gets check_notes' reason
        music = abc_to_notes(text, max_seconds=float("inf"))
    except SeqgenError as exc:
        empty.reason = str(exc)
        return empty
    return check_notes(music.notes, min_notes, pitch_range, min_seconds, max_seconds)

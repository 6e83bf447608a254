"""Decoding that knows the metre: while an ABC tune is written character by character, how much of
the current bar is filled, and which characters would break it.

Owns: `bar_length` (the notes of one bar's text, in whole notes, or None where the text holds
something this reader does not follow), `BarMeter` (one tune being written: its header's M: and L:,
the bar so far, a pickup) and `BarGuide` (the characters a tokenizer's vocabulary must not offer
next, for every sample of a batch). The model still writes every note; the guide only takes out of
its choice a bar line (or the tune's end) in a bar that is not full, and a note or a longer length
once the bar is full or would overflow. Anything it cannot read (a metre change inside a bar, a
general tuplet, a multi-bar rest, M:none) leaves the choice alone. Does not own judging a finished
tune's bars (`music.judge`, through music21).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import torch

# Once a bar is full, none of these may come before its bar line: notes, rests, accidentals,
# lengths, broken rhythm, tuplets, chords, grace notes, chord symbols and decorations.
_NOT_AFTER_FULL = set('ABCDEFGabcdefgzxZ^_=0123456789><([{"!+~.HLMOPSTuv')

_VOLTA = re.compile(r"^[\s:\]]*\[?\d")  # a bar that starts an ending: [1, |2, :|2
_VOLTA_1 = re.compile(r"^[\s:\]]*\[?1(?!\d)")
_FIELD_LETTERS = set("HLMOPSTuvw")  # decorations in the music, fields at a line's start
# What is not a note after a tune's last bar line: chord symbols, decorations, field lines.
_NOT_NOTES = re.compile(r'"[^"]*"?|![^!]*!?|^[A-Za-z+]:.*$', re.M)
_METER = re.compile(r"^\s*(\d+)\s*/\s*(\d+)")
_LENGTH = re.compile(r"^\s*1\s*/\s*(\d+)")
_FIELD_LINE = re.compile(r"^[A-Zmrsw+]:")  # not `e:|`, music that starts a line with a repeat
_INLINE = re.compile(r"\[([ML]):([^\]]*)\]")
# One token of a bar's music, tried in this order at each position.
_TOKENS = re.compile(
    r"""(?P<skip>[ \t\n`\\\-:\])]|\||\((?![2-9]))
      | (?P<volta>\[?\d+(?:[,-]\d+)*(?=[^/\d]|$))
      | (?P<symbol>"[^"]*"?)
      | (?P<deco>![^!]*!?|\+[^+]*\+?|[.~HLMOPSTuv])
      | (?P<grace>\{[^}]*\}?)
      | (?P<field>\[[A-Za-z]:[^\]]*\]?)
      | (?P<tuplet>\((?P<p>[2-9])(?![:\d]))
      | (?P<chord>\[(?P<inner>[^\]]*)(?P<close>\](?P<clen>\d*/*\d*))?)
      | (?P<note>[_^=]*(?P<pitch>[A-Ga-gzx])[,']*(?P<len>\d*/*\d*))
      | (?P<broken>[<>]+)
    """,
    re.VERBOSE,
)
_TAKES_LENGTH = re.compile(r"[A-Ga-gzx\]][,']*\d*$")  # a digit here is (part of) a note's length
_NOTE_IN_CHORD = re.compile(r"[_^=]*[A-Ga-g][,']*(\d*/*\d*)")


def _length(text: str) -> Fraction | None:
    """An ABC length suffix as a multiple of the unit: "" 1, "2" 2, "/" 1/2, "//" 1/4, "3/2" 3/2."""
    m = re.fullmatch(r"(\d*)(/*)(\d*)", text)
    if m is None:
        return None
    num = int(m.group(1)) if m.group(1) else 1
    slashes, den = m.group(2), m.group(3)
    if not slashes:
        return Fraction(num) if not den else None
    if den:
        return Fraction(num, int(den) * 2 ** (len(slashes) - 1))
    return Fraction(num, 2 ** len(slashes))


def _tuplet_factor(p: int, compound: bool) -> Fraction:
    """(p: p notes in the time of q (ABC's default q: 3 for 2, 4, 8; 2 for 3, 6; else 3 in a
    compound metre and 2 otherwise)."""
    q = 3 if p in (2, 4, 8) else 2 if p in (3, 6) else (3 if compound else 2)
    return Fraction(q, p)


def bar_length(text: str, unit: Fraction, compound: bool = False) -> Fraction | None:
    """The notes of a bar's text (bar-line characters and volta numbers ignored), in whole notes;
    None where it holds what this reader does not follow (an inline field, a multi-bar rest, a
    general tuplet): then nothing is constrained."""
    total = Fraction(0)
    last: Fraction | None = None  # the previous note's length (broken rhythm changes it)
    halve_next: Fraction | None = None  # the factor broken rhythm gives the next note
    tuplet_left, factor = 0, Fraction(1)
    pos = 0
    while pos < len(text):
        m = _TOKENS.match(text, pos)
        if m is None:
            return None
        pos = m.end()
        groups = m.groupdict()
        if any(groups[g] is not None for g in ("skip", "symbol", "deco", "grace")):  # no time
            continue
        if groups["volta"] is not None:
            if total > 0:  # digits after a note are its length: the note pattern comes first
                return None
            continue
        if groups["field"] is not None:
            return None
        if groups["tuplet"] is not None:
            tuplet_left, factor = int(groups["p"]), _tuplet_factor(int(groups["p"]), compound)
            continue
        if groups["broken"] is not None:
            if last is None or len(groups["broken"]) > 3 or len(set(groups["broken"])) > 1:
                return None
            shift = 1 - Fraction(1, 2 ** len(groups["broken"]))  # > 1/2, >> 3/4, >>> 7/8
            longer = groups["broken"][0] == ">"
            total += last * (shift if longer else -shift)
            halve_next = -shift if longer else shift
            continue
        if groups["chord"] is not None:
            notes = _NOTE_IN_CHORD.findall(groups["inner"] or "")
            if groups["close"] is None or not notes:  # a chord still open: its length is not known
                return None
            first = _length(notes[0])
            outer = _length(groups["clen"] or "")
            if first is None or outer is None:
                return None
            value = first * outer
        elif groups["note"] is not None:
            value_or_none = _length(groups["len"])
            if value_or_none is None:
                return None
            value = value_or_none
        else:  # pragma: no cover - every alternative is handled above
            return None
        if tuplet_left:
            value *= factor
            tuplet_left -= 1
        if halve_next is not None:
            value += value * halve_next
            halve_next = None
        last = value
        total += value
    return total * unit


@dataclass
class BarMeter:
    """One tune as it is written: its header (M:, L:), whether the music has begun (after the K:
    line), the text of the current bar, and the pickup (a first bar shorter than the metre).

    A bar line may close a bar that is not full only where the corpus writes one: the tune's
    first bar (a pickup), the bar that opens a section (after `|:`, `||`, `:|` or `::`: its
    pickup), a part's last bar (its 4th, 8th, ... bar: short by the next part's pickup, which may
    differ from the tune's), and an ending (`[2`); the last two only with a section line (`:|`,
    `||`, `|]`)."""

    meter: Fraction | None = None
    unit: Fraction | None = None
    compound: bool = False
    in_body: bool = False
    line: str = ""  # the current line so far
    earlier: str = ""  # the current bar's text from lines before this one
    bars: int = 0  # bars completed in the music
    pickup: Fraction | None = None
    opens_section: bool = False  # the current bar follows a section line
    phrase: int = 0  # bars of the current section so far (its pickup not counted)
    _ending_start: int = field(default=0, repr=False)  # the phrase's bars before its first ending
    section_line: bool = False  # a short bar was just closed: its bar line must be a section's
    _unknown: bool = field(default=False, repr=False)  # a metre this reader cannot follow
    _bad_unit: bool = field(default=False, repr=False)  # an L: it cannot read: no default unit

    def feed(self, text: str) -> None:
        for ch in text:
            self._feed(ch)

    def _feed(self, ch: str) -> None:
        self.section_line = False
        if ch == "\n":
            self._end_line()
            return
        music = self.in_body and not self._field_line()
        if music and (ch == "|" or (ch == ":" and self.line.endswith(":"))):  # `::` is one too
            self._close_bar(double_colon=ch == ":")
            return
        self.line += ch

    def _close_bar(self, double_colon: bool) -> None:
        done = self.bar_text()
        raw = done.strip()
        if not raw and "\n" in done:  # `|` ending a line and `|` opening the next: one bar line
            self.earlier, self.line = "", ""
            return
        for name, value in _INLINE.findall(done):  # [M:9/8], [L:1/16]: the bars after it
            self._field(name, value)
        filled = self._filled(done)
        # The bar opened a section when `||`, `:|`, `|]` or `::` came before it, or it began
        # with the `:` of `|:` or the `]` of `|]`.
        opened = self.opens_section or raw.startswith((":", "]"))
        if _VOLTA.match(done) and not _VOLTA_1.match(done):  # a later ending stands in for the first
            self.phrase = self._ending_start
        elif _VOLTA_1.match(done):
            self._ending_start = self.phrase
        if filled is None and raw:  # a bar it cannot read is still one of the phrase's
            self.phrase += 1
        if filled is not None and filled > 0:
            self.bars += 1
            short = self.meter is not None and filled < self.meter
            if not (short and (self.bars == 1 or opened)):  # a pickup is not one of the phrase's bars
                self.phrase += 1
            if self.bars == 1 and self.meter is not None and filled < self.meter:
                self.pickup = filled
            elif self.meter is not None and filled < self.meter and not raw.endswith(":") and not opened:
                self.section_line = not double_colon
        self.opens_section = double_colon or raw in ("", ":", "]") or raw.endswith(":")
        if self.opens_section:
            self.phrase = 0
        self.earlier, self.line = "", ""

    def _field_line(self) -> bool:
        return bool(_FIELD_LINE.match(self.line)) or self.line.startswith("%")

    def _end_line(self) -> None:
        line = self.line.strip()
        if _FIELD_LINE.match(line):
            self._field(line[0], line[2:].split("%")[0].strip())
            if line[0] == "K" and not self.in_body:
                self.in_body = True
                if self.unit is None and self.meter is not None and not self._bad_unit:
                    self.unit = Fraction(1, 16) if self.meter < Fraction(3, 4) else Fraction(1, 8)
        elif self.in_body and not line.startswith("%"):
            self.earlier += self.line + "\n"
        self.line = ""

    def _field(self, name: str, value: str) -> None:
        if name == "M":
            self._set_meter(value)
        elif name == "L":
            m = _LENGTH.match(value)
            good = m is not None and int(m.group(1)) > 0
            self.unit = Fraction(1, int(m.group(1))) if m is not None and good else None
            self._bad_unit = not good

    def _set_meter(self, value: str) -> None:
        value = {"C": "4/4", "C|": "2/2"}.get(value.strip(), value)
        m = _METER.match(value)
        if m is None or int(m.group(2)) == 0:
            self.meter, self._unknown = None, True
            return
        num, den = int(m.group(1)), int(m.group(2))
        self.meter, self.compound = Fraction(num, den), num % 3 == 0 and num > 3
        self._unknown = False

    def bar_text(self) -> str:
        return self.earlier + ("" if self._field_line() else self.line)

    def _filled(self, text: str) -> Fraction | None:
        if self.unit is None or self.meter is None or self._unknown or self._bad_unit:
            return None
        return bar_length(text, self.unit, self.compound)

    def state(self) -> tuple[str, int]:
        """What may come next: ("free", 0) anything; ("full", 0) no more notes before the bar
        line (("full", 1): a digit may still follow the slash; ("full", 2): at a line's start, a
        field line may begin); ("over", 0) a length overflowed the bar: only a slash ("over", 1:
        then only digits); ("section", 0) the rest of a section line; ("open", k) not the tune's
        end, and no length digit k or above (k = 10: any); ("short", k) nor a bar line."""
        if not self.in_body or self._field_line() or self.meter is None:
            return "free", 0
        if self.section_line:
            return "section", 0
        text = self.bar_text()
        filled = self._filled(text)
        if filled is None:
            return "free", 0
        if filled > self.meter:  # a length that overflowed: only a slash may shorten it, then digits
            before = self._filled(re.sub(r"\d+/?$", "", text))  # the bar without that length
            if before is None or before > self.meter or not re.search(r"[A-Ga-gzx\]][,']*\d+/?$", text):
                return "free", 0  # overflowing before it, or not a length: past helping
            if not text.endswith("/"):
                return "over", 0
            fits = [
                d for d in range(1, 10) if (f := self._filled(text + str(d))) is not None and f <= self.meter
            ]
            return ("over", fits[0]) if fits else ("free", 0)
        if filled == self.meter:  # full: a digit after a slash only shortens; a new line may be a field
            return "full", 1 if text.endswith("/") else 2 if self.line == "" else 0
        # A short bar may close only as the corpus closes one: the tune's first (a pickup), one
        # opening a section (its pickup), a part's last (its 4th, 8th, ... bar, then with a
        # section line: `section_line`) and an ending. The tune may not end inside a bar.
        # A length digit is refused where it would overflow the bar; 3 only where even a dotted
        # `3/2` would (then a slash must follow: "over").
        digit = 10
        for d in range(2, 10) if _TAKES_LENGTH.search(text) else ():
            longer = self._filled(text + ("3/2" if d == 3 else str(d)))
            if longer is not None and longer > self.meter:
                digit = d
                break
        if filled == 0:
            return "free", 0
        opened = self.opens_section or text.lstrip().startswith((":", "]"))
        may_close = (
            self.bars == 0  # the first bar: a pickup
            or opened  # a section's pickup (a part's may differ from the tune's)
            # a part's last bar, at the end of a phrase of 4 or 8 bars: short by the next part's
            # pickup (not known yet: it may differ from the tune's)
            or (self.bars > 0 and (self.phrase + 1) % 4 == 0)
            or _VOLTA.match(text) is not None  # an ending, completed by the next part's pickup
        )
        return ("open" if may_close else "short"), digit


class BarGuide:
    """The masks a character vocabulary needs for `BarMeter`'s states, built once; `start` follows
    one batch of tunes from their prompt."""

    def __init__(self, stoi: dict[str, int], vocab_size: int, eos: int | None):
        self.stoi = stoi
        self.itos = {i: c for c, i in stoi.items()}
        self.vocab_size = vocab_size
        self.eos = eos
        self._end = [eos] if eos is not None else []
        self._bar = [stoi[c] for c in "|:" if c in stoi]  # what opens a bar line
        # After a short bar's `|`: only what makes it a section line (`||`, `|]`, `|:`).
        self._section = [i for c, i in stoi.items() if c not in "|]:"] + self._end
        self._full = [i for c, i in stoi.items() if c in _NOT_AFTER_FULL]
        # ("short"/"open", k): the digits k and above overflow, and a length never starts with 0.
        self._digits = {d: [stoi[str(x)] for x in (0, *range(d, 10)) if str(x) in stoi] for d in range(2, 10)}
        self._masks: dict[tuple[tuple[str, int], str], torch.Tensor] = {}

    def mask_for(self, state: tuple[str, int], device: torch.device) -> torch.Tensor:
        """(V,) True at the ids `state` bans, on `device` (built once per state and device)."""
        key = (state, str(device))
        if key not in self._masks:
            kind, digit = state
            ids: list[int] = []
            if kind == "full":
                ids = [i for i in self._full if not (digit == 1 and self.itos[i].isdigit())]
                if digit == 2:  # a new line may start a field (M:, P:, T:): only notes are refused
                    ids = [i for i in ids if self.itos[i] not in _FIELD_LETTERS]
            elif kind == "section":
                ids = self._section
            elif kind == "over":  # ("over", k): only the digits k and above (they shorten more)
                keep = "123456789"[digit - 1 :] if digit else "/"
                ids = [i for c, i in self.stoi.items() if c not in keep] + self._end
            elif kind in ("open", "short"):
                ids = self._end + self._digits.get(digit, []) + (self._bar if kind == "short" else [])
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            mask[ids] = True
            self._masks[key] = mask.to(device)
        return self._masks[key]

    def start(self, n: int, prompt: list[int]) -> Steer:
        meters = [BarMeter() for _ in range(n)]
        text = "".join(self.itos.get(i, "") for i in prompt if i != self.eos)
        for m in meters:
            m.feed(text)
        return Steer(self, meters)


class Steer:
    """One batch's tunes under a `BarGuide`: `banned` after each drawn token."""

    def __init__(self, guide: BarGuide, meters: list[BarMeter]):
        self.guide, self.meters = guide, meters

    def banned(self, device: torch.device) -> torch.Tensor | None:
        """(n, V) True where a row may not draw; None when no row is constrained."""
        states = [m.state() for m in self.meters]
        if all(s[0] == "free" for s in states):
            return None
        return torch.stack([self.guide.mask_for(s, device) for s in states])

    def drawn(self, ids: list[int]) -> None:
        for meter, i in zip(self.meters, ids, strict=True):
            if i != self.guide.eos:
                meter.feed(self.guide.itos.get(i, ""))


class LastBars:
    """Where an ABC tune's ending starts: the sampler redraws a tune that fails only at its ending
    from there (its last `bars` bars, the final cadence), so that the model writes another ending
    to the tune it has already written instead of a whole new tune."""

    def __init__(self, stoi: dict[str, int], eos: int | None, bars: int = 2):
        self.itos = {i: c for c, i in stoi.items()}
        self.eos = eos
        self.bars = bars

    def cut(self, prompt: list[int], ids: list[int]) -> int | None:
        """How many of the tune's `ids` (after `prompt`) to keep: those before its last `bars`
        bars; None where it has too few bars of music (its ending would be most of the tune)."""
        meter = BarMeter()
        meter.feed("".join(self.itos.get(i, "") for i in prompt if i != self.eos))
        closes = []  # the ids kept when each bar of music has just closed, its whole bar line kept
        for k, i in enumerate(ids):
            before = meter.bars
            meter.feed(self.itos.get(i, "") if i != self.eos else "")
            if meter.bars > before:
                closes.append(k + 1)
        if not closes:
            return None
        # The rest of a section line (`||`, `|]`, `|:`) stays with the bar it closes.
        closes = [self._bar_line_end(ids, k) for k in closes]
        # A last bar left open (no bar line at the tune's end) is a bar too; chord symbols,
        # decorations and field lines after the last bar line are not.
        tail = "".join(self.itos.get(i, "") for i in ids[closes[-1] :] if i != self.eos)
        open_last = bool(re.search(r"[A-Ga-g]", _NOT_NOTES.sub("", tail)))
        back = self.bars - 1 if open_last else self.bars
        if len(closes) < back + self.bars:  # keep at least as many bars as are redrawn
            return None
        return closes[-(back + 1)]

    def _bar_line_end(self, ids: list[int], k: int) -> int:
        while k < len(ids) and self.itos.get(ids[k], "") in ("|", "]", ":"):
            k += 1
        return k

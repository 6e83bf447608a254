"""An ABC tune header built from `seqgen sample`'s conditioning options, and whether a tune kept it.

Owns: `TuneHeader` (meter, key, rhythm, title and opening music, each checked, and the header text
they make, in the built-in O'Neill corpus's field order: X:, T:, M:, L:, R:, K:), `parse_meter`,
`parse_key` (ABC key syntax, confirmed by reading it back through music21, which turns samples into
notes and MIDI) and `kept_header` (does every M: and K: field of a tune say what was asked?). Does
not own the prompt's ids or the vocabulary check (the data kind's), nor judging bars against the
metre or notes against the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from seqgen.errors import SeqgenError
from seqgen.music.abc import MAX_METER_BEATS

# ABC modes by full name; a mode is written as "m" (minor) or at least its first three letters.
MODES = (
    "major",
    "minor",
    "ionian",
    "aeolian",
    "mixolydian",
    "dorian",
    "phrygian",
    "lydian",
    "locrian",
)
# Ionian is major and aeolian minor: the same scale under two names, so the same key.
_SAME_SCALE = {"ionian": "major", "aeolian": "minor"}
# A key signature holds each of the 7 letters at most once: G# major (8 sharps) is written Ab.
MAX_ACCIDENTALS = 7
BEAT_UNITS = (1, 2, 4, 8, 16, 32, 64)  # meter denominators: whole note down to 64th
# C is common time and C| cut time: the same meters as 4/4 and 2/2.
_METER_ALIASES = {"C": "4/4", "C|": "2/2"}

_KEY = re.compile(r"([A-Ga-g])([#b]?)\s*([A-Za-z]*)")
_METER = re.compile(r"(\d+)/(\d+)")
_FIELD = {letter: re.compile(rf"(?m)^[ \t]*{letter}:([^\n%]*)|\[{letter}:([^\]\n]*)\]") for letter in "MK"}

_METER_HELP = (
    "give N/D with N at least 1 and D a power of two up to 64, e.g. 6/8, 3/4, 2/2, or C (4/4) or C| (2/2)"
)
_KEY_HELP = (
    "give a tonic A-G with an optional # or b and a mode (maj, min/m, mix, dor, phr, lyd, ion, aeo), "
    "e.g. D, Em, Dmix, F#dor"
)


@dataclass(frozen=True)
class AbcKey:
    """A key as an ABC K: field means it: `tonic` as ABC spells it ("F#", "Bb"), `mode` a full
    name from MODES."""

    tonic: str
    mode: str

    @property
    def scale(self) -> tuple[str, str]:
        """What makes two keys the same: Dion is D major, Aaeo is A minor."""
        return self.tonic, _SAME_SCALE.get(self.mode, self.mode)

    def __str__(self) -> str:
        return f"{self.tonic} {self.mode}"


def _mode(word: str) -> str | None:
    """The full mode name of an ABC mode word ("" is major, "m" minor, else 3+ letters of one)."""
    w = word.lower()
    if w == "":
        return "major"
    if w == "m":
        return "minor"
    if len(w) < 3:
        return None
    return next((m for m in MODES if m.startswith(w)), None)


def key_of(text: str) -> AbcKey | str:
    """The key an ABC K: value names, or why it names none (syntax only; no music21)."""
    m = _KEY.fullmatch(text.strip())
    if m is None:
        return ""
    letter, accidental, word = m.groups()
    if letter.islower():
        return "the tonic is a capital letter"
    mode = _mode(word)
    if mode is None:
        return f"{word!r} is not a mode"
    return AbcKey(letter + accidental, mode)


def parse_meter(text: str) -> str:
    """`text` stripped, when it is an ABC meter: N/D (N >= 1, D in BEAT_UNITS), C or C|.
    Raises SeqgenError saying what is wrong otherwise."""
    meter = text.strip()
    if meter in _METER_ALIASES:
        return meter
    m = _METER.fullmatch(meter)
    if m is None:
        why = "not N/D, C or C|"
    elif int(m.group(1)) < 1:
        why = "the beat count must be at least 1"
    elif int(m.group(1)) > MAX_METER_BEATS:
        why = f"the beat count must be at most {MAX_METER_BEATS}"
    elif int(m.group(2)) not in BEAT_UNITS:
        why = f"the beat unit {int(m.group(2))} is not a power of two from 1 to 64"
    else:
        return meter
    raise SeqgenError(f"--meter {text!r} is not an ABC meter ({why}): {_METER_HELP}")


def parse_key(text: str) -> AbcKey:
    """The key an ABC K: value means, checked three ways: ABC key syntax, at most 7 sharps or
    flats, and music21 (which turns samples into notes and MIDI) reading the same tonic and mode.
    Raises SeqgenError saying what is wrong otherwise."""
    if text.strip().lower() in ("none", "hp"):
        raise SeqgenError(
            f"--key {text!r} is not supported: a tune is conditioned on a tonic and a mode "
            "(not 'none' or the highland-pipe keys HP/Hp); give e.g. D, Em, Dmix"
        )
    key = key_of(text)
    if isinstance(key, str):
        why = f" ({key})" if key else ""
        raise SeqgenError(f"--key {text!r} is not an ABC key{why}: {_KEY_HELP}")
    _refuse_theoretical(text, key)
    read = music21_key(text)
    if read != (key.tonic, key.mode):
        got = f"{read[0]} {read[1]}" if read[0] and read[1] else "a key signature with no tonic or mode"
        raise SeqgenError(
            f"--key {text!r}: music21, which turns samples into notes and MIDI, reads it as {got}, "
            f"not {key}; give another key or mode"
        )
    return key


def _refuse_theoretical(text: str, key: AbcKey) -> None:
    """Refuse a key that needs more than 7 sharps or flats (G# major, Fb major), naming the
    enharmonic key that spells the same notes."""
    from music21 import key as m21key
    from music21 import pitch

    tonic = key.tonic.replace("b", "-") if len(key.tonic) == 2 else key.tonic
    sharps = m21key.Key(tonic, key.mode).sharps
    if abs(sharps) <= MAX_ACCIDENTALS:
        return
    enharmonic = pitch.Pitch(tonic).getEnharmonic()
    twin = enharmonic.name.replace("-", "b") if enharmonic is not None else "its enharmonic"
    mode_word = text.strip()[len(key.tonic) :]
    kind = "sharps" if sharps > 0 else "flats"
    raise SeqgenError(
        f"--key {text!r} needs {abs(sharps)} {kind}, more than a key signature holds "
        f"({MAX_ACCIDENTALS}); give the same notes as {twin}{mode_word}"
    )


def music21_key(text: str) -> tuple[str | None, str | None]:
    """The (tonic as ABC spells it, mode) music21 reads from K:`text` in a minimal tune; (None,
    None) when it finds a key signature with no tonic (how it reads locrian)."""
    from seqgen.music.abc import parse_abc

    score = parse_abc(f"X:1\nM:4/4\nL:1/8\nK:{text}\nC|\n")
    found = next(iter(score.recurse().getElementsByClass("KeySignature")), None)
    tonic, mode = getattr(found, "tonic", None), getattr(found, "mode", None)
    if tonic is None:
        return None, None
    return tonic.name.replace("-", "b"), mode


def _one_line(flag: str, value: str, example: str) -> str:
    text = value.strip()
    if not text:
        raise SeqgenError(f"{flag} is empty; give e.g. {example}, or drop it")
    if "\n" in text or "\r" in text:
        raise SeqgenError(f"{flag} {value!r} holds a line break; an ABC field is one line, e.g. {example}")
    return text


@dataclass
class TuneHeader:
    """What a sampled tune is asked to start with. Each field is optional; the given ones are
    checked (and stripped) here, raising SeqgenError with a one-line message."""

    meter: str | None = None  # M:, e.g. "6/8"
    key: str | None = None  # K:, e.g. "Dmix"
    rhythm: str | None = None  # R:, free text, e.g. "jig"
    title: str | None = None  # T:
    start: str | None = None  # the opening music, after the K: line (real newlines, not "\n")

    FLAGS: ClassVar[dict[str, str]] = {
        "meter": "--meter",
        "key": "--key",
        "rhythm": "--rhythm",
        "title": "--title",
        "start": "--start",
    }

    def __post_init__(self) -> None:
        if self.meter is not None:
            self.meter = parse_meter(self.meter)
        if self.key is not None:
            parse_key(self.key)
            self.key = self.key.strip()
        if self.rhythm is not None:
            self.rhythm = _one_line("--rhythm", self.rhythm, "jig, reel or hornpipe")
        if self.title is not None:
            self.title = _one_line("--title", self.title, "'The Kesh'")
        if self.start is not None:
            if not self.start.strip():
                raise SeqgenError("--start is empty; give the opening notes, e.g. 'D E F', or drop it")
            if self.key is None:
                raise SeqgenError(
                    "--start needs --key: a tune's music begins after its K: line; "
                    "give the key too, e.g. --key D"
                )
            if re.search(r"(?m)^[ \t]*[A-Za-z]:(?!\|)|\[[A-Za-z]:", self.start.replace("\\n", "\n")):
                raise SeqgenError(
                    "--start holds a header field (such as K: or M:); give only music there, "
                    "and the key and metre with --key and --meter"
                )

    def given(self) -> list[tuple[str, str]]:
        """(flag, value) of each option given, in the order of `FLAGS`."""
        return [(flag, v) for name, flag in self.FLAGS.items() if (v := getattr(self, name)) is not None]

    @property
    def asks_key_or_meter(self) -> bool:
        """Whether there is an M: or K: a sample can keep or lose."""
        return self.meter is not None or self.key is not None

    def text(self) -> str:
        """The header: X:1, then T:, M:, L:1/8, R:, K: (each only when given; X: and L: always),
        then the opening music."""
        lines = ["X:1"]
        if self.title is not None:
            lines.append(f"T:{self.title}")
        if self.meter is not None:
            lines.append(f"M:{self.meter}")
        lines.append("L:1/8")
        if self.rhythm is not None:
            lines.append(f"R:{self.rhythm}")
        if self.key is not None:
            lines.append(f"K:{self.key}")
        return "\n".join(lines) + "\n" + (self.start or "")

    @property
    def asked(self) -> str:
        """What a tune must keep, as fields: "M:6/8 and K:Dmix"."""
        return " and ".join(f"{f}:{v}" for f, v in (("M", self.meter), ("K", self.key)) if v is not None)

    def kept(self, tune: str) -> bool:
        """Whether `tune` kept the asked M: and K: (see `kept_header`)."""
        return kept_header(tune, self.meter, self.key)


def build_header(
    meter: str | None = None,
    key: str | None = None,
    rhythm: str | None = None,
    title: str | None = None,
    start: str | None = None,
) -> str:
    """The ABC header (and opening music) a tune is asked to start with; see `TuneHeader`."""
    return TuneHeader(meter, key, rhythm, title, start).text()


def _fields(text: str, letter: str) -> list[str]:
    """The values of every `letter`: field in an ABC tune: header lines and inline [M:...] fields,
    without a trailing % comment."""
    found = _FIELD[letter].finditer(text)
    return [(m.group(1) if m.group(1) is not None else m.group(2)).strip() for m in found]


def _same_meter(a: str, b: str) -> bool:
    def norm(m: str) -> str:
        m = re.sub(r"\s+", "", m)
        return _METER_ALIASES.get(m, m)

    return norm(a) == norm(b)


def _same_key(a: str, b: str) -> bool:
    ka, kb = key_of(a), key_of(b)
    return isinstance(ka, AbcKey) and isinstance(kb, AbcKey) and ka.scale == kb.scale


def kept_header(text: str, meter: str | None, key: str | None) -> bool:
    """Whether a tune kept the asked meter and key: it has M: fields and every one names `meter`
    (C is 4/4, C| is 2/2; spaces do not count), and it has K: fields and every one names `key`
    (the same tonic and mode: Dmix = D Mixolydian, Dion = D). Inline fields ([K:G]) count, as a
    change of key or meter part-way through. A None meter or key is not asked, so not checked."""
    if meter is not None:
        meters = _fields(text, "M")
        if not meters or not all(_same_meter(m, meter) for m in meters):
            return False
    if key is not None:
        keys = _fields(text, "K")
        if not keys or not all(_same_key(k, key) for k in keys):
            return False
    return True

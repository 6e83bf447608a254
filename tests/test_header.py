"""The ABC header `seqgen sample` builds from --meter/--key/--rhythm/--title/--start: what it
accepts (and what music21 makes of the keys), the one-line messages for what it refuses, the field
order, and `kept_header`."""

from __future__ import annotations

import pytest
from music21 import key as m21key

from seqgen.errors import SeqgenError
from seqgen.music.abc import parse_abc
from seqgen.music.header import (
    AbcKey,
    TuneHeader,
    build_header,
    kept_header,
    music21_key,
    parse_key,
    parse_meter,
)

METER_HELP = (
    "give N/D with N at least 1 and D a power of two up to 64, e.g. 6/8, 3/4, 2/2, or C (4/4) or C| (2/2)"
)
KEY_HELP = (
    "give a tonic A-G with an optional # or b and a mode (maj, min/m, mix, dor, phr, lyd, ion, aeo), "
    "e.g. D, Em, Dmix, F#dor"
)


# -- meters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "meter"),
    [
        ("6/8", "6/8"),
        ("3/4", "3/4"),
        ("12/8", "12/8"),
        ("1/1", "1/1"),
        ("3/64", "3/64"),
        ("C", "C"),
        ("C|", "C|"),
        (" 2/2 ", "2/2"),
    ],
)
def test_meters_accepted(given: str, meter: str) -> None:
    assert parse_meter(given) == meter


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("7/0", "the beat unit 0 is not a power of two from 1 to 64"),
        ("3/5", "the beat unit 5 is not a power of two from 1 to 64"),
        ("3/128", "the beat unit 128 is not a power of two from 1 to 64"),
        ("0/4", "the beat count must be at least 1"),
        ("abc", "not N/D, C or C|"),
        ("", "not N/D, C or C|"),
        ("6/8/8", "not N/D, C or C|"),
        ("-3/4", "not N/D, C or C|"),
        ("C||", "not N/D, C or C|"),
    ],
)
def test_meters_refused_with_one_line(given: str, why: str) -> None:
    with pytest.raises(SeqgenError) as e:
        parse_meter(given)
    assert str(e.value) == f"--meter {given!r} is not an ABC meter ({why}): {METER_HELP}"
    assert "\n" not in str(e.value)


# -- keys ------------------------------------------------------------------------------------------

KEYS = [
    ("D", "D", "major"),
    ("Em", "E", "minor"),
    ("EM", "E", "minor"),  # the mode is case-insensitive: M is minor, as in the ABC standard
    ("Dmix", "D", "mixolydian"),
    ("F#dor", "F#", "dorian"),
    ("Bbmaj", "Bb", "major"),
    ("Gmin", "G", "minor"),
    ("Ebion", "Eb", "ionian"),
    ("Aaeo", "A", "aeolian"),
    ("EPhr", "E", "phrygian"),
    ("Flyd", "F", "lydian"),
    ("Dmixolydian", "D", "mixolydian"),
    ("G Major", "G", "major"),
    ("C#m", "C#", "minor"),
    ("Cb", "Cb", "major"),  # 7 flats: the most a key signature holds
]


@pytest.mark.parametrize(("given", "tonic", "mode"), KEYS)
def test_keys_mean_their_tonic_and_mode_to_music21(given: str, tonic: str, mode: str) -> None:
    assert parse_key(given) == AbcKey(tonic, mode)
    assert music21_key(given) == (tonic, mode)


@pytest.mark.parametrize("tonic", [t + a for t in "CDEFGAB" for a in ("", "#", "b")])
def test_every_accepted_key_gets_its_key_signature_from_music21(tonic: str) -> None:
    """What an accepted K: makes music21 play (the sharps of the tune's key signature) is what
    music21's own key theory gives for that tonic and mode: the MIDI is in the asked key."""
    for word in ("", "m", "maj", "min", "mix", "dor", "phr", "lyd", "ion", "aeo", "loc"):
        try:
            key = parse_key(tonic + word)
        except SeqgenError:
            continue
        score = parse_abc(f"X:1\nM:4/4\nL:1/8\nK:{tonic + word}\nC|\n")
        sharps = next(iter(score.recurse().getElementsByClass("KeySignature"))).sharps
        expected = m21key.Key(key.tonic.replace("b", "-") if len(key.tonic) == 2 else key.tonic, key.mode)
        assert sharps == expected.sharps, tonic + word
        assert abs(sharps) <= 7, tonic + word


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("H", f"--key 'H' is not an ABC key: {KEY_HELP}"),
        ("", f"--key '' is not an ABC key: {KEY_HELP}"),
        ("D =c", f"--key 'D =c' is not an ABC key: {KEY_HELP}"),
        ("dmix", f"--key 'dmix' is not an ABC key (the tonic is a capital letter): {KEY_HELP}"),
        ("Dxyz", f"--key 'Dxyz' is not an ABC key ('xyz' is not a mode): {KEY_HELP}"),
        ("Emi", f"--key 'Emi' is not an ABC key ('mi' is not a mode): {KEY_HELP}"),
        (
            "none",
            "--key 'none' is not supported: a tune is conditioned on a tonic and a mode (not 'none' or "
            "the highland-pipe keys HP/Hp); give e.g. D, Em, Dmix",
        ),
        (
            "HP",
            "--key 'HP' is not supported: a tune is conditioned on a tonic and a mode (not 'none' or "
            "the highland-pipe keys HP/Hp); give e.g. D, Em, Dmix",
        ),
        (
            "Hp",
            "--key 'Hp' is not supported: a tune is conditioned on a tonic and a mode (not 'none' or "
            "the highland-pipe keys HP/Hp); give e.g. D, Em, Dmix",
        ),
        ("G#", "--key 'G#' needs 8 sharps, more than a key signature holds (7); give the same notes as Ab"),
        ("Fb", "--key 'Fb' needs 8 flats, more than a key signature holds (7); give the same notes as E"),
        ("B#m", "--key 'B#m' needs 9 sharps, more than a key signature holds (7); give the same notes as Cm"),
        (
            "Bloc",  # music21 reads a locrian K: as a bare key signature of the major key's sharps
            "--key 'Bloc': music21, which turns samples into notes and MIDI, reads it as a key "
            "signature with no tonic or mode, not B locrian; give another key or mode",
        ),
    ],
)
def test_keys_refused_with_one_line(given: str, message: str) -> None:
    with pytest.raises(SeqgenError) as e:
        parse_key(given)
    assert str(e.value) == message


# -- the header ------------------------------------------------------------------------------------


def test_header_follows_the_oneill_field_order() -> None:
    text = build_header(meter="6/8", key="Dmix", rhythm="jig", title="The Kesh", start="D E F")
    assert text == "X:1\nT:The Kesh\nM:6/8\nL:1/8\nR:jig\nK:Dmix\nD E F"


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"meter": "6/8"}, "X:1\nM:6/8\nL:1/8\n"),
        ({"key": " Em "}, "X:1\nL:1/8\nK:Em\n"),
        ({"title": "Hill", "rhythm": "slip jig: fast"}, "X:1\nT:Hill\nL:1/8\nR:slip jig: fast\n"),
        ({"key": "G", "start": "|:GAB\ndBG"}, "X:1\nL:1/8\nK:G\n|:GAB\ndBG"),
    ],
)
def test_header_holds_only_the_given_fields(options: dict[str, str], text: str) -> None:
    assert build_header(**options) == text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"start": "D E F"},
            "--start needs --key: a tune's music begins after its K: line; give the key too, e.g. --key D",
        ),
        ({"key": "D", "start": "  "}, "--start is empty; give the opening notes, e.g. 'D E F', or drop it"),
        ({"rhythm": " "}, "--rhythm is empty; give e.g. jig, reel or hornpipe, or drop it"),
        (
            {"rhythm": "jig\nK:C"},
            "--rhythm 'jig\\nK:C' holds a line break; an ABC field is one line, e.g. jig, reel or hornpipe",
        ),
        ({"title": "A\rB"}, "--title 'A\\rB' holds a line break; an ABC field is one line, e.g. 'The Kesh'"),
        ({"key": "H", "meter": "6/8"}, f"--key 'H' is not an ABC key: {KEY_HELP}"),
    ],
)
def test_header_refuses_with_one_line(options: dict[str, str], message: str) -> None:
    with pytest.raises(SeqgenError) as e:
        TuneHeader(**options)
    assert str(e.value) == message
    assert "\n" not in str(e.value)


def test_given_lists_the_options_in_flag_order() -> None:
    header = TuneHeader(key="D", title="T", meter="C")
    assert header.given() == [("--meter", "C"), ("--key", "D"), ("--title", "T")]
    assert header.asks_key_or_meter
    assert not TuneHeader(rhythm="reel").asks_key_or_meter


# -- kept_header -----------------------------------------------------------------------------------

TUNE = "X:1\nT:Hill\nM:6/8\nL:1/8\nK:Dmix\n|:DED c2A|BAG A3:|\n"


@pytest.mark.parametrize(
    ("text", "meter", "key", "kept"),
    [
        (TUNE, "6/8", "Dmix", True),
        (TUNE, None, "Dmix", True),
        (TUNE, "6/8", None, True),
        (TUNE, None, None, True),
        (TUNE, "6/8", "D mixolydian", True),  # the same key, spelled out
        (TUNE, "3/4", "Dmix", False),
        (TUNE, "6/8", "D", False),  # D major is not D mixolydian
        (TUNE.replace("K:Dmix", "K:Dmix % the key"), "6/8", "Dmix", True),  # a comment is no key
        (TUNE + "M:3/4\nABc|\n", "6/8", "Dmix", False),  # a later M: line changes the meter
        (TUNE + "K:G\nGAB|\n", "6/8", "Dmix", False),  # a later K: line changes the key
        (TUNE + "|[K:G] GAB|\n", "6/8", "Dmix", False),  # an inline field changes it too
        (TUNE + "|[M:6/8] GAB|\n", "6/8", "Dmix", True),  # restating the meter keeps it
        (TUNE + "K:D mix\nGAB|\n", "6/8", "Dmix", True),  # restating the key keeps it
        ("X:1\nM:C\nK:Aaeo\nA|\n", "4/4", "Am", True),  # C is 4/4; aeolian is minor
        ("X:1\nM:C|\nK:Dion\nA|\n", "2/2", "D", True),  # C| is 2/2; ionian is major
        ("X:1\nL:1/8\nK:D\nA|\n", "6/8", "D", False),  # no M: at all
        ("X:1\nM:6/8\nL:1/8\nabc|\n", "6/8", "D", False),  # no K: at all
        (TUNE.replace("K:Dmix", "K:Dmix clef=bass"), "6/8", "Dmix", False),  # not a plain key
    ],
)
def test_kept_header(text: str, meter: str | None, key: str | None, kept: bool) -> None:
    assert kept_header(text, meter, key) is kept


def test_a_tune_header_keeps_itself() -> None:
    header = TuneHeader(meter="6/8", key="Dmix", rhythm="jig", start="DED")
    assert header.kept(header.text() + " c2A|\n")


def test_start_may_not_hold_header_fields() -> None:
    from seqgen.errors import SeqgenError
    from seqgen.music.header import TuneHeader

    with pytest.raises(SeqgenError, match="--start holds a header field"):
        TuneHeader(key="D", start="X:1\nK:G\n")
    with pytest.raises(SeqgenError, match="--start holds a header field"):
        TuneHeader(key="D", start="DEF [K:G] GAB")
    assert TuneHeader(key="D", start="A:|").start == "A:|"  # a note and a repeat, not a field

"""The tune judge (seqgen.music.judge) on hand-written tunes: each rejection, and tunes that pass."""

from __future__ import annotations

import re

import pytest

from seqgen.music.check import TuneCheck
from seqgen.music.judge import CRITERIA, copy_share, judge_tune
from seqgen.music.reading import parse_key, read_tune

# A two-part reel in D, 8 + 8 bars, each part repeated, ending on the tonic: a tune.
REEL = """X:1
T:Test Reel
M:4/4
L:1/8
R:reel
K:D
|:A|dAFA dAFA|BGBd cBAG|FAdf afdf|gfed cdeg|
dAFA dAFA|BGBd cBAG|FAdf afec|d2dc d3:|
|:g|fdad fdad|gece gece|fdad fdfg|afge fdd2|
fdad fdad|gece gecA|BGBd cBAG|FDEF D3:|
"""

# A jig in G with a pickup and the short bar that completes it at each part's end.
JIG = """X:1
T:Test Jig
M:6/8
L:1/8
R:jig
K:G
D|GBd gdB|GBd c2A|GBd gdB|AGA c2A|
GBd gdB|GBd c2A|BAG AGF|G3 G2||
d|gfg afd|gfg a2g|fef gfe|dcB A2d|
gfg afd|gfg a2g|fed cBA|G3 G2|]
"""


def criteria(text: str, share: float | None = None) -> dict[str, bool]:
    v = judge_tune(text, share)
    return {c.name: c.ok for c in v.criteria}


def test_whole_tunes_pass() -> None:
    for tune in (REEL, JIG):
        v = judge_tune(tune)
        assert v.ok, v.reason
        assert v.ends_on_tonic
        assert [c.name for c in v.criteria] == list(CRITERIA)


def test_the_reel_is_read_as_written() -> None:
    r = read_tune(REEL)
    assert (r.meter, r.rhythm, r.key, r.tonic, r.mode) == ("4/4", "reel", "D", 2, "major")
    assert r.bad_bars == 0
    assert r.played_bars == pytest.approx(32.0, abs=0.01)  # 2 parts x 8 bars, each repeated
    assert r.last_degree == 0


def test_bars_that_do_not_fill_the_metre_fail_rhythm() -> None:
    # Bars of 6 and 10 eighths in 4/4, in the middle of the parts.
    bad = REEL.replace("BGBd cBAG|FAdf afdf|", "BGB cBAG|FAdf afdfga|").replace(
        "gece gece|fdad fdfg|", "gec gece|fdad fdfgab|"
    )
    v = judge_tune(bad)
    assert not v.passed("rhythm")
    assert "bars do not fill 4/4" in (v.reason or "")
    assert v.passed("mode") and v.passed("form")


def test_pickup_and_section_end_bars_are_not_counted() -> None:
    # JIG's pickups (1 eighth) and the 5-eighth bars ending each part are as the corpus writes them.
    r = read_tune(JIG)
    assert r.bad_bars == 0
    assert all(length == pytest.approx(1.0) for length in r.bar_lengths)  # in bars of 6/8


def test_an_ending_away_from_the_tonic_fails_mode() -> None:
    # End the reel in D on C# (the 7th), which no O'Neill tune ends on.
    off = REEL.replace("FDEF D3:|", "FDEF c3:|")
    v = judge_tune(off)
    assert not v.passed("mode")
    assert v.reason == "mode: ends on the 7th, not on a cadence of K:D (its other parts end on the tonic)"
    assert not v.ends_on_tonic


def test_only_an_ending_off_the_tonic_is_the_endings_fault() -> None:
    """A tune that fails (or passes) only at its last note may be saved by a new ending; one that
    ends at home, or fails anything else, may not."""
    assert judge_tune(REEL.replace("FDEF D3:|", "FDEF c3:|")).ending_at_fault  # fails at its end
    assert judge_tune(JIG.replace("G3 G2|]", "A3 A2|]")).ending_at_fault  # fails at its end
    assert not judge_tune(REEL).ending_at_fault  # home
    foreign = REEL.replace("F", "=F").replace("c", "=c").replace("f", "=f").replace("FDEF D3:|", "FDEF c3:|")
    assert not judge_tune(foreign).ending_at_fault  # foreign notes: not the ending's fault
    short = "X:1\nT:S\nM:4/4\nL:1/8\nR:reel\nK:D\n|:dAFA dAFA|BGBd cBAG|FAdf afec|d2dc c4:|\n"
    assert not judge_tune(short).ending_at_fault  # a fragment: a new ending does not make a tune


def test_a_failing_tune_says_how_near_it_came_so_retries_keep_the_nearest_miss() -> None:
    """`TuneCheck.misses`: 0 for a tune that passes; farthest a tune that does not play, then one
    that left the key or metre asked for, then a copy of a training tune, then by the number of
    the judge's criteria failed."""

    def checked(text: str, share: float | None = None, asked_kept: bool | None = None) -> TuneCheck:
        v = judge_tune(text, share)
        ok = v.ok and asked_kept is not False
        return TuneCheck(ok, v.reason or "did not keep the asked K:G", 64, 30.0, 60, 80, v, asked_kept)

    off_tonic = REEL.replace("FDEF D3:|", "FDEF c3:|")
    short = "X:1\nT:S\nM:4/4\nL:1/8\nR:reel\nK:D\n|:dAFA dAFA|BGBd cBAG|FAdf afec|d2dc c4:|\n"
    assert checked(REEL).misses == 0 and checked(REEL, asked_kept=True).misses == 0
    assert checked(off_tonic).misses == 1  # mode: off the tonic
    assert checked(short).misses == 2  # form and mode
    copied, left = checked(REEL, share=1.0), checked(REEL, asked_kept=False)
    runaway = TuneCheck(False, "the tune did not end within --length", 900, 200.0, 50, 90)
    unread = checked("X:1\nT:U\nM:4/4\nL:1/8\nK:D\n")  # the judge cannot read it: no bar lines
    # Asked for a key: a tune in it that fails form is nearer than one whose notes leave it.
    asked_short = "X:1\nT:S\nM:4/4\nL:1/8\nR:reel\nK:D\n|:dAFA dAFA|BGBd cBAG|FAdf afec|d2dc d4:|\n"
    assert judge_tune(asked_short).passed("mode") and not judge_tune(asked_short).passed("form")
    in_key, off_key = checked(asked_short, asked_kept=True), checked(off_tonic, asked_kept=True)
    assert in_key.misses < off_key.misses and checked(asked_short).misses == checked(off_tonic).misses
    nearest_first = [
        off_tonic,
        short,
        copied,
        off_key,
        left,
        checked(short, asked_kept=False),
        runaway,
        unread,
    ]
    misses = [c.misses if isinstance(c, TuneCheck) else checked(c).misses for c in nearest_first]
    assert misses == sorted(misses) and len(set(misses[:6])) == 6, misses
    assert unread.judge is not None and unread.judge.reading is not None and unread.judge.reading.error
    assert runaway.misses == unread.misses  # neither plays


def test_notes_foreign_to_the_key_fail_mode() -> None:
    # Every F and C natural in D major (whose scale has F# and C#): a third of the notes.
    foreign = REEL.replace("F", "=F").replace("c", "=c").replace("f", "=f")
    v = judge_tune(foreign)
    assert not v.passed("mode")
    assert "foreign to K:D" in (v.reason or "")


def test_a_key_that_is_not_a_key_fails_mode() -> None:
    v = judge_tune(REEL.replace("K:D", "K:Hq"))
    assert not v.passed("mode")


def test_a_tune_barred_in_half_bars_fails_rhythm() -> None:
    # A 6/8 jig barred every three eighths: each pair makes a bar, but that is not its metre.
    half = "X:1\nT:Half\nM:6/8\nL:1/8\nR:jig\nK:D\n|:" + "DEF|GAB|AFD|FED|" * 4 + "D3|D3:|\n"
    v = judge_tune(half)
    assert not v.passed("rhythm")


def test_a_k_field_with_a_clef_keeps_its_mode() -> None:
    assert parse_key("D mix clef=treble") == (2, "mixolydian")


def test_a_fragment_fails_form() -> None:
    # Four bars and a repeat sign, labelled a reel: 8 bars played, a reel has two parts of 8.
    fragment = "X:1\nT:Fragment\nM:4/4\nL:1/8\nR:reel\nK:D\n|:dAFA dAFA|BGBd cBAG|FAdf afec|d2dc d4:|\n"
    v = judge_tune(fragment)
    assert not v.passed("form")
    assert v.reason == "form: 8 bars played: a reel has two parts of eight bars"
    # Five bars and no repeat, no tune type: too short for any tune.
    five = "X:1\nT:Five\nM:4/4\nL:1/8\nK:D\ndAFA dAFA|BGBd cBAG|FAdf afec|dAFA BGBd|d8|]\n"
    assert judge_tune(five).reason == "form: 5 bars played: too short for a tune"


def test_a_dance_whose_last_part_stops_short_fails_form() -> None:
    """Part A repeated, then a part B of two bars: enough bars played, but the reel stops
    mid-phrase."""
    short = REEL.replace("|:g|fdad fdad|gece gece|fdad fdfg|afge fdd2|\nfdad fdad|gece gecA|", "|:g|")
    r = read_tune(short)
    assert r.last_part_bars is not None and r.last_part_bars < 3
    assert r.played_bars is not None and r.played_bars >= 15.5
    v = judge_tune(short)
    assert not v.passed("form") and "stops mid-phrase" in (v.reason or ""), v.reason
    assert read_tune(REEL).last_part_bars == pytest.approx(8.0, abs=0.2)


def test_a_last_part_half_as_long_as_the_first_fails_form() -> None:
    """JIG with no R: field (so no dance rule applies): its second part stopped after 4 bars."""
    half = JIG.replace("R:jig\n", "").replace("fef gfe|dcB A2d|\ngfg afd|gfg a2g|", "")
    assert half != JIG.replace("R:jig\n", "")
    v = judge_tune(half)
    assert not v.passed("form")
    assert v.reason == "form: its last part is 4 bars after a first of 8: it stops mid-tune"
    assert judge_tune(JIG.replace("R:jig\n", "")).passed("form")


def test_a_dance_part_of_no_phrase_length_fails_form() -> None:
    """REEL with four more bars in its B part: 8 + 12 bars, no reel's phrasing."""
    four_more = "fdad fdad|gece gece|fdad fdfg|afge fdd2|\n"
    long_b = REEL.replace("fdad fdad|gece gecA|", "fdad fdad|gece gecA|" + four_more)
    r = read_tune(long_b)
    assert r.part_bars == pytest.approx((8.0, 12.0), abs=0.3)
    v = judge_tune(long_b)
    assert not v.passed("form")
    assert v.reason == "form: parts of 8 + 12 bars: a part of 12 is no phrase of a reel", v.reason
    assert judge_tune(long_b.replace("R:reel\n", "")).passed("form")  # no dance in 4/4: 12 is a phrase
    # A start repeat after a plain bar line starts the B part too.
    plain = long_b.replace("d3:|\n|:g|", "d3|\n|:g|")
    assert read_tune(plain).part_bars == pytest.approx((8.0, 12.0), abs=0.3)
    assert not judge_tune(plain).passed("form")
    # A 10-bar part is a jig's (O'Neill's writes them), not a reel's.
    ten = REEL.replace("fdad fdad|gece gecA|", "fdad fdad|gece gecA|fdad fdad|gece gece|")
    assert not judge_tune(ten).passed("form") and "a part of 10 is no phrase of a reel" in (
        judge_tune(ten).reason or ""
    )


def test_a_tune_in_cut_or_common_time_with_no_dance_field_keeps_four_bar_phrases() -> None:
    """With no R: field, a tune in C| or 4/4 is still in 4-bar phrases (O'Neill's: all but 2 of
    167), and may have 12-bar parts; in 6/8 or 3/4 O'Neill's are not, so their parts are not
    judged. A generated C| tune with parts of 8 + 5 + 8 bars is no tune a session plays (here 8 + 6)."""
    plain = REEL.replace("R:reel\n", "")
    six = plain.replace("fdad fdad|gece gecA|BGBd cBAG|FDEF D3:|", "afge fdd2|FDEF D3:|")
    r = read_tune(six)
    assert r.rhythm is None and r.part_bars == pytest.approx((8.0, 6.0), abs=0.3)
    v = judge_tune(six)
    assert not v.passed("form")
    assert v.reason == "form: parts of 8 + 6 bars: a part of 6 is no phrase of a tune in 4/4", v.reason
    assert not judge_tune(six.replace("M:4/4", "M:C|")).passed("form")
    assert judge_tune(six.replace("M:4/4", "M:C")).passed("form")  # O'Neill's C tunes: 17 of 184
    # 12 bars: an air's or a march's part, no dance's.
    twelve = plain.replace("FDEF D3:|", "FDEF D3|fdad fdad|gece gecA|BGBd cBAG|FDEF D3:|")
    assert read_tune(twelve).part_bars == pytest.approx((8.0, 12.0), abs=0.3)
    assert judge_tune(twelve).passed("form"), judge_tune(twelve).reason
    # In 6/8 a part of 5 bars with no R: field is not judged (O'Neill's: 33 of 341 have one).
    jig = JIG.replace("R:jig\n", "").replace("gfg afd|gfg a2g|fed cBA|G3 G2|]", "fed cBA|G3 G2|]")
    assert read_tune(jig).part_bars == pytest.approx((8.0, 6.0), abs=0.3)
    assert judge_tune(jig).passed("form"), judge_tune(jig).reason


def test_music_after_a_final_bar_line_fails_form() -> None:
    """A 3/4 piece of 4 bars closed by `|]`, then 8 more bars (a generated tune did this): the tune
    ends, then goes on. O'Neill writes `|]` mid-tune only under a second ending."""
    air = "X:1\nT:Air\nM:3/4\nL:1/8\nK:G\nB2 d2 d2|e2 d2 B2|c2 A2 F2|G6|]\n"
    air += "g2 e2 f2|d2 f2 e2|d2 c2 B2|A6|B2 d2 g2|e2 c2 A2|F2 A2 F2|G6|]\n"
    r = read_tune(air)
    assert r.early_ends == 1
    v = judge_tune(air)
    assert not v.passed("form")
    assert v.reason == "form: music after a final bar line |]: the tune ends, then goes on"
    assert judge_tune(air.replace("G6|]\ng2", "G6||\ng2")).passed("form")
    # Across a key change the `|]` still ends the tune before music.
    changed = air.replace("G6|]\ng2", "G6|]\nK:D\ng2")
    assert read_tune(changed).early_ends == 1
    # O'Neill's way: `|]` closing a second ending, then the next part.
    volta = JIG.replace("GBd gdB|GBd c2A|BAG AGF|G3 G2||", "GBd gdB|GBd c2A|BAG AGF|1 G3 G2:|2 G3 G2|]")
    r = read_tune(volta)
    assert r.early_ends == 0
    assert judge_tune(volta).passed("form"), judge_tune(volta).reason
    assert read_tune(JIG).early_ends == 0  # the tune's own last `|]`
    # A second ending of two bars (music21 brackets only its first bar) or a third ending, then a
    # `|]` and the next part: the `|]` closes an ending.
    two = JIG.replace("GBd gdB|GBd c2A|BAG AGF|G3 G2||", "GBd gdB|GBd c2A|1 BAG AGF|G3 G2:|2 BAG AGF|G3 G2|]")
    assert read_tune(two).early_ends == 0 and judge_tune(two).passed("form"), judge_tune(two).reason
    three = JIG.replace("GBd gdB|GBd c2A|BAG AGF|G3 G2||", "GBd gdB|1 GBd c2A:|2 BAG AGF:|3 AGF G3|]")
    assert read_tune(three).early_ends == 0
    # Only rests after the `|]` (or a section of rests in another key): nothing goes on.
    assert read_tune(air.split("g2 e2")[0] + "z6|z6|]\n").early_ends == 0
    assert read_tune(air.split("g2 e2")[0] + "K:D\nz6|z6|]\n").early_ends == 0
    # At a Fine, or where a D.C. returns to, the tune ends by design: standard notation.
    fine = JIG.replace("BAG AGF|G3 G2||", 'BAG AGF|G3 "Fine"G2|]').replace(
        "fed cBA|G3 G2|]", 'fed cBA|G3 "D.C."G2||'
    )
    assert read_tune(fine).early_ends == 1 and read_tune(fine).marking == "Fine"
    assert judge_tune(fine).passed("form"), judge_tune(fine).reason


def test_a_non_dance_tune_in_3_4_is_not_judged_by_phrases() -> None:
    """An air in 3/4 written 12 || 4 bars: O'Neill's airs in 3/4 do not keep to phrases, so the two
    are joined as a dance's parts would be (one of 16) and it passes form, as before the C| and
    4/4 phrase rule (which must not change how other metres are read)."""
    air = "X:1\nT:A\nM:3/4\nL:1/8\nK:G\nB2 d2 d2|e2 d2 B2|c2 A2 F2|G6|g2 e2 f2|d2 f2 e2|d2 c2 B2|A6|\n"
    air += "B2 d2 g2|e2 c2 A2|F2 A2 c2|B6||d2 B2 G2|c2 A2 F2|G2 B2 A2|G6|]\n"
    assert read_tune(air).part_bars == pytest.approx((12.0, 4.0))
    assert judge_tune(air).passed("form"), judge_tune(air).reason


def test_parts_played_apart_are_not_joined_into_a_phrase() -> None:
    """An 8-bar A part, a 6-bar B part and a 2-bar C part, each repeated: three parts played
    apart (no 8-bar B part written across a double bar), so the tune stops mid-phrase."""
    a = "|:dAFA dAFA|BGBd cBAG|FAdf afdf|gfed cdeg|dAFA dAFA|BGBd cBAG|FAdf afec|d8:|\n"
    b = "|:fdad fdad|gece gece|fdad fdfg|afge fdd2|fdad fdad|gece gecA:|\n|:BGBd cBAG|FDEF D4:|\n"
    tune = REEL.split("|:A|")[0] + a + b
    assert read_tune(tune).part_joins == (False, False)
    v = judge_tune(tune)
    assert not v.passed("form") and "stops mid-phrase" in (v.reason or ""), v.reason


def test_a_pickup_bar_before_a_repeat_is_no_part_ending() -> None:
    """`d8|A2|:`: the A part ends on d; the pickup A leads into the B part. A tune that ends on A
    (the 5th) is not brought home by its pickup."""
    a = "|dAFA dAFA|BGBd cBAG|FAdf afdf|gfed cdeg|dAFA dAFA|BGBd cBAG|FAdf afec|d8|A2"
    b = "|:fdad fdad|gece gece|fdad fdfg|afge fdd2|fdad fdad|gece gecA|BGBd cBAG|FDEF A4:|\n"
    tune = REEL.split("|:A|")[0] + a + b
    r = read_tune(tune)
    assert r.part_bars == pytest.approx((8.0, 8.25)) and r.section_ends == (2, 9)
    assert not judge_tune(tune).passed("mode")


def test_a_double_bar_mid_part_does_not_make_an_odd_part() -> None:
    split = REEL.replace(
        "|:g|fdad fdad|gece gece|fdad fdfg|afge fdd2|\nfdad fdad|",
        "|:g|fdad fdad|gece gece|fdad fdfg|afge fdd2|\nfdad fdad||",
    )
    assert read_tune(split).part_bars == pytest.approx((8.0, 5.125, 2.875), abs=0.01)
    assert judge_tune(split).passed("form"), judge_tune(split).reason


def test_a_jig_in_parts_of_ten_bars_and_a_pickup_before_the_repeat_pass_form() -> None:
    """O'Neill writes jigs in 10-bar parts; a pickup written before `|:` is no part of its own."""
    ten = JIG.replace("GBd gdB|GBd c2A|BAG AGF|", "GBd gdB|GBd c2A|GBd gdB|GBd c2A|BAG AGF|")
    assert read_tune(ten).part_bars == pytest.approx((10.0, 8.0), abs=0.3)
    assert judge_tune(ten).passed("form"), judge_tune(ten).reason
    pickup = REEL.replace("d3:|\n|:g|", "d3:|g||")  # B part's pickup closed off by a double bar
    assert read_tune(pickup).part_bars == pytest.approx((8.0, 0.125, 7.875))
    assert judge_tune(pickup).ok, judge_tune(pickup).reason


def test_stray_text_in_the_music_fails_form() -> None:
    """Letters written where notes belong ("BAG" over a note) are no chord and no marking; chord
    symbols, fingerings, placed annotations and the old tunebooks' markings are."""
    stray = REEL.replace("FDEF D3:|", 'FDEF "BAG"D3:|')
    assert read_tune(stray).texts == ("BAG",)
    v = judge_tune(stray)
    assert not v.passed("form")
    assert v.reason == 'form: stray text "BAG" in the music: no chord symbol or marking'
    for text in ("Gn", "C.C.", "EGB", "an sea", "G A B", "^BAG", "C(BAG)", "123456"):
        assert not judge_tune(stray.replace('"BAG"', f'"{text}"')).passed("form"), text
    chords = ["Am", "D/F#", "G7", "Bm7b5", "Em/B", "A7sus4", "Dmaj7", "C6/9", "Dm7-5", "Gm(maj7)", "E7(b9)"]
    chords += ["A°", "Bø", "N.C.", "(D)"]
    marks = ["4", "0", "D.C.", "Fine", "p", "cresc.", "SEGUE", "#~", "^x2", "_D.C. al Fine", "@Trio"]
    texts = [*chords, *marks, "Da Capo", "DC al (S)"]  # 28: one before each group of four notes
    head, body = REEL.split("K:D\n")
    placed = iter(texts)
    body = re.sub(r"[A-Ga-g]{4}", lambda m: f'"{next(placed, "")}"{m.group()}', body)
    many = head + "K:D\n" + body.replace('""', "")
    assert len(read_tune(many).texts) == len(texts)
    assert judge_tune(many).passed("form"), judge_tune(many).reason
    marked = REEL.replace("dAFA dAFA|BGBd", '"D"dAFA "p"dAFA|"Em7"BGBd')
    marked = marked.replace("gece gece", '"cresc."gece "~"gece')
    marked = marked.replace("fdad fdad|gece gecA", '"^Segno"fdad "D/F#"fdad|"_rall."gece gecA')
    assert len(read_tune(marked).texts) == 11
    assert judge_tune(marked).ok, judge_tune(marked).reason


def test_a_stuck_loop_fails_form() -> None:
    # The sample_005: one bar over and over.
    loop = "X:1\nT:Loop\nM:3/4\nL:1/8\nK:C\n" + "c2 c2 c2|" * 20 + "c6|]\n"
    v = judge_tune(loop)
    assert not v.passed("form")
    assert v.reason == "form: one bar 20 times in a row"


def test_a_loop_of_a_figure_fails_form() -> None:
    # Two bars alternating for 24 bars: no bar repeats back to back, but only 2 of 25 differ.
    figure = "X:1\nT:Figure\nM:4/4\nL:1/8\nK:G\n" + "GABc dBGB|dcBA GFED|" * 12 + "G8|]\n"
    v = judge_tune(figure)
    assert not v.passed("form")
    assert "of its bars differ: a loop" in (v.reason or "")


def test_two_bars_looped_through_both_parts_fails_form() -> None:
    loop = "X:1\nT:Two\nM:6/8\nL:1/8\nK:D\n" + "DFA dAF|GBd gdB|" * 8 + "\n"
    assert not judge_tune(loop).passed("form")


def test_copying_fails_plagiarism() -> None:
    v = judge_tune(REEL, copy_share=0.8)
    assert not v.passed("plagiarism")
    assert v.reason == "plagiarism: 80% of it is copied from a training tune"
    assert judge_tune(REEL, copy_share=0.2).ok
    assert judge_tune(REEL, copy_share=None).passed("plagiarism")  # not checked


def test_copy_share_measures_the_longest_verbatim_passage() -> None:
    body = REEL.split("K:D\n", 1)[1].strip("\n")
    assert copy_share(REEL, "other\x00" + body + "\x00more") == pytest.approx(1.0)
    assert copy_share(REEL, "xyz") == 0.0
    music = "".join(body.split())  # spaces and line breaks are layout, not music
    half = music[: len(music) // 2]
    assert copy_share(REEL, half) == pytest.approx(len(half) / len(music))
    assert copy_share(REEL, None) is None


def test_a_copy_respaced_or_rewrapped_is_still_a_copy() -> None:
    body = REEL.split("K:D\n", 1)[1]
    respaced = body.replace(" ", "").replace("|", " | ").replace("\n", "\n\n")  # the corpus's layout
    assert copy_share(REEL, "other\x00" + respaced) == pytest.approx(1.0)
    rewrapped = REEL.replace("|\n", "|").replace(" ", "  ")  # the sample's layout
    assert copy_share(rewrapped, body) == pytest.approx(1.0)


def test_an_empty_chord_is_no_note() -> None:
    # A sampled `[]` is a chord of no pitches: the judge reads past it (it once raised).
    v = judge_tune(REEL.replace("|dAFA dAFA|", "|dAFA dAF[]A|", 1))
    assert v.reading is not None and v.reading.error is None


def test_unreadable_abc_fails_every_musical_criterion() -> None:
    v = judge_tune("X:1\nT:Broken\nM:7/0\nL:1/8\nK:D\nabc|\n")
    assert not v.ok
    assert [c.ok for c in v.criteria] == [False, False, False, True]
    assert "music21 cannot read it" in (v.reason or "")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("D", (2, "major")),
        ("Em", (4, "minor")),
        ("Ador", (9, "dorian")),
        ("F#mix", (6, "mixolydian")),
        ("Bb", (10, "major")),
        ("G clef=treble", (7, "major")),
        ("Aaeo", (9, "minor")),
        ("Hq", None),
    ],
)
def test_parse_key(value: str, expected: tuple[int, str] | None) -> None:
    assert parse_key(value) == expected


def test_double_bars_do_not_excuse_bars_of_any_length() -> None:
    """A `||` after every second bar makes every bar a section edge; edge bars may be short only as
    the corpus writes them (completing a pickup or the bar across the line), never overfull."""
    tune = """X:1
T:Double bar every other bar
M:4/4
L:1/8
K:G
GAB|dedB dBGBA||cBc|ABAG FGAFGA||GABcd|dedB dBGBAB||cB|AGFA G4||
GABc|dedB dBGBdB||cBcd edc|AGFA G4GA||GABcd|dedB dBGBAB||cBcdef|AGFA G4|]
"""
    v = judge_tune(tune)
    assert not v.passed("rhythm")
    assert v.reason is not None and v.reason.startswith("rhythm: 9 of 22 bars do not fill 4/4")


def test_chord_symbols_are_not_melody_notes() -> None:
    """Accompaniment chords foreign to the key ("Bb" in G) are not foreign melody notes."""
    body = REEL.split("K:D\n")[1]
    with_chords = (
        REEL.split("K:D\n")[0] + "K:D\n" + body.replace("dAFA", '"Bb"dAFA').replace("gece", '"Eb"gece')
    )
    assert criteria(with_chords) == criteria(REEL)
    assert read_tune(with_chords).notes == read_tune(REEL).notes


def test_a_bar_repeated_with_only_chords_or_grace_notes_changed_is_a_loop() -> None:
    tune = """X:1
T:Same bar, new chords
M:4/4
L:1/8
K:G
GABc dedB|"G"dedB dBGB|"Em"dedB dBGB|"C"dedB dBGB|{c}dedB dBGB|cBcd edcB|ABAG FGAF|
GABc dedB|dedB dBGB|cBcd edcB|AGFA G4|
"""
    v = judge_tune(tune)
    assert not v.passed("form") and "one bar 4 times in a row" in (v.reason or "")


# A jig whose second part turns to D minor (a K: line in the music): F, B and c are now F natural,
# B flat and C natural, which are foreign to D major but not to D minor.
TURNS_MINOR = """X:1
T:Test Turn
M:6/8
L:1/8
R:jig
K:D
|:A|dfa afd|gfe fdA|dfa afd|efg fdA|dfa afd|gfe fed|cde gfe|d3 d2:|
K:Dm
|:A|dcA BAG|FGA d2A|BAG FED|CEG c2A|dcA BAG|FGA dcA|BAG ECE|D3 D2:|
"""

# A tune whose second part is in 9/8 (an M: line in the music): its bars hold 9 eighths.
TURNS_9_8 = """X:1
T:Test Slip
M:6/8
L:1/8
K:G
|:D|GBd gdB|GBd c2A|GBd gdB|AGA c2A|GBd gdB|GBd c2A|BAG AGF|G3 G2:|
M:9/8
|:d|gfg afd gfe|gfg a2g fed|fef gfe dcB|dcB A2d cBA|gfg afd gfe|gfg a2g fed|fed cBA GFE|G3 G2 G3:|
"""


def test_a_key_change_in_the_music_is_judged_in_the_new_key() -> None:
    # Read in the first key, part B has 3 foreign notes in 4 (music21 applies K:Dm to its notes).
    v = judge_tune(TURNS_MINOR)
    assert v.ok, v.reason
    r = read_tune(TURNS_MINOR)
    assert r.foreign == 0 and r.keys == ("D", "Dm") and r.key == "Dm" and r.mode == "minor"
    # The same part B with C sharps written is foreign to D minor: the change is really read.
    sharp = TURNS_MINOR.replace("CEG c2A", "^CE^G ^c2A").replace("ECE|", "^c^c^c|").replace("dcA", "d^cA")
    foreign = read_tune(sharp).foreign
    assert foreign >= 6
    assert not judge_tune(sharp.replace("K:Dm", "K:Dm\n^c^c^c ^c^c^c|^c^c^c ^c^c^c|")).passed("mode")


def test_an_inline_key_field_applies_to_the_notes_after_it() -> None:
    from seqgen.music.abc import abc_to_notes, fields_on_lines

    inline = "X:1\nT:t\nM:2/4\nL:1/8\nK:D\nFGAB|FGAB||[K:C] FGAB|FGAB|]\n"
    assert fields_on_lines(inline).split("\n")[5:8] == ["FGAB|FGAB||", "K:C", " FGAB|FGAB|]"]
    pitches = [n.pitch for n in abc_to_notes(inline).notes]
    assert pitches[0] == 66 and pitches[8] == 65  # F sharp in D, F natural after [K:C]
    assert read_tune(inline).key == "C"


def test_a_metre_change_in_the_music_is_judged_in_the_new_metre() -> None:
    r = read_tune(TURNS_9_8)
    assert r.bad_bars == 0 and r.meter == "6/8 and 9/8"
    assert judge_tune(TURNS_9_8).passed("rhythm")
    # Part B's bars one eighth short of 9/8 are caught in the new metre.
    short = TURNS_9_8.replace("gfg afd gfe|gfg a2g fed|fef gfe dcB", "gfg afd gf|gfg a2g fe|fef gfe dc")
    v = judge_tune(short)
    assert not v.passed("rhythm") and "do not fill 6/8 and 9/8" in (v.reason or "")


def test_a_tune_that_changes_key_may_end_in_either_key() -> None:
    # Ending part B (D minor) on F, the minor 3rd, is no cadence of D minor, nor of D major.
    off = TURNS_MINOR.replace("BAG ECE|D3 D2:|", "BAG ECE|F3 F2:|")
    assert not judge_tune(off).passed("mode")
    # A tune in G whose part B turns to D and ends on G ends at home, in its first key, although G
    # is only the 4th of D.
    home = (
        TURNS_MINOR.replace("K:D\n", "K:G\n", 1)
        .replace("K:Dm", "K:D")
        .replace("BAG ECE|D3 D2:|", "BAG EFA|G3 G2:|")
    )
    assert read_tune(home).keys == ("G", "D")
    assert judge_tune(home).passed("mode")


def test_an_ending_off_the_tonic_is_home_only_where_an_earlier_part_ends_there() -> None:
    """O'Neill writes E dorian tunes as K:D, ending both parts on E, the 2nd: that is home. A reel in
    D whose part A goes home to D and whose part B stops on E has not come home."""
    stops = REEL.replace("FDEF D3:|", "FDEF E3:|")
    v = judge_tune(stops)
    assert not v.passed("mode")
    assert v.reason == "mode: ends on the 2nd, not on a cadence of K:D (its other parts end on the tonic)"
    modal = stops.replace("d2dc d3:|", "d2dc e3:|")
    assert [(pc - 2) % 12 for pc in read_tune(modal).section_ends] == [4 - 2, 4 - 2]
    assert judge_tune(modal).passed("mode")
    # Agreeing parts do not make any degree home: both ending on C# (the 7th) still fails.
    assert not judge_tune(REEL.replace("d2dc d3:|", "d2dc c3:|").replace("FDEF D3:|", "FDEF C3:|")).passed(
        "mode"
    )


def test_a_da_capo_tune_ends_where_its_marking_says() -> None:
    """A D.C. sends the player back to end with the first part; a Fine marks the note the tune
    ends on. O'Neill marks about 190 tunes so, writing "fine" after the note, at the bar line."""
    to_a = REEL.replace("FDEF D3:|", "FDEF A3:|")  # part B stops on the 5th, part A on the tonic
    assert not judge_tune(to_a).passed("mode")
    for mark in ('"D.C."', '"^D.C. al Fine"', '"^Da Capo"', "!D.C.!"):
        marked = to_a.replace("FDEF A3:|", f"FDEF {mark}A3:|")
        r = read_tune(marked)
        assert (r.marking, r.marked_ending) == ("D.C.", 2), mark  # D, the end of part A
        assert judge_tune(marked).passed("mode"), mark
    fine = to_a.replace("d2dc d3:|", 'd2dc d3"fine":|')
    assert read_tune(fine).marking == "Fine" and judge_tune(fine).passed("mode")
    # A Fine after part A's last note, C# (the 7th): the tune ends there, on no cadence.
    sharp = to_a.replace("d2dc d3:|", 'd2dc c3"^Fine":|')
    v = judge_tune(sharp)
    assert v.reason == "mode: ends at its Fine on the 7th, not on a cadence of K:D"
    assert not v.ending_at_fault  # its last two bars are not where it ends: a new ending cannot help
    assert not judge_tune(to_a.replace("FDEF A3:|", 'FDEF "D.C."A3:|')).ending_at_fault  # passes, not home
    # A Fine after the tune's last note changes nothing: its ending is judged as written.
    assert read_tune(to_a.replace("FDEF A3:|", 'FDEF A3"^Fine":|')).marking is None
    assert not judge_tune(to_a.replace("FDEF A3:|", 'FDEF A3"^Fine":|')).passed("mode")
    # The words in a title, a lyric line or a comment are no marking.
    for text in ('T:The "End" of the Road\n', 'w:the "end" of the road\n', '% no "Fine" here\n'):
        words = to_a.replace("K:D\n", "K:D\n" + text) if text[0] != "T" else to_a.replace("T:", text + "T:")
        assert read_tune(words).marking is None, text
        assert not judge_tune(words).passed("mode"), text


def test_a_first_time_bar_is_not_a_part_end() -> None:
    """The last note of a first ending leads back into the repeat: a reel in G that stops on A is
    not at home because its first-time bar also stops on A."""
    reel = """X:1
T:Turnaround
M:C|
L:1/8
R:reel
K:G
|:GABc dBGB|cBAG FGAF|GABc dBGB|1 cAFA GABA:|2 cAFA G4||
|:gfga bgdB|cBAG FGAF|gfga bgdB|cAFA GABA:|
"""
    r = read_tune(reel)
    assert [(pc - 7) % 12 for pc in r.section_ends] == [0, 2]  # the second ending, then the end
    assert judge_tune(reel).reason == (
        "mode: ends on the 2nd, not on a cadence of K:G (its other parts end on the tonic)"
    )
    assert judge_tune(reel.replace("cAFA GABA:|\n", "cAFA G4:|\n")).ok


def test_a_one_part_modal_tune_ends_where_its_first_half_does() -> None:
    """An air in E dorian written K:D in one part of 16 bars, ending both halves on E, is home; the
    same air whose first half ends on D is not."""
    air = """X:1
T:Dorian Air
M:3/4
L:1/8
K:D
E2 B2 B2|A2 F2 D2|E2 F2 A2|B4 A2|d2 B2 A2|F2 D2 F2|E2 D2 B,2|E6|
B2 d2 e2|f2 e2 d2|B2 A2 F2|A4 F2|E2 F2 A2|B2 A2 F2|D2 F2 D2|E6|]
"""
    r = read_tune(air)
    assert r.section_ends == (4,) and r.half_end == 4
    assert judge_tune(air).passed("mode")
    v = judge_tune(air.replace("B,2|E6|\n", "B,2|D6|\n"))
    assert v.reason == "mode: ends on the 2nd, not on a cadence of K:D (its first half ends on the tonic)"


def test_a_chord_ends_on_the_tonic_it_holds() -> None:
    """A double stop with the tonic on top and the 5th beneath ends on the tonic."""
    stop = REEL.replace("FDEF D3:|", "FDEF [A,3D3]:|")
    assert read_tune(stop).last_degree == 0
    assert judge_tune(stop).ok


def test_a_field_mid_line_leaves_the_tune_readable() -> None:
    """The rest of a line after an inline field is a fragment music21 makes no bars of, unless it
    opens with a bar line: the tune was unreadable whole."""
    inline = REEL.replace("|fdad fdfg|afge fdd2|", "|[L:1/8] fdad fdfg|afge fdd2|")
    r = read_tune(inline)
    assert r.error is None
    assert judge_tune(inline).ok


def test_a_first_ending_with_no_second_fails_form() -> None:
    """A `[1` first-time bar with no `[2` after it leaves a player at a dangling volta (a generated
    jig did this); none of O'Neill's tunes does."""
    assert read_tune(REEL).open_endings == 0
    dangling = REEL.replace("|FAdf afec|d2dc d3:|", "|[1 FAdf afec|d2dc d3:|")
    r = read_tune(dangling)
    assert r.open_endings == 1
    v = judge_tune(dangling)
    assert not v.passed("form") and v.reason == "form: a first ending with no second ending"
    closed = REEL.replace("|FAdf afec|d2dc d3:|", "|FAdf afec|[1 d2dc d3:|[2 d2dc d2||")
    assert read_tune(closed).open_endings == 0
    assert judge_tune(closed).passed("form")
    # Endings music21 numbers only in part (|1,2 ... :|3) are not called open.
    three = REEL.replace("|FAdf afec|d2dc d3:|", "|FAdf afec|1,2 d2dc d3:|3 d2dc d2||")
    assert read_tune(three).open_endings == 0


def test_a_note_under_a_fermata_is_read() -> None:
    """music21 drops a note decorated `H` (a fermata, O'Neill's usual mark on a tune's last
    note, in 134 of its tunes); the judge would read the note before it as the ending."""
    held = REEL.replace("FDEF D3:|", "FDEF HD3:|")
    r = read_tune(held)
    assert r.last_degree == 0 and r.notes == read_tune(REEL).notes
    assert judge_tune(held).ok


def test_an_overfull_section_edge_bar_is_bad_but_not_an_inner_bar() -> None:
    from seqgen.measure.samples import judge_score

    over = REEL.replace("d2dc d3:|", "d2dc d4:|")  # part A's last bar one eighth too long
    r = read_tune(over)
    assert (r.bad_bars, r.inner_bad) == (1, 0)
    score = judge_score(judge_tune(over))
    assert score.full_inner_bars == score.inner_bars == len(r.bar_lengths) > 0


def test_a_one_beat_metre_mid_tune_fails_rhythm() -> None:
    """A model may escape a bar that does not fit by writing M:1/8 before it: every bar then
    "fills" its metre, but no folk tune is written in bars of one beat."""
    assert judge_tune(JIG).passed("rhythm")
    for escape in ("\nM:1/8\nG|A|\nM:6/8\n", "[M:1/8] G|A|[M:6/8] "):
        escaped = JIG.replace("|BAG AGF|G3 G2||", f"|BAG AGF|{escape}G3 G2||")
        v = judge_tune(escaped)
        assert not v.passed("rhythm") and "M:1/8 is a bar of one beat" in (v.reason or "")

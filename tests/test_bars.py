"""Decoding that knows the metre (seqgen.music.bars): bar lengths read from ABC text, the states a
tune passes through as it is written, and the sampler under the guide with a real (untrained)
model: every bar it closes is full."""

from __future__ import annotations

import re
from fractions import Fraction as F

import pytest
import torch

from seqgen.config import LSTMConfig
from seqgen.datasets.tokenizers.char import CharTokenizer
from seqgen.generate.sampler import generate
from seqgen.models import build_model
from seqgen.music.bars import BarGuide, BarMeter, LastBars, bar_length

EIGHTH = F(1, 8)


@pytest.mark.parametrize(
    "text, whole_notes",
    [
        ("ABcd efge", F(1)),
        ("A2B2 c4", F(1)),
        ("A>B c<d", F(1, 2)),  # broken rhythm: 3/2 + 1/2, 1/2 + 3/2
        ("A>>B", F(1, 4)),
        ("(3abc d2", F(1, 2)),  # a triplet in a simple metre: 3 in the time of 2
        ("[CEG]2 A", F(3, 8)),  # a chord counts once
        ('"G"A2 !trill!B ~c', F(1, 2)),  # chord symbols and decorations take no time
        ("{g}A/B/ c", F(1, 4)),  # grace notes take no time
        (":ABc", F(3, 8)),  # the end of a `|:`
        ("[1 ABc", F(3, 8)),  # a first ending's number
        ("A3/2B/", F(1, 4)),
        ("A//", F(1, 32)),
        ("(GABc) z2", F(3, 4)),  # a slur, and a rest
        ("A-A2", F(3, 8)),  # a tie
    ],
)
def test_bar_length_reads_abc_durations(text: str, whole_notes: F) -> None:
    assert bar_length(text, EIGHTH) == whole_notes


def test_a_compound_metre_reads_duplets_as_abc_says() -> None:
    assert bar_length("(2AB c", EIGHTH, compound=True) == F(4, 8)  # 2 in the time of 3


@pytest.mark.parametrize("text", ["[K:D]A", "Z4", "A%comment", "(3:2:3abc"])
def test_what_the_reader_cannot_follow_is_none(text: str) -> None:
    assert bar_length(text, EIGHTH) is None


JIG = "X:1\nT:t\nM:6/8\nL:1/8\nR:jig\nK:D\n"


def meter(text: str) -> BarMeter:
    m = BarMeter()
    m.feed(text)
    return m


def test_the_header_sets_metre_unit_and_the_music_start() -> None:
    m = meter(JIG)
    assert m.in_body and m.meter == F(3, 4) and m.unit == EIGHTH and m.compound
    assert meter("X:1\nM:2/4\nK:G\n").unit == F(1, 16)  # ABC's default unit under 3/4
    assert meter("X:1\nM:C|\nK:G\n").meter == F(1)
    assert meter("X:1\nM:6/8\nL:1/8\n").state() == ("free", 0)  # still the header


def test_the_states_of_a_jig_as_it_is_written() -> None:
    m = meter(JIG + "A|")
    assert m.pickup == EIGHTH and m.state() == ("free", 0)  # the pickup closed freely
    m.feed("dfd c")
    assert m.state() == ("short", 4)  # 4 of 6 eighths: no bar line nor end, and no c4 (it overflows)
    m.feed("ec")
    assert m.state() == ("full", 0)  # full: a bar line next, no more notes
    m.feed("|dfd ce")
    # 5 of 6 eighths: with the pickup's one a whole bar, but only the 2nd bar of the part, so no
    # bar line yet (a part ends with such a bar at its 4th or 8th); e2 fills it; e3 only as a
    # dotted e3/2, e4 not at all.
    assert m.state() == ("short", 4)
    assert meter(JIG + "A|dfd cec|dfd cec|dfd cec|dfd ce").state() == ("open", 4)  # the 4th bar
    m.feed("3")
    assert m.state() == ("over", 0)  # e3 overflows: only a slash may follow
    m.feed("/")
    assert m.state() == ("short", 10)  # e3/ is e3/2: it fits
    m.feed("/")
    assert m.state() == ("short", 10)  # e/ is short: any digit after the slash only shortens it


def test_a_short_bar_closes_only_where_the_corpus_closes_one() -> None:
    assert meter(JIG + "dfd cec|dfd ").state() == ("short", 10)  # no pickup: no bar line yet
    assert meter(JIG + "dfd cec|1dfd ").state() == ("open", 10)  # an ending may be short
    m = meter(JIG + "A|dfd cec|dfd ce")
    m.feed("|")  # a bar that completes the pickup, closed: only `||`, `|]` or `|:` may follow
    assert m.state() == ("section", 0)
    m.feed("]")
    assert m.state() == ("free", 0)
    m = meter(JIG + "A|dfd cec|dfd e2:|")  # a repeat's short last bar completes the pickup
    assert m.state() == ("free", 0)
    m = meter(JIG + "dfd cec|dfd cec||A|")  # the next part's pickup
    assert m.state() == ("free", 0) and not m.section_line


TUNES = [
    # A reel with a pickup, triplets, chord symbols, a grace note and two endings.
    'X:1\nT:r\nM:C|\nL:1/8\nR:reel\nK:G\nD|"G"GABc dedB|{c}dedB (3ded BG|A2FA DAFA|1GABG G2GD:|2GABG G2||\n'
    "|:gf|edBd g2bg|afdf a2ga|bgaf gfed|BAGB A2gf:|\n",
    # A hornpipe in broken rhythm, with a slur and a chord.
    "X:2\nT:h\nM:C\nL:1/8\nR:hornpipe\nK:D\nA>G|F>AD>F A>dF>A|(GB)e>d c>AG>E|F>AD>F A>dF>A|[DF]2 d2 d2:|\n",
    # A jig in 6/8, ending at its tonic.
    "X:3\nT:j\nM:6/8\nL:1/8\nR:jig\nK:Em\nB|EFE GFE|DED FED|EFE GFE|1BAG FED:|2BAG E2||\n",
]


@pytest.mark.parametrize("tune", TUNES)
def test_a_well_formed_tune_is_never_refused_a_character(tune: str) -> None:
    chars = CharTokenizer(set("".join(TUNES)), eos=True)
    guide = BarGuide(chars.stoi, chars.vocab_size, chars.eos_id)
    steer = guide.start(1, [0])
    for ch in tune:
        mask = steer.banned(torch.device("cpu"))
        assert mask is None or not mask[0, chars.stoi[ch]], (tune[: tune.index(ch)], ch)
        steer.drawn([chars.stoi[ch]])
    mask = steer.banned(torch.device("cpu"))
    assert mask is None or not mask[0, 0]  # and it may end there


def test_the_sampler_under_the_guide_closes_only_full_bars() -> None:
    """An untrained model writes at random; under the guide every bar between two plain bar lines
    is full (a short bar only opens the tune or a section, or ends one with a section line).
    Without the guide, the same model writes short bars anywhere."""
    alphabet = "ABCDEFGabc|2 \n"
    chars = CharTokenizer(set(alphabet + "X1:M6/8LK D"), eos=True)
    torch.manual_seed(0)
    model = build_model("lstm", LSTMConfig(vocab_size=chars.vocab_size, n_layer=1, n_embd=16)).eval()
    with torch.no_grad():  # it writes music characters only (the header's letters are the prompt's)
        for c, i in chars.stoi.items():
            model.lm_head.bias[i] = 0.0 if c in alphabet else -30.0
        model.lm_head.bias[0] = -5.0  # and seldom ends
    prompt = [0, *chars.encode("X:1\nM:6/8\nL:1/8\nK:D\n")]
    guide = BarGuide(chars.stoi, chars.vocab_size, chars.eos_id)

    def bars(guided: bool) -> tuple[int, int]:
        g = torch.Generator().manual_seed(1)
        rows = generate(model, prompt, 16, 160, 1.0, None, None, g, eos_id=0, guide=guide if guided else None)
        full = short = 0
        for row in rows:
            music = chars.decode([i for i in row if i != 0])
            before = None  # the bar line before this bar
            found = re.findall(r"([^|]*)(\|+[\]:]?|\|?$)", music)
            for bar, line in found[:-2]:  # not the last bar line: the length limit may cut it
                length = bar_length(bar, EIGHTH)
                if line and length:
                    full += length == F(3, 4)
                    # Short between two plain bar lines: neither a pickup nor a section's end.
                    short += line == "|" and before == "|" and length != F(3, 4)
                if length is not None:
                    before = line if length else "||"  # `|`, a newline, `|` is a section line
        return full, short

    full, short = bars(guided=True)
    assert full > 50 and short == 0
    assert bars(guided=False)[1] > 10


def test_a_length_past_the_bar_must_be_shortened() -> None:
    m = meter(JIG + "A|dfd ce")
    m.feed("3")  # allowed as the start of a dotted e3/2
    assert m.state() == ("over", 0)
    m.feed("/")
    assert m.state() == ("short", 10)  # e3/ is e3/2: it fits
    m = meter(JIG + "A|dfd ce")
    m.feed("9")  # written anyway (e.g. --free-bars): only a slash, then only digits
    assert m.state() == ("over", 0)
    m.feed("/")
    assert m.state() == ("over", 5)  # e9/5 is the first that fits


@pytest.mark.parametrize(
    "music, state",
    [
        ("dfd cec|:A|", ("free", 0)),  # a pickup after |: opens the section
        ("dfd cec|]A|", ("free", 0)),  # after |] too
        ("dfd cec::", ("free", 0)),  # :: is a bar line
        ("dfd cec::A|", ("free", 0)),  # and opens a section
        ("dfd cec|[M:9/8] dfd cec d", ("free", 0)),  # the bar of an inline field is not read,
        ("dfd cec|[M:9/8] dfd cec|dfd cec dfd", ("full", 0)),  # but its metre counts after it
        ("dfd c2[c", ("free", 0)),  # a chord still open: its notes may follow
        ("dfd cec|\nM:9/8\ndfd cec d", ("short", 4)),  # a metre line in the music
    ],
)
def test_section_lines_and_metre_changes(music: str, state: tuple[str, int]) -> None:
    assert meter(JIG + music).state() == state


def test_a_music_line_starting_with_a_repeat_is_not_a_field() -> None:
    m = meter(JIG + "A|dfd cec|dfd e2\ne:|")
    assert m.bars == 3 and m.state() == ("free", 0)


def test_the_guide_leaves_a_row_free_when_it_would_leave_nothing() -> None:
    """Where the model gives every allowed id no chance (-inf), the row is left free."""
    chars = CharTokenizer(set("ABC|2 \nXM:6/8LK1D"), eos=True)
    guide = BarGuide(chars.stoi, chars.vocab_size, chars.eos_id)

    class Model(torch.nn.Module):  # writes only notes, whatever the bar
        context_limit = None
        rolls = False

        def init_state(self, n: int, device: torch.device, rolling: bool = False) -> None:
            return None

        def forward(self, idx: torch.Tensor, state: object = None) -> tuple[torch.Tensor, None]:
            logits = torch.full((idx.size(0), idx.size(1), chars.vocab_size), float("-inf"))
            logits[..., chars.stoi["A"]] = 0.0
            return logits, None

    prompt = [0, *chars.encode("X:1\nM:6/8\nL:1/8\nK:D\n")]
    rows = generate(Model(), prompt, 2, 20, 1.0, None, None, torch.Generator(), eos_id=0, guide=guide)
    assert all(chars.decode(r) == "A" * 20 for r in rows)


@pytest.mark.parametrize(
    "music",
    [
        # `|` at a line's end and `|` at the next line's start are one bar line, not a section's.
        "D|G3 B2G|c2A B2G|GBd cAG|\n|F3 DEF|GAG B2G|c2A BAG|ded cAF|G3 G2:|\n",
        # A second ending two bars long stands in for the first's two bars.
        "A|dfa afd|dfa afd|dfa afd|dfa afd|dfa afd|dfa afd|1 dfa gec|d3 d2e:|2 dfa gec|d3 d2|]\n",
        # The B part's pickup differs from the A part's.
        "A|dfa afd|dfa afd|dfa afd|gfe d2:|\n|:fg|afd dfa|afd dfa|afd dfa|gfe d:|\n",
    ],
)
def test_well_formed_parts_and_endings_pass(music: str) -> None:
    tune = JIG + music
    chars = CharTokenizer(set(tune), eos=True)
    steer = BarGuide(chars.stoi, chars.vocab_size, chars.eos_id).start(1, [0])
    for n, ch in enumerate(tune):
        mask = steer.banned(torch.device("cpu"))
        assert mask is None or not mask[0, chars.stoi[ch]], (tune[:n], ch)
        steer.drawn([chars.stoi[ch]])


@pytest.mark.parametrize(
    ("music", "kept"),
    [
        ("D|GBd gdB|GBd c2A|BAG AGF|G3 G2|]", "D|GBd gdB|GBd c2A|"),  # the last two bars go
        ("|:GAB dBG|cBA BGE|GAB dBG|AFD G3:|", "|:GAB dBG|cBA BGE|"),
        ("GBd gdB|GBd c2A|BAG AGF|G3 G2", "GBd gdB|GBd c2A|"),  # a last bar with no bar line
        ("GBd gdB|\nGBd c2A|\nBAG AGF|\nG3 G2|]\n", "GBd gdB|\nGBd c2A|"),  # bar lines ending lines
        ("GBd gdB|GBd c2A||BAG AGF|G3 G2|]", "GBd gdB|GBd c2A||"),  # a section line stays whole
        ('GBd gdB|GBd c2A|BAG AGF|G3 G2|]"G"', "GBd gdB|GBd c2A|"),  # a chord symbol is no bar
        ("GBd gdB|GBd c2A|BAG AGF|G3 G2|]!fine!", "GBd gdB|GBd c2A|"),  # nor is a decoration
        ("GBd gdB|BAG AGF|G3 G2|]", None),  # too few bars: the ending would be most of the tune
    ],
)
def test_the_ending_to_redraw_is_the_last_two_bars(music: str, kept: str | None) -> None:
    header = "X:1\nM:6/8\nL:1/8\nK:G\n"
    chars = CharTokenizer(set(header + music), eos=True)
    ending = LastBars(chars.stoi, chars.eos_id)
    ids = chars.encode(header + music)  # the model wrote the header
    cut = ending.cut([0], ids)
    assert (None if cut is None else chars.decode(ids[:cut])) == (None if kept is None else header + kept)
    # The same tune asked for a header: the prompt holds it, and the cut counts the music's ids.
    prompt = [0, *chars.encode(header)]
    cut = ending.cut(prompt, chars.encode(music))
    assert (None if cut is None else chars.decode(chars.encode(music)[:cut])) == kept

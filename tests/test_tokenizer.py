import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgen.datasets.tokenizers import CharTokenizer, tokenizer_from_dict
from seqgen.errors import SeqgenError


@pytest.mark.parametrize("text", ["hello world", "X:1\nK:D\n|:ABc d2:|\n", "naïve café — ünïcode ✓", "a"])
def test_round_trip(text):
    tok = CharTokenizer(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == len(set(text))


def test_ids_are_dense_and_sorted():
    tok = CharTokenizer("cab")
    assert tok.encode("abc") == [0, 1, 2]


def test_eos_reserves_id_zero():
    tok = CharTokenizer("ab", eos=True)
    assert tok.eos_id == 0 and tok.vocab_size == 3
    assert tok.encode("ab") == [1, 2]
    assert tok.decode([1, 2, 0]) == "ab\n"


def test_unknown_characters_are_named():
    tok = CharTokenizer("abc")
    with pytest.raises(SeqgenError, match="'z'"):
        tok.encode("abz")
    assert tok.unknown("xaby") == ["x", "y"]


def test_dict_round_trip():
    tok = CharTokenizer("hello", eos=True)
    again = tokenizer_from_dict(tok.to_dict())
    assert again.chars == tok.chars and again.eos_id == 0
    assert again.encode("hole") == tok.encode("hole")


def test_decode_rejects_out_of_range_id():
    with pytest.raises(SeqgenError, match="outside the vocabulary"):
        CharTokenizer("ab").decode([5])


# -- property tests: the text codec over the whole input space -------------------------------------

_texts = st.text(min_size=1, max_size=300)  # any Unicode scalar values, including newlines and NUL


@settings(max_examples=200, deadline=None)
@given(corpus=_texts, data=st.data(), eos=st.booleans())
def test_property_decode_encode_is_identity_on_the_vocabulary(corpus: str, data, eos: bool):
    tok = CharTokenizer(corpus, eos=eos)
    text = data.draw(st.text(alphabet=tok.chars, max_size=200))
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(tok.offset <= i < tok.vocab_size for i in ids)
    assert tok.encode_array(text).tolist() == ids
    assert tokenizer_from_dict(tok.to_dict()).encode(text) == ids  # the saved form is the same codec


@settings(max_examples=200, deadline=None)
@given(corpus=_texts, data=st.data(), eos=st.booleans())
def test_property_any_ids_decode_without_crashing(corpus: str, data, eos: bool):
    tok = CharTokenizer(corpus, eos=eos)
    ids = data.draw(st.lists(st.integers(0, tok.vocab_size - 1), max_size=200))
    text = tok.decode(ids)
    assert isinstance(text, str) and len(text) == len(ids)  # one character per id
    # Every decoded character is known again (EOS decodes to a newline, a vocabulary character
    # only when the corpus had one).
    assert not tok.unknown(text.replace("\n", ""))


@settings(max_examples=100, deadline=None)
@given(corpus=_texts, bad=st.integers().filter(lambda i: i < 0 or i > 10_000))
def test_property_ids_outside_the_vocabulary_are_a_clear_error(corpus: str, bad: int):
    tok = CharTokenizer(corpus)
    with pytest.raises(SeqgenError, match=f"token id {bad} is outside the vocabulary"):
        tok.decode([bad])


@settings(max_examples=100, deadline=None)
@given(corpus=_texts, extra=st.text(min_size=1, max_size=20))
def test_property_unknown_characters_are_named_not_crashed_on(corpus: str, extra: str):
    tok = CharTokenizer(corpus)
    unknown = sorted(set(extra) - set(tok.chars))
    assert tok.unknown(corpus + extra) == unknown
    if unknown:
        with pytest.raises(SeqgenError, match="the vocabulary does not know"):
            tok.encode(extra)

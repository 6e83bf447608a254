import pytest

from seqgen.errors import SeqgenError
from seqgen.tokenizer import CharTokenizer, tokenizer_from_dict


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

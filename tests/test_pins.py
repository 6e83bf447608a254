"""A tune's header lines kept in front of every window (`--pin-header`): where they are found,
what a training window keeps, and what the sampler keeps once its window has moved on."""

import json

import numpy as np
import pytest
import torch

from seqgen.datasets.batches import IGNORE, BatchSampler, pinned
from seqgen.datasets.tokenizers.char import CharTokenizer
from seqgen.generate.sampler import generate
from seqgen.models import build_model, config_from_dict, model_config
from seqgen.music.fields import FieldLines
from tests.test_sampler import Window

TUNES = (
    "X:1\nT:One\nM:6/8\nL:1/8\nR:jig\nK:G\nGAB c2d|efg d2B|[K:D]ABc d3|]\n"
    "X:2\nT:Two\nM:C|\nL:1/8\nK:Ador\nA2 cA BAGE|\nK:G\nGABc d4|]\n"
)


def chars() -> CharTokenizer:
    return CharTokenizer(sorted(set(TUNES)), eos=True)


def test_field_lines_are_the_key_metre_unit_and_rhythm_lines_of_each_tune():
    tok = chars()
    eos = tok.eos_id
    first, second = TUNES.split("X:2")
    ids = np.array([*tok.encode(first), eos, *tok.encode("X:2" + second)])
    starts, ends = FieldLines(tok.stoi, eos).spans(ids)
    lines = [tok.decode(ids[a:b].tolist()) for a, b in zip(starts, ends, strict=True)]
    # No X: or T: line, no inline [K:D]; a K: line in the music (a key change) is one.
    assert lines == ["M:6/8\n", "L:1/8\n", "R:jig\n", "K:G\n", "M:C|\n", "L:1/8\n", "K:Ador\n", "K:G\n"]
    # A line not yet ended (a sample still writing it) is no line.
    part = np.array(tok.encode("X:1\nM:6/8\nK:G"))
    assert [
        tok.decode(part[a:b].tolist()) for a, b in zip(*FieldLines(tok.stoi, eos).spans(part), strict=True)
    ] == ["M:6/8\n"]


def test_pinned_keeps_the_last_lines_of_the_document_that_fit():
    starts, ends = np.array([2, 6, 10, 30]), np.array([5, 9, 12, 33])  # lines of 3, 3, 2 and 3 tokens
    assert pinned(starts, ends, 0, 20, 32).tolist() == [2, 3, 4, 6, 7, 8, 10, 11]
    # 6 tokens with the end-of-document id: the last two lines (3 + 2) fit, not the first.
    assert pinned(starts, ends, 0, 20, 6).tolist() == [6, 7, 8, 10, 11]
    assert pinned(starts, ends, 0, 11, 32).tolist() == [2, 3, 4, 6, 7, 8]  # a line ends after the start
    assert pinned(starts, ends, 0, 4, 32).tolist() == []  # no line ended yet: nothing kept
    assert pinned(starts, ends, 25, 40, 32).tolist() == [30, 31, 32]  # only the window's own document's
    assert pinned(starts, ends, 0, 20, 3).tolist() == [10, 11]
    assert pinned(starts, ends, 0, 20, 2).tolist() == []  # no line fits beside the end-of-document id


def test_a_training_window_past_the_header_keeps_it_in_front_with_no_targets():
    tok = chars()
    eos = tok.eos_id
    one = tok.encode(TUNES.split("X:2")[0])
    data = np.array([eos, *one] * 40, dtype=np.uint16)
    lines = FieldLines(tok.stoi, eos).spans(data)
    sampler = BatchSampler(data, 64, 24, 0, torch.device("cpu"), "random", eos, pins=lines)
    x, y = sampler.next()
    seen_pinned = seen_plain = 0
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
        h = next(i for i, t in enumerate(row_y) if t != IGNORE) if IGNORE in row_y else 0
        assert len(row_x) == 24 and all(t == IGNORE for t in row_y[:h])
        assert row_y[h:-1] == row_x[h + 1 :]  # the window's own targets, shifted by one
        if h:
            seen_pinned += 1
            head = tok.decode(row_x[1:h])
            assert row_x[0] == eos and head and set(head.splitlines()) <= {"L:1/8", "R:jig", "K:G", "M:6/8"}
            assert len(row_x[:h]) <= 24 // 4  # a quarter of the window at most
        else:
            seen_plain += 1
    assert seen_pinned and seen_plain  # windows past a header and windows before one
    with pytest.raises(Exception, match="random or tune windows"):
        BatchSampler(data, 4, 24, 0, torch.device("cpu"), "streams", eos, pins=lines)


class Pinned(Window):
    """test_sampler's `Window` (it sees exactly the window it is fed, and records every window),
    trained with its header pinned."""

    pins_header = True


def lines_at(ids):
    """Two header lines, at positions 1-2 and 3-4, once written."""
    starts, ends = np.array([1, 3]), np.array([3, 5])
    done = ends <= len(ids)
    return starts[done], ends[done]


@pytest.mark.parametrize("window_step", [None, 1, 5])
def test_the_sampler_keeps_the_header_in_front_once_its_window_moves(window_step):
    prompt = [1, 2, 3, 4, 5, 6]
    kw = dict(window_step=window_step, pins=lines_at)
    cached, uncached = Pinned(), Pinned()
    g = torch.Generator
    a = generate(cached, prompt, 2, 50, 1.0, None, None, g().manual_seed(0), **kw)
    b = generate(uncached, prompt, 2, 50, 1.0, None, None, g().manual_seed(0), use_cache=False, **kw)
    assert a == b and cached.windows == uncached.windows
    hist = prompt + a[0]
    assert any(w[:3] == (hist[0], hist[3], hist[4]) and len(w) > 6 for w in cached.windows)
    # Each window after the first slide (from `start` to `end`): position 0, then the last line
    # that ended by `start` (none before 3) and fits in a quarter of 16 tokens with it (positions
    # 1-2, then 3-4 once it has ended), then the tokens from start + 3 on.
    for k, w in enumerate(uncached.windows):
        end = len(prompt) + k
        if end <= 16:
            assert w == tuple(hist[:end])
        else:
            start = end - len(w)
            if start < 3:  # no line has ended by the window's start: nothing kept
                assert w == tuple(hist[start:end])
                continue
            line = (1, 2) if start < 5 else (3, 4)
            assert w[:3] == (hist[0], *(hist[i] for i in line)), (k, w)
            assert w[3:] == tuple(hist[start + 3 : end])
    # A model trained without pins sees the plain last tokens, whatever `pins` says.
    plain = Pinned()
    plain.pins_header = False
    c = generate(plain, prompt, 2, 50, 1.0, None, None, g().manual_seed(0), use_cache=False, **kw)
    plain_hist = prompt + c[0]
    for k, w in enumerate(plain.windows):
        assert w == tuple(plain_hist[len(prompt) + k - len(w) : len(prompt) + k])


def test_a_pinned_transformer_draws_the_same_tokens_cached_and_uncached():
    torch.manual_seed(0)
    cfg = model_config(
        "transformer", vocab_size=8, n_layer=2, n_head=2, n_embd=16, block_size=16, pin_header=True
    )
    model = build_model("transformer", cfg).eval()
    assert model.pins_header and not model.rolls and not model.carries_state
    prompt = [1, 2, 3, 4, 5, 6]
    for step in (None, 1, 4):
        kw = dict(window_step=step, pins=lines_at)
        a = generate(model, prompt, 3, 45, 1.0, None, None, torch.Generator().manual_seed(3), **kw)
        b = generate(
            model, prompt, 3, 45, 1.0, None, None, torch.Generator().manual_seed(3), use_cache=False, **kw
        )
        assert a == b
    # The flag is saved with the model and read back; a config saved before it reads as unpinned.
    saved = json.loads(json.dumps(cfg.__dict__))
    assert config_from_dict("transformer", saved).pin_header
    del saved["pin_header"]
    assert not config_from_dict("transformer", saved).pin_header


def test_a_pinned_model_refuses_a_window_step_that_leaves_no_room_for_its_header():
    """After a slide of `step` tokens the re-encoded window holds 16 + 1 - step tokens: with a step
    past 16 - 4 (a quarter kept for the header), training's header would not fit; and a pinned
    model sampled without its header lines would see windows it never trained on."""
    from seqgen.errors import SeqgenError

    prompt = [1, 2, 3, 4, 5, 6]
    g = torch.Generator
    generate(Pinned(), prompt, 2, 30, 1.0, None, None, g().manual_seed(0), window_step=12, pins=lines_at)
    with pytest.raises(SeqgenError, match=r"--window-step must be at most 12 .*--pin-header.*got 13"):
        generate(Pinned(), prompt, 2, 30, 1.0, None, None, g().manual_seed(0), window_step=13, pins=lines_at)
    with pytest.raises(SeqgenError, match="trained with --pin-header"):
        generate(Pinned(), prompt, 2, 30, 1.0, None, None, g().manual_seed(0))

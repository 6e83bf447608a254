import itertools

import pytest
import torch

from seqgen.config import SampleConfig, model_config
from seqgen.models import build_model
from seqgen.sampler import generate, next_token, sample

V = 19


def tiny(name: str, block_size: int = 16):
    torch.manual_seed(0)
    kw = dict(n_layer=2, n_embd=16, block_size=block_size)
    if name == "transformer":
        kw["n_head"] = 2
    return build_model(name, model_config(name, vocab_size=V, **kw)).eval()


def gen(model, seed, n=3, length=40, **kw):
    args = dict(temperature=1.0, top_k=None, top_p=None) | kw
    return generate(model, [1, 2, 3], n, length, generator=torch.Generator().manual_seed(seed), **args)


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_top_k_one_is_greedy(name):
    model = tiny(name)
    assert gen(model, 1, top_k=1) == gen(model, 2, temperature=0.0)
    assert gen(model, 3, top_p=1e-9) == gen(model, 4, temperature=0.0)


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_seed_reproduces(name):
    model = tiny(name)
    assert gen(model, 7) == gen(model, 7)
    assert gen(model, 7) != gen(model, 8)


def test_next_token_filters():
    logits = torch.tensor([[0.0, 5.0, 4.9, -3.0]])
    g = torch.Generator().manual_seed(0)
    draws = {next_token(logits, 1.0, 2, None, g).item() for _ in range(200)}
    assert draws == {1, 2}  # top-k 2 never draws tokens 0 or 3
    draws = {next_token(logits, 1.0, None, 0.5, g).item() for _ in range(200)}
    assert draws == {1}  # token 1 alone holds > 50% of the mass


def cropped(model, prompt, length, seed, block):
    """nanoGPT's sampler: re-run the context, cropped to the last `block` tokens, every step."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.tensor([prompt] * 2)
    for _ in range(length):
        logits, _ = model(idx[:, -block:])
        idx = torch.cat([idx, next_token(logits[:, -1], 1.0, None, None, g)[:, None]], dim=1)
    return idx[:, len(prompt) :].tolist()


def run(model, prompt, length, seed, **kw):
    return generate(model, prompt, 2, length, 1.0, None, None, torch.Generator().manual_seed(seed), **kw)


@pytest.mark.parametrize("prompt", [[1, 2, 3, 4, 5], [*list(range(1, 19)), 2, 3]])  # 5, and > block
def test_kv_cache_gives_the_same_tokens_as_recomputing(prompt):
    """45+ tokens, well past block_size 16: the window slides (every 4 tokens by default, or at
    every token), and the cached and uncached paths must draw the same tokens for one seed."""
    model = tiny("transformer", block_size=16)
    for window_step in (None, 1, 3, 16):
        cached = run(model, prompt, 40, 5, window_step=window_step)
        assert cached == run(model, prompt, 40, 5, window_step=window_step, use_cache=False)
    # Sliding one token at a time is exactly nanoGPT's crop.
    assert run(model, prompt, 40, 5, window_step=1) == cropped(model, prompt, 40, 5, 16)
    assert run(model, prompt, 40, 5) != cropped(model, prompt, 40, 5, 16)  # the default slides by 4


def test_lstm_state_gives_the_same_tokens_as_recomputing():
    model = tiny("lstm")
    assert run(model, [1, 2, 3], 30, 9) == run(model, [1, 2, 3], 30, 9, use_cache=False)


def test_sliding_window_keeps_at_least_three_quarters_of_the_context():
    seen = []

    class Probe(torch.nn.Module):
        context_limit = 16

        def init_state(self, batch_size, device):
            return 0

        def forward(self, idx, state=None):
            state = (state or 0) + idx.size(1)
            seen.append(state)
            assert state <= self.context_limit
            return torch.zeros(idx.size(0), idx.size(1), 8), state

    generate(Probe(), [1], 1, 100, 1.0, None, None, torch.Generator())
    assert max(seen) == 16 and min(seen[20:]) == 13  # windows of 13..16 tokens once full
    assert sum(1 for a, b in itertools.pairwise(seen) if b < a) == 21  # at calls 16, 20, ..., 96


class Scripted(torch.nn.Module):
    """A contract-following stub: emits token 5 for `k` steps, then EOS (id 0)."""

    context_limit = None

    def __init__(self, k):
        super().__init__()
        self.k = k

    def init_state(self, batch_size, device):
        return 0

    def forward(self, idx, state=None):
        B, T = idx.shape
        state = (state or 0) + T
        logits = torch.full((B, T, 8), -1e9)
        logits[:, :, 0 if state > self.k else 5] = 0.0
        return logits, state


def test_generation_stops_at_eos():
    rows = generate(Scripted(4), [0], 2, 100, 1.0, None, None, torch.Generator(), eos_id=0)
    assert rows == [[5, 5, 5, 5, 0]] * 2


def test_rejected_samples_are_regenerated():
    calls = []

    def check(ids, ended):
        calls.append(ids)
        return type("V", (), {"ok": len(calls) > 2})()

    report = sample(
        Scripted(3), [0], SampleConfig(num_samples=2, seed=1, length=50), eos_id=0, check=check, max_retries=3
    )
    assert [s.ids for s in report.samples] == [[5, 5, 5]] * 2
    assert all(s.ended for s in report.samples)
    assert [s.attempts for s in report.samples] == [2, 2] and report.first_try == 0
    assert all(s.passed for s in report.samples)

import itertools

import pytest
import torch

from seqgen.config import ENDING_DRAWS, ENDING_SPAN, SampleConfig
from seqgen.device import autocast, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.generate.sampler import generate, next_token, sample
from seqgen.models import build_model, model_config

V = 19


def tiny(name: str, block_size: int = 16, **recipe):
    torch.manual_seed(0)
    kw = dict(n_layer=2, n_embd=16, block_size=block_size, **recipe)
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


def test_top_k_keeps_exactly_k_tokens_when_logits_tie():
    """Ties with the k-th logit (common in bf16) do not widen top-k: --top-k 1 stays greedy."""
    tied = torch.tensor([[2.0, 5.0, 5.0, 5.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    assert len({next_token(tied, 1.0, 1, None, g).item() for _ in range(100)}) == 1
    two = {next_token(tied, 1.0, 2, None, g).item() for _ in range(300)}
    assert len(two) == 2 and two <= {1, 2, 3}


def cropped(model, prompt, length, seed, block):
    """nanoGPT's sampler: re-run the context, cropped to the last `block` tokens, every step."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.tensor([prompt] * 2)
    cpu = torch.device("cpu")
    for _ in range(length):
        with autocast(cpu, resolve_precision("auto", cpu)):  # as generate (bf16 on AMX CPUs)
            logits, _ = model(idx[:, -block:])
        idx = torch.cat([idx, next_token(logits[:, -1], 1.0, None, None, g)[:, None]], dim=1)
    return idx[:, len(prompt) :].tolist()


def run(model, prompt, length, seed, **kw):
    return generate(model, prompt, 2, length, 1.0, None, None, torch.Generator().manual_seed(seed), **kw)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("prompt", [[1, 2, 3, 4, 5], [*list(range(1, 19)), 2, 3]])  # 5, and > block
def test_kv_cache_gives_the_same_tokens_as_recomputing(prompt, positions):
    """45+ tokens, well past block_size 16: the window slides (every 4 tokens by default, or at
    every token), and the cached and uncached paths must draw the same tokens for one seed (a
    rotary model on its exact path, `rolling=False`, re-encoding as a learned-position one must)."""
    model = tiny("transformer", block_size=16, positions=positions)
    for window_step in (None, 1, 3, 16):
        cached = run(model, prompt, 40, 5, window_step=window_step, rolling=False)
        assert cached == run(model, prompt, 40, 5, window_step=window_step, use_cache=False)
    # Sliding one token at a time is exactly nanoGPT's crop.
    assert run(model, prompt, 40, 5, window_step=1) == cropped(model, prompt, 40, 5, 16)


def test_lstm_state_gives_the_same_tokens_as_recomputing():
    model = tiny("lstm")
    assert run(model, [1, 2, 3], 30, 9) == run(model, [1, 2, 3], 30, 9, use_cache=False)


class Window(torch.nn.Module):
    """A model that sees exactly the window it is fed: its state is the list of tokens cached so
    far, and its next-token logits are sharp and depend on every token of the window and on their
    positions, so a window off by one token or shifted draws other tokens. Records every window."""

    context_limit = 16
    rolls = False  # re-encodes its window, as a learned-position transformer does

    def __init__(self):
        super().__init__()
        self.windows: list[tuple[int, ...]] = []

    def init_state(self, batch_size, device):
        return [[] for _ in range(batch_size)]

    def forward(self, idx, state=None):
        rows = [list(r) for r in idx.tolist()]
        state = [s + r for s, r in zip(state, rows, strict=True)] if state is not None else rows
        assert all(len(w) <= self.context_limit for w in state)
        self.windows.append(tuple(state[0]))
        logits = torch.zeros(idx.size(0), idx.size(1), 8)
        for b, w in enumerate(state):
            logits[b, -1, sum((i + 1) * t for i, t in enumerate(w)) % 8] = 30.0
        return logits, state


@pytest.mark.parametrize("window_step", [None, 1, 5, 16])
def test_cached_and_uncached_see_the_same_windows(window_step):
    cached, uncached = Window(), Window()
    a = run(cached, [1, 2, 3], 60, 0, window_step=window_step)
    b = run(uncached, [1, 2, 3], 60, 0, window_step=window_step, use_cache=False)
    assert a == b and cached.windows == uncached.windows
    step = window_step or 4
    # Every window is the last tokens of the sample so far: 16 at most, and after each slide
    # 16 + 1 - step; the window moves every `step` tokens once the context is full.
    hist = [1, 2, 3, *a[0]]
    for k, w in enumerate(cached.windows):  # call k sees the tokens up to the (3 + k)-th
        assert w == tuple(hist[3 + k - len(w) : 3 + k])
    lengths = [len(w) for w in cached.windows]
    assert min(lengths[14:]) == 17 - step and max(lengths) == 16
    if step > 1:  # slides at 17, 17 + step, ... tokens
        assert sum(1 for x, y in itertools.pairwise(lengths) if y < x) == len(range(17, 3 + 60, step))


def test_window_step_must_fit_the_context():
    with pytest.raises(SeqgenError, match=r"--window-step must lie in \[1, 16\]"):
        run(Window(), [1], 5, 0, window_step=17)


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


def _verdict(ok: bool, settled: bool):
    return type("V", (), {"ok": ok, "settled": settled})()


def test_a_passing_tune_that_does_not_go_home_is_redrawn_and_kept_when_no_redraw_does():
    """Attempt 1 passes but is not settled (it ends away from the tonic); attempt 2 fails, so
    attempt 1 stays; sample 2's attempt 3 settles and replaces it. Both counted as first-try passes."""
    script = {0: [_verdict(True, False), _verdict(False, False), _verdict(True, False)],
              1: [_verdict(True, False), _verdict(True, False), _verdict(True, True)]}  # fmt: skip
    seen: list[int] = []

    def check(ids, ended):
        seen.append(1)
        row = 0 if len(seen) % 2 else 1  # the two samples alternate within each attempt
        return script[row][(len(seen) - 1) // 2]

    report = sample(
        Scripted(3), [0], SampleConfig(num_samples=2, seed=1, length=50), eos_id=0, check=check, max_retries=2
    )
    assert [s.attempts for s in report.samples] == [1, 3]
    assert [s.draws for s in report.samples] == [3, 3]
    assert [s.settled for s in report.samples] == [False, True]
    assert all(s.passed for s in report.samples) and report.first_try == 2


def _kept_of_failing_draws(misses: list[int]):
    """The sample kept when every draw fails, the check saying how far each is from passing."""
    far = iter(misses)
    [kept] = sample(
        Scripted(3),
        [0],
        SampleConfig(num_samples=1, seed=1, length=50),
        eos_id=0,
        check=lambda ids, ended: type("V", (), {"ok": False, "misses": next(far)})(),
        max_retries=len(misses) - 1,
    ).samples
    return kept


def test_when_no_redraw_passes_the_nearest_miss_is_kept():
    """Four draws fail; the check says how far each is from passing (`misses`). Misses 4, 1, 3, 1:
    the fourth is kept (as near as the second: the later of equals). Misses 2, 1, 3, 4: the second
    is kept over the later, farther ones."""
    kept = _kept_of_failing_draws([4, 1, 3, 1])
    assert kept.attempts == 4 and kept.draws == 4 and kept.check.misses == 1 and not kept.passed
    kept = _kept_of_failing_draws([2, 1, 3, 4])
    assert kept.attempts == 2 and kept.check.misses == 1


def test_a_settled_tune_is_not_redrawn():
    calls = []

    def check(ids, ended):
        calls.append(1)
        return _verdict(True, True)

    report = sample(
        Scripted(3), [0], SampleConfig(num_samples=2, seed=1, length=50), eos_id=0, check=check, max_retries=3
    )
    assert len(calls) == 2 and report.first_try == 2


@pytest.mark.parametrize(("temperature", "attempts", "greedy"), [(0.0, 1, True), (1.0, 4, False)])
def test_greedy_sampling_makes_no_pointless_retries(temperature, attempts, greedy):
    """At temperature 0 a redraw repeats the rejected sample: no retry is made, and the report
    says why; at temperature 1 every allowed retry is used."""
    cfg = SampleConfig(num_samples=2, seed=1, length=8, temperature=temperature)
    report = sample(
        tiny("lstm"), [1, 2, 3], cfg, eos_id=None, check=lambda ids, ended: _Reject(), max_retries=3
    )
    assert [s.attempts for s in report.samples] == [attempts, attempts]
    assert report.greedy is greedy and not any(s.passed for s in report.samples)


class _Reject:
    ok = False


class _Ending:
    """Keeps the first id of each sample and records what it was asked to cut."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[int], list[int]]] = []

    def cut(self, prompt: list[int], ids: list[int]) -> int | None:
        self.asked.append((prompt, ids))
        return 1


def _ending_verdict(ok: bool, settled: bool, at_fault: bool):
    return type("V", (), {"ok": ok, "settled": settled, "ending_at_fault": at_fault})()


def test_a_tune_failing_at_its_ending_gets_new_endings_before_a_whole_redraw():
    """The first draw fails only at its ending: new endings continue what it wrote up to the cut
    (its first id); the second settles it and is kept; no whole redraw is made."""
    seen: list[list[int]] = []
    verdicts = [_ending_verdict(False, False, True), _ending_verdict(False, False, True)]

    def check(ids, ended):
        seen.append(ids)
        return verdicts[len(seen) - 1] if len(seen) <= 2 else _ending_verdict(True, True, False)

    ending = _Ending()
    cfg = SampleConfig(num_samples=1, seed=1, length=50)
    events: list[tuple[int, int]] = []
    report = sample(
        Scripted(3), [0], cfg, eos_id=0, check=check, max_retries=3, ending=ending,
        on_draw=lambda attempt, t, n: events.append((attempt, t)),
    )  # fmt: skip
    # The draw's progress runs to its end (50 of 50); the new endings' progress follows, from the cut.
    done = events.index((1, 50))
    assert events[done + 1 :] and all(a == 1 and 1 < t < 50 for a, t in events[done + 1 :])
    assert ending.asked == [([0], [5, 5, 5])]
    assert seen[0] == [5, 5, 5] and all(ids[:1] == [5] for ids in seen[1:])
    assert len(seen) == 3 and report.endings == 1  # the draw, two new endings (the second settles)
    s = report.samples[0]
    assert s.passed and s.settled and s.new_ending and s.attempts == 1 and s.draws == 1


def test_without_retries_or_when_no_new_ending_settles_the_whole_tune_is_redrawn():
    calls: list[int] = []

    def check(ids, ended):
        calls.append(1)
        return _ending_verdict(False, False, True)

    cfg = SampleConfig(num_samples=1, seed=1, length=50)
    report = sample(Scripted(3), [0], cfg, eos_id=0, check=check, max_retries=0, ending=_Ending())
    assert len(calls) == 1 and report.endings == 0  # --max-retries 0: the first try, as drawn
    calls.clear()
    report = sample(Scripted(3), [0], cfg, eos_id=0, check=check, max_retries=1, ending=_Ending())
    # draw 1, its 4 new endings (none settles), draw 2 (the last: no new endings after it)
    assert len(calls) == 1 + ENDING_DRAWS + 1 and report.endings == 1
    assert report.samples[0].draws == 2 and not report.samples[0].new_ending


def test_progress_shows_before_the_first_draw_and_follows_each_draw_token_by_token():
    events: list[tuple] = []
    calls = []

    def check(ids, ended):
        calls.append(ids)
        return type("V", (), {"ok": len(calls) > 2})()  # both samples fail their first draw

    sample(
        Scripted(3),
        [0],
        SampleConfig(num_samples=2, seed=1, length=50),
        eos_id=0,
        check=check,
        max_retries=3,
        on_progress=lambda done, total: events.append(("done", done, total)),
        on_draw=lambda attempt, t, n: events.append(("draw", attempt, t, n)),
    )
    assert events[0] == ("done", 0, 2)  # the bar is up before any token is drawn
    assert events[1] == ("draw", 1, 1, 50)
    first_done = events.index(("done", 0, 2), 1)  # after draw 1, nothing passed yet
    draw1 = [e for e in events[:first_done] if e[0] == "draw"]
    assert [e[2] for e in draw1] == [1, 2, 3, 4, 50]  # 4 tokens (EOS the 4th), then closed
    assert events[-2:] == [("draw", 2, 50, 50), ("done", 2, 2)]


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_a_ban_keeps_its_ids_out_right_after_its_id_only(name):
    """`Ban(after, ids)`: none of `ids` is ever drawn right after `after` (nor after the prompt's
    last id when that is `after`); elsewhere they are drawn as before."""
    from seqgen.generate.sampler import Ban

    model = tiny(name)
    free = gen(model, 5, n=8, length=60)
    ban = Ban(after=3, ids=tuple(range(4, 12)))
    held = gen(model, 5, n=8, length=60, ban=ban)
    for row in held:
        seq = [3, *row]  # the prompt ends with 3
        assert all(b not in ban.ids for a, b in itertools.pairwise(seq) if a == 3)
    after_3 = [b for row in free for a, b in itertools.pairwise([3, *row]) if a == 3]
    assert any(b in ban.ids for b in after_3)  # without the ban, the model does draw them there
    assert any(b in ban.ids for row in held for b in row)  # and with it, they appear elsewhere


def test_a_conditioned_abc_tune_opens_no_field_line_in_its_music():
    """The ABC kind's header ban: after a newline no letter but a note or a rest."""
    from seqgen.datasets.kinds import kind_named
    from seqgen.datasets.tokenizers.char import CharTokenizer

    tok = CharTokenizer("\nABCDEFGabcdefgzKLMTw:|", eos=True)
    ban = kind_named("abc").header_ban(tok)
    assert ban is not None and ban.after == tok.stoi["\n"]
    assert {tok.decode([i]) for i in ban.ids} == set("KLMTw")
    assert kind_named("text").header_ban(tok) is None


def test_a_rotary_model_rolls_past_its_context_and_can_still_re_encode():
    """Before the context fills, rolling and re-encoding draw the same tokens; past it the rolling
    cache gives one token's work per token (not exact); --re-encode stays the exact path."""
    model = tiny("transformer", block_size=16, positions="rotary")
    prompt = [1, 2, 3, 4, 5]
    short = run(model, prompt, 11, 5)  # 16 tokens: the context never overflows
    assert short == run(model, prompt, 11, 5, rolling=False) == run(model, prompt, 11, 5, use_cache=False)
    rolled = run(model, prompt, 60, 5)
    assert all(len(r) == 60 for r in rolled)
    exact = run(model, prompt, 60, 5, rolling=False)
    assert exact == run(model, prompt, 60, 5, rolling=False, use_cache=False)
    assert rolled[0][:11] == exact[0][:11]


def test_a_new_ending_is_at_most_ending_span_times_as_long_as_the_one_it_replaces(monkeypatch):
    """New last bars, not a new part: the draw of new endings gets ENDING_SPAN times the ids it
    replaces (here 2 of the 3 drawn, the cut keeping 1), not the rest of --length."""
    import seqgen.generate.sampler as sampler

    asked: list[tuple[int, int, int]] = []
    real = sampler.generate

    def spy(model, prompt, n, length, *args, **kwargs):
        asked.append((len(prompt), n, length))
        return real(model, prompt, n, length, *args, **kwargs)

    monkeypatch.setattr(sampler, "generate", spy)
    cfg = SampleConfig(num_samples=1, seed=1, length=50)
    check = lambda ids, ended: _ending_verdict(False, False, True)  # noqa: E731
    sample(Scripted(3), [0], cfg, eos_id=0, check=check, max_retries=1, ending=_Ending())
    assert asked == [(1, 1, 50), (2, ENDING_DRAWS, ENDING_SPAN * 2), (1, 1, 50)]

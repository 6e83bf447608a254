"""Autoregressive generation: one loop for every model, many samples at once.

Owns: temperature / top-k / top-p sampling, the decoding loop (prefill the prompt, then feed one
token at a time through the model's state: the LSTM's (h, c), the transformer's KV cache),
stopping at the end-of-document token, cropping to a model's context limit, and regenerating
samples that a caller-supplied check rejects. Knows nothing about files or music formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from seqgen.config import ENDING_DRAWS, ENDING_SPAN, SampleConfig
from seqgen.datasets.batches import pin_cap, pinned
from seqgen.device import autocast, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.models.base import SequenceModel


@dataclass(frozen=True)
class Ban:
    """Ids the model may not draw right after the id `after` (decoding that knows the data: an
    ABC tune asked for a key keeps it when no line of its music may start a K: or M: field). The
    model still writes every token; only these are taken out of its choice there."""

    after: int
    ids: tuple[int, ...]

    def mask(self, vocab_size: int, device: torch.device) -> torch.Tensor:
        """(V,) True at the banned ids; built once per generation."""
        banned = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        banned[list(self.ids)] = True
        return banned

    @staticmethod
    def apply(logits: torch.Tensor, prev: torch.Tensor, after: int, banned: torch.Tensor) -> torch.Tensor:
        """`logits` (B, V) with the `banned` ids at -inf in the rows whose previous id is `after`
        (no host sync: a GPU never waits for it)."""
        return logits.masked_fill((prev == after)[:, None] & banned, float("-inf"))


class Steering(Protocol):
    """One batch of samples under a `Guide`: what each row may not draw next, told each draw."""

    def banned(self, device: torch.device) -> torch.Tensor | None:
        """(n, V) True where a row may not draw next; None: no row is constrained."""
        ...

    def drawn(self, ids: list[int]) -> None: ...


class Guide(Protocol):
    """Decoding that follows what is written (an ABC tune's bars: `music.bars.BarGuide`) and
    takes out of the model's choice what would break it; the model still writes every token."""

    def start(self, n: int, prompt: list[int]) -> Steering: ...


class Ending(Protocol):
    """Where a sample's ending starts (an ABC tune's last bars: `music.bars.LastBars`), so that a
    sample that fails only at its ending gets new endings drawn by the model, not a whole redraw."""

    def cut(self, prompt: list[int], ids: list[int]) -> int | None: ...


def next_token(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Draw one id per row from logits (B, V); temperature 0 is greedy. Returns (B,)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        # Exactly k tokens, ties with the k-th included only up to k (so --top-k 1 is greedy even
        # where logits tie, as bf16 logits often do).
        values, ids = torch.topk(logits, top_k, dim=-1)
        logits = torch.full_like(logits, float("-inf")).scatter_(-1, ids, values)
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # Drop a token when the mass before it already reaches top_p (the top token always stays).
        drop = (sorted_p.cumsum(dim=-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def slide_step(limit: int) -> int:
    """How far the window moves once a transformer's context is full: a quarter of it. The model
    then always sees between 3/4 of its context and all of it, and the re-encoding of the kept
    3/4 is paid once every limit/4 tokens instead of at every token (nanoGPT's crop re-runs the
    whole context for each new token)."""
    return max(1, limit // 4)


@torch.no_grad()
def generate(
    model: SequenceModel,
    prompt: list[int],
    n: int,
    length: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator,
    eos_id: int | None = None,
    device: torch.device | str = "cpu",
    use_cache: bool = True,
    window_step: int | None = None,
    on_token: Callable[[int, torch.Tensor], None] | None = None,
    ban: Ban | None = None,
    rolling: bool = True,
    guide: Guide | None = None,
    pins: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[list[int]]:
    """Generate `n` continuations of `prompt` (up to `length` new ids each, stopping after EOS).

    The model sees the window `hist[start:cur]`. A model with a context limit (the transformer)
    keeps at most `limit` tokens in it: when the next token would overflow it, the window start
    moves `window_step` tokens on (default `slide_step(limit)`; 1 crops exactly at every token,
    as nanoGPT does). With `use_cache` the model's state carries the window forward (the LSTM's
    (h, c), the transformer's KV cache, re-encoded from the kept tokens when the window moves);
    without it every step re-runs the whole window. Both draw the same tokens for one seed.
    A model that `rolls` (rotary positions) decoding with the cache and `rolling` (the default when
    no `window_step` is given) instead keeps a rolling cache past the context: the window moves
    one token at a time at one token's cost, and the cached keys keep what they saw when they were
    made, so it is not the re-encoding window's exact result (that stays: `rolling=False`).

    `on_token(t, ids)` is called with each new token of every sample, (n,) ids, once the model
    has read it (streaming output, timing). The last token is reported without a model step.
    `ban`: ids never drawn right after a given id (see `Ban`). `guide`: ids a row may not draw
    next, given what it has written (see `Guide`; a host sync per token); a row it would leave
    nothing to draw is left free. `pins(ids)`: the (starts, ends) of the header lines in a row's
    ids (`DataKind.header_lines`), for a model that `pins_header`: once its window has moved on,
    each row's window keeps the end-of-document id (the prompt's first) and the header lines
    before the window's start in front of it, as it was trained (`seqgen.datasets.batches.pinned`);
    the window is then re-encoded, never rolled.
    Returns the new ids of each sample (the EOS id included when one was drawn).
    """
    device = torch.device(device)
    if not prompt:
        raise SeqgenError("generation needs at least one prompt token")
    amp = resolve_precision("auto", device)
    limit = model.context_limit
    if window_step is not None and limit and not 1 <= window_step <= limit:
        raise SeqgenError(f"--window-step must lie in [1, {limit}] (the model's context), got {window_step}")
    step = (window_step or slide_step(limit)) if limit else 0
    P = len(prompt)
    hist = torch.empty((n, P + length), dtype=torch.long, device=device)  # every token so far
    hist[:, :P] = torch.tensor(prompt, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    start = max(0, P - limit) if limit else 0
    pinning = limit is not None and bool(getattr(model, "pins_header", False))
    pin = pins if pinning else None
    if pinning and limit is not None:
        if pins is None:
            raise SeqgenError("this model was trained with --pin-header: it samples with its header lines")
        most = limit - pin_cap(limit)  # a window re-encoded after a slide holds the header and a token
        if window_step is not None and window_step > most:
            raise SeqgenError(
                f"--window-step must be at most {most} for a model trained with --pin-header (its "
                f"window keeps up to {pin_cap(limit)} tokens of the header), got {window_step}"
            )
    roll = use_cache and rolling and window_step is None and limit is not None and model.rolls and pin is None

    def window(lo: int, hi: int) -> torch.Tensor:
        """hist[:, lo:hi], or with `pin` each row's header lines kept in front of its window."""
        if pin is None or lo == 0:
            return hist[:, lo:hi]
        return hist.gather(
            1, _pinned_index(hist[:, :hi].cpu().numpy(), lo, pin, pin_cap(limit or 0)).to(device)
        )

    state = None
    if use_cache:
        state = model.init_state(n, device, rolling=True) if roll else model.init_state(n, device)
    with autocast(device, amp):
        logits, state = model(window(start, P), state)
    steps = 0
    prev = hist[:, P - 1]
    banned = ban.mask(logits.size(-1), device) if ban is not None else None
    steer = guide.start(n, prompt) if guide is not None else None
    for t in range(length):
        last = logits[:, -1, :]
        if ban is not None and banned is not None:
            last = Ban.apply(last, prev, ban.after, banned)
        if steer is not None and (mask := steer.banned(device)) is not None:
            mask = mask & ~(mask | last.isneginf()).all(-1, keepdim=True)  # never nothing left
            last = last.masked_fill(mask, float("-inf"))
        nxt = next_token(last, temperature, top_k, top_p, generator)
        if eos_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            done |= nxt == eos_id
        cur = P + t + 1  # tokens in hist, the new one included
        hist[:, cur - 1] = nxt
        prev = nxt
        if steer is not None:
            steer.drawn(nxt.tolist())
        steps = t + 1
        # Whether every row has ended is a host sync: on a GPU, look only every 16 tokens.
        look = device.type == "cpu" or t % 16 == 15
        if t == length - 1 or (eos_id is not None and look and bool(done.all())):
            if on_token is not None:
                on_token(t, nxt)
            break
        fresh = limit is not None and cur - start > limit
        if fresh and roll and limit is not None:  # the cache drops its oldest token itself
            start, fresh = cur - limit, False
        elif fresh and limit is not None:  # the window is full: move its start `step` tokens on
            start = cur - (limit + 1 - step)
        if not use_cache:
            feed, state = window(start, cur), None
        elif fresh:
            feed, state = window(start, cur), model.init_state(n, device)
        else:
            feed = nxt[:, None]
        with autocast(device, amp):
            logits, state = model(feed, state)
        if on_token is not None:
            on_token(t, nxt)
    out = hist[:, P : P + steps].tolist()
    if eos_id is not None:
        out = [row[: row.index(eos_id) + 1] if eos_id in row else row for row in out]
    return out


def _pinned_index(
    rows: np.ndarray, lo: int, pins: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], cap: int
) -> torch.Tensor:
    """(n, hi - lo) positions of each row's window from `lo` with its header lines kept in front:
    position 0 (the end-of-document id the prompt starts with) and the lines `pinned` keeps, then
    the row's tokens from `lo + h` on (h: what is kept), so every row's window is as long."""
    n, hi = rows.shape
    index = np.empty((n, hi - lo), dtype=np.int64)
    for r in range(n):
        starts, ends = pins(rows[r, :lo])
        keep = pinned(starts, ends, 0, lo, cap)
        head = np.concatenate([[0], keep]) if len(keep) else keep
        index[r, : len(head)] = head
        index[r, len(head) :] = np.arange(lo + len(head), hi)
    return torch.from_numpy(index)


@dataclass
class Sample:
    ids: list[int]  # new ids, without the prompt and without a final EOS
    ended: bool  # True when the model itself ended the document (drew EOS)
    attempts: int = 1  # the draw that was kept (1: the first)
    check: Any = None  # what the caller's check returned for the accepted (or last) attempt
    passed: bool = True
    settled: bool = True  # passed, and as good as a redraw could make it (see `sample`)
    draws: int = 1  # draws made for this sample (more than `attempts` when later ones were not kept)
    new_ending: bool = False  # its ending was redrawn (see `sample`'s `ending`)


@dataclass
class SampleReport:
    samples: list[Sample] = field(default_factory=list)
    seed: int = 0
    retries: int = 0  # the redraws allowed for a sample the check rejects
    greedy: bool = False  # temperature 0: a redraw would repeat the sample, so none was made
    first_try: int = 0  # samples whose first attempt passed the check
    endings: int = 0  # batches of new endings drawn (see `sample`'s `ending`)


def sample(
    model: SequenceModel,
    prompt: list[int],
    cfg: SampleConfig,
    eos_id: int | None,
    device: torch.device | str = "cpu",
    check: Callable[[list[int], bool], Any] | None = None,
    max_retries: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    on_token: Callable[[int, torch.Tensor], None] | None = None,
    on_draw: Callable[[int, int, int], None] | None = None,
    ban: Ban | None = None,
    guide: Guide | None = None,
    ending: Ending | None = None,
    pins: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> SampleReport:
    """Draw `cfg.num_samples` samples in batches; re-draw those `check` rejects, up to `max_retries`.

    `check(ids, ended)` returns an object with a boolean `ok`, and optionally `settled` (ok, and
    no redraw is wanted: a tune that ends on its tonic); with no check every sample passes. A
    sample that passes but is not settled is redrawn too, and kept unless a redraw settles.
    With `ending`, a sample whose check says only its ending is at fault (`ending_at_fault`)
    first gets `ENDING_DRAWS` new endings from the model, continuing what it wrote up to
    `ending.cut`, on each retry; the whole sample is redrawn when none of them settles it.
    When no draw passes, the one nearest to passing (the check's `misses`) is kept, the later of
    equals. `pins`: a row's header lines, for a model that `pins_header` (see `generate`).
    `on_token(t, ids)` sees each token of the first attempt as it is drawn (see `generate`).
    `on_progress(done, total)`: samples final so far (called with 0 before the first draw);
    `on_draw(attempt, t, length)`: token `t` of every sample of draw number `attempt` is drawn.
    """
    if cfg.length is None:
        raise SeqgenError("no sample length: set SampleConfig.length (the data kind's default_length)")
    length = cfg.length
    seed = cfg.seed if cfg.seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    # Greedy decoding draws the same ids for the same prompt every time: a retry cannot help.
    greedy = cfg.temperature == 0 and max_retries > 0
    max_retries = 0 if greedy else max_retries
    report = SampleReport(seed=seed, retries=max_retries, greedy=greedy)
    pending = list(range(cfg.num_samples))
    results: dict[int, Sample] = {}
    draws: dict[int, int] = {}
    attempt = 0
    if on_progress:
        on_progress(0, cfg.num_samples)
    while pending and attempt <= max_retries:
        attempt += 1
        on_each = _watch(attempt, length, on_token if attempt == 1 else None, on_draw)
        rows = _draw(model, prompt, len(pending), length, cfg, gen, eos_id, device, ban, guide, on_each, pins)
        if on_draw:  # every sample ended (EOS) or reached the length: this draw is done
            on_draw(attempt, length, length)
        # New endings are tried before each whole redraw, not after the last draw.
        endings = ending if check is not None and attempt <= max_retries else None
        still = []
        for i, row in zip(pending, rows, strict=False):
            draws[i] = attempt
            drawn = _judged([], row, eos_id, check, attempt)
            settled = drawn.settled
            report.first_try += drawn.passed and attempt == 1
            kept = results.get(i)
            # A passing tune stays unless one settles it; of failing ones, the nearest miss stays.
            nearer = kept is None or (not kept.passed and (drawn.passed or _misses(drawn) <= _misses(kept)))
            if settled or nearer:
                results[i] = drawn
            if endings is not None and not settled and getattr(drawn.check, "ending_at_fault", False):
                assert check is not None
                drew = (lambda t, a=attempt: on_draw(a, t, length)) if on_draw else None
                new = _new_ending(
                    model, prompt, cfg, eos_id, device, gen, ban, guide, endings, check, drawn.ids, drew, pins
                )
                report.endings += 1
                if new is not None and (new.settled or (new.passed and not results[i].passed)):
                    new.attempts = attempt
                    results[i], settled = new, new.settled
            if not settled:
                still.append(i)
        pending = still
        if on_progress:
            on_progress(cfg.num_samples - len(pending), cfg.num_samples)
    if on_progress and pending:  # out of retries: the samples kept are final
        on_progress(cfg.num_samples, cfg.num_samples)
    report.samples = [results[i] for i in range(cfg.num_samples)]
    for i, s in enumerate(report.samples):
        s.draws = draws[i]
    return report


def _draw(
    model: SequenceModel,
    prompt: list[int],
    n: int,
    length: int,
    cfg: SampleConfig,
    gen: torch.Generator,
    eos_id: int | None,
    device: torch.device,
    ban: Ban | None,
    guide: Guide | None,
    on_token: Callable[[int, torch.Tensor], None] | None,
    pins: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[list[int]]:
    """`generate` with the sampling settings of `cfg`."""
    return generate(
        model,
        prompt,
        n,
        length,
        cfg.temperature,
        cfg.top_k,
        cfg.top_p,
        gen,
        eos_id=eos_id,
        device=device,
        window_step=cfg.window_step,
        rolling=cfg.rolling,
        on_token=on_token,
        ban=ban,
        guide=guide,
        pins=pins,
    )


def _misses(s: Sample) -> float:
    """How far a failing sample is from passing, as its check says (`misses`, lower is nearer);
    a check that does not say counts every failing sample as equally far."""
    return float(getattr(s.check, "misses", 1))


def _judged(
    before: list[int],
    row: list[int],
    eos_id: int | None,
    check: Callable[[list[int], bool], Any] | None,
    attempt: int,
    new_ending: bool = False,
) -> Sample:
    """The sample `before` + a drawn `row` (its EOS taken off), with `check`'s verdict on it."""
    ended = eos_id is not None and bool(row) and row[-1] == eos_id
    ids = before + (row[:-1] if ended else row)
    verdict = check(ids, ended) if check else None
    ok = verdict is None or bool(verdict.ok)
    settled = ok and bool(getattr(verdict, "settled", True))
    return Sample(ids, ended, attempt, verdict, ok, settled, new_ending=new_ending)


def _new_ending(
    model: SequenceModel,
    prompt: list[int],
    cfg: SampleConfig,
    eos_id: int | None,
    device: torch.device,
    gen: torch.Generator,
    ban: Ban | None,
    guide: Guide | None,
    ending: Ending,
    check: Callable[[list[int], bool], Any],
    ids: list[int],
    on_draw: Callable[[int], None] | None = None,
    pins: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> Sample | None:
    """`ENDING_DRAWS` new endings of a sample (`ids`, as drawn) from `ending.cut` on, drawn in one
    batch: the first that settles it, else the first that passes, else None. A new ending has at
    most `ENDING_SPAN` times the tokens of the one it replaces: one that runs on into another part
    does not end in time, and fails (unbounded, the tunes kept were a quarter longer than the
    corpus's: BENCHMARKS.md, 2026-12-07). `on_draw(t)`: the
    sample's token `t` of the new endings is drawn (progress; it may raise to cancel)."""
    keep = ending.cut(prompt, ids)
    assert cfg.length is not None
    if keep is None or keep >= min(cfg.length, len(ids)):
        return None
    budget = min(cfg.length - keep, ENDING_SPAN * (len(ids) - keep))
    on_each = (lambda t, _ids: on_draw(keep + t + 1)) if on_draw else None
    rows = _draw(
        model, prompt + ids[:keep], ENDING_DRAWS, budget, cfg, gen, eos_id, device, ban, guide, on_each, pins
    )
    passing = None
    for row in rows:
        found = _judged(ids[:keep], row, eos_id, check, 1, new_ending=True)
        if found.settled:
            return found
        passing = passing or (found if found.passed else None)
    return passing


def _watch(
    attempt: int,
    length: int,
    on_token: Callable[[int, torch.Tensor], None] | None,
    on_draw: Callable[[int, int, int], None] | None,
) -> Callable[[int, torch.Tensor], None] | None:
    """One per-token callback for `generate`: the stream's, then the draw's progress."""
    if on_draw is None:
        return on_token

    def seen(t: int, ids: torch.Tensor) -> None:
        if on_token is not None:
            on_token(t, ids)
        on_draw(attempt, t + 1, length)

    return seen

"""Who wins what in a comparison: the rules, once, for the report and the summary table.

Owns: the 5% tie rule for timings and memory (`TIE`, `even`), which model is better on one
figure (`better`), and the verdicts of a whole comparison (`verdicts`: the winner on val loss,
and each measure the other model wins or where they are even, as sentences). Reads a
`CompareResults`; writes no files and lays out no tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from seqgen.compare.plan import MODELS
from seqgen.compare.results import CompareResults, Failed, SamplingRun, TrainStep, above_baseline

TIE = 1.05  # timings and memory closer than 5% are noise on a shared machine: called even


def other(m: str) -> str:
    return "lstm" if m == "transformer" else "transformer"


def ratio(a: float, b: float) -> float:
    """The larger over the smaller (infinite when the smaller is not positive)."""
    return max(a, b) / min(a, b) if min(a, b) > 0 else float("inf")


def even(a: float, b: float) -> bool:
    """Two timings or memory figures within 5% of each other: neither wins."""
    return ratio(a, b) < TIE


def better(values: Mapping[str, float | None], lower: bool, timing: bool = False) -> str:
    """The model whose figure is better ("lstm" or "transformer"), "even", or "" when a figure is
    missing. `lower`: lower is better. `timing`: a speed or memory figure, even within 5%."""
    a, b = values["lstm"], values["transformer"]
    if a is None or b is None:
        return ""
    if a == b or (timing and even(a, b)):
        return "even"
    if lower:
        return min(MODELS, key=lambda m: values[m] or 0.0)
    return max(MODELS, key=lambda m: values[m] or 0.0)


def mb(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} MB"


@dataclass
class Verdicts:
    """The winner on val loss over the whole val split (read as each model reads it when it
    writes), and the other measures in words."""

    winner: str
    loser: str
    val: dict[str, float]  # each model's val loss over the whole val split
    wins: dict[str, list[str]] = field(default_factory=dict)  # per model: what it does better
    even: list[str] = field(default_factory=list)  # measures within 5% (or equal)

    def win(self, m: str, text: str) -> None:
        self.wins[m].append(text)


def verdicts(r: CompareResults) -> Verdicts:
    """Who wins what: the headline (val loss on the whole val split, read as each model reads when
    it writes: the LSTM carrying its state, the transformer sliding its window or rolling its
    cache) and each other measure. Timings and memory within 5% of each other are listed as
    even, not as a win."""
    val = {m: r.val[m].streaming for m in r.val}
    winner = min(val, key=lambda m: val[m])
    v = Verdicts(winner, other(winner), val, {winner: [], other(winner): []})
    block = len(r.val["transformer"].by_position)  # the transformer's context
    fresh = {m: r.val[m].window_mean(block) for m in r.val} if block else {}
    if fresh and all(x is not None for x in fresh.values()):
        best = min(fresh, key=lambda m: fresh[m] or 0.0)
        v.win(
            best,
            f"lower loss in windows that start fresh, over their first {block} positions "
            f"({fresh[best]:.3f} against {fresh[other(best)]:.3f})",
        )
    _training_speed(r, v)
    lstm, transformer = r.sampling["lstm"], r.sampling["transformer"]
    if isinstance(lstm, SamplingRun) and isinstance(transformer, SamplingRun):
        _sampling(lstm, transformer, v)
    _memory(r, v)
    _music(r, v)
    return v


def _training_speed(r: CompareResults, v: Verdicts) -> None:
    faster: dict[str, list[tuple[int, float]]] = {"lstm": [], "transformer": [], "even": []}
    for a, b in zip(r.throughput["lstm"], r.throughput["transformer"], strict=True):
        if isinstance(a.step, TrainStep) and isinstance(b.step, TrainStep):
            x, y = a.step.tokens_per_s, b.step.tokens_per_s
            fast = "lstm" if x > y else "transformer"
            faster["even" if even(x, y) else fast].append((a.context, ratio(x, y)))
    for m, won in faster.items():
        if won:
            ctxs = ", ".join(str(c) for c, _ in won)
            lo, hi = min(x for _, x in won), max(x for _, x in won)
            span = f"{lo:.2f}x" if len(won) == 1 else f"{lo:.2f}x to {hi:.2f}x"
            plural = "s" if len(won) > 1 else ""
            if m == "even":
                v.even.append(f"training speed at context{plural} {ctxs}")
            else:
                v.win(m, f"faster training at context{plural} {ctxs} ({span} the tokens per second)")


def _sampling(lstm: SamplingRun, transformer: SamplingRun, v: Verdicts) -> None:
    samp = {"lstm": lstm, "transformer": transformer}
    mean = {m: sum(s.latency_ms.values()) / len(s.latency_ms) for m, s in samp.items()}
    lengths = sorted(lstm.latency_ms)
    span = f"{lengths[0]:,} to {lengths[-1]:,} tokens"
    quick = min(mean, key=lambda m: mean[m])
    if even(mean["lstm"], mean["transformer"]):
        v.even.append(f"time per generated token ({span})")
    else:
        v.win(
            quick,
            f"less time per generated token ({mean[quick]:.2f} against {mean[other(quick)]:.2f} ms, "
            f"mean over {span})",
        )
    tps = max(samp, key=lambda m: samp[m].tokens_per_s)
    if even(lstm.tokens_per_s, transformer.tokens_per_s):
        v.even.append(f"sampling {samp[tps].samples} samples at once")
    else:
        v.win(
            tps,
            f"more tokens per second when drawing {samp[tps].samples} samples at once "
            f"({samp[tps].tokens_per_s:,.0f} against {samp[other(tps)].tokens_per_s:,.0f})",
        )


def _memory(r: CompareResults, v: Verdicts) -> None:
    if any(isinstance(row, Failed) for row in r.train_memory.values()):
        return
    above = {m: above_baseline(row) or 0.0 for m, row in r.train_memory.items()}
    light = min(above, key=lambda m: above[m])
    if even(above["lstm"], above["transformer"]):
        v.even.append("memory to train")
    else:
        v.win(
            light,
            f"less memory to train ({mb(above[light])} against {mb(above[other(light)])} above "
            "the process's baseline)",
        )


def _music(r: CompareResults, v: Verdicts) -> None:
    passed = {m: s.passed for m, s in r.samples.items() if s.passed is not None}
    if len(passed) != 2:
        return
    total = r.samples["lstm"].samples
    judged = all(s.judge is not None for s in r.samples.values())
    check = "the tune judge" if judged else "the music check"  # results from before the judge
    if passed["lstm"] == passed["transformer"]:
        v.even.append(f"tunes passing {check} ({passed['lstm']} of {total} each)")
    else:
        good = max(passed, key=lambda m: passed[m])
        v.win(
            good,
            f"more sampled tunes pass {check} ({passed[good]} of "
            f"{r.samples[good].samples} against {passed[other(good)]})",
        )

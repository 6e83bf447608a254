"""The measured sections of report.md, numbered 1 to 6: one function per section, each returning
its lines (a line may hold several rows of text).

Owns: the words and tables of those sections and the figure each one shows (`FIGURES`), and how
the failures of the music check and the tune judge are grouped (`failure_kind`). Every number
comes from a `CompareResults`; the title, the short answer and what was compared are `report`'s.
"""

from __future__ import annotations

import re

from seqgen.compare.plan import TOKENS_PER_STEP
from seqgen.compare.results import (
    CompareResults,
    CurvePoint,
    Failed,
    SamplingRun,
    TrainStep,
    above_baseline,
)
from seqgen.compare.verdicts import mb
from seqgen.measure.plots import LABELS

FIGURES = {
    "val": "val_loss.png",
    "throughput": "throughput.png",
    "latency": "latency.png",
    "context": "context.png",
}
PAIR = ("lstm", "transformer")


def _at_time(curve: list[CurvePoint], seconds: float) -> CurvePoint | None:
    """The last evaluation at or before `seconds` of wall-clock time (the final one for 100%)."""
    before = [p for p in curve if p.elapsed_s <= seconds * 1.001]
    return before[-1] if before else None


def val_during_training(r: CompareResults) -> list[str]:
    """Section 1: the val-loss curves, and the losses at shares of the budget."""
    lines = [
        "## 1. Val loss during training\n",
        f"![val loss against time and tokens]({FIGURES['val']})\n",
        "Left: against wall-clock time, the budget both models had. Right: against training tokens "
        "seen, which shows how much each model learns per token regardless of speed. The points are "
        "each model's own evaluation during training (a sample of val windows"
        + "".join(
            f"; the {LABELS[m]}'s, tune by tune from each tune's start, as it trains" for m in r.tune_readers
        )
        + "); the table above and section 5 score the whole val split.\n",
        "| share of the budget | LSTM val loss | transformer val loss | LSTM tokens | transformer tokens |",
        "|---:|---:|---:|---:|---:|",
    ]
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        curves = r.curves
        at = {
            m: curves[m][-1] if share == 1.0 else _at_time(curves[m], share * r.budget_min * 60) for m in PAIR
        }
        lstm, transformer = at["lstm"], at["transformer"]
        if lstm and transformer:
            lines.append(
                f"| {share:.0%} | {lstm.val_loss:.4f} | {transformer.val_loss:.4f} | "
                f"{lstm.tokens_seen:,} | {transformer.tokens_seen:,} |"
            )
    lines.append("")
    return lines


def throughput(r: CompareResults) -> list[str]:
    """Section 2: training tokens per second and memory at each context length."""
    lines = [
        "## 2. Training throughput by context length\n",
        "Tokens per second of one training step (forward, backward, clipping, AdamW, with the "
        "models' dropout) on random tokens, with the batch of each context holding about "
        f"{TOKENS_PER_STEP:,} tokens (batch = {TOKENS_PER_STEP:,} / context, at least one sequence): "
        "the same work per step for both models. Median of timed steps, each context in a fresh "
        "process (not compiled). Memory: the peak above the process's baseline (section 4).\n",
        "| context | tokens per step | LSTM tokens/s | transformer tokens/s | transformer / LSTM | "
        "LSTM memory | transformer memory |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lr, tr in zip(r.throughput["lstm"], r.throughput["transformer"], strict=True):
        a, b = lr.step, tr.step
        ratio = (
            f"{b.tokens_per_s / a.tokens_per_s:.2f}x"
            if isinstance(a, TrainStep) and isinstance(b, TrainStep)
            else "-"
        )
        lines.append(
            f"| {lr.context} | {lr.batch_size * lr.context:,} | {_tps(a)} | {_tps(b)} | {ratio} "
            f"| {mb(above_baseline(a))} | {mb(above_baseline(b))} |"
        )
    lines.append(f"\n![throughput by context]({FIGURES['throughput']})\n")
    return lines


def sampling_speed(r: CompareResults) -> list[str]:
    """Section 3: milliseconds per new token as one sample grows, and batched tokens/s."""
    s = r.sampling
    runs = [row for row in s.values() if isinstance(row, SamplingRun)]
    lens = sorted({n for row in runs for n in row.latency_ms})
    batch = next((row.samples for row in runs), 0)
    lines = [
        "## 3. Sampling speed as a sample grows\n",
        "Milliseconds per new token for one sample: the mean cost of the tokens between half the "
        "length and the length, each timed as it is made (the least of three samples), with the "
        "trained checkpoints. The LSTM carries a fixed-size "
        f"state, so its cost should stay flat; the transformer reads a KV cache that grows to its "
        f"context ({r.block_size}) and then {_then(r)}.\n",
    ]
    if not lens:
        return lines
    lines.append(
        "| model | " + " | ".join(f"@{n:,}" for n in lens) + " | tokens/s, "
        f"{batch} samples at once | peak memory |"
    )
    lines.append("|---|" + "---:|" * (len(lens) + 2))
    for m, row in s.items():
        if isinstance(row, SamplingRun):
            cells = " | ".join(f"{row.latency_ms[n]:.2f}" if n in row.latency_ms else "-" for n in lens)
            lines.append(f"| {LABELS[m]} | {cells} | {row.tokens_per_s:,.0f} | {mb(row.peak_memory_mb)} |")
        else:
            lines.append(f"| {LABELS[m]} | failed: {row.error} |")
    lines.append(f"\n![latency by length]({FIGURES['latency']})\n")
    return lines


def memory(r: CompareResults) -> list[str]:
    """Section 4: peak memory to train and to sample."""
    gpu = r.machine.type == "cuda"
    lines = [
        "## 4. Peak memory\n",
        (
            "Peak GPU memory allocated by torch. "
            if gpu
            else "Peak resident memory of a process that only does this (Linux VmHWM); the baseline is the "
            "same process with torch loaded, before the model exists. "
        )
        + "Training: the model's own batch and window; sampling: the run of section 3.\n",
        "| model | training peak | above baseline | sampling peak | above baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, train in r.train_memory.items():
        sample = r.sampling[m]
        lines.append(
            f"| {LABELS[m]} | {mb(_peak(train))} | {mb(above_baseline(train))} "
            f"| {mb(_peak(sample))} | {mb(above_baseline(sample))} |"
        )
    lines.append("")
    return lines


def _then(r: CompareResults) -> str:
    """What the transformer's KV cache does once full (in section 3)."""
    cfg = r.models["transformer"].config
    rolls = getattr(cfg, "positions", "") == "rotary"
    return "rolls: each new token overwrites the oldest" if rolls else "slides"


def context(r: CompareResults) -> list[str]:
    """Section 5: loss by position in a fresh window (in bands), and when streaming."""
    block = r.block_size
    lstm, transformer = r.val["lstm"], r.val["transformer"]
    lines = [
        "## 5. How much each model gains from earlier context\n",
        f"Val loss at each position of windows that start fresh, at every {block}th position of the "
        "val split (the same windows for both), averaged over bands of positions: the first token "
        f"is predicted from one token of context, the {block}th from {block}. The transformer sees "
        f"at most {block} tokens; the LSTM is followed on to "
        f"{len(lstm.by_position)} tokens, past the {block}-token windows it was "
        "trained on. The last row reads the val split as one long stream, as generation does: the "
        f"LSTM {r.models['lstm'].config.past_context}, the transformer "
        f"{r.models['transformer'].config.past_context}.\n",
        *(
            f"The {LABELS[m]} here was trained on whole tunes from their first token, its state "
            "carried through each tune: a window that starts mid-tune is unlike anything it trained "
            # The LSTM's state, once lost, is never rebuilt (measured: section 5's table);
            # a transformer's window refills within its context.
            f"on{', and read that way it never recovers' if m == 'lstm' else ''}. Read tune by tune, "
            f"as it trains and writes, it scores {r.val[m].fresh:.3f}.\n"
            for m in r.tune_readers
        ),
        "| tokens of context | LSTM | transformer |",
        "|---:|---:|---:|",
    ]
    curves = [lstm.by_position, transformer.by_position]
    lo = 1
    while lo <= max(len(c) for c in curves):
        hi = 2 * (lo - 1) if lo > 2 else lo  # 1, 2, 3-4, 5-8, 9-16, ...
        label = str(lo) if hi == lo else f"{lo}-{hi}"
        cells = [f"{sum(c[lo - 1 : hi]) / len(c[lo - 1 : hi]):.3f}" if hi <= len(c) else "-" for c in curves]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lo = hi + 1
    means = [s.window_mean(block) for s in (lstm, transformer)]
    mean_cells = " | ".join("-" if x is None else f"{x:.3f}" for x in means)
    lines.append(f"| mean over the first {block} positions | {mean_cells} |")
    lines.append(f"| streaming through the val split | {lstm.streaming:.3f} | {transformer.streaming:.3f} |")
    lines.append(f"\n![loss by position in the context]({FIGURES['context']})\n")
    return lines


def samples(r: CompareResults) -> list[str]:
    """Section 6: the share of sampled tunes that pass (music; for ABC criterion by criterion of the
    tune judge) and the first sample of each model."""
    samples = r.samples
    if not samples:
        return []
    music = r.data.data_kind.music
    judged = music and all(s.judge is not None for s in samples.values())
    if judged:
        lines = ["## 6. Sampled tunes and the tune judge\n", _judge_intro(r)]
    elif music:
        lines = ["## 6. Sampled tunes and the music check\n", _music_check_intro(r)]
    else:
        lines = ["## 6. Samples\n"]
    if music:
        lines += ["| model | passed | why the others failed |", "|---|---:|---|"]
        for m, s in samples.items():
            kinds: dict[str, int] = {}
            for reason, n in s.reasons.items():
                kinds[failure_kind(reason)] = kinds.get(failure_kind(reason), 0) + n
            why = "; ".join(f"{k} ({n})" for k, n in sorted(kinds.items(), key=lambda x: -x[1])) or "-"
            lines.append(f"| {LABELS[m]} | {s.passed} of {s.samples} | {why} |")
        lines.append("")
    if judged:
        lines += _judge_table(r)
    for m, s in samples.items():
        if s.example:
            what = "first passing tune" if music else "first sample"
            text = "\n".join(s.example.strip("\n").splitlines()[:24])
            lines.append(f"The {LABELS[m]}'s {what}:\n\n```\n{text}\n```\n")
    return lines


def _music_check_intro(r: CompareResults) -> str:
    """Section 6's opening for results from before the tune judge (the music check alone)."""
    first = r.samples["lstm"]
    return (
        f"{first.samples} samples from each model's best checkpoint with "
        f"`seqgen sample`'s defaults (temperature {first.temperature:g}, seed "
        f"{first.seed}), one try each. A tune passes when it parses, has notes, lasts "
        "a plausible time in a playable range and ends by itself. The files (ABC and MIDI) are "
        "in `samples/`.\n"
    )


def _guide_words(guide: bool | None) -> str:
    if guide is None:
        return ""
    return ", decoding guided by the metre's bars" if guide else ", no bar guide (`--free-bars`)"


def _judge_intro(r: CompareResults) -> str:
    first = r.samples["lstm"]
    return (
        f"{first.samples} samples from each model's best checkpoint with `seqgen sample`'s defaults "
        f"(temperature {first.temperature:g}, seed {first.seed}{_guide_words(first.bar_guide)}), one "
        "try each. A tune passes when "
        "it plays (it parses, has notes, lasts a plausible time in a playable range and ends by "
        "itself) and then passes the tune judge, modelled on the first stage of the AI Music "
        "Generation Challenge: rhythm (its inner bars fill the M: metre), mode (its notes and its "
        f"last note fit the K: key), form ({FORM_WORDS[_rules(r)]}) and plagiarism (no passage of "
        "more than half the tune copied from the training tunes). The files (ABC and MIDI) are in "
        "`samples/`.\n"
    )


# What form asked of a tune, by the judge's rules (`seqgen.music.judge.RULES`) its results record.
FORM_WORDS = {
    1: "long enough once its repeats are played, no runaway loop",
    2: "long enough once its repeats are played, a dance's parts in phrases of 4, 8 or 16 bars, "
    "no runaway loop, no stray text in the music",
    3: "long enough once its repeats are played, a dance's parts in phrases of 4, 8 or 16 bars "
    "(a tune in C| or 4/4 with no dance named: 4, 8, 12 or 16), no music after a final bar line, "
    "no runaway loop, no stray text in the music",
}


def _rules(r: CompareResults) -> int:
    """The judge's rules the results were judged by (the oldest of the models'), within those this
    code has words for (a hand-edited or newer value gets the nearest)."""
    rules = min(s.judge.rules for s in r.samples.values() if s.judge is not None)
    return min(max(rules, min(FORM_WORDS)), max(FORM_WORDS))


def _judge_table(r: CompareResults) -> list[str]:
    """Each criterion's pass share by model (a tune the music check refused fails every one), the
    tunes that end on the tonic, and the inner bars that fill the metre over all their tunes."""
    judges = {m: s.judge for m, s in r.samples.items() if s.judge is not None}
    n = {m: r.samples[m].samples for m in judges}
    lines = [
        "The tune judge criterion by criterion (the share of each model's tunes; a tune that does "
        "not play fails every criterion):\n",
        "| | " + " | ".join(LABELS[m] for m in judges) + " |",
        "|---|" + "---:|" * len(judges),
        "| plays (the music check) | " + " | ".join(_share(j.judged, n[m]) for m, j in judges.items()) + " |",
    ]
    for name in next(iter(judges.values())).criteria:
        cells = " | ".join(_share(j.criteria[name], n[m]) for m, j in judges.items())
        lines.append(f"| {name} | {cells} |")
    lines.append(
        "| passed: it plays and meets all four | "
        + " | ".join(_share(r.samples[m].passed or 0, n[m]) for m in judges)
        + " |"
    )
    lines.append(
        "| ends on the tonic | " + " | ".join(_share(j.ends_on_tonic, n[m]) for m, j in judges.items()) + " |"
    )
    fill = [f"{j.bar_fill:.0%}" if j.bar_fill is not None else "-" for j in judges.values()]
    lines.append("| inner bars that fill the metre | " + " | ".join(fill) + " |")
    lines.append("")
    return lines


def _share(k: int, n: int) -> str:
    return f"{k / n:.0%}" if n else "-"


def failure_kind(reason: str) -> str:
    """A check's reason without the tune's own details, so that like failures count together: the
    music check's, and the tune judge's by criterion."""
    for pattern, kind in (
        (r"^cannot parse|music21 cannot read", "does not parse as ABC"),
        (r"^no notes|^only \d+ note", "too few notes"),
        (r"^pitch ", "pitch outside the piano"),
        (r"^lasts .*\(min", "too short"),
        (r"^lasts .*\(max", "too long"),
        (r"did not end", "did not end within the length"),
        (r"^rhythm: .*do not fill", "rhythm: bars that do not fill the metre"),
        (r"^rhythm: ", "rhythm: no metre"),
        (r"^mode: .*foreign", "mode: notes foreign to the key"),
        (r"^mode: ends ", "mode: ends off the key's cadences"),
        (r"^mode: ", "mode: no key"),
        (r"^form: .*(too short|two parts)", "form: too short"),
        (r"^form: .*(run away|a runaway|in a row|a loop)", "form: a runaway loop or repeat"),
        (r"^form: .*no phrase", "form: a part of no phrase length"),
        (r"^form: .*stops mid-", "form: the last part stops short"),
        (r"^form: .*first ending", "form: a first ending with no second"),
        (r"^form: .*stray text", "form: stray text in the music"),
        (r"^form: music after a final bar", "form: music after a final bar line"),
        (r"^plagiarism: ", "plagiarism: copied from a training tune"),
    ):
        if re.search(pattern, reason):
            return kind
    return reason


def _tps(row: TrainStep | Failed) -> str:
    return f"{row.tokens_per_s:,.0f}" if isinstance(row, TrainStep) else row.error


def _peak(row: TrainStep | SamplingRun | Failed) -> float | None:
    return None if isinstance(row, Failed) else row.peak_memory_mb

"""The Markdown report of a comparison, written for a reader who has never used seqgen.

Owns: the words and tables of `report.md` (what was compared, what won, by how much, where the
other model is better, how it was measured), and which figure each section shows. Every number
comes from the results dict `seqgen.compare.run_compare` returns; nothing is measured here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from seqgen.compare.run import TOKENS_PER_STEP
from seqgen.errors import SeqgenError
from seqgen.measure.plots import LABELS

FIGURES = {
    "val": "val_loss.png",
    "throughput": "throughput.png",
    "latency": "latency.png",
    "context": "context.png",
}


def _pct(a: float, b: float) -> str:
    """How much lower a is than b, as a percentage of b."""
    return f"{100 * (b - a) / b:.1f}%"


def _mb(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} MB"


def unit(kind: str) -> str:
    return "character" if kind in ("text", "abc") else "event token"


TIE = 1.05  # timings and memory closer than 5% are noise on a shared machine: called even


def verdicts(r: dict[str, Any]) -> dict[str, Any]:
    """Who wins what: the headline (val loss on the whole val split) and each other measure.
    Timings and memory within 5% of each other are listed as even, not as a win."""
    val = {m: r["val"][m]["fresh"] for m in r["val"]}
    winner = min(val, key=val.get)
    loser = "lstm" if winner == "transformer" else "transformer"
    out: dict[str, Any] = {
        "winner": winner,
        "loser": loser,
        "val": val,
        "wins": {winner: [], loser: []},
        "even": [],
    }

    def win(m: str, text: str) -> None:
        out["wins"][m].append(text)

    def ratio(a: float, b: float) -> float:
        return max(a, b) / min(a, b) if min(a, b) > 0 else float("inf")

    stream = {m: r["val"][m]["streaming"] for m in r["val"]}
    best = min(stream, key=stream.get)
    win(
        best,
        f"lower loss when reading the val split as one long stream ({stream[best]:.3f} against "
        f"{stream[_other(best)]:.3f})",
    )
    faster: dict[str, list[tuple[int, float]]] = {"lstm": [], "transformer": [], "even": []}
    for a, b in zip(r["throughput"]["lstm"], r["throughput"]["transformer"], strict=True):
        if "tokens_per_s" in a and "tokens_per_s" in b:
            x = ratio(a["tokens_per_s"], b["tokens_per_s"])
            fast = "lstm" if a["tokens_per_s"] > b["tokens_per_s"] else "transformer"
            faster["even" if x < TIE else fast].append((a["context"], x))
    for m, won in faster.items():
        if won:
            ctxs = ", ".join(str(c) for c, _ in won)
            lo, hi = min(x for _, x in won), max(x for _, x in won)
            span = f"{lo:.2f}x" if len(won) == 1 else f"{lo:.2f}x to {hi:.2f}x"
            plural = "s" if len(won) > 1 else ""
            if m == "even":
                out["even"].append(f"training speed at context{plural} {ctxs}")
            else:
                win(m, f"faster training at context{plural} {ctxs} ({span} the tokens per second)")
    samp = r["sampling"]
    if all("latency_ms" in samp[m] for m in samp):
        mean = {m: sum(samp[m]["latency_ms"].values()) / len(samp[m]["latency_ms"]) for m in samp}
        lengths = sorted(samp["lstm"]["latency_ms"])
        span = f"{lengths[0]:,} to {lengths[-1]:,} tokens"
        quick = min(mean, key=mean.get)
        if ratio(mean["lstm"], mean["transformer"]) < TIE:
            out["even"].append(f"time per generated token ({span})")
        else:
            win(
                quick,
                f"less time per generated token ({mean[quick]:.2f} against {mean[_other(quick)]:.2f} ms, "
                f"mean over {span})",
            )
        tps = max(samp, key=lambda m: samp[m]["tokens_per_s"])
        if ratio(samp["lstm"]["tokens_per_s"], samp["transformer"]["tokens_per_s"]) < TIE:
            out["even"].append(f"sampling {samp[tps]['samples']} samples at once")
        else:
            win(
                tps,
                f"more tokens per second when drawing {samp[tps]['samples']} samples at once "
                f"({samp[tps]['tokens_per_s']:,.0f} against {samp[_other(tps)]['tokens_per_s']:,.0f})",
            )
    mem = r["train_memory"]
    if all("peak_memory_mb" in mem[m] for m in mem):
        above = {m: _above(mem[m]) for m in mem}
        light = min(above, key=above.get)
        if ratio(above["lstm"], above["transformer"]) < TIE:
            out["even"].append("memory to train")
        else:
            win(
                light,
                f"less memory to train ({_mb(above[light])} against {_mb(above[_other(light)])} above "
                "the process's baseline)",
            )
    music = {m: s for m, s in r.get("samples", {}).items() if s.get("passed") is not None}
    if len(music) == 2:
        if music["lstm"]["passed"] == music["transformer"]["passed"]:
            out["even"].append(
                f"tunes passing the music check ({music['lstm']['passed']} of "
                f"{music['lstm']['samples']} each)"
            )
        else:
            good = max(music, key=lambda m: music[m]["passed"])
            win(
                good,
                f"more sampled tunes pass the music check ({music[good]['passed']} of "
                f"{music[good]['samples']} against {music[_other(good)]['passed']})",
            )
    return out


def _other(m: str) -> str:
    return "lstm" if m == "transformer" else "transformer"


def _row_at(rows: list[dict[str, Any]], ctx: int) -> dict[str, Any] | None:
    return next((x for x in rows if x["context"] == ctx and "tokens_per_s" in x), None)


def _above(row: dict[str, Any]) -> float | None:
    if "peak_memory_mb" not in row:
        return None
    return max(row["peak_memory_mb"] - row.get("baseline_mb", 0.0), 0.0)


def _at_time(curve: list[dict[str, float]], seconds: float) -> dict[str, float] | None:
    """The last evaluation at or before `seconds` of wall-clock time (the final one for 100%)."""
    before = [p for p in curve if p["elapsed_s"] <= seconds * 1.001]
    return before[-1] if before else None


def _reached(curve: list[dict[str, float]], target: float) -> float | None:
    """Minutes at which a val-loss curve first reached `target`, or None."""
    return next((p["elapsed_s"] / 60 for p in curve if p["val_loss"] <= target), None)


def write_markdown(r: dict[str, Any]) -> str:
    """The whole report.md."""
    v = verdicts(r)
    w, lo = v["winner"], v["loser"]
    d, models, mach = r["data"], r["models"], r["machine"]
    u = unit(d["kind"])
    block = models["transformer"]["config"]["block_size"]
    W, L = LABELS[w], LABELS[lo]
    lines: list[str] = []
    add = lines.append

    add(f"# LSTM or transformer on `{d['name']}`? A measured comparison\n")
    add(
        f"seqgen trained an LSTM and a transformer of the same size (within "
        f"{_size_gap(models)}% in parameters) on the same data for the same wall-clock time, "
        f"{r['budget_min']:g} minutes each, and then measured both. Every number below was measured "
        f"in this one run: {r['date']}, on {mach['name']} ({_where(mach)}), torch {mach['torch']}, "
        f"{r['precision']}.\n"
    )
    add("## The answer in short\n")
    a, b = v["val"][w], v["val"][lo]
    add(
        f"- **Quality: the {W} wins.** On the whole held-out val split "
        f"({r['val'][w].get('fresh_tokens', d['val_tokens'] - 1):,} predictions) it scores a loss of "
        f"**{a:.3f}** "
        f"against the {L}'s **{b:.3f}** nats per {u} ({_pct(a, b)} lower; {a / math.log(2):.2f} against "
        f"{b / math.log(2):.2f} bits per {u}). The loss is the average surprise of the model at each "
        f"next {u} of text it never trained on: lower means it predicts the data better."
    )
    t = _reached(r["curves"][w], r["curves"][lo][-1]["val_loss"])
    if t is not None:
        add(
            f"- The {W} reached the {L}'s final loss after **{_minutes(t)} of {_minutes(r['budget_min'])}** "
            f"(by each model's own evaluation during training)."
        )
    for m in ("lstm", "transformer"):
        curve = r["curves"][m]
        last = curve[-1]
        best_at = min(range(len(curve)), key=lambda i: curve[i]["val_loss"])
        stalled = best_at < len(curve) - 3  # no better val loss in the last three evaluations
        if stalled and last["val_loss"] - last["train_loss"] > 0.15:
            add(
                f"- **Over-fitting:** by the end the {LABELS[m]}'s training loss was "
                f"{last['train_loss']:.3f} but its val loss {last['val_loss']:.3f}, no better than "
                f"{(curve[best_at]['elapsed_s'] / 60):.1f} minutes in: it had begun to memorise the "
                f"training data rather than learn what carries over (dropout was "
                f"{r['models'][m]['config']['dropout']:g}). More dropout (`--dropout 0.1` to `0.2`), a "
                "smaller model or more data would help it."
            )
    add(f"- **Where the {L} is better:**" + ("" if v["wins"][lo] else " nowhere measured here."))
    for text in v["wins"][lo]:
        add(f"  - {text[0].upper()}{text[1:]}.")
    if v["wins"][w]:
        add(f"- **Also better with the {W}:**")
        for text in v["wins"][w]:
            add(f"  - {text[0].upper()}{text[1:]}.")
    if v["even"]:
        add(
            "- **About even:** " + "; ".join(v["even"]) + ". (Timings and memory within 5% of each "
            "other count as even: that much is noise on a shared machine.)"
        )
    add("")

    add("## What was compared\n")
    add("| | " + " | ".join(LABELS[m] for m in models) + " |")
    add("|---|" + "---:|" * len(models))
    rows = [
        ("parameters", lambda m: f"{models[m]['parameters']:,}"),
        ("shape", lambda m: _shape(models[m]["config"], m)),
        ("training window (tokens)", lambda m: str(models[m]["config"]["block_size"])),
        (
            "context when generating",
            lambda m: f"{block} (then slides)" if m == "transformer" else "unbounded (carried state)",
        ),
        ("batch (sequences per step)", lambda m: str(models[m]["batch_size"])),
        ("peak learning rate", lambda m: f"{models[m]['learning_rate']:g}"),
        ("dropout", lambda m: f"{models[m]['config']['dropout']:g}"),
        ("optimizer steps in the budget", lambda m: f"{models[m]['steps']:,}"),
        ("training tokens seen", lambda m: f"{models[m]['tokens_seen']:,}"),
        ("training tokens / s", lambda m: f"{models[m]['tokens_per_s']:,.0f}"),
        ("val loss, whole val split", lambda m: f"{r['val'][m]['fresh']:.4f}"),
    ]
    for name, f in rows:
        add(f"| {name} | " + " | ".join(f(m) for m in models) + " |")
    add("")
    add(
        f"- **Data:** `{d['path']}` ({d['kind']}), {d['vocab_size']} distinct tokens, "
        f"{d['train_tokens']:,} training and {d['val_tokens']:,} val tokens; the same tokenizer, split "
        f"and seed ({r['seed']}) for both models."
    )
    add(
        f"- **Training:** `seqgen train`'s loop for both: AdamW (fused), warm-up then cosine decay "
        f"over the {r['budget_min']:g}-minute budget, gradient clipping at 1.0; each model with its "
        f"kind's tuned batch size and learning rate. The LSTM's width was chosen to match the "
        f"transformer's parameter count. Each was evaluated {len(r['curves']['lstm'])} and "
        f"{len(r['curves']['transformer'])} times (LSTM, transformer); evaluation time counts against "
        "the budget."
    )
    add(f"- **Machine:** {mach['name']}, {_where(mach)}; torch {mach['torch']}, Python {mach['python']}.")
    add(f"- **Command:** `{r['command']}` (took {r['total_s'] / 60:.1f} minutes in all).\n")

    add("## 1. Val loss during training\n")
    add(f"![val loss against time and tokens]({FIGURES['val']})\n")
    add(
        "Left: against wall-clock time, the budget both models had. Right: against training tokens "
        "seen, which shows how much each model learns per token regardless of speed. The points are "
        "each model's own evaluation during training (a sample of val windows); the table above and "
        "section 5 score the whole val split.\n"
    )
    add("| share of the budget | LSTM val loss | transformer val loss | LSTM tokens | transformer tokens |")
    add("|---:|---:|---:|---:|---:|")
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        at = {
            m: r["curves"][m][-1] if share == 1.0 else _at_time(r["curves"][m], share * r["budget_min"] * 60)
            for m in ("lstm", "transformer")
        }
        if all(at.values()):
            add(
                f"| {share:.0%} | {at['lstm']['val_loss']:.4f} | {at['transformer']['val_loss']:.4f} | "
                f"{at['lstm']['tokens_seen']:,} | {at['transformer']['tokens_seen']:,} |"
            )
    add("")

    add("## 2. Training throughput by context length\n")
    add(
        "Tokens per second of one training step (forward, backward, clipping, AdamW, with the "
        "models' dropout) on random tokens, with the batch of each context holding about "
        f"{TOKENS_PER_STEP:,} tokens (batch = {TOKENS_PER_STEP:,} / context, at least one sequence): "
        "the same work per step for both models. Median of timed steps, each context in a fresh "
        "process (not compiled). Memory: the peak above the process's baseline (section 4).\n"
    )
    add(
        "| context | tokens per step | LSTM tokens/s | transformer tokens/s | transformer / LSTM | "
        "LSTM memory | transformer memory |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|")
    for lr, tr in zip(r["throughput"]["lstm"], r["throughput"]["transformer"], strict=True):
        ratio = (
            f"{tr['tokens_per_s'] / lr['tokens_per_s']:.2f}x"
            if "tokens_per_s" in lr and "tokens_per_s" in tr
            else "-"
        )
        add(
            f"| {lr['context']} | {lr['batch_size'] * lr['context']:,} | {_tps(lr)} | {_tps(tr)} | {ratio} "
            f"| {_mb(_above(lr))} | {_mb(_above(tr))} |"
        )
    add(f"\n![throughput by context]({FIGURES['throughput']})\n")

    add("## 3. Sampling speed as a sample grows\n")
    s = r["sampling"]
    lens = sorted({n for row in s.values() for n in row.get("latency_ms", {})})
    batch = next((row["samples"] for row in s.values() if "samples" in row), 0)
    add(
        "Milliseconds per new token for one sample: the mean cost of the tokens between half the "
        "length and the length, each timed as it is made (the least of three samples), with the "
        "trained checkpoints. The LSTM carries a fixed-size "
        f"state, so its cost should stay flat; the transformer reads a KV cache that grows to its "
        f"context ({block}) and then slides.\n"
    )
    if lens:
        add(
            "| model | "
            + " | ".join(f"@{n:,}" for n in lens)
            + " | tokens/s, "
            + f"{batch} samples at once | peak memory |"
        )
        add("|---|" + "---:|" * (len(lens) + 2))
        for m in s:
            if "latency_ms" in s[m]:
                add(
                    f"| {LABELS[m]} | "
                    + " | ".join(
                        f"{s[m]['latency_ms'][n]:.2f}" if n in s[m]["latency_ms"] else "-" for n in lens
                    )
                    + f" | {s[m]['tokens_per_s']:,.0f} | {_mb(s[m]['peak_memory_mb'])} |"
                )
            else:
                add(f"| {LABELS[m]} | failed: {s[m].get('error')} |")
        add(f"\n![latency by length]({FIGURES['latency']})\n")

    add("## 4. Peak memory\n")
    mem = r["train_memory"]
    gpu = mach["type"] == "cuda"
    add(
        (
            "Peak GPU memory allocated by torch. "
            if gpu
            else "Peak resident memory of a process that only does this (Linux VmHWM); the baseline is the "
            "same process with torch loaded, before the model exists. "
        )
        + "Training: the model's own batch and window; sampling: the run of section 3.\n"
    )
    add("| model | training peak | above baseline | sampling peak | above baseline |")
    add("|---|---:|---:|---:|---:|")
    for m in mem:
        add(
            f"| {LABELS[m]} | {_mb(mem[m].get('peak_memory_mb'))} | {_mb(_above(mem[m]))} "
            f"| {_mb(s[m].get('peak_memory_mb'))} | {_mb(_above(s[m]))} |"
        )
    add("")

    add("## 5. How much each model gains from earlier context\n")
    add(
        f"Val loss at each position of windows that start fresh, at every {block}th position of the "
        "val split (the same windows for both), averaged over bands of positions: the first token "
        f"is predicted from one token of context, the {block}th from {block}. The transformer sees "
        f"at most {block} tokens; the LSTM is followed on to "
        f"{len(r['val']['lstm']['by_position'])} tokens, past the {block}-token windows it was "
        "trained on. The last row reads the val split as one long stream, as generation does: the "
        "LSTM carries its state through, the transformer slides its window a quarter of its context "
        "at a time.\n"
    )
    add("| tokens of context | LSTM | transformer |")
    add("|---:|---:|---:|")
    curves = [r["val"][m]["by_position"] for m in ("lstm", "transformer")]
    lo = 1
    while lo <= max(len(c) for c in curves):
        hi = 2 * (lo - 1) if lo > 2 else lo  # 1, 2, 3-4, 5-8, 9-16, ...
        label = str(lo) if hi == lo else f"{lo}-{hi}"
        cells = [f"{sum(c[lo - 1 : hi]) / len(c[lo - 1 : hi]):.3f}" if hi <= len(c) else "-" for c in curves]
        add(f"| {label} | " + " | ".join(cells) + " |")
        lo = hi + 1
    add(
        f"| mean over the window ({block}) | {r['val']['lstm']['fresh']:.3f} | "
        f"{r['val']['transformer']['fresh']:.3f} |"
    )
    add(
        f"| streaming through the val split | {r['val']['lstm']['streaming']:.3f} | "
        f"{r['val']['transformer']['streaming']:.3f} |"
    )
    add(f"\n![loss by position in the context]({FIGURES['context']})\n")

    samples = r.get("samples", {})
    if samples:
        music = d["kind"] != "text"
        add("## 6. " + ("Sampled tunes and the music check\n" if music else "Samples\n"))
        if music:
            add(
                f"{samples['lstm']['samples']} samples from each model's best checkpoint with "
                f"`seqgen sample`'s defaults (temperature {samples['lstm']['temperature']:g}, seed "
                f"{samples['lstm']['seed']}), one try each. A tune passes when it parses, has notes, lasts "
                "a plausible time in a playable range and ends by itself. The files (ABC and MIDI) are "
                "in `samples/`.\n"
            )
            add("| model | passed | why the others failed |")
            add("|---|---:|---|")
            for m in samples:
                kinds: dict[str, int] = {}
                for reason, n in samples[m]["reasons"].items():
                    kinds[failure_kind(reason)] = kinds.get(failure_kind(reason), 0) + n
                why = "; ".join(f"{k} ({n})" for k, n in sorted(kinds.items(), key=lambda x: -x[1])) or "-"
                add(f"| {LABELS[m]} | {samples[m]['passed']} of {samples[m]['samples']} | {why} |")
            add("")
        for m in samples:
            if samples[m]["example"]:
                what = "first passing tune" if music else "first sample"
                text = "\n".join(samples[m]["example"].strip("\n").splitlines()[:24])
                add(f"The {LABELS[m]}'s {what}:\n\n```\n{text}\n```\n")
    add("## Reproduce\n")
    add(f"```\n{r['command']}\n```\n")
    add(
        "Timings depend on the machine and on what else runs on it: compare the two models within "
        "one report, not across reports. `results.json` beside this file holds every figure.\n"
    )
    return "\n".join(lines)


def _minutes(t: float) -> str:
    return f"{t:.1f} min" if t >= 1 else f"{60 * t:.0f} s"


def failure_kind(reason: str) -> str:
    """A music-check reason without the tune's own details, so that like failures count together."""
    for pattern, kind in (
        (r"^cannot parse", "does not parse as ABC"),
        (r"^no notes|^only \d+ note", "too few notes"),
        (r"^pitch ", "pitch outside the piano"),
        (r"^lasts .*\(min", "too short"),
        (r"^lasts .*\(max", "too long"),
        (r"did not end", "did not end within the length"),
    ):
        if re.search(pattern, reason):
            return kind
    return reason


def _where(mach: dict[str, Any]) -> str:
    if mach["type"] == "cuda":
        return "CUDA"
    return f"CPU, {mach['cores']} cores, {mach['threads']} torch threads"


def _size_gap(models: dict[str, Any]) -> str:
    a, b = (models[m]["parameters"] for m in ("lstm", "transformer"))
    return f"{100 * abs(a - b) / max(a, b):.1f}"


def _shape(cfg: dict[str, Any], m: str) -> str:
    if m == "transformer":
        return f"{_n(cfg['n_layer'], 'layer')} x {cfg['n_embd']} wide, {_n(cfg['n_head'], 'head')}"
    return f"{_n(cfg['n_layer'], 'layer')} x {cfg.get('hidden_size') or cfg['n_embd']} wide"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _tps(row: dict[str, Any]) -> str:
    return f"{row['tokens_per_s']:,.0f}" if "tokens_per_s" in row else str(row.get("error", "-"))


def load_results(path: Path) -> dict[str, Any]:
    """The results dict of an earlier comparison from its results.json (JSON turned the latency
    table's lengths into strings; they are numbers again here)."""
    import json

    try:
        r = json.loads(Path(path).read_text())
        for row in r["sampling"].values():
            if "latency_ms" in row:
                row["latency_ms"] = {int(k): v for k, v in row["latency_ms"].items()}
        missing = [k for k in ("data", "models", "curves", "val", "throughput", "train_memory") if k not in r]
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
        raise SeqgenError(f"{path} is not the results.json of a seqgen comparison ({e})") from None
    if missing:
        raise SeqgenError(
            f"{path} is not a complete comparison's results.json ({', '.join(missing)} missing)"
        )
    return r


def write_report(r: dict[str, Any], out: Path) -> list[Path]:
    """Write report.md, its figures and results.json into `out`; returns the paths written."""
    import json

    from seqgen.files import atomic_write_text
    from seqgen.measure import plots

    name = r["data"]["name"]
    block = r["models"]["transformer"]["config"]["block_size"]
    written = [
        plots.val_curves(r["curves"], out / FIGURES["val"], f"val loss on {name}"),
        plots.throughput(r["throughput"], out / FIGURES["throughput"], "training throughput by context"),
        plots.latency(r["sampling"], out / FIGURES["latency"], "sampling: time per new token"),
        plots.by_position(
            {m: r["val"][m]["by_position"] for m in r["val"]},
            block,
            out / FIGURES["context"],
            f"val loss by position in a fresh window ({name})",
        ),
    ]
    written.append(atomic_write_text(out / "results.json", json.dumps(r, indent=1, default=str) + "\n"))
    written.append(atomic_write_text(out / "report.md", write_markdown(r)))
    return written

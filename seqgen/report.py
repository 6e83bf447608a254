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

from seqgen.plots import LABELS

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


def verdicts(r: dict[str, Any]) -> dict[str, Any]:
    """Who wins what: the headline (val loss on the whole val split) and each other measure."""
    val = {m: r["val"][m]["fresh"] for m in r["val"]}
    winner = min(val, key=val.get)
    loser = "lstm" if winner == "transformer" else "transformer"
    block = r["models"]["transformer"]["config"]["block_size"]
    out: dict[str, Any] = {"winner": winner, "loser": loser, "val": val, "wins": {winner: [], loser: []}}

    def win(m: str, text: str) -> None:
        out["wins"][m].append(text)

    stream = {m: r["val"][m]["streaming"] for m in r["val"]}
    best = min(stream, key=stream.get)
    win(
        best,
        f"lower loss when reading the val split as one long stream ({stream[best]:.3f} against "
        f"{stream[_other(best)]:.3f})",
    )
    at = {m: _row_at(r["throughput"][m], block) for m in r["throughput"]}
    if all(a and "tokens_per_s" in a for a in at.values()):
        fast = max(at, key=lambda m: at[m]["tokens_per_s"])
        ratio = at[fast]["tokens_per_s"] / at[_other(fast)]["tokens_per_s"]
        win(fast, f"faster training at context {block} ({ratio:.2f}x the tokens per second)")
    longest = {m: _last_ok(r["throughput"][m]) for m in r["throughput"]}
    if all(longest.values()) and longest["lstm"]["context"] == longest["transformer"]["context"]:
        ctx = longest["lstm"]["context"]
        if ctx != block:
            fast = max(longest, key=lambda m: longest[m]["tokens_per_s"])
            ratio = longest[fast]["tokens_per_s"] / longest[_other(fast)]["tokens_per_s"]
            win(fast, f"faster training at context {ctx} ({ratio:.2f}x)")
    samp = r["sampling"]
    if all("latency_ms" in samp[m] for m in samp):
        n = max(samp["lstm"]["latency_ms"])
        quick = min(samp, key=lambda m: samp[m]["latency_ms"][n])
        win(
            quick,
            f"less time per generated token at {n:,} tokens ({samp[quick]['latency_ms'][n]:.2f} "
            f"against {samp[_other(quick)]['latency_ms'][n]:.2f} ms)",
        )
        tps = max(samp, key=lambda m: samp[m]["tokens_per_s"])
        win(
            tps,
            f"more tokens per second when drawing {samp[tps]['samples']} samples at once "
            f"({samp[tps]['tokens_per_s']:,.0f} against {samp[_other(tps)]['tokens_per_s']:,.0f})",
        )
    mem = r["train_memory"]
    if all("peak_memory_mb" in mem[m] for m in mem):
        light = min(mem, key=lambda m: _above(mem[m]))
        win(
            light,
            f"less memory to train ({_mb(_above(mem[light]))} against "
            f"{_mb(_above(mem[_other(light)]))} above the process's baseline)",
        )
    music = {m: s for m, s in r.get("samples", {}).items() if s.get("passed") is not None}
    if len(music) == 2 and music["lstm"]["passed"] != music["transformer"]["passed"]:
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


def _last_ok(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [x for x in rows if "tokens_per_s" in x]
    return ok[-1] if ok else None


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
        f"- **Quality: the {W} wins.** On the whole held-out val split it scores a loss of **{a:.3f}** "
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
    add(f"- **Where the {L} is better:**" + ("" if v["wins"][lo] else " nowhere measured here."))
    for text in v["wins"][lo]:
        add(f"  - {text[0].upper()}{text[1:]}.")
    if v["wins"][w]:
        add(f"- **Also better with the {W}:**")
        for text in v["wins"][w]:
            add(f"  - {text[0].upper()}{text[1:]}.")
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
        at = {m: _at_time(r["curves"][m], share * r["budget_min"] * 60) for m in ("lstm", "transformer")}
        if all(at.values()):
            add(
                f"| {share:.0%} | {at['lstm']['val_loss']:.4f} | {at['transformer']['val_loss']:.4f} | "
                f"{at['lstm']['tokens_seen']:,} | {at['transformer']['tokens_seen']:,} |"
            )
    add("")

    add("## 2. Training throughput by context length\n")
    add(
        f"Tokens per second of one training step (forward, backward, clipping, AdamW) on "
        f"{_tokens_per_step(r)}-token batches at each context length: the same work per step for both "
        "models; median of timed steps, each context in a fresh process (not compiled). Memory: the "
        "peak above the process's baseline (section 4).\n"
    )
    add(
        "| context | LSTM tokens/s | transformer tokens/s | transformer / LSTM | LSTM memory | "
        "transformer memory |"
    )
    add("|---:|---:|---:|---:|---:|---:|")
    for lr, tr in zip(r["throughput"]["lstm"], r["throughput"]["transformer"], strict=True):
        ratio = (
            f"{tr['tokens_per_s'] / lr['tokens_per_s']:.2f}x"
            if "tokens_per_s" in lr and "tokens_per_s" in tr
            else "-"
        )
        add(
            f"| {lr['context']} | {_tps(lr)} | {_tps(tr)} | {ratio} | {_mb(_above(lr))} | {_mb(_above(tr))} |"
        )
    add(f"\n![throughput by context]({FIGURES['throughput']})\n")

    add("## 3. Sampling speed as a sample grows\n")
    s = r["sampling"]
    lens = sorted(s["lstm"].get("latency_ms", {}))
    add(
        "Milliseconds per new token for one sample, measured between half the length and the length "
        "(the cost of the latest tokens), with the trained checkpoints. The LSTM carries a fixed-size "
        f"state, so its cost should stay flat; the transformer reads a KV cache that grows to its "
        f"context ({block}) and then slides.\n"
    )
    if lens:
        add(
            "| model | "
            + " | ".join(f"@{n:,}" for n in lens)
            + " | tokens/s, "
            + f"{s['lstm']['samples']} samples at once | peak memory |"
        )
        add("|---|" + "---:|" * (len(lens) + 2))
        for m in s:
            if "latency_ms" in s[m]:
                add(
                    f"| {LABELS[m]} | "
                    + " | ".join(f"{s[m]['latency_ms'][n]:.2f}" for n in lens)
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
        "val split (the same windows for both): position 0 is predicted from one token, position "
        f"{block - 1} from {block}. The transformer sees at most {block} tokens; the LSTM is followed "
        f"on to {len(r['val']['lstm']['by_position'])} tokens, past the {block}-token windows it was "
        "trained on. The last row reads the val split as one long stream, as generation does: the "
        "LSTM carries its state through, the transformer slides its window a quarter of its context "
        "at a time.\n"
    )
    marks = [p for p in (0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 2047, 4095) if p < block * 4]
    add("| tokens of context | LSTM | transformer |")
    add("|---:|---:|---:|")
    for p in marks:
        row = [r["val"][m]["by_position"] for m in ("lstm", "transformer")]
        cells = [f"{c[p]:.3f}" if p < len(c) else "-" for c in row]
        if any(c != "-" for c in cells):
            add(f"| {p + 1} | " + " | ".join(cells) + " |")
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


def _tokens_per_step(r: dict[str, Any]) -> str:
    row = r["throughput"]["lstm"][0]
    return f"{row['batch_size'] * row['context']:,}"


def write_report(r: dict[str, Any], out: Path) -> list[Path]:
    """Write report.md, its figures and results.json into `out`; returns the paths written."""
    import json

    from seqgen import plots
    from seqgen.files import atomic_write_text

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

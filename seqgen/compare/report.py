"""The Markdown report of a comparison, written for a reader who has never used seqgen.

Owns: report.md as a whole (its sections in order), the sections around the measurements, one
function each (the title, the short answer: what won, by how much, where the other model is
better; what was compared; how to reproduce it), and writing the report beside its figures and
results.json (`write_report`, `redraw`). The numbered sections are `sections`'; who won is
`verdicts`' call; the figures are drawn by `measure.plots`. Every number comes from a
`CompareResults`; nothing is measured here.
"""

from __future__ import annotations

import math
from pathlib import Path

from seqgen.compare import results as results_file
from seqgen.compare import sections
from seqgen.compare.results import CompareResults, CurvePoint, Machine
from seqgen.compare.sections import FIGURES, PAIR, failure_kind
from seqgen.compare.verdicts import Verdicts, verdicts
from seqgen.config import ModelConfig, TransformerConfig
from seqgen.measure.plots import LABELS

__all__ = ["FIGURES", "failure_kind", "redraw", "write_markdown", "write_report"]


def _pct(a: float, b: float) -> str:
    """How much lower a is than b, as a percentage of b."""
    return f"{100 * (b - a) / b:.1f}%"


def _reached(curve: list[CurvePoint], target: float) -> float | None:
    """Minutes at which a val-loss curve first reached `target`, or None."""
    return next((p.elapsed_s / 60 for p in curve if p.val_loss <= target), None)


def write_markdown(r: CompareResults) -> str:
    """The whole report.md."""
    v = verdicts(r)
    parts = [
        _introduction(r),
        _answer(r, v),
        _compared(r),
        sections.val_during_training(r),
        sections.throughput(r),
        sections.sampling_speed(r),
        sections.memory(r),
        sections.context(r),
        sections.samples(r),
        _reproduce(r),
    ]
    return "\n".join(line for part in parts for line in part)


def _introduction(r: CompareResults) -> list[str]:
    mach = r.machine
    return [
        f"# LSTM or transformer on `{r.data.name}`? A measured comparison\n",
        f"seqgen trained an LSTM and a transformer of the same size (within "
        f"{_size_gap(r)}% in parameters) on the same data for the same wall-clock time, "
        f"{r.budget_min:g} minutes each, and then measured both. Every number below was measured "
        f"in this one run: {r.date}, on {mach.name} ({_where(mach)}), torch {mach.torch}, "
        f"{r.precision}.\n",
    ]


def _answer(r: CompareResults, v: Verdicts) -> list[str]:
    """The headline: who wins on val loss and by how much, then where each model is better."""
    w, lo = v.winner, v.loser
    W, L = LABELS[w], LABELS[lo]
    u = r.data.data_kind.unit
    a, b = v.val[w], v.val[lo]
    lines = [
        "## The answer in short\n",
        f"- **Quality: the {W} wins.** On the whole held-out val split "
        f"({r.data.val_tokens:,} tokens), read as each model reads when it writes (the LSTM "
        f"{r.models['lstm'].config.reading_past}, the transformer "
        f"{r.models['transformer'].config.reading_past}), it scores a loss of "
        f"**{a:.3f}** "
        f"against the {L}'s **{b:.3f}** nats per {u} ({_pct(a, b)} lower; {a / math.log(2):.2f} against "
        f"{b / math.log(2):.2f} bits per {u}). The loss is the average surprise of the model at each "
        f"next {u} of text it never trained on: lower means it predicts the data better.",
    ]
    t = _reached(r.curves[w], r.curves[lo][-1].val_loss)
    # Curves measured differently (one model tune by tune, the other in windows) do not compare.
    if t is not None and len(r.tune_readers) != 1:
        lines.append(
            f"- The {W} reached the {L}'s final loss after **{_minutes(t)} of {_minutes(r.budget_min)}** "
            f"(by each model's own evaluation during training)."
        )
    lines += [line for m in PAIR if (line := _overfitting(r, m))]
    lines.append(f"- **Where the {L} is better:**" + ("" if v.wins[lo] else " nowhere measured here."))
    lines += [f"  - {text[0].upper()}{text[1:]}." for text in v.wins[lo]]
    if v.wins[w]:
        lines.append(f"- **Also better with the {W}:**")
        lines += [f"  - {text[0].upper()}{text[1:]}." for text in v.wins[w]]
    if v.even:
        lines.append(
            "- **About even:** " + "; ".join(v.even) + ". (Timings and memory within 5% of each "
            "other count as even: that much is noise on a shared machine.)"
        )
    lines.append("")
    return lines


def _overfitting(r: CompareResults, m: str) -> str | None:
    """A warning when a model's val loss stalled while its training loss kept falling."""
    curve = r.curves[m]
    last = curve[-1]
    best_at = min(range(len(curve)), key=lambda i: curve[i].val_loss)
    stalled = best_at < len(curve) - 3  # no better val loss in the last three evaluations
    if not (stalled and last.val_loss - last.train_loss > 0.15):
        return None
    return (
        f"- **Over-fitting:** by the end the {LABELS[m]}'s training loss was "
        f"{last.train_loss:.3f} but its val loss {last.val_loss:.3f}, no better than "
        f"{(curve[best_at].elapsed_s / 60):.1f} minutes in: it had begun to memorise the "
        f"training data rather than learn what carries over (dropout was "
        f"{r.models[m].config.dropout:g}). More dropout (`--dropout 0.1` to `0.2`), a "
        "smaller model or more data would help it."
    )


def _compared(r: CompareResults) -> list[str]:
    """Both models side by side, then the data, the training recipe, the machine and command."""
    models, d, mach = r.models, r.data, r.machine
    rows = {
        "parameters": lambda m: f"{models[m].parameters:,}",
        "shape": lambda m: _shape(models[m].config),
        "training window (tokens)": lambda m: str(models[m].config.block_size),
        "context when generating": lambda m: models[m].config.generation_context,
        "batch (sequences per step)": lambda m: str(models[m].batch_size),
        "peak learning rate": lambda m: f"{models[m].learning_rate:g}",
        "dropout": lambda m: f"{models[m].config.dropout:g}",
        "optimizer steps in the budget": lambda m: f"{models[m].steps:,}",
        "training tokens seen": lambda m: f"{models[m].tokens_seen:,}",
        "training tokens / s": lambda m: f"{models[m].tokens_per_s:,.0f}",
        "val loss, whole val split (as it writes)": lambda m: f"{r.val[m].streaming:.4f}",
    }
    lines = ["## What was compared\n"]
    lines.append("| | " + " | ".join(LABELS[m] for m in models) + " |")
    lines.append("|---|" + "---:|" * len(models))
    lines += [f"| {name} | " + " | ".join(f(m) for m in models) + " |" for name, f in rows.items()]
    lines.append("")
    lines.append(
        f"- **Data:** `{d.path}` ({d.kind}), {d.vocab_size} distinct tokens, "
        f"{d.train_tokens:,} training and {d.val_tokens:,} val tokens; the same tokenizer, split "
        f"and seed ({r.seed}) for both models."
    )
    lines.append(
        f"- **Training:** `seqgen train`'s loop for both: AdamW (fused), warm-up then cosine decay "
        f"over the {r.budget_min:g}-minute budget, gradient clipping at 1.0; each model with its "
        f"kind's tuned batch size and learning rate. The LSTM's width was chosen to match the "
        f"transformer's parameter count. Each was evaluated {len(r.curves['lstm'])} and "
        f"{len(r.curves['transformer'])} times (LSTM, transformer); evaluation time counts against "
        "the budget."
    )
    lines.append(f"- **Machine:** {mach.name}, {_where(mach)}; torch {mach.torch}, Python {mach.python}.")
    lines.append(f"- **Command:** `{r.command}` (took {r.total_s / 60:.1f} minutes in all).\n")
    return lines


def _reproduce(r: CompareResults) -> list[str]:
    return [
        "## Reproduce\n",
        f"```\n{r.command}\n```\n",
        "Timings depend on the machine and on what else runs on it: compare the two models within "
        "one report, not across reports. `results.json` beside this file holds every figure.\n",
    ]


def _minutes(t: float) -> str:
    return f"{t:.1f} min" if t >= 1 else f"{60 * t:.0f} s"


def _where(mach: Machine) -> str:
    if mach.type == "cuda":
        return "CUDA"
    return f"CPU, {mach.cores} cores, {mach.threads} torch threads"


def _size_gap(r: CompareResults) -> str:
    a, b = (r.models[m].parameters for m in PAIR)
    return f"{100 * abs(a - b) / max(a, b):.1f}"


def _shape(cfg: ModelConfig) -> str:
    if isinstance(cfg, TransformerConfig):
        return f"{_n(cfg.n_layer, 'layer')} x {cfg.n_embd} wide, {_n(cfg.n_head, 'head')}"
    return f"{_n(cfg.n_layer, 'layer')} x {cfg.hidden} wide"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def write_report(r: CompareResults, out: Path) -> list[Path]:
    """Write report.md, its figures and results.json into `out`; returns the paths written."""
    from seqgen.files import atomic_write_text
    from seqgen.measure import plots

    name = r.data.name
    doc = r.to_json()  # the figures take plain numbers
    written = [
        plots.val_curves(doc["curves"], out / FIGURES["val"], f"val loss on {name}"),
        plots.throughput(doc["throughput"], out / FIGURES["throughput"], "training throughput by context"),
        plots.latency(doc["sampling"], out / FIGURES["latency"], "sampling: time per new token"),
        plots.by_position(
            {m: v.by_position for m, v in r.val.items()},
            r.block_size,
            out / FIGURES["context"],
            f"val loss by position in a fresh window ({name})",
        ),
    ]
    written.append(r.save(out / "results.json"))
    written.append(atomic_write_text(out / "report.md", write_markdown(r)))
    return written


def redraw(out: Path) -> tuple[CompareResults, list[Path]]:
    """Rewrite the report and figures of an earlier comparison in `out` from its results.json."""
    r = results_file.load(out / "results.json")
    return r, write_report(r, out)

"""Pictures of results, as PNG files (matplotlib, drawn off-screen: no display needed).

Owns: a run's loss curves (`seqgen plot RUN`), a piano roll of notes (`seqgen plot FILE.mid`),
and the figures of a comparison (val loss against time and tokens, throughput by context,
sampling latency by length, loss by position in the context). Takes plain numbers, notes and
paths; knows nothing about models or training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"lstm": "#d95f02", "transformer": "#1b6fb5"}
LABELS = {"lstm": "LSTM", "transformer": "transformer"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on a server with no display
    import matplotlib.pyplot as plt

    return plt


RUN_SIZE = (1200, 500)  # pixels of `seqgen plot RUN`
ROLL_SIZE = (1200, 450)  # pixels of `seqgen plot FILE.mid`
DPI = 100


def _save(fig: Any, path: Path, exact: bool = False) -> Path:
    """Write `fig` as a PNG atomically; `exact` keeps the figure's own size in pixels."""
    from seqgen.files import atomic_write

    if exact:
        fig.tight_layout()
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))


def run_curves(records: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Train and val loss (each evaluation of a run) against step (left) and wall-clock minutes
    (right), the learning rate on a second axis, and the best val loss marked."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(RUN_SIZE[0] / DPI, RUN_SIZE[1] / DPI), sharey=True)
    best = min(records, key=lambda r: r["val_loss"])
    for ax, key, label in (
        (axes[0], "step", "optimizer step"),
        (axes[1], "elapsed_s", "wall-clock minutes"),
    ):
        scale = 60.0 if key == "elapsed_s" else 1.0
        x = [r[key] / scale for r in records]
        ax.plot(x, [r["train_loss"] for r in records], color="#7570b3", marker=".", label="train loss")
        ax.plot(x, [r["val_loss"] for r in records], color="#1b9e77", marker=".", label="val loss")
        ax.plot(
            [best[key] / scale],
            [best["val_loss"]],
            "*",
            color="black",
            markersize=12,
            label=f"best val {best['val_loss']:.4f} (step {best['step']:,})",
        )
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
        lr = ax.twinx()
        lr.plot(
            x, [r["lr"] for r in records], color="gray", linestyle="--", linewidth=1, label="learning rate"
        )
        lr.set_ylabel("learning rate", color="gray")
        lr.tick_params(axis="y", colors="gray")
        lr.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()
        extra = lr.get_legend_handles_labels()
        ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper right")
    axes[0].set_ylabel("loss (nats per token)")
    _clip_y(axes[0], [r[k] for r in records for k in ("train_loss", "val_loss")])
    fig.suptitle(title)
    try:
        return _save(fig, path, exact=True)
    finally:
        plt.close(fig)


NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def piano_roll(notes: list[Any], path: Path, title: str) -> Path:
    """One bar per note (time in seconds across, pitch up), shaded by velocity; drums in grey.
    `notes`: objects with start, end (seconds), pitch, velocity and drum."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(ROLL_SIZE[0] / DPI, ROLL_SIZE[1] / DPI))
    cmap = plt.get_cmap("viridis")
    for drum in (False, True):
        group = [n for n in notes if bool(n.drum) == drum]
        if group:
            ax.barh(
                [n.pitch for n in group],
                [max(n.end - n.start, 0.01) for n in group],
                left=[n.start for n in group],
                height=0.8,
                color=["#999999" if drum else cmap(0.15 + 0.8 * n.velocity / 127) for n in group],
                edgecolor="none",
                label="drums" if drum else None,
            )
    if notes:
        low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
        ax.set_ylim(low - 2, high + 2)
        ax.set_xlim(0, max(n.end for n in notes) * 1.01)
        cs = [p for p in range(low - 2, high + 3) if p % 12 == 0]
        ax.set_yticks(cs or [low], [f"{NOTE_NAMES[p % 12]}{p // 12 - 1}" for p in (cs or [low])])
    ax.set_xlabel("seconds")
    ax.set_ylabel("pitch")
    ax.grid(alpha=0.25)
    ax.set_title(title)
    if any(n.drum for n in notes):
        ax.legend(loc="upper right")
    try:
        return _save(fig, path, exact=True)
    finally:
        plt.close(fig)


def val_curves(curves: dict[str, list[dict[str, float]]], path: Path, title: str) -> Path:
    """Val loss against wall-clock minutes (left) and against tokens seen (right)."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for m, points in curves.items():
        val = [p["val_loss"] for p in points]
        style = {"color": COLORS[m], "label": LABELS[m], "marker": ".", "linewidth": 1.6}
        a.plot([p["elapsed_s"] / 60 for p in points], val, **style)
        b.plot([p["tokens_seen"] / 1e6 for p in points], val, **style)
    a.set_xlabel("wall-clock time (minutes, evaluations included)")
    b.set_xlabel("training tokens seen (millions)")
    a.set_ylabel("val loss (nats per token, lower is better)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    _clip_y(a, [p["val_loss"] for pts in curves.values() for p in pts])
    fig.suptitle(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _finish(plt: Any, fig: Any, ax: Any, title: str, path: Path) -> Path:
    """Grid, legend and title on a one-panel figure, then write it and free it."""
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _clip_y(ax: Any, values: list[float]) -> None:
    """Leave out the first, very high losses so the part where the models differ is readable."""
    if len(values) > 4:
        ordered = sorted(values)
        low, high = ordered[0], ordered[int(0.9 * (len(ordered) - 1))]
        ax.set_ylim(low - 0.05 * (high - low + 1e-9), high + 0.1 * (high - low + 1e-9))


def throughput(rows: dict[str, list[dict[str, Any]]], path: Path, title: str) -> Path:
    """Training tokens/s against context length (log scale), one line per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for m, points in rows.items():
        ok = [p for p in points if "tokens_per_s" in p]
        ax.plot(
            [p["context"] for p in ok],
            [p["tokens_per_s"] for p in ok],
            color=COLORS[m],
            label=LABELS[m],
            marker="o",
        )
    ax.set_xscale("log", base=2)
    contexts = sorted({p["context"] for pts in rows.values() for p in pts})
    ax.set_xticks(contexts, [str(c) for c in contexts])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("context length (tokens per sequence)")
    ax.set_ylabel("training tokens / s")
    return _finish(plt, fig, ax, title, path)


def latency(rows: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Milliseconds per generated token as one sample grows, one line per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for m, r in rows.items():
        if "latency_ms" not in r:
            continue
        lengths = sorted(r["latency_ms"])
        ax.plot(lengths, [r["latency_ms"][n] for n in lengths], color=COLORS[m], label=LABELS[m], marker="o")
        if r.get("context"):
            ax.axvline(
                r["context"],
                color=COLORS[m],
                linestyle=":",
                alpha=0.6,
                label=f"{LABELS[m]}'s context ({r['context']})",
            )
    ax.set_xscale("log", base=2)
    lengths = sorted({n for r in rows.values() for n in r.get("latency_ms", {})})
    ax.set_xticks(lengths, [f"{n:,}" for n in lengths])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("tokens generated so far (one sample)")
    ax.set_ylabel("ms per new token")
    return _finish(plt, fig, ax, title, path)


def _smooth(values: list[float]) -> list[float]:
    """Moving average whose half-width grows with the position (an eighth of it): the first
    positions, where the loss falls fastest, stay as measured; later ones average out noise,
    about evenly on a log axis."""
    out = []
    for i in range(len(values)):
        half = i // 8
        part = values[max(0, i - half) : i + half + 1]
        out.append(sum(part) / len(part))
    return out


def by_position(curves: dict[str, list[float]], block: int, path: Path, title: str) -> Path:
    """Val loss at each position of a fresh window: how much each model gains from the tokens
    before it. Thin lines: each position; thick: a moving average that widens with the position. The dotted
    line marks the transformer's context length (both models' training window)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for m, losses in curves.items():
        x = list(range(1, len(losses) + 1))  # tokens seen when predicting the next one
        smooth = _smooth(losses)
        ax.plot(x, losses, color=COLORS[m], linewidth=0.6, alpha=0.35)
        ax.plot(x[:block], smooth[:block], color=COLORS[m], linewidth=2, label=LABELS[m])
        if len(losses) > block:
            ax.plot(
                x[block - 1 :],
                smooth[block - 1 :],
                color=COLORS[m],
                linewidth=2,
                linestyle="--",
                label=f"{LABELS[m]}, beyond its training window",
            )
    ax.axvline(block, color="gray", linestyle=":", label=f"context length {block}")
    ax.set_xscale("log", base=2)
    longest = max(len(c) for c in curves.values())
    ticks = [t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if t <= longest]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("tokens of context (the predicted token's position in the window)")
    ax.set_ylabel("val loss (nats per token)")
    return _finish(plt, fig, ax, title, path)

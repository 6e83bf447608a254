"""Pictures of results, as PNG files (matplotlib, drawn off-screen: no display needed).

Owns: the figures of a comparison (val loss against time and tokens, throughput by context,
sampling latency by length, loss by position in the context). Takes plain numbers and paths;
knows nothing about models or training.
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


def _save(fig: Any, path: Path) -> Path:
    from seqgen.files import atomic_write

    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))


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
    ax.set_xlabel("context length (tokens per sequence)")
    ax.set_ylabel("training tokens / s")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


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
            ax.axvline(r["context"], color=COLORS[m], linestyle=":", alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("tokens generated so far (one sample)")
    ax.set_ylabel("ms per new token")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def by_position(curves: dict[str, list[float]], block: int, path: Path, title: str) -> Path:
    """Val loss at each position of a fresh window: how much each model gains from the tokens
    before it. The dotted line marks the transformer's context length (its training window)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for m, losses in curves.items():
        inside = losses[:block]
        ax.plot(range(len(inside)), inside, color=COLORS[m], label=LABELS[m], linewidth=1.4)
        if len(losses) > block:
            ax.plot(
                range(block - 1, len(losses)),
                losses[block - 1 :],
                color=COLORS[m],
                linewidth=1.0,
                linestyle="--",
                alpha=0.8,
                label=f"{LABELS[m]}, beyond the training window",
            )
    ax.axvline(block - 1, color="gray", linestyle=":", label=f"context length {block}")
    ax.set_xscale("symlog", linthresh=8)
    ax.set_xlabel("tokens of context before the predicted token")
    ax.set_ylabel("val loss (nats per token)")
    _clip_y(ax, [v for c in curves.values() for v in c])
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)

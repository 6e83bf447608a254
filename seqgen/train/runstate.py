"""What a run carries across a stop: the counters, every random stream and stop signals.

Owns: `Counters` (where a run stands, saved in last.pt), capturing and restoring the Python, NumPy,
torch CPU and CUDA random states, and `StopSignals` (SIGINT/SIGTERM/SIGHUP ask the loop to stop and
save). Knows nothing about models, data or files (the run's lock is `rundir.RunDir.lock`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import signal
import threading
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch


@dataclass
class Counters:
    """Where a run stands; saved in last.pt and restored on resume."""

    step: int = 0
    tokens: int = 0
    best_val: float = float("inf")
    best_step: int = 0
    val: float = float("inf")
    elapsed_s: float = 0.0  # wall-clock of all sessions of the run (the minutes budget)
    train_s: float = 0.0  # of which in optimizer steps (for tokens/s)
    evals_since_best: int = 0  # for --patience
    lr: float = 0.0  # the learning rate of the latest step
    # The step and elapsed seconds where the warm-up ended (the cosine decays from there, read as a
    # share of the budget in force); None: not yet, or a run saved before it was kept.
    warm_step: int | None = None
    warm_s: float | None = None
    eval_due: bool = False  # a signal cut this step's evaluation: the resumed run does it first

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counters:
        """Counters from a saved dict; keys this seqgen does not know (a later one's) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def warm_end(self) -> tuple[int, float] | None:
        return None if self.warm_step is None or self.warm_s is None else (self.warm_step, self.warm_s)


def rng_state() -> dict[str, Any]:
    """Every global random stream a step may draw from, as plain tensors and lists."""
    np_state = cast(tuple[Any, ...], np.random.get_state())  # the legacy tuple form
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError, IndexError):  # fewer GPUs now: keep their own seeds
            torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x: Any) -> Any:
    """random.setstate wants tuples where a round trip through the checkpoint may give lists."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list | tuple) else x


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP (a closed terminal) ask the loop to stop after the current step or
    evaluation batch; it then saves last.pt and returns. A second signal stops at once (Ctrl-C:
    KeyboardInterrupt; otherwise exit 128 + signal), losing the work since the last checkpoint.
    Only the main thread can catch signals, so elsewhere this does nothing."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)

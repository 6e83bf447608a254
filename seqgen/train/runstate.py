"""What a run carries across a stop: the counters, every random stream, stop signals and the run lock.

Owns: `Counters` (where a run stands, saved in last.pt), capturing and restoring the Python, NumPy,
torch CPU and CUDA random states, `StopSignals` (SIGINT/SIGTERM/SIGHUP ask the loop to stop and
save), and `run_lock` (one trainer per run directory). Knows nothing about models, data or files
beyond the lock file.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen.errors import SeqgenError


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
    eval_due: bool = False  # a signal cut this step's evaluation: the resumed run does it first


def rng_state() -> dict[str, Any]:
    """Every global random stream a step may draw from, as plain tensors and lists."""
    np_state = np.random.get_state()
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


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run while training it, so two processes never write the same
    run. The kernel drops the lock when the process ends, however it ends."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one trainer per run is then up to the user
        yield
        return
    with open(run_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SeqgenError(
                f"{run_dir} is being trained by another seqgen process; wait for it or stop it first"
            ) from None
        yield

"""What a training run tells its caller while it runs, as types rather than strings and dicts.

Owns: the events the trainer sends to its callback (`TrainStarted`, `StepDone`, `Evaluated`,
`CheckpointSaved`, `TrainEnded`) and `TrainResult`, how a run ended. Only the main process
(rank 0) sends them. Knows nothing about how a caller shows them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainStarted:
    parameters: int
    device: str
    run_dir: Path
    precision: str  # "bf16" or "fp32"
    compiled: bool
    lr: float  # peak learning rate
    tokens_per_step: int  # batch x context x grad_accum x processes
    world_size: int
    grad_accum: int
    batch_size: int
    resumed_from: int | None  # the step a resumed run continues from; None for a new run
    progress: float  # 0..1 of the budget already used (a resumed run starts above 0)


@dataclass(frozen=True)
class StepDone:
    """Sent every 10 steps, at step 1 and at the last step."""

    step: int
    loss: float
    lr: float
    progress: float  # 0..1 of the budget
    tokens_per_sec: float
    elapsed_s: float


@dataclass(frozen=True)
class Evaluated:
    """One evaluation, as logged in metrics.jsonl, plus the run's best so far."""

    step: int
    train_loss: float
    val_loss: float
    lr: float
    tokens_per_sec: float
    elapsed_s: float
    tokens_seen: int
    best_val_loss: float
    improved: bool


@dataclass(frozen=True)
class CheckpointSaved:
    """last.pt written between evaluations (a time or step interval, or a stop signal)."""

    step: int
    path: Path


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_val_loss: float
    val_loss: float
    elapsed_s: float
    tokens_per_sec: float
    parameters: int
    stopped: str = "budget"  # budget | patience | SIGINT | SIGTERM
    resumed_from: int | None = None  # the step a resumed run continued from

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal number when a signal stopped the run (130 SIGINT, 143 SIGTERM)."""
        return 128 + int(getattr(signal, self.stopped)) if self.stopped.startswith("SIG") else 0


@dataclass(frozen=True)
class TrainEnded:
    result: TrainResult


TrainEvent = TrainStarted | StepDone | Evaluated | CheckpointSaved | TrainEnded
Callback = Callable[[TrainEvent], None]

"""What a comparison tells its caller while it runs, as types.

Owns: compare's own progress events (`StageStarted`, `ModelTraining`) and `TrainerProgress`,
which wraps one of the trainer's events (`seqgen.train.events`) with the model it is about.
Knows nothing about how a caller shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from seqgen.config import TrainConfig
from seqgen.train.events import TrainEvent


@dataclass(frozen=True)
class StageStarted:
    """A measurement begins; `text` says which, e.g. "scoring both models on the val split"."""

    text: str


@dataclass(frozen=True)
class ModelTraining:
    """One model's training begins (the trainer's own events follow as `TrainerProgress`)."""

    model: str
    config: TrainConfig


@dataclass(frozen=True)
class TrainerProgress:
    model: str
    event: TrainEvent


CompareEvent = StageStarted | ModelTraining | TrainerProgress
Callback = Callable[[CompareEvent], None]

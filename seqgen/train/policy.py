"""When a run stops and when it writes last.pt between evaluations.

Owns: `StopPolicy`: how much of the budget (steps or minutes, whichever ends first) a run has
used, whether a time or step interval since the last save asks for a checkpoint, whether
`patience` has run out, and the message for a diverged run. Knows nothing about models or
processes: the trainer asks it with numbers (several processes ask it with the numbers they
agreed on, so they decide alike).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.train.rundir import RunDir


class StopPolicy:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.every_steps, self.every_s = cfg.checkpoint_interval
        self.last_save: tuple[int, float] = (0, 0.0)  # (step, elapsed seconds) of the latest last.pt

    def progress(self, step: int, elapsed_s: float) -> float:
        """0 at the start; 1 or more once the budget is used."""
        cfg = self.cfg
        return max(
            step / cfg.max_iters if cfg.max_iters else 0.0,
            elapsed_s / (cfg.max_time * 60) if cfg.max_time else 0.0,
        )

    def check_budget_left(self, run: object, step: int, elapsed_s: float) -> None:
        """Refuse to resume a run that already used its whole budget."""
        if self.progress(step, elapsed_s) >= 1.0:
            raise SeqgenError(
                f"{run} already used its budget ({step} steps, {elapsed_s / 60:.1f} min); "
                "give a larger --max-iters or --max-time to train on"
            )

    def saved(self, step: int, elapsed_s: float) -> None:
        self.last_save = (step, elapsed_s)

    def checkpoint_due(self, step: int, elapsed_s: float) -> bool:
        """Whether the interval since the latest last.pt (`--checkpoint-every`) has passed."""
        return bool(
            (self.every_steps and step - self.last_save[0] >= self.every_steps)
            or (self.every_s and elapsed_s - self.last_save[1] >= self.every_s)
        )

    def out_of_patience(self, evals_since_best: int) -> bool:
        return self.cfg.patience is not None and evals_since_best >= self.cfg.patience

    def diverged(self, what: str, step: int, run: RunDir, saved: dict[str, Any] | None) -> SeqgenError:
        """The error that stops a diverged run, with the way on: resume from the last good last.pt
        with a lower learning rate (and this session's budget, where it differs from `saved`, the
        train config last.pt records), or start again."""
        lr = self.cfg.learning_rate or 0.0
        lower = f"--learning-rate {lr / 3:.2g}"
        if run.last.is_file():
            todo = (
                f"{run.last} keeps the last good state; lower the learning rate "
                f"(now {lr:g}) and go on: seqgen train --resume {run.path}"
                f"{self._session_budget_flags(saved or {})} {lower}"
            )
        else:
            todo = f"no checkpoint was written; start again with a lower learning rate, e.g. {lower}"
        return SeqgenError(f"training diverged: {what} at step {step}; {todo}")

    def _session_budget_flags(self, saved: dict[str, Any]) -> str:
        """The budget this session was given, when it differs from the one last.pt records."""
        flags = ""
        for name in ("max_iters", "max_time"):
            value = getattr(self.cfg, name)
            if value is not None and value != saved.get(name, value):
                flags += f" --{name.replace('_', '-')} {value:g}"
        return flags

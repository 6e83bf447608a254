"""Progress displays for long library calls: stage bars (rich, on stderr, so stdout carries only
results) and `TrainView`, which shows a training run's typed events."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from seqgen.cli import console, err_console
from seqgen.train.events import Evaluated, StepDone, TrainEnded, TrainEvent, TrainStarted


@contextmanager
def stage_progress(transient: bool = True, hidden: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """Yield a callback `(stage, done, total)` that drives one bar per stage (none if `hidden`)."""
    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
        disable=hidden,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        yield update


class TrainView:
    """Shows a training run's events: a header, a bar with step/loss/tokens-per-second/ETA, and a
    line per evaluation (on stdout, so a redirected log keeps them)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]step {task.fields[step]:>6}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tps]:>8,.0f} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("train", total=1000, step=0, loss=float("nan"), tps=0.0)

    def __call__(self, event: TrainEvent) -> None:
        match event:
            case TrainStarted():
                self._started(event)
            case StepDone():
                self.progress.update(
                    self.task,
                    completed=1000 * event.progress,
                    step=event.step,
                    loss=event.loss,
                    tps=event.tokens_per_sec,
                )
            case Evaluated():
                mark = "  [green]best[/]" if event.improved else ""
                self.progress.console.print(
                    f"step {event.step:>6}  train {event.train_loss:.4f}  val {event.val_loss:.4f}  "
                    f"lr {event.lr:.2e}  {event.elapsed_s:7.1f} s{mark}",
                    highlight=False,
                )
                sys.stdout.flush()  # eval lines reach a redirected log as they happen
            case TrainEnded():
                self.progress.update(self.task, completed=1000)
                self.progress.stop()

    def _started(self, e: TrainStarted) -> None:
        verb = "Training" if e.resumed_from is None else f"Resuming at step {e.resumed_from:,}:"
        console.print(
            f"{verb} {e.parameters:,} parameters on {e.device} ({e.precision}"
            f"{', compiled' if e.compiled else ''}), "
            f"peak lr {e.lr:g}, {e.tokens_per_step:,} tokens/step -> {e.run_dir}",
            highlight=False,
        )
        if e.world_size > 1 or e.grad_accum > 1:
            console.print(
                f"{e.world_size} process(es) x batch {e.batch_size} x grad-accum "
                f"{e.grad_accum} = {e.world_size * e.batch_size * e.grad_accum} "
                "sequences per optimizer step",
                highlight=False,
            )
        self.progress.update(self.task, completed=1000 * e.progress)
        self.progress.start()

    def close(self) -> None:
        self.progress.stop()

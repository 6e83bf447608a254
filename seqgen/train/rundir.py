"""The only code that creates, locks and reads a run directory (checkpoints/RUN).

A run directory holds: best.pt (lowest val loss), last.pt (latest, with the resume state),
config.json (a readable record of the settings and the machine), config.toml (the same settings
as a file `seqgen train --config` reads) and metrics.jsonl (one `Evaluation` per line).

Owns: those file names, `RunDir` (create a new run or refuse an existing one, the lock that keeps
one trainer per run, tidying after a kill, writing the config files, appending to and reading the
metrics log, removing a new run that failed before its first checkpoint) and finding a run or its
checkpoint from what a user typed. Does not own what is inside a checkpoint (`checkpoint`) or
when anything is written (`trainer`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from seqgen import __version__
from seqgen.config import ModelConfig, TrainConfig, to_dict, train_toml
from seqgen.errors import SeqgenError
from seqgen.files import atomic_write_text, remove_stale_temporaries, write_error
from seqgen.train.events import Evaluated

BEST = "best.pt"
LAST = "last.pt"
CONFIG = "config.json"
CONFIG_TOML = "config.toml"  # the same settings as a file `seqgen train --config` reads
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class Evaluation:
    """One line of metrics.jsonl: an evaluation of the run (losses in nats per token)."""

    step: int
    train_loss: float
    val_loss: float
    lr: float
    tokens_per_sec: float
    elapsed_s: float  # wall-clock of the whole run so far
    tokens_seen: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def event(self, best_val_loss: float, improved: bool) -> Evaluated:
        """This evaluation as the trainer reports it, with the run's best so far."""
        return Evaluated(
            self.step,
            self.train_loss,
            self.val_loss,
            self.lr,
            self.tokens_per_sec,
            self.elapsed_s,
            self.tokens_seen,
            best_val_loss,
            improved,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def write_json_atomic(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


class MetricsLog:
    """metrics.jsonl open for appending; each line reaches the disk's cache as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = open(path, "a")  # noqa: SIM115 -- closed by close()

    def append(self, record: Evaluation) -> None:
        try:
            self._file.write(json.dumps(record.to_dict()) + "\n")
            self._file.flush()
        except OSError as e:
            raise write_error(self.path, e) from None

    def close(self) -> None:
        self._file.close()


class RunDir:
    """One run directory. `RunDir(path)` names an existing run; `RunDir.create` makes a new one."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def last(self) -> Path:
        return self.path / LAST

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @classmethod
    def create(cls, path: Path) -> RunDir:
        """Make a new run directory; refuses one that exists."""
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise SeqgenError(f"{path} already exists; pick another --run") from None
        except OSError as e:
            raise write_error(path, e) from None
        return cls(path)

    def discard_unsaved(self) -> None:
        """Remove a new run that failed before any checkpoint: no half-made run is left behind."""
        if self.path.is_dir() and not self.last.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run while training it, so two processes never write the
        same run. The kernel drops the lock when the process ends, however it ends."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one trainer per run is then up to the user
            yield
            return
        with open(self.path / ".lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SeqgenError(
                    f"{self.path} is being trained by another seqgen process; wait for it or stop it first"
                ) from None
            yield

    def tidy_after_kill(self, step: int) -> None:
        """With the run locked, before resuming at `step`: remove the temporary files a killed
        process left, and the metrics lines past `step` (written after last.pt, then lost)."""
        remove_stale_temporaries(self.path)
        if not self.metrics.is_file():
            return
        keep = []
        for line in self.metrics.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                at = record.get("step") if isinstance(record, dict) else None
                if isinstance(at, int) and at <= step:
                    keep.append(line)
        atomic_write_text(self.metrics, "".join(line + "\n" for line in keep))

    def write_config(self, cfg: TrainConfig, model_cfg: ModelConfig, setup: dict[str, object]) -> None:
        """config.json (the settings, the dataset's name and `setup`: device, precision, compiled,
        world_size) and config.toml (the settings `seqgen train --config` reads back)."""
        import torch

        write_json_atomic(
            self.path / CONFIG,
            {
                "seqgen_version": __version__,
                "model_type": cfg.model,
                "model_config": to_dict(model_cfg),
                "train_config": to_dict(cfg),
                **setup,
                "torch": torch.__version__,
            },
        )
        header = (
            f"seqgen {__version__}: the settings of {self.path}.\n"
            f"Train the same again: seqgen train --config {self.path / CONFIG_TOML} --run NEW_NAME"
        )
        atomic_write_text(self.path / CONFIG_TOML, train_toml(cfg, model_cfg, header))

    def open_metrics(self) -> MetricsLog:
        return MetricsLog(self.metrics)

    def evaluations(self, strict: bool = True) -> list[Evaluation]:
        """The evaluations logged so far, in order. A line that is not JSON is an error when
        `strict`, else skipped; lines that are not evaluations are skipped."""
        out = []
        for n, line in enumerate(self.metrics.read_text().splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if strict:
                    raise SeqgenError(f"{self.metrics} line {n} is not JSON; the log is damaged") from None
                continue
            with contextlib.suppress(KeyError, TypeError):
                out.append(Evaluation.from_dict(record))
        return out

    def checkpoint(self) -> Path:
        """best.pt, else last.pt."""
        for path in (self.best, self.last):
            if path.is_file():
                return path
        raise SeqgenError(
            f"{self.path} holds no checkpoint ({BEST} or {LAST}); is it a seqgen run directory?"
        )


def find_runs(out_dir: Path) -> list[Path]:
    """Run directories under `out_dir` that hold a checkpoint, newest first."""
    if not out_dir.is_dir():
        return []
    runs = [d for d in out_dir.iterdir() if d.is_dir() and ((d / BEST).is_file() or (d / LAST).is_file())]
    return sorted(
        runs,
        key=lambda d: max((d / f).stat().st_mtime for f in (BEST, LAST) if (d / f).is_file()),
        reverse=True,
    )


def resolve_checkpoint(target: str | Path | None, out_dir: str | Path = "checkpoints") -> Path:
    """A checkpoint file from a file, a run directory (best.pt, else last.pt) or None (newest run)."""
    if target is None:
        runs = find_runs(Path(out_dir))
        if not runs:
            raise SeqgenError(f"no trained run found under {out_dir}/; train one with `seqgen train`")
        target = runs[0]
    target = Path(target)
    if target.is_dir():
        return RunDir(target).checkpoint()
    if not target.exists():
        raise SeqgenError(f"{target} does not exist; give a run directory such as checkpoints/RUN")
    return target


def resolve_run(target: str | Path, out_dir: str | Path = "checkpoints") -> RunDir:
    """The run to resume: a path, or a run name under `out_dir`; it must hold last.pt."""
    path = Path(target)
    if not path.exists() and not path.is_absolute() and (Path(out_dir) / path).exists():
        path = Path(out_dir) / path
    if path.is_file():
        if path.name in (LAST, BEST):
            path = path.parent
        else:
            raise SeqgenError(f"--resume {target}: give the run directory (checkpoints/RUN), not a file")
    if not path.is_dir():
        raise SeqgenError(
            f"--resume {target}: no such run (looked for {target} and {Path(out_dir) / target}); "
            f"the runs are the folders in {out_dir}/"
        )
    if not (path / LAST).is_file():
        raise SeqgenError(f"{path} holds no {LAST}; only a run that saved {LAST} can be resumed")
    return RunDir(path)

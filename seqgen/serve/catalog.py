"""The runs a page may use, and their models, loaded once.

Owns: which runs `seqgen serve` offers (every run under the checkpoints directory, or the ones
named, plus the shipped model), what the page shows of each (kind, model, size, best val loss),
and `Loaded`, one model kept in memory for every request. A request names a run by the name the
list gave it, and only a name in that list is ever looked up: no request value becomes a path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqgen.datasets.kinds import DataKind
from seqgen.datasets.tokenizers import Tokenizer
from seqgen.errors import SeqgenError
from seqgen.models.base import SequenceModel


@dataclass(frozen=True)
class RunEntry:
    """One run the page offers."""

    name: str  # what the page and the API call it (a folder name, or "shipped: ...")
    checkpoint: Path
    kind: str  # the data kind's name: text, abc, midi
    label: str  # "ABC", "text", "MIDI"
    model: str  # lstm, transformer
    parameters: int
    best_val_loss: float | None
    steps: int
    minutes: float
    data: str  # the dataset's name
    shipped: bool

    def to_json(self) -> dict[str, Any]:
        from seqgen.datasets.kinds import kind_named

        kind = kind_named(self.kind)
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "music": kind.music,
            "conditioning": kind.states_key_and_meter,
            "streams": kind.streams,
            "model": self.model,
            "parameters": self.parameters,
            "best_val_loss": self.best_val_loss,
            "steps": self.steps,
            "minutes": round(self.minutes, 1),
            "data": self.data,
            "shipped": self.shipped,
        }


@dataclass
class Loaded:
    """A run's model in memory, with what sampling from it needs."""

    entry: RunEntry
    model: SequenceModel
    tokenizer: Tokenizer[Any]
    kind: DataKind
    device: torch.device
    corpus: str | None  # the training tunes' text, for the plagiarism check; None: not checked


def _entry(name: str, checkpoint: Path, shipped: bool = False) -> RunEntry:
    """What the page shows of a checkpoint, read without building its model."""
    from seqgen.datasets.kinds import kind_named
    from seqgen.train.checkpoint import load_checkpoint

    payload = load_checkpoint(checkpoint)
    data = payload.get("data") or {}
    kind = kind_named(str(data.get("kind", "text")))
    weights = payload.get("model") or {}
    return RunEntry(
        name=name,
        checkpoint=checkpoint,
        kind=kind.name,
        label=kind.label,
        model=str(payload.get("model_type")),
        parameters=sum(int(t.numel()) for t in weights.values() if isinstance(t, torch.Tensor)),
        best_val_loss=payload.get("best_val_loss"),
        steps=int(payload.get("step") or 0),
        minutes=float(payload.get("elapsed_s") or 0.0) / 60,
        data=str(data.get("name", "?")),
        shipped=shipped,
    )


def _runs_under(out_dir: Path) -> list[Path]:
    """The runs in `out_dir`, and those one folder down (`seqgen compare` keeps its two runs in
    OUT/lstm and OUT/transformer)."""
    from seqgen.train.rundir import find_runs

    runs = list(find_runs(out_dir))
    if out_dir.is_dir():
        for d in sorted(out_dir.iterdir()):
            if d.is_dir() and d not in runs:
                runs.extend(find_runs(d))
    return runs


class Catalog:
    """The runs offered, each named by its path inside `out_dir`: those under it (or the `named`
    run directories, which must lie inside it) and the shipped model. Unreadable checkpoints, and
    folders linked from outside it, are left out and reported in `skipped`. Models are loaded on
    first use and kept."""

    def __init__(
        self,
        out_dir: Path,
        named: list[Path] | None = None,
        device: torch.device | None = None,
        shipped: bool = True,
    ) -> None:
        from seqgen.shipped import SHIPPED_NAME, shipped_checkpoint
        from seqgen.train.rundir import RunDir

        self.out_dir = out_dir.resolve()
        self.device = device or torch.device("cpu")
        self.skipped: list[str] = []
        dirs = [Path(p) for p in named] if named else _runs_under(out_dir)
        self.entries: dict[str, RunEntry] = {}
        for d in dirs:
            where = d.resolve()
            problem = None
            if not where.is_dir():
                problem = f"{d} is not a run directory; give folders under {out_dir}/"
            elif self.out_dir not in where.parents:
                problem = (
                    f"{d} lies outside {out_dir}/; serve only runs inside the checkpoints directory "
                    "(or pass --out-dir)"
                )
            if problem is not None:
                if named:
                    raise SeqgenError(problem)
                self.skipped.append(problem)  # a link out of the folder: left out, the rest served
                continue
            name = where.relative_to(self.out_dir).as_posix()  # compare-folk/lstm: unique
            if name in self.entries:
                raise SeqgenError(f"{d} is named twice; give each run once")
            try:
                self.entries[name] = _entry(name, RunDir(where).checkpoint())
            except SeqgenError as e:
                if named:
                    raise
                self.skipped.append(f"{name}: {e}")
        path = shipped_checkpoint() if shipped else None
        if path is not None:
            self.entries[SHIPPED_NAME] = _entry(SHIPPED_NAME, path, shipped=True)
        self._loaded: dict[str, Loaded] = {}
        self._lock = threading.Lock()

    def runs(self) -> list[RunEntry]:
        return list(self.entries.values())

    def entry(self, name: object) -> RunEntry:
        """The run the page calls `name`; an unknown name (a path, a typo) is refused."""
        if not isinstance(name, str) or name not in self.entries:
            raise SeqgenError("no such run; pick one from the list (reload the page if runs changed)")
        return self.entries[name]

    def load(self, name: object) -> Loaded:
        """The run's model, loaded once (later calls share it: sampling never changes a model)."""
        entry = self.entry(name)
        with self._lock:
            if entry.name not in self._loaded:
                self._loaded[entry.name] = self._load(entry)
            return self._loaded[entry.name]

    def _load(self, entry: RunEntry) -> Loaded:
        from seqgen.datasets.kinds import kind_named
        from seqgen.generate import pipeline
        from seqgen.train.checkpoint import load_model

        model, tokenizer, ckpt = load_model(entry.checkpoint, self.device)
        kind = kind_named(ckpt.data.kind)
        corpus = pipeline.training_text(ckpt.data.path, kind, tokenizer)
        return Loaded(entry, model, tokenizer, kind, self.device, corpus)

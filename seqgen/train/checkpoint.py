"""The only code that reads or writes checkpoint files.

Owns: the checkpoint format, as the typed `Checkpoint` (with `DataInfo`, the dataset it was
trained on, and `ResumeState`, what last.pt adds for an exact resume). On disk it is a dict of
tensors and plain JSON-like values, loadable with `torch.load(weights_only=True)`; the keys and
values of format version 1 still read as they did, so older checkpoints keep loading. Also atomic
writes, and rebuilding a model from a checkpoint. Knows nothing about training loops, sampling or
the run directory around the file (that is `rundir`).
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from seqgen import __version__
from seqgen.config import ModelConfig, TrainConfig, TransformerConfig, to_dict
from seqgen.datasets.store import Dataset
from seqgen.datasets.tokenizers import Tokenizer, tokenizer_from_dict
from seqgen.errors import SeqgenError
from seqgen.files import atomic_write
from seqgen.models import MODELS, SequenceModel, build_model, config_from_dict
from seqgen.train.runstate import Counters

FORMAT = "seqgen-checkpoint"
# Version 2: a transformer recipe other than GPT-2's (model_config fields that version 1 readers
# would drop, building the wrong model) or resume counters they cannot read. A file that needs
# neither is still written as version 1, so an older seqgen keeps reading it. Version 3: a
# transformer trained with --pin-header, which a version 2 reader would sample without its header
# lines kept (the weights load, the windows are not the ones it was trained on).
FORMAT_VERSION = 3
READS = (1, 2, 3)
# Counters a version 1 reader does not know (it fails on them).
NEW_COUNTERS = ("warm_step", "warm_s")
# What last.pt must hold to be resumed (older or edited files may lack it).
RESUME_KEYS = ("counters", "rng", "data_position", "optimizer")

StateDict = dict[str, Any]  # a module's or optimizer's state_dict: tensors and plain values
RngState = dict[str, Any]  # runstate.rng_state(): every random stream of one process


@dataclass(frozen=True)
class DataInfo:
    """The dataset a model was trained on."""

    name: str
    kind: str  # text, abc or midi
    path: str  # absolute, as the run saw it

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "path": self.path}


@dataclass
class ResumeState:
    """What last.pt adds to a checkpoint so that a resumed run continues exactly: the optimizer,
    the counters, and every process's random streams and position in the training data."""

    optimizer: StateDict
    counters: Counters
    rng: RngState  # rank 0's
    data_position: torch.Tensor  # rank 0's BatchSampler state
    # Every rank's, written only when several processes trained (else rank 0's above is all).
    rngs: list[RngState] | None = None
    data_positions: list[torch.Tensor] | None = None

    def of_rank(self, rank: int) -> tuple[RngState, torch.Tensor] | None:
        """The random streams and data position of `rank`; None when the run had no such rank."""
        rngs = self.rngs or [self.rng]
        positions = self.data_positions or [self.data_position]
        return (rngs[rank], positions[rank]) if rank < len(positions) else None

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "optimizer": self.optimizer,
            "counters": self.counters.to_dict(),
            "rng": self.rng,
            "data_position": self.data_position,
        }
        if self.rngs is not None and self.data_positions is not None:
            out.update(rngs=self.rngs, data_positions=self.data_positions)
        return out

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> ResumeState:
        return cls(
            optimizer=d["optimizer"],
            counters=Counters.from_dict(d["counters"]),
            rng=d["rng"],
            data_position=d["data_position"],
            rngs=d.get("rngs") or None,
            data_positions=d.get("data_positions") or None,
        )


@dataclass
class Checkpoint:
    """One checkpoint file: the model, how to rebuild it, and where its run stood. best.pt has
    no `resume`; last.pt has one."""

    model_type: str  # a name in the model registry
    model_config: dict[str, Any]  # config.to_dict of the model's config
    train_config: dict[str, Any]  # config.to_dict of the run's TrainConfig
    tokenizer: dict[str, Any]  # the tokenizer's own to_dict()
    data: DataInfo
    model: StateDict
    step: int
    best_val_loss: float
    val_loss: float
    elapsed_s: float
    tokens_seen: int
    seqgen_version: str = __version__
    resume: ResumeState | None = None

    @classmethod
    def of_run(
        cls, cfg: TrainConfig, model_cfg: ModelConfig, dataset: Dataset, model: nn.Module, state: Counters
    ) -> Checkpoint:
        """A run's checkpoint now: its configs, the dataset's description, the weights, the counters."""
        return cls(
            seqgen_version=__version__,
            model_type=cfg.model,
            model_config=to_dict(model_cfg),
            train_config=to_dict(cfg),
            tokenizer=dataset.tokenizer.to_dict(),
            data=DataInfo(dataset.name, dataset.kind, str(dataset.path.resolve())),
            model=model.state_dict(),
            step=state.step,
            best_val_loss=state.best_val,
            val_loss=state.val,
            elapsed_s=state.elapsed_s,
            tokens_seen=state.tokens,
        )

    @property
    def format_version(self) -> int:
        """The oldest version whose reader reads the file right (see FORMAT_VERSION)."""
        if self.model_config.get("pin_header"):
            return 3
        recipe = set(self.model_config) & set(TransformerConfig.LEGACY)  # present only where not GPT-2's
        counters = self.resume.counters.to_dict() if self.resume is not None else {}
        new_counters = set(counters) & set(NEW_COUNTERS)
        return 2 if recipe or new_counters else 1

    @property
    def block_size(self) -> int:
        return int(self.model_config["block_size"])

    def to_payload(self) -> dict[str, Any]:
        """The dict written to disk (key order as format version 1 wrote it)."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "seqgen_version": self.seqgen_version,
            "model_type": self.model_type,
            "model_config": self.model_config,
            "train_config": self.train_config,
            "tokenizer": self.tokenizer,
            "data": self.data.to_dict(),
            "model": self.model,
            "step": self.step,
            "best_val_loss": self.best_val_loss,
            "val_loss": self.val_loss,
            "elapsed_s": self.elapsed_s,
            "tokens_seen": self.tokens_seen,
            **(self.resume.to_payload() if self.resume is not None else {}),
        }

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> Checkpoint:
        """Raises KeyError or TypeError where the dict lacks what a checkpoint holds."""
        data = d["data"]
        return cls(
            model_type=d["model_type"],
            model_config=d["model_config"],
            train_config=d.get("train_config", {}),
            tokenizer=d["tokenizer"],
            data=DataInfo(str(data.get("name")), str(data.get("kind")), str(data.get("path", ""))),
            model=d["model"],
            step=d["step"],
            best_val_loss=d["best_val_loss"],
            val_loss=d["val_loss"],
            elapsed_s=d["elapsed_s"],
            tokens_seen=d["tokens_seen"],
            seqgen_version=d.get("seqgen_version", "-"),
            resume=_legacy_warm_end(ResumeState.from_payload(d), d)
            if all(k in d for k in RESUME_KEYS)
            else None,
        )

    def save(self, path: Path) -> None:
        """Write atomically: a temp file in the same directory, fsync, then rename over `path`, so
        a kill at any instant leaves either the old checkpoint or the new one, never a torn file."""
        # Serialize in memory first: torch's zip writer reports a failed write (a full disk) as a
        # RuntimeError, while a plain file write raises the OSError that becomes a clear message.
        buffer = io.BytesIO()
        torch.save(self.to_payload(), buffer)
        atomic_write(path, lambda f: f.write(buffer.getbuffer()))

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Load and check a checkpoint file (see `load_checkpoint`)."""
        payload = load_checkpoint(path)
        try:
            return cls.from_payload(payload)
        except (KeyError, TypeError, AttributeError) as e:
            what = f"{type(e).__name__}: {e}"
            raise SeqgenError(f"{path} is not a complete seqgen checkpoint ({what})") from None


def _legacy_warm_end(resume: ResumeState, d: dict[str, Any]) -> ResumeState:
    """A last.pt written between the warm-end fix and format 2 kept where the warm-up ended as a
    share of its budget (`warm_end`): the same point as a (step, seconds) mark of that budget."""
    share, c = d["counters"].get("warm_end"), resume.counters
    if isinstance(share, int | float) and c.warm_step is None:
        train = d.get("train_config", {})
        iters, minutes = train.get("max_iters"), train.get("max_time")
        c.warm_step = round(share * iters) if iters else 0
        c.warm_s = share * minutes * 60 if minutes else 0.0
    return resume


def load_resumable(path: Path) -> Checkpoint:
    """A last.pt that holds everything an exact resume needs, or an error that says what is missing."""
    payload = load_checkpoint(path)
    missing = [k for k in RESUME_KEYS if k not in payload]
    if missing:
        raise SeqgenError(
            f"{path} holds no resume state ({', '.join(missing)} missing; it was written by "
            f"an older seqgen or edited); start a new run, or sample from it with seqgen sample {path.parent}"
        )
    return Checkpoint.from_payload(payload)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checked payload dict of a checkpoint file, as it lies on disk (readers want
    `Checkpoint.load`); never unpickles arbitrary objects (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise SeqgenError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive
        what = "is empty" if not magic else "is not a checkpoint file (torch.save writes a zip archive)"
        raise SeqgenError(f"{path} {what}; give a run directory such as checkpoints/RUN or its best.pt")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = (
            f"it would import {found.group(1)}"
            if found
            else "it holds objects other than tensors and plain data"
        )
        raise SeqgenError(f"refusing to load {path}: {what}; only load checkpoints you trust") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise SeqgenError(f"{path} is not a readable checkpoint (truncated or corrupt: {why})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SeqgenError(f"{path} is not a seqgen checkpoint")
    if ckpt.get("format_version") not in READS:
        found = ckpt.get("format_version")
        newer = isinstance(found, int) and found > FORMAT_VERSION
        raise SeqgenError(
            f"{path} has checkpoint format {found}; this seqgen reads "
            f"{', '.join(map(str, READS[:-1]))} and {READS[-1]}"
            + ("; a newer seqgen wrote it: upgrade this one to read it" if newer else "")
        )
    return ckpt


def load_model(
    path: Path, device: torch.device | str = "cpu"
) -> tuple[SequenceModel, Tokenizer[Any], Checkpoint]:
    """Rebuild (model in eval mode, tokenizer, checkpoint) from a checkpoint file."""
    payload = load_checkpoint(path)
    if payload.get("model_type") not in MODELS:
        raise SeqgenError(
            f"{path} holds a model of unknown type {payload.get('model_type')!r}; "
            f"this seqgen has {', '.join(MODELS)}"
        )
    try:
        ckpt = Checkpoint.from_payload(payload)
        cfg = config_from_dict(ckpt.model_type, ckpt.model_config)
        model = build_model(ckpt.model_type, cfg)
        model.load_state_dict(ckpt.model)
        tokenizer = tokenizer_from_dict(ckpt.tokenizer)
    except (KeyError, RuntimeError, TypeError, SeqgenError) as e:
        lines = [x.strip() for x in str(e).splitlines() if x.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__)[:160]
        raise SeqgenError(f"{path} does not match this seqgen's models ({detail})") from None
    if tokenizer.vocab_size != cfg.vocab_size:
        raise SeqgenError(
            f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model expects "
            f"{cfg.vocab_size}; the checkpoint is inconsistent"
        )
    model.to(device).eval()
    return model, tokenizer, ckpt

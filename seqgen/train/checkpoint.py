"""The only code that reads or writes checkpoint files.

Owns: the checkpoint format (a dict of tensors and plain JSON-like values, loadable with
`torch.load(weights_only=True)`: model weights, model and training config, tokenizer, data
description, counters, and for `last.pt` the optimizer state), atomic writes, finding a run's
checkpoint, and rebuilding a model from one. Knows nothing about training loops or sampling.

A run directory holds: best.pt (lowest val loss), last.pt (latest, with optimizer state),
config.json (human-readable copy of the configs) and metrics.jsonl.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from seqgen.datasets.tokenizers import tokenizer_from_dict
from seqgen.errors import SeqgenError
from seqgen.files import atomic_write, atomic_write_text
from seqgen.models import MODELS, build_model, config_from_dict

FORMAT = "seqgen-checkpoint"
FORMAT_VERSION = 1
BEST = "best.pt"
LAST = "last.pt"
CONFIG = "config.json"
CONFIG_TOML = "config.toml"  # the same settings as a file `seqgen train --config` reads
METRICS = "metrics.jsonl"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a temp file in the same directory, fsync, then rename over `path`, so a
    kill at any instant leaves either the old checkpoint or the new one, never a torn file."""
    # Serialize in memory first: torch's zip writer reports a failed write (a full disk) as a
    # RuntimeError, while a plain file write raises the OSError that becomes a clear message.
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and check a checkpoint; never unpickles arbitrary objects (weights_only=True)."""
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
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise SeqgenError(
            f"{path} has checkpoint format {ckpt.get('format_version')}; this seqgen reads {FORMAT_VERSION}"
        )
    return ckpt


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
        for name in (BEST, LAST):
            if (target / name).is_file():
                return target / name
        raise SeqgenError(f"{target} holds no checkpoint ({BEST} or {LAST}); is it a seqgen run directory?")
    if not target.exists():
        raise SeqgenError(f"{target} does not exist; give a run directory such as checkpoints/RUN")
    return target


def load_model(path: Path, device: torch.device | str = "cpu"):
    """Rebuild (model in eval mode, tokenizer, checkpoint dict) from a checkpoint file."""
    ckpt = load_checkpoint(path)
    if ckpt.get("model_type") not in MODELS:
        raise SeqgenError(
            f"{path} holds a model of unknown type {ckpt.get('model_type')!r}; "
            f"this seqgen has {', '.join(MODELS)}"
        )
    try:
        cfg = config_from_dict(ckpt["model_type"], ckpt["model_config"])
        model = build_model(ckpt["model_type"], cfg)
        model.load_state_dict(ckpt["model"])
        tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
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


def resolve_run(target: str | Path, out_dir: str | Path = "checkpoints") -> Path:
    """The run directory to resume: a path, or a run name under `out_dir`; it must hold last.pt."""
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
    return path

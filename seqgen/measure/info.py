"""What a checkpoint or a prepared dataset holds, as one flat summary (`seqgen info`).

Owns: choosing and naming the facts worth showing about a dataset (kind, sizes, split, tokenizer,
sources) and a checkpoint (model, shape, how long the run trained, best val loss, optimizer
settings, data). Reads through `store`, `checkpoint` and `rundir`; formats nothing for a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def dataset_info(path: Path) -> dict[str, Any]:
    """What the dataset at `path` holds: kind, token counts, split, tokenizer, sources."""
    from seqgen.datasets.store import open_dataset

    ds = open_dataset(path)
    meta = ds.meta
    counts = {k: v for k, v in meta.get("counts", {}).items() if not isinstance(v, dict | list)}
    sources = meta.get("sources", [])
    return {
        "title": f"dataset {path}",
        "name": ds.name,
        "kind": ds.kind,
        "tokens": {"train": len(ds.train), "val": len(ds.val)},
        "counts": counts,
        "split": meta.get("split", {}),
        "tokenizer": ds.tokenizer.summary(),
        "sources": f"{len(sources)} file(s)" + (f", e.g. {sources[0]}" if sources else ""),
        "created": meta.get("created", "-"),
    }


def checkpoint_info(target: Path) -> dict[str, Any]:
    """The model of `target` (a run's best.pt, or the file given) and, from the run's last.pt, how
    long the whole run trained."""
    from seqgen.models import count_parameters
    from seqgen.train.checkpoint import Checkpoint, load_model
    from seqgen.train.rundir import BEST, RunDir, resolve_checkpoint

    path = resolve_checkpoint(target)
    model, tokenizer, ckpt = load_model(path)
    run = RunDir(path.parent)
    last = ckpt
    if path.name == BEST and run.last.is_file():
        last = Checkpoint.load(run.last)
    cfg, shape = ckpt.train_config, ckpt.model_config
    evaluations = len(run.evaluations(strict=False)) if run.metrics.is_file() else 0
    return {
        "title": f"checkpoint {path}",
        "model": ckpt.model_type,
        "parameters": count_parameters(model),
        "shape": {
            k: shape.get(k) for k in ("n_layer", "n_head", "n_embd", "hidden_size", "block_size", "dropout")
        },
        "trained": {
            "steps": last.step,
            "minutes": round(last.elapsed_s / 60, 2),
            "tokens_seen": last.tokens_seen,
            "evaluations": evaluations,
        },
        "best_val_loss": ckpt.best_val_loss,
        "this_checkpoint": {"step": ckpt.step, "val_loss": ckpt.val_loss},
        "optimizer": {
            "learning_rate": cfg.get("learning_rate"),
            "batch_size": cfg.get("batch_size"),
            "weight_decay": cfg.get("weight_decay"),
            "seed": cfg.get("seed"),
        },
        "data": f"{ckpt.data.name} ({ckpt.data.kind}) at {ckpt.data.path}",
        "tokenizer": tokenizer.summary(),
        "seqgen_version": ckpt.seqgen_version,
    }

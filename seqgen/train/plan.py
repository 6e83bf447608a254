"""What a training run is about to do, before it starts: a new run, or one being resumed.

Owns: `RunPlan` (run directory, configs, dataset, the checkpoint a resumed run continues, and what
the user changed on resume) and `plan_new_run` (the configs of a new run from the options given,
its name, and the refusal of a run directory that exists). Knows nothing about the loop, and
prints nothing; `resume.open_resume` makes the plan of a resumed run.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqgen.config import MODEL_SHAPE_KEYS, ModelConfig, TrainConfig
from seqgen.datasets.store import Dataset
from seqgen.errors import SeqgenError
from seqgen.models import model_config
from seqgen.train.checkpoint import Checkpoint


@dataclass
class RunPlan:
    run_dir: Path
    cfg: TrainConfig
    model_cfg: ModelConfig
    dataset: Dataset
    resume: Checkpoint | None = None  # the last.pt a resumed run continues
    changes: list[str] = field(default_factory=list)  # settings a resume changed, as readable lines


def plan_new_run(options: dict[str, Any], dataset: Dataset, check_exists: bool = True) -> RunPlan:
    """A new run of `options["model"]` on `dataset`: `options` are the settings by field name (the
    model's shape and the TrainConfig fields; None: the default). Its name is `options["run"]`, else
    DATA-MODEL-TIME. `check_exists`: refuse a run directory that exists (under torchrun only rank 0
    checks; it may already have made it)."""
    model = options.get("model") or dataset.data_kind.default_model
    options = {**options, "model": model}
    kind_defaults = dataset.data_kind.model_defaults.get(model, {})
    shape = {k: options[k] if options.get(k) is not None else kind_defaults.get(k) for k in MODEL_SHAPE_KEYS}
    # The kind's batch size goes with its context (the same tokens per step): only where both
    # are the kind's.
    own = options.get("batch_size") is None and options.get("block_size") is None
    if own and "batch_size" in kind_defaults:
        shape["batch_size"] = kind_defaults["batch_size"]
    mcfg = model_config(model, vocab_size=dataset.tokenizer.vocab_size, **shape)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    out_dir = Path(options.get("out_dir") or TrainConfig.out_dir)
    run = options.get("run")
    settings = {k: v for k, v in options.items() if k in names}
    cfg = TrainConfig(**{**settings, "data": str(dataset.path), "run": run or "", "out_dir": str(out_dir)})
    cfg.run = run or _free_name(out_dir, f"{dataset.name}-{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = out_dir / cfg.run
    if check_exists and run_dir.exists():
        raise SeqgenError(f"{run_dir} already exists; pick another --run, or continue it with --resume")
    return RunPlan(run_dir, cfg, mcfg, dataset)


def _free_name(out_dir: Path, name: str) -> str:
    """`name`, or `name-2`, `name-3`, ... when runs started in the same second already took it."""
    candidate, n = name, 1
    while (out_dir / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate

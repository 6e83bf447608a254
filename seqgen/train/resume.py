"""Resuming a stopped run, in one place.

Owns: which options a resumed run may change (`RESUME_MAY_CHANGE`), the resumed run's configs
(`resume_configs`), opening a run to resume (`open_resume`: its last.pt, configs and dataset,
checked against each other) and putting last.pt's state back into a model, an optimizer and a
batch sampler (`restore`). Knows nothing about the loop that then continues, or about the
command line (its caller passes the options the user gave).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from seqgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from seqgen.datasets.batches import BatchSampler
from seqgen.datasets.kinds import kind_named
from seqgen.errors import SeqgenError
from seqgen.models import config_from_dict
from seqgen.train.checkpoint import Checkpoint, load_resumable
from seqgen.train.plan import RunPlan
from seqgen.train.rundir import resolve_run
from seqgen.train.runstate import Counters, set_rng_state

# Options a resumed run may change: its budget, how often it evaluates and saves, when it stops
# early, where it runs, and (after a divergence) the learning rate and clipping. Everything else
# (model shape, batch, data, seed, optimizer) must match the run, or the resume would not continue
# the same experiment.
RESUME_MAY_CHANGE = frozenset(
    {
        "max_iters",
        "max_time",
        "eval_interval",
        "eval_iters",
        "checkpoint_every",
        "patience",
        "device",
        "precision",
        "compile",
        "learning_rate",
        "grad_clip",
        "grad_accum",
        "data",
        "out_dir",
    }
)


def resume_configs(
    model_type: str, train: dict[str, Any], model: dict[str, Any], given: dict[str, Any]
) -> tuple[TrainConfig, ModelConfig, list[str]]:
    """The configs of a resumed run: the saved ones, with the options the user `given` on the
    command line applied where they may change (RESUME_MAY_CHANGE) and refused where they
    contradict the run. Returns (train config, model config, the changes as readable lines)."""
    given = dict(given)
    if "model" in given and given.pop("model") != model_type:
        raise SeqgenError(f"--model does not match the run being resumed (a {model_type}); drop --model")
    tcfg = from_dict(TrainConfig, train)
    if "windows" not in train:  # a run from before window placement: it drew random windows
        tcfg.windows = "random"
    mcfg = config_from_dict(model_type, model)
    changes = []
    if "max_iters" in given or "max_time" in given:
        # A new budget replaces the old one (both are totals for the whole run).
        tcfg.max_iters, tcfg.max_time = given.pop("max_iters", None), given.pop("max_time", None)
        changes.append(f"budget: {_budget(train)} -> {_budget(to_dict(tcfg))}")
    for name, value in given.items():
        # A field of the config, not a key of the saved dict: a recipe field equal to GPT-2's is
        # left out of the file, yet the run has it.
        target = tcfg if _has(tcfg, name) else mcfg if _has(mcfg, name) else None
        flag = "--" + name.replace("_", "-")
        if target is None:
            raise SeqgenError(f"{flag} does not apply to the {model_type} run being resumed; drop it")
        old = getattr(target, name)
        if value == old:
            continue
        if name not in RESUME_MAY_CHANGE:
            raise SeqgenError(
                f"{flag} {value} contradicts the run being resumed ({flag} {old}); drop it to continue "
                "the run, or start a new run without --resume"
            )
        setattr(target, name, value)
        if name != "data":
            changes.append(f"{flag}: {old} -> {value}")
    tcfg.__post_init__()
    return tcfg, mcfg, changes


def _has(cfg: Any, name: str) -> bool:
    return name in {f.name for f in dataclasses.fields(cfg)}


def _budget(train: dict[str, Any]) -> str:
    parts = []
    if train.get("max_iters"):
        parts.append(f"{train['max_iters']} steps")
    if train.get("max_time"):
        parts.append(f"{train['max_time']:g} min")
    return " or ".join(parts) or "none"


def open_resume(target: str, out_dir: Path, given: dict[str, Any]) -> RunPlan:
    """The run to continue (a run directory, or a run name under `out_dir`), its last.pt, and its
    configs with the settings the user `given` (option name -> value) applied; its dataset
    (`given["data"]`, else the saved one) must have the run's vocabulary."""
    from seqgen.datasets.store import open_dataset

    run_dir = resolve_run(target, out_dir).path
    ckpt = load_resumable(run_dir / "last.pt")
    given = dict(given)
    if "run" in given and given.pop("run") != run_dir.name:
        raise SeqgenError("--run does not apply with --resume (the run is the one being resumed); drop it")
    given.pop("out_dir", None)
    if "data" in given:
        given["data"] = str(given["data"])
    cfg, mcfg, changes = resume_configs(ckpt.model_type, ckpt.train_config, ckpt.model_config, given)
    data = Path(cfg.data)
    if "data" not in given and not (data / "meta.json").is_file():
        data = Path(ckpt.data.path)  # the run was started from another directory
        if not (data / "meta.json").is_file():
            raise SeqgenError(
                f"the dataset of {run_dir} ({cfg.data}) is gone; give --data DIR with the same vocabulary"
            )
    dataset = open_dataset(data)
    if dataset.tokenizer.to_dict() != ckpt.tokenizer or dataset.data_kind is not kind_named(ckpt.data.kind):
        raise SeqgenError(
            f"{data} does not match the run being resumed: its vocabulary has "
            f"{dataset.tokenizer.vocab_size} {dataset.kind} tokens, the model was trained on a different "
            f"one; resume with the run's dataset ({ckpt.data.path})"
        )
    cfg.data = str(data)
    return RunPlan(run_dir, cfg, mcfg, dataset, ckpt, changes)


def restore(
    ckpt: Checkpoint,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: BatchSampler,
    rank: int,
    rank_seed: int,
) -> Counters:
    """Put last.pt's weights, optimizer state, and this rank's random streams and data position
    back; returns the run's counters. A rank the run did not have (resumed on more processes)
    starts fresh streams from its seed and the step."""
    if ckpt.resume is None:
        raise SeqgenError("a run resumes from its last.pt, which holds the resume state")
    model.load_state_dict(ckpt.model)
    optimizer.load_state_dict(ckpt.resume.optimizer)
    counters = dataclasses.replace(ckpt.resume.counters)
    own = ckpt.resume.of_rank(rank)
    if own is not None:
        set_rng_state(own[0])
        batches.set_state(own[1])
    else:
        torch.manual_seed(rank_seed + counters.step)
        batches.generator.manual_seed(rank_seed + counters.step)
    return counters

"""Sequence models behind one contract, and the one registry that names and builds them.

Every model is a `SequenceModel` (models/base.py) with
    forward(idx (B, T) int64, state=None) -> (logits (B, T, vocab) , state)
    init_state(batch_size, device) -> the empty state for incremental decoding
    context_limit: int | None   -- the longest context it can see (None: unbounded, e.g. an RNN)
so the trainer and the sampler never ask which architecture they hold. A new architecture is one
module, one config dataclass in `seqgen.config` (its defaults) and one entry in MODELS. Models know
nothing about tokenizers, datasets or files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from seqgen.config import LSTMConfig, ModelConfig, TransformerConfig, from_dict
from seqgen.errors import SeqgenError
from seqgen.models.base import SequenceModel
from seqgen.models.lstm import LSTM
from seqgen.models.transformer import Transformer


@dataclass(frozen=True)
class ModelSpec:
    module: type[SequenceModel]
    config: type[TransformerConfig] | type[LSTMConfig]


MODELS: dict[str, ModelSpec] = {
    "transformer": ModelSpec(Transformer, TransformerConfig),
    "lstm": ModelSpec(LSTM, LSTMConfig),
}


def model_config(model: str, **overrides: Any) -> ModelConfig:
    """Build the config of `model`, refusing options that do not apply to it (None: not given)."""
    if model not in MODELS:
        raise SeqgenError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    cls = MODELS[model].config
    names = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in overrides.items() if v is not None}
    wrong = sorted(k for k in given if k not in names)
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise SeqgenError(f"{flags} does not apply to the {model} model; drop it or pick another --model")
    return cls(**given)


def config_from_dict(name: str, d: dict[str, Any]) -> ModelConfig:
    """The config of a `name` model from its saved dict (keys it does not know are ignored)."""
    cfg: ModelConfig = from_dict(MODELS[name].config, d)
    return cfg


def build_model(name: str, cfg: ModelConfig) -> SequenceModel:
    return MODELS[name].module(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "MODELS",
    "ModelSpec",
    "SequenceModel",
    "build_model",
    "config_from_dict",
    "count_parameters",
    "model_config",
]

"""Sequence models behind one contract, and the registry that builds them.

Every model is an `nn.Module` with
    forward(idx (B, T) int64, state=None) -> (logits (B, T, vocab) , state)
    init_state(batch_size, device) -> the empty state for incremental decoding
    context_limit: int | None   -- the longest context it can see (None: unbounded, e.g. an RNN)
so the trainer and the sampler never ask which architecture they hold. A new architecture is one
module plus one entry in MODELS. Models know nothing about tokenizers, datasets or files.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from seqgen.config import LSTMConfig, TransformerConfig, from_dict, model_config
from seqgen.models.lstm import LSTM
from seqgen.models.transformer import Transformer

MODELS: dict[str, tuple[type, type]] = {
    "transformer": (Transformer, TransformerConfig),
    "lstm": (LSTM, LSTMConfig),
}


def build_model(name: str, cfg: Any) -> nn.Module:
    cls, _ = MODELS[name]
    return cls(cfg)


def config_from_dict(name: str, d: dict[str, Any]):
    _, cfg_cls = MODELS[name]
    return from_dict(cfg_cls, d)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "build_model", "config_from_dict", "count_parameters", "model_config"]

"""The contract every sequence model keeps, as a base class the trainer and the sampler can name.

Owns: `SequenceModel`, an `nn.Module` with
    forward(idx (B, T) int64, state=None) -> (logits (B, T, vocab), state)
    init_state(batch_size, device) -> the empty state for incremental decoding
    context_limit: int | None  -- the longest context it can see (None: unbounded, e.g. an RNN)
Knows nothing about any one architecture, tokenizers, datasets or files.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


class SequenceModel(nn.Module):
    """Base of every model in the registry; subclasses set `context_limit` and implement both methods."""

    context_limit: int | None = None

    def init_state(self, batch_size: int, device: torch.device) -> Any:
        """The state to pass to the first incremental `forward` (None: the model starts from zeros)."""
        raise NotImplementedError

    def forward(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

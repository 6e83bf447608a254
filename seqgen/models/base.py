"""The contract every sequence model keeps, as a base class the trainer and the sampler can name.

Owns: `SequenceModel`, an `nn.Module` with
    forward(idx (B, T) int64, state=None) -> (logits (B, T, vocab), state)
    init_state(batch_size, device, rolling=False) -> the empty state for incremental decoding
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
    # The state `forward` returns can be fed back for the next window of the same stream (an RNN):
    # training then carries it from window to window, as sampling carries it from token to token.
    carries_state: bool = False
    # A model that keeps its document's header lines in front of every window, in training and when
    # decoding past its context (`--pin-header`; see `seqgen.datasets.batches.pinned`).
    pins_header: bool = False

    @property
    def rolls(self) -> bool:
        """Whether decoding past `context_limit` may keep a rolling state (the oldest token's part
        dropped as each new one comes) instead of re-encoding a window: rotary transformers."""
        return False

    def init_state(self, batch_size: int, device: torch.device, rolling: bool = False) -> Any:
        """The state to pass to the first incremental `forward` (None: the model starts from zeros);
        `rolling`: one that rolls past the context, where the model `rolls`."""
        raise NotImplementedError

    def stream_state(self, batch_size: int, device: torch.device) -> Any:
        """The state a training stream starts from, where the model `carries_state` (None: zeros,
        which `forward` reads as its start)."""
        return None

    def forward(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def restart_rows(self, state: Any, rows: torch.Tensor) -> Any:
        """`state` with the batch rows where `rows` (B,) is True set back to the start (a model
        that `carries_state` reading a new document in those rows)."""
        raise NotImplementedError(f"{type(self).__name__} does not carry a state between windows")

"""The model as the trainer drives it.

Owns: building the model on its device from the seed, wrapping it for several processes (DDP)
and in `torch.compile` where that pays, the loss of a batch under autocast, and the backward
pass, with a compile failure turned into one line that names the way out. Knows nothing about
the optimizer, the data or the loop.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from seqgen.config import ModelConfig, TrainConfig
from seqgen.device import autocast, resolve_compile
from seqgen.errors import SeqgenError
from seqgen.models import build_model
from seqgen.train.distributed import Dist


class ModelRunner:
    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        device: torch.device,
        amp: torch.dtype | None,
        dist: Dist,
        rank_seed: int,
    ) -> None:
        """Build the model from `cfg.seed`; every rank but 0 then reseeds to its own `rank_seed`
        (dropout masks of its own; rank 0 keeps the seed's stream)."""
        self.device, self.amp_dtype = device, amp
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, model_cfg).to(device)
        # DDP (several processes) and the compiled module share the model's parameters;
        # checkpoints always save `self.model`.
        self.ddp: Any = None
        if dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)  # broadcasts rank 0's weights
        if dist.rank:
            torch.manual_seed(rank_seed)
        self.compiled = resolve_compile(cfg.compile, device)
        wrapped = self.ddp or self.model
        self.forward = torch.compile(wrapped) if self.compiled else wrapped

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_and_state(x, y)[0]

    def loss_and_state(
        self, x: torch.Tensor, y: torch.Tensor, state: Any = None, eos: int | None = None
    ) -> tuple[torch.Tensor, Any]:
        """The batch's loss, starting from `state` (None: zeros), and the state it ends in,
        detached: the next window of the same streams starts from it (truncated BPTT). With
        `eos`, rows whose window opens with it start a new document, from zeros."""
        if state is None and eos is not None:
            state = self.model.stream_state(x.size(0), x.device)
        if state is not None and eos is not None:
            state = self.model.restart_rows(state, x[:, 0] == eos)
        with autocast(self.device, self.amp_dtype):
            logits, state = self._forward(x, state)
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        return loss, _detached(state)

    def _forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        args = (x,) if state is None else (x, state)  # a fresh window: the model starts from zeros
        if not self.compiled:
            return (self.ddp or self.model)(*args)
        try:
            return self.forward(*args)
        except Exception as e:
            self._raise_if_compile_failure(e)
            raise

    def backward(self, loss: torch.Tensor) -> None:
        try:
            loss.backward()  # a compiled model compiles its backward graph at the first call
        except Exception as e:
            self._raise_if_compile_failure(e)
            raise

    def _raise_if_compile_failure(self, e: Exception) -> None:
        """Turn a torch.compile failure (an exception from dynamo or inductor) into one line that
        names the way out; any other exception (out of memory, a bad input) is left alone."""
        if not self.compiled or not type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
            return
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise SeqgenError(
            f"torch.compile failed on this machine ({type(e).__name__}: {first}); "
            "train without it: --compile off"
        ) from e


def _detached(state: Any) -> Any:
    """A model state (a tensor, or tuples/lists of them) cut from the graph that made it."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if callable(getattr(state, "detached", None)):  # a state object that knows its tensors
        return state.detached()
    if isinstance(state, tuple | list):
        return type(state)(_detached(s) for s in state)
    return state

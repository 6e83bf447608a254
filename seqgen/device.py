"""Where and in what precision tensors live: device choice, autocast dtype, the autocast context.

Owns: `resolve_device`, `resolve_precision`, `autocast`. Shared by the trainer and the sampler;
imports nothing from seqgen but the error type.
"""

from __future__ import annotations

import contextlib

import torch

from seqgen.errors import SeqgenError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when a GPU is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SeqgenError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise SeqgenError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. 'auto' is bf16 on CUDA, fp32 on CPU."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)

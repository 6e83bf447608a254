"""Where and in what precision tensors live: device choice, autocast dtype, the autocast context.

Owns: `resolve_device`, `resolve_precision`, `resolve_compile`, `autocast`. Shared by the trainer and
the sampler; imports nothing from seqgen but the error type.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import torch

from seqgen.errors import SeqgenError

# Measured on a 2-core AVX-512 CPU at the default model shape (BENCHMARKS.md): see resolve_compile.
COMPILE_PAYS_ON_CPU = False


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when a GPU is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SeqgenError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise SeqgenError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later): the matrix unit that makes
    bf16 matmuls many times faster than fp32 ones. Without it (AVX-512 alone, even with
    avx512_bf16), bf16 autocast measured about 2x slower than fp32 (BENCHMARKS.md)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe and probe())
    except RuntimeError:
        return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. 'auto' is bf16 on a CUDA GPU that supports it
    and on a CPU with AMX, fp32 elsewhere."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cpu" and cpu_has_amx():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_compile(name: str, device: torch.device) -> bool:
    """Whether to run the model through `torch.compile`. 'auto': on CUDA; on the CPU only when a C++
    compiler is there (inductor needs one) and the compiled step measured faster (BENCHMARKS.md)."""
    if name == "off":
        return False
    if name == "on":
        return True
    if device.type == "cuda":
        return True
    return COMPILE_PAYS_ON_CPU and shutil.which(os.environ.get("CXX", "g++")) is not None

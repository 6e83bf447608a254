"""Many processes, one model: the torch.distributed side of training (DDP launched by torchrun).

Owns: reading and checking the launch environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT), choosing the backend (NCCL on CUDA, gloo on the CPU), the device of
each process, and the few collective operations the trainer needs so that every rank takes the
same decisions (averages, maxima, gathering small objects). A single process without torchrun is
`Dist()`: world size 1, and every operation is a no-op. Knows nothing about models or files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from seqgen.errors import SeqgenError

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, metrics and the progress bar."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def max_(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise maximum over ranks (one collective for several decisions)."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    def any_(self, flag: bool, device: torch.device | None = None) -> bool:
        """Whether `flag` holds on any rank. Every rank calls it at the same point: a failure one
        rank sees then stops all of them, instead of leaving the others waiting in a collective."""
        return bool(self.max_([float(flag)], device or torch.device("cpu"))[0])

    def mean(self, value: float, device: torch.device) -> float:
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.item() / self.world

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting its variables)."""
    return any(v in os.environ for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def rank_from_env() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def init(device_name: str) -> tuple[Dist, str]:
    """Join the process group torchrun set up; returns (Dist, the device name for this rank).

    Without torchrun this is Dist() and `device_name` unchanged."""
    if not launched():
        return Dist(), device_name
    missing = [v for v in LAUNCH_VARS if v not in os.environ]
    if missing:
        raise SeqgenError(
            f"the launch environment is incomplete ({', '.join(missing)} not set); start distributed "
            "training with torchrun, e.g. torchrun --nproc_per_node=2 -m seqgen train ..."
        )
    try:
        rank, world, local = (int(os.environ[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise SeqgenError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; start with torchrun") from None
    if not (world >= 1 and 0 <= rank < world and 0 <= local <= rank):
        raise SeqgenError(
            f"inconsistent launch environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}; "
            "start with torchrun"
        )
    cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise SeqgenError(
                "--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto"
            )
        if local >= torch.cuda.device_count():
            raise SeqgenError(
                f"LOCAL_RANK {local} has no GPU: this machine shows {torch.cuda.device_count()}; "
                "give --nproc_per_node at most that many"
            )
        torch.cuda.set_device(local)
    # gloo for CPU tensors and, where a GPU is visible, NCCL for CUDA tensors: the run's own device
    # (a resumed run keeps the device it was started on) picks which one carries its collectives.
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local), (f"cuda:{local}" if cuda else "cpu")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

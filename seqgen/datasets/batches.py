"""Training windows drawn from a dataset split: random (x, y) pairs of token ids as tensors.

Owns: `BatchSampler`, its seeded random stream (saved in checkpoints so a resumed run draws the
same windows) and the gather from the memory-mapped split. Knows nothing about files or models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seqgen.errors import SeqgenError

if TYPE_CHECKING:  # torch is imported where batches are drawn: `seqgen prepare` never pays for it
    import torch


class BatchSampler:
    """Random (x, y) windows from one split: x = ids[i:i+T], y = ids[i+1:i+T+1].

    Indices come from a seeded CPU generator, so a run is reproducible; the gather is one NumPy
    fancy-index over the memmap (only the touched pages are read).
    """

    def __init__(self, data: np.ndarray, batch_size: int, block_size: int, seed: int, device: torch.device):
        if len(data) < 2:
            raise SeqgenError("a dataset split holds fewer than 2 tokens; prepare more data")
        self.data = data
        self.batch_size = batch_size
        self.block_size = min(block_size, len(data) - 1)
        self.device = device
        import torch

        self._torch = torch
        self.generator = torch.Generator().manual_seed(seed)
        self._offsets = np.arange(self.block_size + 1)

    def get_state(self) -> torch.Tensor:
        """The position in the random stream: restoring it makes `next` draw the same windows."""
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        hi = len(self.data) - self.block_size
        torch = self._torch
        ix = torch.randint(hi, (self.batch_size,), generator=self.generator).numpy()
        chunk = torch.from_numpy(self.data[ix[:, None] + self._offsets].astype(np.int64))  # (B, T+1)
        if self.device.type == "cuda":
            chunk = chunk.pin_memory().to(self.device, non_blocking=True)
        return chunk[:, :-1], chunk[:, 1:]

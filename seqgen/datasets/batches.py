"""Training windows drawn from a dataset split: (x, y) pairs of token ids as tensors.

Owns: `BatchSampler` and its three ways of placing windows (`WINDOWS`), its seeded random stream
and stream positions (saved in checkpoints so a resumed run draws the same windows), and the
gather from the memory-mapped split. Knows nothing about files or models.

- "random": anywhere in the concatenated split (text, where a document is the whole file);
- "tunes": at the start of a document (a tune, a MIDI piece; precisely, at the end-of-document
  id before it, where sampling starts), so the header (key, metre) that the
  tune's last bars must agree with is in view, and the end of the tune, where it returns home, is
  reached from its start. A window runs on into the next tune where the tune is shorter, so no
  batch is padded (a tune's own tokens never see the tune before it: the window starts at its
  start, and the causal mask hides the next one). A tune longer than the window is read from its
  start half of the time and from a random place inside it (ending no later than its end) the
  other half;
- "streams": `batch_size` streams, each reading one tune window by window, then the next tune: a
  model that carries a state (the LSTM's (h, c), a rotary transformer's memory of its last
  context) is trained as it samples, its state carried from one
  window to the next (truncated back-propagation through time) and started from zeros at each
  tune's start, as a sample starts. A window does not run on into the next tune: its targets past
  the tune's end are IGNORE, which the loss skips (the batch is padded there; the model is causal,
  so what fills the padding never reaches the targets before it).

With `pins` (a transformer trained with `--pin-header`), a "random" or "tunes" window whose start
lies past some of its document's header lines (ABC: `M:`, `L:`, `R:`, `K:`) keeps them in front of
it, after an end-of-document id, as its sampler keeps them once its window has moved past the
header (`pinned`); their targets are IGNORE (the window's own tokens follow them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seqgen.errors import SeqgenError

if TYPE_CHECKING:  # torch is imported where batches are drawn: `seqgen prepare` never pays for it
    import torch

WINDOWS = ("random", "tunes", "streams")
IGNORE = -100  # a target the loss skips (torch's cross-entropy ignore_index default)


def pinned(starts: np.ndarray, ends: np.ndarray, doc: int, start: int, cap: int) -> np.ndarray:
    """The positions a window starting at `start`, in the document whose end-of-document id is at
    `doc` (the first document: 0), keeps in front of it: the lines (`starts`, `ends` exclusive,
    in order) of that document that end by `start`, the last ones that fit in `cap` tokens with
    the end-of-document id that comes before them. Empty: nothing is kept."""
    lo = int(np.searchsorted(starts, doc, side="left"))
    hi = int(np.searchsorted(ends, start, side="right"))
    room, first = cap - 1, hi
    while first > lo and ends[first - 1] - starts[first - 1] <= room:
        first -= 1
        room -= int(ends[first] - starts[first])
    if first == hi:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(a, b) for a, b in zip(starts[first:hi], ends[first:hi], strict=True)])


def pin_cap(block_size: int) -> int:
    """The most tokens a window keeps in front of it (`pinned`, the end-of-document id included):
    a quarter of it (ABC's M:, L:, R: and K: lines are about 25 characters)."""
    return block_size // 4


def document_starts(data: np.ndarray, eos: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Where each document's windows start, and its last token (its end-of-document id).

    A window starts at the end-of-document id before the document (the first document: at 0),
    as a sample starts from that id: the model learns to open a tune from where sampling opens one.
    """
    if eos is None:
        return np.zeros(1, dtype=np.int64), np.array([len(data) - 1], dtype=np.int64)
    ends = np.flatnonzero(np.asarray(data) == eos).astype(np.int64)
    if len(ends) == 0 or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data) - 1)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    return starts, ends


class BatchSampler:
    """(x, y) windows from one split: x = ids[i:i+T], y = ids[i+1:i+T+1], i placed by `windows`.

    Indices come from a seeded CPU generator, so a run is reproducible; the gather is one NumPy
    fancy-index over the memmap (only the touched pages are read). `eos`: the end-of-document id
    ("tunes" and "streams" need it to find where documents start).
    """

    def __init__(
        self,
        data: np.ndarray,
        batch_size: int,
        block_size: int,
        seed: int,
        device: torch.device,
        windows: str = "random",
        eos: int | None = None,
        pins: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        if len(data) < 2:
            raise SeqgenError("a dataset split holds fewer than 2 tokens; prepare more data")
        if windows not in WINDOWS:
            raise SeqgenError(f"unknown --windows {windows!r}; choose one of: {', '.join(WINDOWS)}")
        self.data = data
        self.batch_size = batch_size
        self.block_size = min(block_size, len(data) - 1)
        self.device = device
        self.windows = windows
        import torch

        self._torch = torch
        self.generator = torch.Generator().manual_seed(seed)
        self._offsets = np.arange(self.block_size + 1)
        self._gen_state_size = len(self.generator.get_state())
        if windows != "random":
            if eos is None:
                raise SeqgenError(
                    f"--windows {windows} needs documents with an end, and this data has none (text): "
                    "use --windows random"
                )
            starts, ends = document_starts(data, eos)
            if windows == "tunes":
                # Documents whose window would run past the split's end are read inside the
                # windows of the documents before them (one at least is kept: the split's start).
                fits = starts <= len(data) - self.block_size - 1
                fits[0] = True
                starts, ends = starts[fits], ends[fits]
            self._starts, self._ends = starts, ends
        # Header lines kept in front of each window (`pinned`): their (starts, ends) in `data`.
        if pins is not None and (windows == "streams" or eos is None):
            raise SeqgenError("header lines are kept in front of random or tune windows of tunes only")
        self.pins = pins
        self.eos = eos
        if pins is not None:
            self._docs = document_starts(data, eos)[0]
        # "streams": where each stream reads next; set at the first draw.
        self._positions: np.ndarray | None = None

    # -- the position in the data, for checkpoints -------------------------------------------------
    def get_state(self) -> torch.Tensor:
        """The position in the random stream (and, for "streams", each stream's place): restoring
        it makes `next` draw the same windows."""
        state = self.generator.get_state()
        if self.windows == "streams" and self._positions is not None:
            pos = self._torch.from_numpy(self._positions.astype(np.int64).copy()).view(self._torch.uint8)
            state = self._torch.cat([state, pos])
        return state

    def set_state(self, state: torch.Tensor) -> None:
        """Restore `get_state`'s result; a state without stream places (an older run) starts the
        streams afresh from the restored random stream."""
        n = self._gen_state_size
        self.generator.set_state(state[:n].clone())
        self._positions = None
        if self.windows == "streams" and len(state) > n:
            pos = state[n:].clone().view(self._torch.int64).numpy().astype(np.int64)
            if len(pos) == self.batch_size:
                self._positions = pos

    # -- drawing ------------------------------------------------------------------------------------
    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (x, y) batch. For "streams", a row whose x starts with the end-of-document id
        starts a document (its state must start from zeros, as a sample's does), and targets past
        a document's end are IGNORE (cross-entropy skips them)."""
        if self.windows == "streams":
            return self._stream_batch()
        if self.windows == "tunes":
            ix = self._tune_starts()
        else:
            hi = len(self.data) - self.block_size
            ix = self._torch.randint(hi, (self.batch_size,), generator=self.generator).numpy()
        if self.pins is not None:
            return self._pinned_batch(ix)
        chunk = self._torch.from_numpy(self.data[ix[:, None] + self._offsets].astype(np.int64))  # (B, T+1)
        return self._to_device(chunk[:, :-1], chunk[:, 1:])

    def _pinned_batch(self, ix: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows at `ix` that keep their document's header lines in front (`pinned`): x = the
        end-of-document id, the lines, then the window's tokens from `ix + h` on (h: what is kept
        in front), so x is still T tokens; y is IGNORE under what is kept."""
        assert self.pins is not None and self.eos is not None
        t = self.block_size
        x = np.empty((len(ix), t), dtype=np.int64)
        y = np.empty((len(ix), t), dtype=np.int64)
        docs = self._docs[np.searchsorted(self._docs, ix, side="right") - 1]
        for r, (i, doc) in enumerate(zip(ix.tolist(), docs.tolist(), strict=True)):
            keep = pinned(self.pins[0], self.pins[1], doc, i, pin_cap(t))
            h = len(keep) + 1 if len(keep) else 0
            x[r, :h], y[r, :h] = np.concatenate([[self.eos], self.data[keep]])[:h], IGNORE
            x[r, h:] = self.data[i + h : i + t]
            y[r, h:] = self.data[i + h + 1 : i + t + 1]
        return self._to_device(self._torch.from_numpy(x), self._torch.from_numpy(y))

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
            y = y.pin_memory().to(self.device, non_blocking=True)
        return x, y

    def _last_start(self) -> int:
        return len(self.data) - self.block_size - 1

    def _tune_starts(self) -> np.ndarray:
        torch, t = self._torch, self.block_size
        pick = torch.randint(len(self._starts), (self.batch_size,), generator=self.generator).numpy()
        inside = torch.rand(self.batch_size, generator=self.generator).numpy()
        from_start = torch.rand(self.batch_size, generator=self.generator).numpy() < 0.5
        start, end = self._starts[pick], self._ends[pick]
        # A tune longer than the window: from a random place whose window ends within the tune.
        room = np.maximum(end - t - start, 0)  # the last start whose y still ends at the eos
        ix = start + np.where(from_start, 0, np.floor(inside * (room + 1)).astype(np.int64))
        return np.minimum(ix, self._last_start())

    def _stream_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each stream reads one document window by window, then the next document; a window
        never crosses into the next document (its targets there are IGNORE), so a document is
        always read from a fresh state, as a sample is written."""
        t = self.block_size
        if self._positions is None:  # every stream starts at a document of its own (while any are left)
            n, b = len(self._starts), self.batch_size
            pick = self._torch.randperm(n, generator=self.generator)[:b]
            if b > n:  # more streams than documents: the rest start anywhere
                pick = self._torch.cat([pick, self._torch.randint(n, (b - n,), generator=self.generator)])
            self._positions = self._starts[pick.numpy()].copy()
        ix = self._positions
        doc = np.searchsorted(self._ends, ix, side="right")  # the document each stream is in
        doc = np.minimum(doc, len(self._ends) - 1)
        end = self._ends[doc]
        idx = np.minimum(ix[:, None] + self._offsets, len(self.data) - 1)
        chunk = self._torch.from_numpy(self.data[idx].astype(np.int64))  # (B, T+1)
        x, y = chunk[:, :-1], chunk[:, 1:].clone()
        valid = self._torch.from_numpy((end - ix)[:, None] > np.arange(t)[None, :])  # y up to the eos
        y[~valid] = IGNORE
        nxt = ix + t
        # Past its document's end: the next document (its window starts at this one's eos); past
        # the split's last document: the second one again (the first has no end-of-document id
        # before it, which is what marks a row as starting a tune, from a fresh state).
        last = doc >= len(self._ends) - 1
        again = self._starts[min(1, len(self._starts) - 1)]
        self._positions = np.where(nxt >= end, np.where(last, again, end), nxt)
        return self._to_device(x, y)

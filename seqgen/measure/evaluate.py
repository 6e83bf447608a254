"""Scoring a trained model on held-out tokens (`seqgen eval CHECKPOINT`).

Owns: the loss of a model over a token stream (and bits per token, perplexity), and choosing what
to score: a raw file (read as its data kind reads it, `DataKind.file_tokens`), the run's own
dataset or another one of the same vocabulary. Generated music is scored in `samples`. Prints
nothing; reports progress through a callback.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.datasets.kinds import kind_named
from seqgen.datasets.store import Dataset, open_dataset
from seqgen.device import autocast, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.models.base import SequenceModel
from seqgen.progress import Progress, no_progress
from seqgen.train.checkpoint import Checkpoint


@torch.no_grad()
def token_loss(
    model: torch.nn.Module, tokens: np.ndarray, device: torch.device, window: int, precision: str = "auto"
) -> dict[str, Any]:
    """Mean next-token loss (nats) over every token of `tokens` but the first, read in consecutive
    windows of `window` tokens that each start fresh, as training reads them; with bits per token
    (loss / ln 2) and perplexity (e^loss). `precision`: auto, fp32 or bf16, as in training."""
    if len(tokens) < 2:
        raise SeqgenError("at least 2 tokens are needed to score a next-token prediction")
    amp = resolve_precision(precision, device)
    total, count = 0.0, 0
    n_full = (len(tokens) - 1) // window
    for i in range(0, n_full, 64):  # 64 windows at a time, converted batch by batch (memory maps)
        rows = min(64, n_full - i)
        chunk = np.asarray(tokens[i * window : (i + rows) * window + 1], dtype=np.int64)
        x = torch.from_numpy(chunk[:-1].reshape(rows, window)).to(device)  # (B, T)
        y = torch.from_numpy(chunk[1:].reshape(rows, window)).to(device)
        with autocast(device, amp):
            logits, _ = model(x)
        total += F.cross_entropy(logits.float().transpose(1, 2), y, reduction="sum").item()
        count += y.numel()
    tail = n_full * window
    if tail < len(tokens) - 1:  # the last, shorter window
        rest = torch.from_numpy(np.asarray(tokens[tail:], dtype=np.int64))
        x, y = rest[:-1][None].to(device), rest[1:][None].to(device)
        with autocast(device, amp):
            logits, _ = model(x)
        total += F.cross_entropy(logits.float().transpose(1, 2), y, reduction="sum").item()
        count += y.numel()
    loss = total / count
    return {"tokens": count, "loss": loss, "bits_per_token": loss / math.log(2), "perplexity": math.exp(loss)}


def reads_documents(ckpt: Checkpoint) -> bool:
    """Whether the checkpoint's model was trained reading whole documents from a fresh state,
    its state carried from window to window ("streams": the LSTM and a rotary transformer on
    tunes): it must be scored
    so too (`document_loss`), not in fresh windows that start inside a tune, which it never saw."""
    return ckpt.train_config.get("windows") == "streams"


@torch.no_grad()
def document_loss(
    model: SequenceModel,
    tokens: np.ndarray,
    device: torch.device,
    eos: int,
    chunk: int = 512,
    precision: str = "auto",
    batch: int = 64,
) -> dict[str, Any]:
    """Mean next-token loss over every token of `tokens` but the first, each document (from an
    end-of-document id to the next) read from a fresh state with the state carried through it, as
    a model trained on streams reads a tune and writes one. Documents are read `batch` at a time
    (padded: padded targets are skipped; the model is causal, so padding never reaches them)."""
    if len(tokens) < 2:
        raise SeqgenError("at least 2 tokens are needed to score a next-token prediction")
    amp = resolve_precision(precision, device)
    ends = np.flatnonzero(np.asarray(tokens) == eos)
    bounds = np.unique(np.concatenate([[0], ends, [len(tokens) - 1]]))
    docs = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    docs.sort(key=lambda d: d[1] - d[0])
    # A model with a context (a rotary transformer) reads a context at a time, its memory carried.
    step = min(chunk, model.context_limit or chunk)
    total, count = 0.0, 0
    for i in range(0, len(docs), batch):
        group = docs[i : i + batch]
        width = max(b - a for a, b in group)
        x = torch.full((len(group), width), eos, dtype=torch.long)
        y = torch.full((len(group), width), -100, dtype=torch.long)
        for row, (a, b) in enumerate(group):
            piece = torch.from_numpy(np.asarray(tokens[a : b + 1], dtype=np.int64))
            x[row, : b - a], y[row, : b - a] = piece[:-1], piece[1:]
        x, y = x.to(device), y.to(device)
        state = model.stream_state(len(group), device)  # None: zeros (the LSTM)
        for t in range(0, width, step):
            with autocast(device, amp):
                logits, state = model(x[:, t : t + step], state)
            part = y[:, t : t + step]
            total += F.cross_entropy(
                logits.float().transpose(1, 2), part, ignore_index=-100, reduction="sum"
            ).item()
            count += int((part != -100).sum())
    loss = total / count
    return {"tokens": count, "loss": loss, "bits_per_token": loss / math.log(2), "perplexity": math.exp(loss)}


def score_model(
    checkpoint: Path,
    file: Path | None = None,
    data: Path | None = None,
    split: str = "val",
    device: str = "auto",
    precision: str = "auto",
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """The checkpoint's loss on a raw file (read as its kind of data is prepared) or on a split of
    a dataset (its own by default)."""
    from seqgen.device import resolve_device
    from seqgen.train.checkpoint import load_model
    from seqgen.train.rundir import resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    dev = resolve_device(device)
    model, tokenizer, ckpt = load_model(path, dev)
    kind = kind_named(ckpt.data.kind)
    if file is not None:
        # Read the file as the training data was read (for ABC, with its options).
        tokens, source = kind.file_tokens(file, tokenizer, Path(ckpt.data.path)), str(file)
    else:
        dataset = dataset_of(ckpt, data)
        if dataset.tokenizer.to_dict() != tokenizer.to_dict():
            raise SeqgenError(
                f"{dataset.path} has a different vocabulary from {path}'s; evaluate on the run's own "
                f"kind of data ({ckpt.data.path})"
            )
        tokens, source = dataset.split(split), f"{dataset.path} ({split} split)"
    report = on_progress or no_progress
    report("scoring", 0, len(tokens))
    if reads_documents(ckpt) and tokenizer.eos_id is not None:
        result = document_loss(model, tokens, dev, tokenizer.eos_id, precision=precision)
        result["read"] = "each tune from a fresh state, carried through it (as trained)"
    else:
        result = token_loss(model, tokens, dev, ckpt.block_size, precision)
        result["read"] = (
            f"consecutive windows of {ckpt.block_size} tokens, each from a fresh start (as trained)"
        )
    report("scoring", len(tokens), len(tokens))
    return {"checkpoint": str(path), "data": source, "unit": kind.short_unit, **result}


def dataset_of(ckpt: Checkpoint, data: Path | None = None) -> Dataset:
    """The dataset `data`, else the one the checkpoint's run was trained on."""
    if data is not None:
        return open_dataset(data)
    path = Path(ckpt.data.path)
    if not (path / "meta.json").is_file():
        raise SeqgenError(f"the run's dataset {path} is gone; give --data DIR or a FILE to score")
    return open_dataset(path)

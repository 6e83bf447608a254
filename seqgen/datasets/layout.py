"""A token dataset's files, and writing them: `data/NAME/{train.bin,val.bin,meta.json}`.

Owns: the on-disk layout (flat token-id arrays, uint8/uint16/uint32 by vocabulary size, so they
can be memory-mapped), the metadata file's envelope (format version, name, dtype, token counts,
creation time) and atomic creation: a failed prepare never leaves or overwrites a dataset. The
kinds fill in the rest of the metadata (tokenizer, sources, counts, split); `store` opens what
this writes. Knows nothing about where tokens came from or about models.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.datasets.tokenizers import Tokenizer
from seqgen.errors import SeqgenError
from seqgen.files import write_error

FORMAT_VERSION = 1
META_FILE = "meta.json"
SPLITS = ("train", "val")


def dtype_for(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds every id."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


class DatasetWriter:
    """Writes a dataset into a temporary sibling directory and renames it into place on `commit`.

    Use as a context manager; leaving the block without `commit` (an error) removes the temporary
    directory and leaves any existing dataset untouched.
    """

    def __init__(self, out: Path, vocab_size: int, force: bool = False):
        self.out = Path(out)
        if self.out.exists():
            if not force:
                raise SeqgenError(
                    f"{self.out} already exists; pass --force to replace it or --name to pick another"
                )
            # --force replaces a dataset (or an empty folder), never anything else of the user's.
            is_dataset = self.out.is_dir() and (self.out / META_FILE).is_file()
            if not (is_dataset or (self.out.is_dir() and not any(self.out.iterdir()))):
                raise SeqgenError(
                    f"{self.out} exists and is not a seqgen dataset; --force will not replace it, "
                    "choose another --name or --data-dir"
                )
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SeqgenError(
                f"cannot create {self.out.parent}: {e.strerror or e} (is --data-dir a file?)"
            ) from None
        self.dtype = dtype_for(vocab_size)
        self.counts = dict.fromkeys(SPLITS, 0)
        self._files = {}
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent))
            self._files = {s: open(self.tmp / f"{s}.bin", "wb") for s in SPLITS}  # noqa: SIM115
        except OSError as e:
            self.__exit__()
            raise write_error(self.out, e) from None

    def append(self, split: str, ids: np.ndarray | list[int]) -> None:
        arr = np.asarray(ids).astype(self.dtype, copy=False)
        try:
            self._files[split].write(arr.tobytes())
        except OSError as e:
            raise write_error(self.out, e) from None
        self.counts[split] += len(arr)

    def commit(self, meta: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._commit(meta)
        except OSError as e:
            raise write_error(self.out, e) from None

    def _commit(self, meta: dict[str, Any]) -> dict[str, Any]:
        for f in self._files.values():
            f.close()
        for s in SPLITS:
            if self.counts[s] < 2:
                raise SeqgenError(
                    f"the {s} split would hold {self.counts[s]} tokens; give seqgen more data "
                    "or change --val-fraction"
                )
        meta = {
            "format_version": FORMAT_VERSION,
            "name": self.out.name,
            **meta,
            "dtype": self.dtype.name,
            "tokens": dict(self.counts),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (self.tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.out, old)
            os.replace(self.tmp, self.out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.out)
        return meta

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._files.values():
            with contextlib.suppress(OSError):
                f.close()
        if getattr(self, "tmp", None) and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)


def write_documents(
    out: Path,
    tokenizer: Tokenizer,
    train: Iterable[np.ndarray],
    val: Iterable[np.ndarray],
    meta: dict[str, Any],
    force: bool = False,
) -> dict[str, Any]:
    """Write tokenized documents, each followed by the tokenizer's end-of-document id."""
    eos = tokenizer.eos_id
    with DatasetWriter(out, tokenizer.vocab_size, force=force) as w:
        for split, docs in (("train", train), ("val", val)):
            for ids in docs:
                w.append(split, ids)
                if eos is not None:
                    w.append(split, [eos])
        return w.commit({**meta, "tokenizer": tokenizer.to_dict()})

"""`seqgen prepare`: sources -> tokenizer -> dataset directory.

Owns: choosing the input kind (text, ABC, MIDI, built-in corpus) from the paths given, building the
tokenizer, splitting train/val, and handing token ids to `dataset`. Reports progress through a
callback `(stage: str, done: int, total: int)`; prints nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.config import PrepareConfig
from seqgen.datasets.corpus.text import find_text_files, iter_text_chunks
from seqgen.datasets.store import DatasetWriter, write_documents
from seqgen.datasets.tokenizers.char import CharTokenizer, _codepoints
from seqgen.errors import SeqgenError

Progress = Callable[[str, int, int], None]
ABC_SUFFIXES = (".abc",)
MIDI_SUFFIXES = (".mid", ".midi")


def _noop(stage: str, done: int, total: int) -> None:
    pass


def detect_kind(paths: list[Path]) -> str:
    """'abc', 'midi' or 'text', from file suffixes (directories: from what they hold)."""
    suffixes: set[str] = set()
    for p in paths:
        if not p.exists():
            raise SeqgenError(f"{p} does not exist; check the path")
        if not (p.is_file() or p.is_dir()):
            raise SeqgenError(f"{p} is not a regular file or a folder (a pipe or a device?); give a file")
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
        suffixes |= {f.suffix.lower() for f in files}
    if suffixes & set(MIDI_SUFFIXES) and not suffixes & set(ABC_SUFFIXES):
        return "midi"
    if suffixes & set(ABC_SUFFIXES):
        return "abc"
    return "text"


def prepare_text(
    paths: list[Path],
    out: Path,
    cfg: PrepareConfig,
    encoding: str = "utf-8",
    force: bool = False,
    on_progress: Progress = _noop,
) -> dict[str, Any]:
    """Character dataset from text files; val is the last `val_fraction` of the text (as nanoGPT)."""
    files = find_text_files(paths)
    sizes = [f.stat().st_size for f in files]
    total_bytes = max(1, sum(sizes))
    # Pass 1: vocabulary and length, streaming (a 1 GB corpus never sits in memory whole).
    seen = np.zeros(0x110000, dtype=bool)  # one flag per Unicode code point: O(n), no sorting
    n_chars: list[int] = []
    done = 0
    for f, size in zip(files, sizes, strict=False):
        n = 0
        for chunk in iter_text_chunks(f, encoding):
            seen[_codepoints(chunk)] = True
            n += len(chunk)
        n_chars.append(n)
        done += size
        on_progress("scanning", done, total_bytes)
    total = sum(n_chars)
    if total == 0:
        what = files[0] if len(files) == 1 else "the input files"
        raise SeqgenError(f"{what} holds no text; give seqgen a non-empty file")
    if total < 20:
        raise SeqgenError(f"the input holds only {total} characters; give seqgen more text to learn from")
    tok = CharTokenizer(chr(c) for c in np.flatnonzero(seen).tolist())
    n_val = max(2, round(total * cfg.val_fraction))
    n_train = total - n_val
    # Pass 2: encode and route each token to train (head) or val (tail).
    with DatasetWriter(out, tok.vocab_size, force=force) as w:
        pos = 0
        done = 0
        for f, size in zip(files, sizes, strict=False):
            for chunk in iter_text_chunks(f, encoding):
                ids = tok.encode_array(chunk)
                cut = min(max(n_train - pos, 0), len(ids))
                if cut:
                    w.append("train", ids[:cut])
                if cut < len(ids):
                    w.append("val", ids[cut:])
                pos += len(ids)
            done += size
            on_progress("encoding", done, total_bytes)
        return w.commit(
            {
                "kind": "text",
                "tokenizer": tok.to_dict(),
                "sources": [{"path": str(f), "chars": n} for f, n in zip(files, n_chars, strict=False)],
                "counts": {"files": len(files), "characters": total, "vocab_size": tok.vocab_size},
                "split": {"method": "tail", "val_fraction": cfg.val_fraction},
            }
        )


def _hash_fraction(key: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for `key`: the split does not depend on file order."""
    h = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def prepare_abc(
    paths: list[Path],
    out: Path,
    cfg: PrepareConfig,
    options: Any = None,
    validate: bool = False,
    force: bool = False,
    on_progress: Progress = _noop,
    corpus: str | None = None,
) -> dict[str, Any]:
    """Character dataset from ABC tunebooks: one document per tune, split by tune identity."""
    from seqgen.datasets.corpus.abc import AbcOptions, read_abc, split_tunes, validate_tunes

    options = options or AbcOptions()
    result = read_abc(paths, options, on_progress=lambda d, t: on_progress("reading", d, t))
    tunes = result.tunes
    dropped: dict[str, int] = {}
    if validate and tunes:
        tunes, dropped = validate_tunes(tunes, on_progress=lambda d, t: on_progress("validating", d, t))
    if not tunes:
        why = "; ".join(f"{n} {r}" for r, n in {**result.skipped, **dropped}.items()) or "no X: headers found"
        raise SeqgenError(f"no usable ABC tunes in {', '.join(map(str, paths))} ({why})")
    train, val = split_tunes(tunes, cfg.val_fraction, cfg.seed)
    if not val or not train:
        raise SeqgenError(
            f"all {len(tunes)} tune(s) are copies or versions of one tune; the train/val split "
            "needs at least 2 different tunes"
        )
    chars: set[str] = set()
    for t in tunes:
        chars.update(t.text)
    tok = CharTokenizer(chars, eos=True)
    meta = {
        "kind": "abc",
        "corpus": corpus,
        "sources": [str(p) for p in paths],
        "counts": {
            "files": result.files,
            "tunes": len(train) + len(val),
            "train_tunes": len(train),
            "val_tunes": len(val),
            "characters": sum(len(t.text) for t in train + val),
            "vocab_size": tok.vocab_size,
            "skipped": dict(result.skipped),
            "invalid": dropped,
        },
        "split": {"method": "by-tune", "val_fraction": cfg.val_fraction, "seed": cfg.seed},
        "abc_options": dataclasses.asdict(options),
    }
    on_progress("encoding", 0, 1)
    meta = write_documents(
        out,
        tok,
        (tok.encode_array(t.text) for t in train),
        (tok.encode_array(t.text) for t in val),
        meta,
        force=force,
    )
    on_progress("encoding", 1, 1)
    return meta


def prepare_midi(
    paths: list[Path],
    out: Path,
    cfg: PrepareConfig,
    drums: bool = True,
    force: bool = False,
    on_progress: Progress = _noop,
) -> dict[str, Any]:
    """Event-token dataset from MIDI files: one document per file, split by piece."""
    from seqgen.datasets.corpus.midi import read_midi_files
    from seqgen.datasets.tokenizers.events import EventTokenizer

    result = read_midi_files(paths, drums=drums, on_progress=lambda d, t: on_progress("reading", d, t))
    tok = EventTokenizer(drums=drums)
    docs: dict[tuple, tuple[str, list[int]]] = {}
    for source, notes in result.pieces:
        ids = tok.encode_notes(notes)
        docs.setdefault(tuple(ids), (source, ids))  # an exact duplicate never lands on both sides
    pieces = sorted(docs.values(), key=lambda d: _hash_fraction(d[0], cfg.seed))
    if len(pieces) < 2:
        raise SeqgenError(
            f"only {len(pieces)} usable MIDI piece(s) found; the train/val split needs at least 2"
        )
    n_val = min(len(pieces) - 1, max(1, round(len(pieces) * cfg.val_fraction)))
    val, train = pieces[:n_val], pieces[n_val:]
    meta = {
        "kind": "midi",
        "sources": [str(p) for p in paths],
        "counts": {
            "files": result.files,
            "pieces": len(pieces),
            "train_pieces": len(train),
            "val_pieces": len(val),
            "notes": sum(len(n) for _, n in result.pieces),
            "vocab_size": tok.vocab_size,
            "skipped": len(result.skipped),
        },
        "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
        "split": {"method": "by-piece", "val_fraction": cfg.val_fraction, "seed": cfg.seed},
    }
    return write_documents(
        out,
        tok,
        (np.asarray(ids) for _, ids in train),
        (np.asarray(ids) for _, ids in val),
        meta,
        force=force,
    )


def prepare_corpus(
    name: str,
    data_dir: Path,
    cfg: PrepareConfig,
    options: Any = None,
    validate: bool = False,
    force: bool = False,
    on_progress: Progress = _noop,
    out_name: str | None = None,
) -> dict[str, Any]:
    """Prepare one of music21's bundled folk collections (or 'all') into data_dir/NAME."""
    from seqgen.datasets.corpus.builtin import corpus_paths

    paths = corpus_paths(name)
    return prepare_abc(
        paths, data_dir / (out_name or name), cfg, options, validate, force, on_progress, corpus=name
    )

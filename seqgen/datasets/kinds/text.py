"""Plain text, and what every character-level kind shares (text and ABC).

Owns: `CharKind` (a prompt of characters, decoding to text, scoring a file by its characters, the
training text as the novelty corpus), `TextKind` (any text file; a sample is a .txt file,
accepted as it is) and `prepare_text` (a character dataset from text files, streamed in two passes,
val = the tail). Does not own reading the files (`corpus.text`) or the dataset's files (`layout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seqgen.config import TEXT_SAMPLE_LENGTH
from seqgen.datasets.corpus.text import find_text_files, iter_text_chunks
from seqgen.datasets.kinds.base import DataKind, Rendered, SourceOptions
from seqgen.datasets.layout import DatasetWriter
from seqgen.datasets.tokenizers.base import Tokenizer
from seqgen.datasets.tokenizers.char import CharTokenizer, codepoints
from seqgen.errors import SeqgenError
from seqgen.progress import Progress, no_progress

if TYPE_CHECKING:
    from seqgen.config import PrepareConfig


class CharKind(DataKind):
    """A kind whose tokens are characters, read by a `CharTokenizer`."""

    unit: ClassVar[str] = "character"
    short_unit: ClassVar[str] = "character"
    streams: ClassVar[bool] = True

    def chars(self, tokenizer: Tokenizer) -> CharTokenizer:
        """The tokenizer as the character tokenizer this kind is read with."""
        if not isinstance(tokenizer, CharTokenizer):
            raise SeqgenError(f"{self.label} data needs a character tokenizer, got {tokenizer.kind!r}")
        return tokenizer

    def prompt_ids(self, tokenizer: Tokenizer, prompt: str = "", primer: Path | None = None) -> list[int]:
        if primer is not None:
            raise SeqgenError(
                f"--primer applies to MIDI models only; this model was trained on {self.name}, use --prompt"
            )
        tok = self.chars(tokenizer)
        bad = tok.unknown(prompt)
        if bad:
            shown = " ".join(repr(c) for c in bad[:20])
            raise SeqgenError(f"the prompt holds characters the model never saw: {shown}; remove them")
        ids = tok.encode(prompt)
        if tok.eos_id is not None or not ids:
            return tok.document_start() + ids
        return ids

    def decode(self, tokenizer: Tokenizer, prompt_ids: list[int], ids: list[int]) -> str:
        """The text of prompt + new ids, without end-of-document ids in the prompt."""
        tok = self.chars(tokenizer)
        return tok.decode([i for i in prompt_ids if i != tok.eos_id] + list(ids))

    def file_tokens(self, path: Path, tokenizer: Tokenizer, dataset: Path | None = None) -> np.ndarray:
        if not path.is_file():
            raise SeqgenError(f"{path} does not exist; give a text, ABC or MIDI file")
        tok = self.chars(tokenizer)
        texts = self.documents(path, dataset)
        unknown = sorted({c for t in texts for c in tok.unknown(t)})
        if unknown:
            shown = " ".join(repr(c) for c in unknown[:10])
            raise SeqgenError(
                f"{path} holds {len(unknown)} character(s) the model never saw ({shown}); it cannot be scored"
            )
        ids: list[int] = []
        for t in texts:
            ids.extend(tok.encode(t))
            if tok.eos_id is not None:
                ids.append(tok.eos_id)
        return np.asarray(ids)

    def documents(self, path: Path, dataset: Path | None) -> list[str]:
        """The documents of one raw file of this kind (text: the whole file)."""
        try:
            return [path.read_text(encoding="utf-8")]
        except UnicodeDecodeError:
            raise SeqgenError(
                f"{path} is not UTF-8 text; convert it first (iconv -f latin1 -t utf-8)"
            ) from None

    def corpus_text(self, train: np.ndarray, tokenizer: Tokenizer) -> str:
        """The training text; documents separated by a NUL that no document holds."""
        tok = self.chars(tokenizer)
        eos = tok.eos_id
        ids = np.asarray(train)
        if eos is None:
            return tok.decode(ids.tolist())
        docs = np.split(ids, np.flatnonzero(ids == eos))
        return "\x00".join(tok.decode([int(i) for i in d if i != eos]) for d in docs)


class TextKind(CharKind):
    """Any text: a character vocabulary, one stream of characters, samples kept as drawn."""

    name: ClassVar[str] = "text"
    label: ClassVar[str] = "text"
    music: ClassVar[bool] = False
    default_length: ClassVar[int] = TEXT_SAMPLE_LENGTH
    source_suffixes: ClassVar[tuple[str, ...]] = ()  # the fallback: whatever is not music
    sample_suffixes: ClassVar[tuple[str, ...]] = (".txt",)
    options: ClassVar[tuple[str, ...]] = ("encoding",)

    def _prepare(
        self,
        paths: list[Path],
        out: Path,
        cfg: PrepareConfig,
        options: SourceOptions,
        force: bool,
        on_progress: Progress,
    ) -> dict[str, Any]:
        return prepare_text(paths, out, cfg, options.encoding or "utf-8", force, on_progress)

    def render(self, tokenizer: Tokenizer, prompt_ids: list[int], ids: list[int]) -> Rendered:
        return Rendered(text=self.decode(tokenizer, prompt_ids, ids))


def prepare_text(
    paths: list[Path],
    out: Path,
    cfg: PrepareConfig,
    encoding: str = "utf-8",
    force: bool = False,
    on_progress: Progress = no_progress,
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
            seen[codepoints(chunk)] = True
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
                "kind": TextKind.name,
                "tokenizer": tok.to_dict(),
                "sources": [{"path": str(f), "chars": n} for f, n in zip(files, n_chars, strict=False)],
                "counts": {"files": len(files), "characters": total, "vocab_size": tok.vocab_size},
                "split": {"method": "tail", "val_fraction": cfg.val_fraction},
            }
        )

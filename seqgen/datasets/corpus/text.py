"""Plain-text sources: find `.txt` files and stream them as decoded chunks.

Owns: path expansion for text input and chunked, validated UTF-8 (or `--encoding`) decoding, so a
corpus of any size is read in bounded memory. Knows nothing about vocabularies or token ids.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from seqgen.errors import SeqgenError

CHUNK_BYTES = 8 << 20  # 8 MiB: large enough for NumPy speed, small enough for a 1 GB corpus
TEXT_SUFFIXES = (".txt", ".text", ".md")


def find_text_files(paths: list[Path]) -> list[Path]:
    """Expand files and directories (recursively: *.txt, *.text, *.md) into a sorted file list."""
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise SeqgenError(f"{p} does not exist; check the path")
        if not (p.is_file() or p.is_dir()):
            raise SeqgenError(f"{p} is not a regular file or a folder (a pipe or a device?); give a file")
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise SeqgenError(f"directory {p} holds no text files ({', '.join(TEXT_SUFFIXES)})")
            files.extend(found)
        else:
            files.append(p)
    return files


def _looks_wide(head: bytes) -> bool:
    """A byte-order mark, or NUL in every other (or every fourth) byte: UTF-16/32 text."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    sample = head[:4096]
    half = len(sample) // 2
    return half >= 8 and max(sample[0::2].count(0), sample[1::2].count(0)) >= 0.4 * half


def iter_text_chunks(path: Path, encoding: str = "utf-8") -> Iterator[str]:
    """Yield the decoded text of `path` in chunks; bad bytes raise with the byte offset."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise SeqgenError(f"unknown encoding {encoding!r}; try utf-8, latin-1 or cp1252") from None
    offset = 0
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))  # NUL bytes are normal there
    try:
        with open(path, "rb") as f:
            while True:
                raw = f.read(CHUNK_BYTES)
                final = not raw
                nul = -1 if wide else raw.find(b"\x00")
                if nul >= 0:  # before decoding: a binary file is named as such, not as bad text
                    if offset == 0 and _looks_wide(raw):
                        raise SeqgenError(
                            f"{path} looks like UTF-16 or UTF-32 text; pass --encoding utf-16 (or utf-32)"
                        )
                    raise SeqgenError(
                        f"{path} looks like a binary file (NUL byte at offset {offset + nul}); "
                        "give seqgen text files"
                    )
                try:
                    text = decoder.decode(raw, final=final)
                except UnicodeDecodeError as e:
                    where = offset + e.start - len(decoder.getstate()[0])
                    raise SeqgenError(
                        f"{path} is not valid {encoding} text (bad byte at offset {max(where, 0)}); "
                        "if it is text in another encoding, pass --encoding (e.g. latin-1)"
                    ) from None
                nul = text.find("\x00")
                if nul >= 0:
                    raise SeqgenError(
                        f"{path} looks like a binary file (NUL character near offset {offset + nul}); "
                        "give seqgen text files"
                    )
                offset += len(raw)
                if text:
                    yield text
                if final:
                    return
    except OSError as e:
        raise SeqgenError(f"cannot read {path}: {e.strerror or e}") from None

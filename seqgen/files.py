"""Writing files so that a failed or killed run never leaves a torn file or loses an old one.

Owns: `atomic_write` (write a temporary sibling, flush, fsync, rename over the target) and the
one-line message for an operating-system error while writing. Imports nothing from seqgen but the
error type; every stage that writes a user-visible file goes through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from seqgen.errors import WriteError

HINTS = {
    errno.ENOSPC: "free some disk space or choose another directory",
    errno.EDQUOT: "free some disk space or choose another directory",
    errno.EFBIG: "the file is larger than this system allows; choose another directory",
    errno.EACCES: "choose a directory you can write to",
    errno.EPERM: "choose a directory you can write to",
    errno.EROFS: "the file system is read-only; choose another directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "the path is a directory; give a file name",
}


def write_error(path: Path | str, e: OSError) -> WriteError:
    """A one-line WriteError for an OSError raised while writing `path`."""
    hint = HINTS.get(e.errno or 0)
    why = e.strerror or str(e) or type(e).__name__
    return WriteError(f"cannot write {path}: {why}" + (f"; {hint}" if hint else ""))


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on success fsync it and rename it over
    `path`. On any error the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, e) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable across a power cut (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path | str, write: Callable[[IO[bytes]], object]) -> Path:
    """Call `write(f)` on a binary temporary file and move it into place atomically."""
    with atomic_open(path, "wb") as f:
        write(f)
    return Path(path)


def atomic_write_text(path: Path | str, text: str) -> Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files a killed writer left in `directory` (`.NAME.PID.tmp`)."""
    for p in Path(directory).glob(".*.tmp"):
        if p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()

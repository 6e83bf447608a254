"""How long library work reports progress: one callback type, and the callback that ignores it.

Owns: `Progress`, a callback `(stage, done, total)` that a caller (the CLI's progress bars) passes
to long library calls, and `no_progress`. Imports nothing; prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def no_progress(stage: str, done: int, total: int) -> None:
    """The default callback: report nothing."""

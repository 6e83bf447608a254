"""The note record every music stage speaks: absolute times in seconds, MIDI pitch and velocity.

Owns: `Note` and small helpers on lists of notes. Does not own file formats (see `midi_io`, `abc`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Note:
    """One sounding note. `start`/`end` in seconds from the start of the piece."""

    start: float
    end: float
    pitch: int  # MIDI pitch 0..127
    velocity: int = 90  # 1..127
    drum: bool = False  # True for General MIDI channel 10 percussion

    @property
    def duration(self) -> float:
        return self.end - self.start


def total_seconds(notes: list[Note]) -> float:
    """Length of a piece in seconds: the latest note end (0.0 for no notes)."""
    return max((n.end for n in notes), default=0.0)

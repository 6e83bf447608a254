"""Where an ABC tune's key, metre, unit and rhythm lines lie in its token ids.

Owns: `FieldLines`, which finds the `M:`, `L:`, `R:` and `K:` lines (each with its newline) in a
stretch of character ids. A transformer trained with `--pin-header` keeps them in front of every
window (see `seqgen.datasets.batches.pinned`), so the bars it writes long after the header still
see the key they must end in. Knows nothing about windows or models.
"""

from __future__ import annotations

import numpy as np

PINNED_FIELDS = "MLRK"  # metre, unit note length, rhythm, key: what the music must agree with


class FieldLines:
    """The field lines of `PINNED_FIELDS` in ids of a character tokenizer (`stoi`): a line that
    starts at a newline or an end-of-document id (or at the ids' start) with the field's letter
    and a colon, up to and including its newline. A line not yet ended is no field line."""

    def __init__(self, stoi: dict[str, int], eos_id: int | None):
        self.letters = np.array([stoi[c] for c in PINNED_FIELDS if c in stoi], dtype=np.int64)
        self.colon = stoi.get(":")
        self.newline = stoi.get("\n")
        self.eos = eos_id

    def spans(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the field lines in `ids`, in order; `ends` exclusive (after the newline)."""
        ids = np.asarray(ids)
        none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        if self.colon is None or self.newline is None or len(ids) < 3 or not len(self.letters):
            return none
        first = np.isin(ids[:-1], self.letters) & (ids[1:] == self.colon)
        before = np.ones(len(ids) - 1, dtype=bool)
        before[1:] = ids[:-2] == self.newline
        if self.eos is not None:
            before[1:] |= ids[:-2] == self.eos
        starts = np.flatnonzero(first & before).astype(np.int64)
        newlines = np.flatnonzero(ids == self.newline).astype(np.int64)
        at = np.searchsorted(newlines, starts)
        ended = at < len(newlines)
        starts, ends = starts[ended], newlines[at[ended]] + 1
        if self.eos is not None:  # a line that runs into the next document is no line
            eos = np.flatnonzero(ids == self.eos)
            inside = np.searchsorted(eos, starts) == np.searchsorted(eos, ends)
            starts, ends = starts[inside], ends[inside]
        return starts, ends

"""The model that ships with seqgen: a folk-tune LSTM trained by seqgen's own pipeline on
O'Neill's Music of Ireland (1850, public domain; music21's `oneills1850`), so `seqgen sample` and
`seqgen serve` give tunes before the user has trained anything.

Owns: where the shipped checkpoint lies and what it is called. It is an ordinary best.pt (weights,
configs and tokenizer, no optimizer state), read through the same safe loader as every
checkpoint (`seqgen.train.checkpoint.load_checkpoint`: tensors and plain data only). How it was
trained: BENCHMARKS.md, "The shipped model"; `benchmarks/ship_model.sh` trains it again.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED_NAME = "shipped: O'Neill's 1850 (LSTM)"  # how every output names it
SHIPPED_ARG = "shipped"  # `seqgen sample shipped`
_FILE = Path(__file__).with_name("oneills1850-lstm.pt")


def shipped_checkpoint() -> Path | None:
    """The shipped checkpoint, or None where this install lacks it (a trimmed package)."""
    return _FILE if _FILE.is_file() else None


def resolve_sample_checkpoint(run: Path | None, out_dir: Path) -> tuple[Path, str | None]:
    """(checkpoint, its name in messages) for `seqgen sample RUN`: RUN as given, `shipped` for
    the shipped model, and with no RUN the newest run under `out_dir`, else the shipped model
    (the name is None for the user's own runs: their path names them)."""
    from seqgen.errors import SeqgenError
    from seqgen.train.rundir import find_runs, resolve_checkpoint

    shipped = shipped_checkpoint()
    wants_shipped = run is not None and str(run) == SHIPPED_ARG and not run.exists()
    if wants_shipped or (run is None and not find_runs(out_dir) and shipped is not None):
        if shipped is None:
            raise SeqgenError(
                "this install has no shipped model; give a run directory such as checkpoints/RUN"
            )
        return shipped, SHIPPED_NAME
    return resolve_checkpoint(run, out_dir), None

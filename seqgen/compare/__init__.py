"""`seqgen compare`: an LSTM and a transformer of matched size trained for the same wall-clock time
on the same data, measured side by side, and a report written from the results.

The parts, in the order they act: `plan` (what to compare, sized and budgeted), `run` (training
and measuring, reporting progress as `events`), `results` (every figure, and results.json),
`verdicts` (who wins what), `report` and `sections` (report.md). `compare` runs it all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqgen.compare.events import Callback
    from seqgen.compare.plan import ComparePlan
    from seqgen.compare.results import CompareResults
    from seqgen.datasets.store import Dataset


def compare(
    plan: ComparePlan, dataset: Dataset, callback: Callback | None = None
) -> tuple[CompareResults, list[Path]]:
    """Run the comparison of `plan` on `dataset` and write report.md, its figures and
    results.json into `plan.out`; returns the results and the paths written."""
    from seqgen.compare.report import write_report
    from seqgen.compare.run import run_compare

    results = run_compare(plan, dataset, callback)
    return results, write_report(results, plan.out)

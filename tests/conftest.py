"""Shared fixtures: every test runs in its own temporary working directory (data/, checkpoints/
and samples/ land there), with tiny models so the suite stays fast on a 2-core CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("MPLBACKEND", "Agg")

_runner = CliRunner()


def invoke(*args):
    """Run the seqgen CLI in-process with string arguments; returns click's Result."""
    from seqgen.cli import app

    return _runner.invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    """A small English text with enough repetition to learn from in a few hundred steps."""
    p = tmp_path / "poem.txt"
    p.write_text((FIXTURES / "text_small.txt").read_text(encoding="utf-8"), encoding="utf-8")
    return p

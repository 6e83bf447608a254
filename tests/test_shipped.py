"""The model that ships with seqgen: present, loaded through the safe checkpoint reader, used by
`seqgen sample` when no run is trained (or when asked for by name) and offered by `seqgen serve`,
named as the shipped model in every output."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from seqgen.shipped import SHIPPED_NAME, shipped_checkpoint
from tests.conftest import invoke

QUICK = ("--num-samples", "2", "--length", "400", "--max-retries", "0", "--seed", "1", "--device", "cpu")


def test_the_shipped_model_is_in_the_package_and_loads_safely() -> None:
    from seqgen.train.checkpoint import load_checkpoint, load_model

    path = shipped_checkpoint()
    assert path is not None and path.stat().st_size < 10_000_000
    payload = load_checkpoint(path)  # tensors and plain data only (weights_only)
    assert payload["data"] == {"name": "oneills1850", "kind": "abc", "path": "data/oneills1850"}
    assert "optimizer" not in payload
    _model, tokenizer, ckpt = load_model(path)
    assert ckpt.model_type == "lstm" and tokenizer.eos_id is not None


def test_sample_with_no_run_uses_the_shipped_model_and_says_so() -> None:
    r = invoke("sample", *QUICK, "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["shipped_model"] == SHIPPED_NAME and got["out"] == str(Path("samples/shipped/seed-1"))
    tunes = sorted(Path("samples/shipped/seed-1").glob("*.abc"))
    assert len(tunes) == 2 and all(t.read_text().startswith("X:") for t in tunes)
    r = invoke("sample", "shipped", *QUICK, "--out", "mine")
    assert r.exit_code == 0, r.output
    assert f"2 samples from {SHIPPED_NAME} (seed 1) -> mine" in " ".join(r.output.split())


def test_serve_offers_the_shipped_model(tmp_path: Path) -> None:
    from seqgen.serve.catalog import Catalog

    names = [r.name for r in Catalog(tmp_path / "checkpoints", device=torch.device("cpu")).runs()]
    assert names == [SHIPPED_NAME]


def test_a_trained_run_comes_before_the_shipped_model(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import FIXTURES

    shutil.copytree(FIXTURES / "legacy" / "checkpoints" / "abc-transformer", "checkpoints/abc-transformer")
    r = invoke("sample", *QUICK, "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert "shipped_model" not in got and "abc-transformer" in got["checkpoint"]

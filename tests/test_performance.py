"""Performance choices: automatic precision and torch.compile, and the compiled training path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from seqgen import device as devmod
from seqgen.device import resolve_compile, resolve_precision
from seqgen.errors import SeqgenError
from tests.test_resume import make_trainer, metrics

CPU = torch.device("cpu")


def test_auto_precision_is_fp32_on_a_cpu_without_amx(monkeypatch):
    monkeypatch.setattr(devmod, "cpu_has_amx", lambda: False)
    assert resolve_precision("auto", CPU) is None
    assert resolve_precision("bf16", CPU) is torch.bfloat16  # the flag overrides


def test_auto_precision_is_bf16_on_a_cpu_with_amx(monkeypatch):
    monkeypatch.setattr(devmod, "cpu_has_amx", lambda: True)
    assert resolve_precision("auto", CPU) is torch.bfloat16
    assert resolve_precision("fp32", CPU) is None


def test_auto_compile_follows_the_measurement(monkeypatch):
    monkeypatch.setattr(devmod, "COMPILE_PAYS_ON_CPU", False)
    assert resolve_compile("auto", CPU) is False
    assert resolve_compile("on", CPU) is True and resolve_compile("off", torch.device("cuda")) is False
    assert resolve_compile("auto", torch.device("cuda")) is True
    monkeypatch.setattr(devmod, "COMPILE_PAYS_ON_CPU", True)
    monkeypatch.setattr(devmod.shutil, "which", lambda name: None)
    assert resolve_compile("auto", CPU) is False  # inductor needs a C++ compiler


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile on a CPU needs a C++ compiler")
def test_compiled_training_matches_eager(text_file: Path):
    """`--compile on`: the compiled model trains the same weights (to rounding), saves loadable
    checkpoints without torch.compile's `_orig_mod.` prefix, and records the choice."""
    eager = make_trainer("transformer", "eager", max_iters=20, compile="off").run()
    fast = make_trainer("transformer", "fast", max_iters=20, compile="on").run()
    assert json.loads(Path("checkpoints/fast/config.json").read_text())["compiled"] is True
    assert json.loads(Path("checkpoints/eager/config.json").read_text())["compiled"] is False
    for a, b in zip(metrics("eager"), metrics("fast"), strict=True):
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-2)  # rounding grows over steps
    assert fast.best_val_loss == pytest.approx(eager.best_val_loss, abs=1e-2)
    from seqgen.train.checkpoint import load_model
    from seqgen.train.rundir import LAST

    model, _, _ = load_model(Path("checkpoints/fast") / LAST, "cpu")
    assert not any("_orig_mod" in k for k in model.state_dict())


def test_a_compile_failure_is_one_line_that_names_the_way_out(text_file: Path, monkeypatch):
    class InductorError(RuntimeError):
        pass

    InductorError.__module__ = "torch._inductor.exc"  # where inductor's own errors come from

    def broken(model):
        def forward(x):
            raise InductorError("C++ compile error\n  ... 200 lines of compiler output ...")

        return forward

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.raises(SeqgenError) as err:
        make_trainer("transformer", "c", max_iters=5, compile="on").run()
    assert str(err.value) == (
        "torch.compile failed on this machine (InductorError: C++ compile error); "
        "train without it: --compile off"
    )
    assert not Path("checkpoints/c").exists()  # a run that never saved leaves nothing behind


def test_other_errors_in_a_compiled_model_pass_through(text_file: Path, monkeypatch):
    def oom(model):
        def forward(x):
            raise torch.OutOfMemoryError("CUDA out of memory")

        return forward

    monkeypatch.setattr(torch, "compile", oom)
    with pytest.raises(torch.OutOfMemoryError):  # the CLI turns it into its out-of-memory line
        make_trainer("transformer", "o", max_iters=5, compile="on").run()

import json
import math
from pathlib import Path

import pytest
import torch

from seqgen.config import PrepareConfig, TrainConfig
from seqgen.datasets.kinds.text import prepare_text
from seqgen.datasets.store import open_dataset
from seqgen.models import model_config
from seqgen.train.checkpoint import load_checkpoint, load_model
from seqgen.train.events import Evaluated, TrainEnded, TrainStarted
from seqgen.train.optim import lr_at
from seqgen.train.rundir import BEST, LAST, resolve_checkpoint
from seqgen.train.trainer import Trainer

SIZES = {
    "transformer": dict(n_layer=2, n_head=2, n_embd=48, block_size=32),
    "lstm": dict(n_layer=1, n_embd=96, block_size=32),
}


def train(text_file: Path, name: str, steps: int, run: str = "r", **kw):
    if not Path("data/t").exists():
        prepare_text([text_file], Path("data/t"), PrepareConfig())
    ds = open_dataset("data/t")
    mcfg = model_config(name, vocab_size=ds.tokenizer.vocab_size, **SIZES[name])
    cfg = TrainConfig(
        data="data/t",
        model=name,
        max_iters=steps,
        eval_interval=max(1, steps // 2),
        eval_iters=5,
        batch_size=16,
        **kw,
    )
    events = []
    result = Trainer(cfg, ds, mcfg, Path("checkpoints") / run, events.append).run()
    return ds, result, events


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_short_run_learns(text_file: Path, name: str):
    ds, result, events = train(text_file, name, steps=300)
    chance = math.log(ds.tokenizer.vocab_size)
    assert result.best_val_loss < 0.5 * chance, (result.best_val_loss, chance)
    kinds = [type(e) for e in events]
    assert kinds[0] is TrainStarted and kinds[-1] is TrainEnded and kinds.count(Evaluated) == 2
    lines = [json.loads(x) for x in Path("checkpoints/r/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [150, 300]
    assert set(lines[0]) >= {"step", "train_loss", "val_loss", "lr", "tokens_per_sec", "elapsed_s"}
    assert lines[1]["val_loss"] < lines[0]["val_loss"]


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_checkpoint_round_trip_gives_identical_logits(text_file: Path, name: str):
    _ds, result, _ = train(text_file, name, steps=20)
    path = resolve_checkpoint(result.run_dir)
    assert path.name == BEST and (result.run_dir / LAST).is_file()
    raw = torch.load(path, weights_only=True)  # plain tensors and data only
    assert raw["model_type"] == name and raw["tokenizer"]["kind"] == "char"
    assert "optimizer" in load_checkpoint(result.run_dir / LAST)
    model, tokenizer, _ = load_model(path)
    again, _, _ = load_model(path)
    x = torch.tensor([tokenizer.encode("The miller sang")])
    assert torch.equal(model(x)[0], again(x)[0])
    # The weights written are the ones trained: the file's tensors equal the loaded module's.
    for k, v in raw["model"].items():
        assert torch.equal(model.state_dict()[k], v)


def test_same_seed_same_losses(text_file: Path):
    _, a, _ = train(text_file, "transformer", steps=10, run="a")
    _, b, _ = train(text_file, "transformer", steps=10, run="b")
    assert a.best_val_loss == b.best_val_loss


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(max_iters=1000, warmup_iters=100, min_lr_ratio=0.1)
    lrs = [lr_at(s, s / 1000, 1.0, cfg) for s in range(1000)]
    assert lrs[0] < lrs[50] < lrs[99] <= 1.0
    assert lrs[100] > lrs[500] > lrs[999] >= 0.1
    assert lr_at(1000, 1.0, 1.0, cfg) == pytest.approx(0.1)
    # The cosine starts at the peak where the warm-up ends, not part-way down its curve.
    assert lr_at(100, 0.1, 1.0, cfg) == pytest.approx(1.0)


def test_lr_decay_starts_at_the_end_of_a_time_budgets_warm_up():
    """With a minutes budget and slow steps the warm-up can take a large share of the budget: the
    decay then runs over what is left, from the peak (it used to start part-way down)."""
    cfg = TrainConfig(max_iters=None, max_time=1.0, warmup_iters=100, min_lr_ratio=0.1)
    assert lr_at(100, 0.4, 1.0, cfg, warm_end=0.4) == pytest.approx(1.0)  # peak where warm-up ended
    assert lr_at(150, 0.7, 1.0, cfg, warm_end=0.4) == pytest.approx(0.55)  # half-way down the rest
    assert lr_at(200, 1.0, 1.0, cfg, warm_end=0.4) == pytest.approx(0.1)
    assert lr_at(100, 0.4, 1.0, cfg) < 0.8  # without warm_end: the old curve, already 0.4 down it


def test_the_trainer_keeps_where_the_warm_up_ended(text_file: Path):
    from seqgen.train.checkpoint import load_resumable

    train(text_file, "transformer", steps=20, run="warm")
    resume = load_resumable(Path("checkpoints/warm/last.pt")).resume
    assert resume is not None and resume.counters.warm_step == 2  # a tenth of 20 steps
    assert resume.counters.warm_s is not None and resume.counters.warm_s > 0


def test_a_resumed_run_with_another_budget_decays_from_where_its_warm_up_ended():
    """The warm-up's end is kept as a step and a time, so a larger budget on resume reads it as
    a share of the new budget: a 1-minute run whose warm-up ended at 30 s, resumed with --max-time
    60, decays from 30 s of 60 minutes, not from half of them."""
    from seqgen.config import TrainConfig
    from seqgen.train.optim import warm_mark
    from seqgen.train.policy import StopPolicy

    short = TrainConfig(data="d", max_time=1.0, warmup_iters=10)
    mark = warm_mark(10, 30.0, None, short)
    assert mark == (10, 30.0) and StopPolicy(short).progress(*mark) == pytest.approx(0.5)
    longer = TrainConfig(data="d", max_time=60.0, warmup_iters=10)
    assert warm_mark(500, 600.0, mark, longer) == mark  # kept once set
    start = StopPolicy(longer).progress(*mark)
    assert start == pytest.approx(30 / 3600)
    peak = 1.0
    lr = lr_at(500, 600 / 3600, peak, longer, warm_end=start)
    assert 0.9 < lr < peak  # a sixth of the way into the hour: just below the peak, already decaying
    assert warm_mark(50, 9.0, None, longer) == (0, 0.0)  # a run saved before the mark: from the start
    assert warm_mark(5, 2.0, None, longer) is None  # still warming up


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo PWNED > pwned.txt",))


def test_malicious_checkpoint_is_refused_without_running_it():
    from seqgen.errors import SeqgenError

    torch.save({"format": "seqgen-checkpoint", "payload": _Exploit()}, "evil.pt")
    with pytest.raises(SeqgenError, match=r"refusing to load evil.pt: it would import posix.system"):
        load_checkpoint(Path("evil.pt"))
    assert not Path("pwned.txt").exists()


def test_a_context_longer_than_the_data_counts_the_tokens_each_step_reads(text_file: Path):
    """The training window is cut to the split's length; the tokens per step, tokens_seen and
    tokens/s count what a step really reads, not the configured context."""
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    ds = open_dataset("data/t")
    mcfg = model_config("lstm", vocab_size=ds.tokenizer.vocab_size, n_layer=1, n_embd=16, block_size=100_000)
    cfg = TrainConfig(data="data/t", model="lstm", max_iters=2, eval_interval=2, eval_iters=1, batch_size=2)
    events = []
    Trainer(cfg, ds, mcfg, Path("checkpoints") / "long", events.append).run()
    read = 2 * (len(ds.train) - 1)
    (started,) = [e for e in events if isinstance(e, TrainStarted)]
    assert started.tokens_per_step == read
    assert [e for e in events if isinstance(e, Evaluated)][-1].tokens_seen == 2 * read


def test_a_file_an_older_seqgen_would_misread_says_format_2(text_file: Path):
    """Version 1 readers drop config keys they do not know and would build GPT-2's model for a
    --qk-norm run (same weights, wrong logits), and fail on new resume counters: such files say
    format 2, which they refuse; a GPT-2 recipe's best.pt stays version 1, readable by them."""
    from seqgen.config import TransformerConfig
    from seqgen.errors import SeqgenError
    from seqgen.train.checkpoint import Checkpoint

    train(text_file, "transformer", steps=4, run="v")
    best = load_checkpoint(Path("checkpoints/v/best.pt"))
    assert best["format_version"] == 2 and best["model_config"]["positions"] == "rotary"  # the default
    assert load_checkpoint(Path("checkpoints/v/last.pt"))["format_version"] == 2  # warm_step, warm_s
    legacy = set(TransformerConfig.LEGACY)
    best["model_config"] = {k: v for k, v in best["model_config"].items() if k not in legacy}
    assert Checkpoint.from_payload(best).to_payload()["format_version"] == 1  # GPT-2's recipe
    best["model_config"] = {**best["model_config"], "qk_norm": True}
    assert Checkpoint.from_payload(best).to_payload()["format_version"] == 2
    # A --pin-header model read by a version 2 reader would sample without its header kept: 3.
    best["model_config"] = {**best["model_config"], "pin_header": True}
    assert Checkpoint.from_payload(best).to_payload()["format_version"] == 3
    torch.save({**best, "format_version": 4}, "v4.pt")
    with pytest.raises(SeqgenError, match="format 4; this seqgen reads 1, 2 and 3; a newer seqgen wrote it"):
        load_checkpoint(Path("v4.pt"))

"""`seqgen compare`, run: both models of a `ComparePlan` trained under the same wall-clock budget
on the same data, tokenizer, split and seed, then measured side by side.

Owns: the order of the work (time each training step, train both, score both on the val split,
sweep throughput by context, time sampling, draw samples) and the measurements that need a
trained model (val loss by position in the context window, loss when streaming through the val
split, the share of sampled tunes the music check and the tune judge pass); it returns a
`CompareResults`. The plan and model sizing are `plan`'s; training is the trainer's; throughput,
sampling latency and peak memory are `bench`'s measurements, each in a fresh process. Prints
nothing; reports through a callback.
"""

from __future__ import annotations

import collections
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.compare.events import Callback, ModelTraining, StageStarted, TrainerProgress
from seqgen.compare.plan import (
    LONG_FACTOR,
    MODELS,
    TOKENS_PER_STEP,
    ComparePlan,
    ModelPlan,
    check_val_split,
    eval_interval,
    model_plans,
    train_config,
)
from seqgen.compare.results import (
    CompareResults,
    CurvePoint,
    DataInfo,
    Failed,
    JudgeCounts,
    Machine,
    ModelResult,
    SampleResult,
    SamplingRun,
    ThroughputRow,
    TrainStep,
    ValScores,
    sampling_row,
    training_row,
)
from seqgen.config import SampleConfig
from seqgen.datasets.kinds import kind_named
from seqgen.datasets.store import Dataset
from seqgen.device import autocast, resolve_device, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.measure import bench
from seqgen.models.base import SequenceModel
from seqgen.train.checkpoint import load_model
from seqgen.train.events import TrainEvent
from seqgen.train.rundir import BEST, RunDir

if TYPE_CHECKING:
    from seqgen.music.judge import Verdict


def machine(device: torch.device) -> Machine:
    """What the figures were measured on."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return Machine(
        type=device.type,
        name=name,
        cores=os.cpu_count(),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
    )


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_curve(run_dir: Path) -> list[CurvePoint]:
    """The evaluations a run logged: step, wall-clock seconds, tokens seen, train and val loss."""
    return [
        CurvePoint(e.step, e.elapsed_s, e.tokens_seen, e.train_loss, e.val_loss)
        for e in RunDir(run_dir).evaluations()
    ]


def _context_limit(model: torch.nn.Module) -> int | None:
    """The longest context the model can see (None: unbounded), from the model contract."""
    return cast("int | None", model.context_limit)


@torch.no_grad()
def loss_by_position(
    model: torch.nn.Module, val: np.ndarray, block: int, long: int, device: torch.device, amp: Any
) -> list[float]:
    """Mean next-token loss at each position of windows that start fresh (no earlier context),
    at every `block`-th position of the val split; every model gets the same windows. A model with
    a context limit is scored on its first `limit` positions, an unbounded one on `long`."""
    long = max(1, min(long, len(val) - 1))
    limit = _context_limit(model)
    length = long if limit is None else min(limit, long)
    starts = np.arange(0, len(val) - long, block)
    sums = torch.zeros(length, dtype=torch.float64)
    for i in range(0, len(starts), 32):
        idx = starts[i : i + 32, None] + np.arange(length + 1)
        w = torch.from_numpy(val[idx].astype(np.int64)).to(device)  # (B, T+1)
        with autocast(device, amp):
            logits, _ = model(w[:, :-1])
        ce = F.cross_entropy(logits.float().transpose(1, 2), w[:, 1:], reduction="none")  # (B, T)
        sums += ce.sum(0).double().cpu()
    return (sums / len(starts)).tolist()


@torch.no_grad()
def streaming_loss(model: SequenceModel, val: np.ndarray, device: torch.device, amp: Any) -> float:
    """Mean loss over the val split read as generation reads a long sequence. An unbounded model
    carries its state through (16 contiguous streams, each starting fresh once); so does a model
    that rolls its cache past the context (rotary positions), one token at a time once its first
    context is read, as the sampler does. Another model with a context limit slides its window as
    the sampler does, a quarter of the context at a time, so every token but the first window's is
    predicted from at least 3/4 of the context."""
    from seqgen.generate.sampler import slide_step

    limit = _context_limit(model)
    total, count = 0.0, 0
    if limit is None or model.rolls:
        # A rolling stream's first context starts fresh: at least 32 contexts per stream keep
        # those tokens under ~3%, as the sliding window's one fresh window is on a long split.
        streams = 16 if len(val) > 16 * 64 else 1
        if limit is not None:
            streams = max(1, min(16, len(val) // (32 * limit)))
        n = (len(val) - 1) // streams
        x_all = torch.from_numpy(val[: n * streams].astype(np.int64)).view(streams, n)
        y_all = torch.from_numpy(val[1 : n * streams + 1].astype(np.int64)).view(streams, n)
        state = None if limit is None else model.init_state(streams, device, rolling=True)
        i, summed = 0, torch.zeros((), dtype=torch.float64, device=device)
        while i < n:  # summed on the device: no host sync per token
            size = 512 if limit is None else min(limit, n) if i == 0 else 1
            x, y = x_all[:, i : i + size].to(device), y_all[:, i : i + size].to(device)
            with autocast(device, amp):
                logits, state = model(x, state)
            summed += F.cross_entropy(logits.float().transpose(1, 2), y, reduction="sum")
            count += y.numel()
            i += size
        return summed.item() / count
    limit = min(limit, len(val) - 1)
    step = slide_step(limit)
    # The first window scores all its positions; each later one (start s) its last `step`.
    starts = np.arange(step, len(val) - limit, step)
    first = torch.from_numpy(val[: limit + 1].astype(np.int64)).to(device)[None]
    with autocast(device, amp):
        logits, _ = model(first[:, :-1])
    total += F.cross_entropy(logits.float()[0], first[0, 1:], reduction="sum").item()
    count += limit
    for i in range(0, len(starts), 32):
        idx = starts[i : i + 32, None] + np.arange(limit + 1)
        w = torch.from_numpy(val[idx].astype(np.int64)).to(device)
        with autocast(device, amp):
            logits, _ = model(w[:, :-1])
        ce = F.cross_entropy(logits.float()[:, -step:].transpose(1, 2), w[:, -step:], reduction="sum")
        total += ce.item()
        count += w[:, -step:].numel()
    return total / count


def sample_and_check(
    run_dir: Path,
    kind: str,
    n: int,
    seed: int,
    device: torch.device,
    out: Path,
    corpus: str | None = None,
    fill_bars: bool = True,
) -> SampleResult:
    """Draw `n` samples from a run's best checkpoint (the `seqgen sample` defaults; `fill_bars`:
    ABC decoding follows the bar guide), write them under `out`, and for music count those that
    pass the kind's check, one try each: for ABC the music check then the tune judge, with
    plagiarism judged against `corpus` (the training data's text, `DataKind.corpus_text`; None:
    not judged)."""
    from seqgen.generate.pipeline import SamplePipeline

    data_kind = kind_named(kind)
    music = data_kind.music
    model, tokenizer, _ = load_model(run_dir / BEST, device)
    # Music at `seqgen sample`'s length; text shorter, to read in the report.
    cfg = SampleConfig(length=data_kind.default_length if music else 400, num_samples=n, seed=seed)
    start = data_kind.prompt_ids(tokenizer)
    pipe = SamplePipeline(model, tokenizer, data_kind, device, start, corpus, fill_bars=fill_bars)
    report = pipe.draw(cfg)
    reasons: collections.Counter[str] = collections.Counter()
    example = None
    for w in pipe.write(report, pipe.plan(out, n, force=True)):
        if music and not w.sample.passed:
            reasons[w.sample.check.reason] += 1
        if example is None and w.sample.passed and w.rendered.text:
            example = w.rendered.text
    checks = [s.check for s in report.samples]
    return SampleResult(
        samples=n,
        passed=sum(s.passed for s in report.samples) if music else None,
        reasons=dict(reasons.most_common()),
        example=example,
        dir=str(out),
        seed=report.seed,
        temperature=cfg.temperature,
        bar_guide=fill_bars if data_kind.bar_guide(tokenizer) is not None else None,
        judge=judge_counts([c.judge if c is not None else None for c in checks])
        if data_kind.states_key_and_meter
        else None,
    )


def judge_counts(verdicts: list[Verdict | None]) -> JudgeCounts:
    """The tune judge's verdicts on a model's tunes as counts (None: a tune the music check
    refused before the judge read it, failing every criterion)."""
    from seqgen.measure.samples import judge_score
    from seqgen.music.judge import CRITERIA, RULES

    scores = [judge_score(v) for v in verdicts if v is not None]
    metred = [s for s in scores if s.full_inner_bars is not None]
    return JudgeCounts(
        judged=len(scores),
        criteria={name: sum(s.criteria[name].ok for s in scores) for name in CRITERIA},
        ends_on_tonic=sum(s.ends_on_tonic for s in scores),
        inner_bars=sum(s.inner_bars for s in metred),
        full_inner_bars=sum(s.full_inner_bars or 0 for s in metred),
        rules=RULES,
    )


def _isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """A bench measurement in its own process; a failure (out of memory at a long context, a
    compile error) becomes the row's `error` instead of ending the comparison."""
    try:
        return bench.run_isolated(fn, *args)
    except Exception as e:  # the child's exception, re-raised here by the pool
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        oom = "out of memory" in first.lower() or isinstance(e, MemoryError)
        return {"error": "out of memory" if oom else f"{type(e).__name__}: {first}"}


def run_compare(plan: ComparePlan, dataset: Dataset, callback: Callback | None = None) -> CompareResults:
    """Train both models, measure both, and return every figure. The two runs go to
    `plan.out`/lstm and `plan.out`/transformer; a comparison that fails before it trained
    anything leaves no directory behind."""
    device = resolve_device(plan.device)
    models = model_plans(plan, dataset.tokenizer.vocab_size, device)  # refuses a bad shape first
    check_val_split(plan, dataset, models["transformer"].config.block_size)
    made = not plan.out.exists()
    plan.out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(plan, dataset, device, models, callback or (lambda event: None))
    except BaseException:
        if made and plan.out.is_dir() and not any(plan.out.iterdir()):
            plan.out.rmdir()
        raise


def _run(
    plan: ComparePlan, dataset: Dataset, device: torch.device, models: dict[str, ModelPlan], say: Callback
) -> CompareResults:
    """Each stage in turn, in the order that keeps the measurements apart (see each stage)."""
    started, today, where = time.time(), str(date.today()), machine(device)
    amp = resolve_precision(plan.precision, device)
    steps: dict[str, TrainStep | Failed] = {}
    trained: dict[str, ModelResult] = {}
    for m in MODELS:
        steps[m] = _time_training_step(plan, models[m], device, say)
    for m in MODELS:
        trained[m] = _train(plan, dataset, models[m], steps[m], say)
    val = _score_val_split(plan, dataset, device, amp, models["transformer"].config.block_size, say)
    throughput = _throughput_sweep(plan, models, device, say)
    sampling = _sampling_speed(plan, device, say)
    samples = _samples(plan, dataset, device, say)
    return CompareResults(
        date=today,
        command=plan.command,
        machine=where,
        precision="bf16" if amp else "fp32",
        data=DataInfo(
            name=dataset.name,
            kind=dataset.kind,
            path=str(plan.data),
            vocab_size=dataset.tokenizer.vocab_size,
            train_tokens=len(dataset.train),
            val_tokens=len(dataset.val),
        ),
        budget_min=plan.budget_min,
        seed=plan.seed,
        models=trained,
        train_memory=steps,
        curves={m: read_curve(plan.out / m) for m in MODELS},
        val=val,
        throughput=throughput,
        sampling=sampling,
        samples=samples,
        total_s=time.time() - started,
    )


def _time_training_step(
    plan: ComparePlan, model: ModelPlan, device: torch.device, say: Callback
) -> TrainStep | Failed:
    """1. The training step of one model alone: its speed sets how often it is evaluated (the
    same number of evaluations for both), and its peak memory is the training peak."""
    say(StageStarted(f"measuring the {model.name}'s training step"))
    args = (model.shape(), str(device), plan.precision, "off", plan.timing_steps)
    return training_row(_isolated(bench.measure_training, *args))


def _train(
    plan: ComparePlan, dataset: Dataset, model: ModelPlan, step: TrainStep | Failed, say: Callback
) -> ModelResult:
    """2. Train one model for the plan's wall-clock budget (both get the same)."""
    from seqgen.train.trainer import Trainer

    m = model.name
    interval = eval_interval(plan.budget_min, step.step_ms if isinstance(step, TrainStep) else None)
    cfg = train_config(plan, model, interval)
    say(ModelTraining(m, cfg))

    def forward(event: TrainEvent) -> None:
        say(TrainerProgress(m, event))

    result = Trainer(cfg, dataset, model.config, plan.out / m, forward).run()
    if result.stopped.startswith("SIG"):
        raise SeqgenError(
            f"stopped by {result.stopped} while training the {m}; its run is in {plan.out / m} "
            "(no report was written)"
        )
    return ModelResult(
        config=model.config,
        parameters=model.parameters,
        batch_size=model.batch_size,
        learning_rate=model.learning_rate,
        run_dir=str(plan.out / m),
        steps=result.steps,
        elapsed_s=result.elapsed_s,
        tokens_per_s=result.tokens_per_sec,
        tokens_seen=result.steps * model.batch_size * model.config.block_size,
        eval_interval=interval,
        best_val_estimate=result.best_val_loss,
        compiled=cfg.compile,
    )


def _score_val_split(
    plan: ComparePlan, dataset: Dataset, device: torch.device, amp: Any, block: int, say: Callback
) -> dict[str, ValScores]:
    """3. The trained models on the whole val split: every token in consecutive training-length
    windows (as `seqgen eval`), by position in fresh windows, and streaming."""
    from seqgen.measure.evaluate import document_loss, reads_documents, token_loss

    say(StageStarted("scoring both models on the val split"))
    val = dataset.val
    out: dict[str, ValScores] = {}
    for m in MODELS:
        model, tokenizer, ckpt = load_model(plan.out / m / BEST, device)
        if reads_documents(ckpt) and tokenizer.eos_id is not None:
            # Trained on tunes read whole from a fresh state (streams): scored so, and
            # that is also how it writes a tune, so it is its streaming loss too.
            whole = document_loss(model, val, device, tokenizer.eos_id)
            streaming = whole["loss"]
        else:
            whole = token_loss(model, val, device, block)
            streaming = streaming_loss(model, val, device, amp)
        out[m] = ValScores(
            by_position=loss_by_position(model, val, block, LONG_FACTOR * block, device, amp),
            fresh=whole["loss"],
            fresh_tokens=whole["tokens"],
            streaming=streaming,
        )
        del model
    return out


def _throughput_sweep(
    plan: ComparePlan, models: dict[str, ModelPlan], device: torch.device, say: Callback
) -> dict[str, list[ThroughputRow]]:
    """4. Training throughput by context length, the same tokens per step for both."""
    out: dict[str, list[ThroughputRow]] = {m: [] for m in MODELS}
    for ctx in plan.contexts:
        for m in MODELS:
            say(StageStarted(f"measuring training throughput: {m}, context {ctx}"))
            batch = max(1, TOKENS_PER_STEP // ctx)
            shape = models[m].shape(batch_size=batch, block_size=ctx)
            row = _isolated(
                bench.measure_training, shape, str(device), plan.precision, "off", plan.timing_steps
            )
            out[m].append(ThroughputRow(ctx, batch, training_row(row)))
    return out


def _sampling_speed(
    plan: ComparePlan, device: torch.device, say: Callback
) -> dict[str, SamplingRun | Failed]:
    """5. Sampling from the trained checkpoints: batched tokens/s, per-token latency as it grows."""
    out: dict[str, SamplingRun | Failed] = {}
    for m in MODELS:
        say(StageStarted(f"measuring sampling: {m}"))
        n, length = (10, 500) if plan.lengths[-1] >= 512 else (2, plan.lengths[-1])
        checkpoint = str(plan.out / m / BEST)
        row = _isolated(bench.measure_sampling, checkpoint, str(device), n, length, plan.lengths)
        out[m] = sampling_row(row)
    return out


def _samples(
    plan: ComparePlan, dataset: Dataset, device: torch.device, say: Callback
) -> dict[str, SampleResult]:
    """6. Samples a person can read or play; for music, the share that pass the kind's check (ABC:
    the tune judge, plagiarism judged against the training split)."""
    data_kind = dataset.data_kind
    music = data_kind.music
    n = plan.music_samples if music else min(3, plan.music_samples)
    corpus = data_kind.corpus_text(dataset.train, dataset.tokenizer) if music and n else None
    out: dict[str, SampleResult] = {}
    for m in MODELS if n else ():
        say(StageStarted(f"sampling {n} {'tunes' if music else 'texts'} from the {m}"))
        out[m] = sample_and_check(
            plan.out / m, dataset.kind, n, plan.seed, device, plan.out / "samples" / m, corpus, plan.fill_bars
        )
    return out

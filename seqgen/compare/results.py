"""The results of a comparison as types, and their file, results.json.

Owns: `CompareResults` and its parts (every figure the report, the plots and the summary table
use is an attribute), and the results.json format: `to_json`/`save` write it and `load` reads it
back, key for key as the comparisons committed under docs/ were written. Measures nothing (that is
`run`) and judges nothing (that is `verdicts`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqgen.config import ModelConfig, to_dict
from seqgen.datasets.kinds import DataKind, kind_named
from seqgen.errors import SeqgenError
from seqgen.models import config_from_dict

JSON = dict[str, Any]
# The sections a results.json must hold to be drawn again.
REQUIRED = ("data", "models", "curves", "val", "throughput", "train_memory")


@dataclass
class Machine:
    """What the figures were measured on."""

    type: str  # the torch device type: "cpu" or "cuda"
    name: str
    cores: int | None
    threads: int
    torch: str
    python: str


@dataclass
class DataInfo:
    name: str
    kind: str
    path: str
    vocab_size: int
    train_tokens: int
    val_tokens: int

    @property
    def data_kind(self) -> DataKind:
        """The object that owns what is particular to this kind of data (music or not, its unit)."""
        return kind_named(self.kind)


@dataclass
class ModelResult:
    """One model of the comparison: its config and recipe, and how its training went."""

    config: ModelConfig
    parameters: int
    batch_size: int
    learning_rate: float
    run_dir: str
    steps: int
    elapsed_s: float
    tokens_per_s: float
    tokens_seen: int
    eval_interval: int
    best_val_estimate: float  # the trainer's own (sampled) estimate; `ValScores.fresh` is exact
    compiled: str  # the --compile setting it trained with

    def to_json(self) -> JSON:
        return {**dataclasses.asdict(self), "config": to_dict(self.config)}

    @classmethod
    def from_json(cls, model: str, d: JSON) -> ModelResult:
        return cls(**{**d, "config": config_from_dict(model, d["config"])})


@dataclass
class CurvePoint:
    """One evaluation during training, as the run logged it."""

    step: int
    elapsed_s: float
    tokens_seen: int
    train_loss: float
    val_loss: float


@dataclass
class ValScores:
    """A trained model on the whole val split (nats per token)."""

    by_position: list[float]  # mean loss at each position of a fresh window
    fresh: float  # every token as `seqgen eval` reads it (training-length windows; tune by tune
    #               for a model trained on whole tunes from a fresh state)
    fresh_tokens: int | None  # predictions behind `fresh` (None: a file from before it was saved)
    streaming: float  # read as one long stream, as generation reads it: the headline figure

    def window_mean(self, block: int) -> float | None:
        """The mean loss over the first `block` positions of fresh windows (None: not measured)."""
        return sum(self.by_position[:block]) / block if len(self.by_position) >= block else None

    def to_json(self) -> JSON:
        d = dataclasses.asdict(self)
        if self.fresh_tokens is None:
            del d["fresh_tokens"]
        return d

    @classmethod
    def from_json(cls, d: JSON) -> ValScores:
        return cls(d["by_position"], d["fresh"], d.get("fresh_tokens"), d["streaming"])


@dataclass
class Failed:
    """A measurement that failed (out of memory at a long context, a compile error)."""

    error: str


@dataclass
class TrainStep:
    """`bench.measure_training`: the median training step of one model at one batch and window."""

    model: str
    batch: str  # "B x T"
    parameters: int
    precision: str
    compiled: bool
    step_ms: float
    warmup_s: float
    tokens_per_s: float
    flops_per_token: int
    peak_memory_mb: float
    baseline_mb: float  # the same process before the model existed
    device: str


@dataclass
class SamplingRun:
    """`bench.measure_sampling` on a trained checkpoint: batched speed and per-token latency."""

    model: str
    context: int | None  # the model's context limit (None: unbounded)
    samples: int  # drawn at once for `tokens_per_s`
    length: int
    tokens_per_s: float
    latency_ms: dict[int, float]  # ms per new token, by sample length
    peak_memory_mb: float
    baseline_mb: float


Measured = TrainStep | SamplingRun


def training_row(d: JSON) -> TrainStep | Failed:
    """A `bench.measure_training` row (or its failure) as a type."""
    return Failed(d["error"]) if "error" in d else TrainStep(**d)


def sampling_row(d: JSON) -> SamplingRun | Failed:
    """A `bench.measure_sampling` row (or its failure) as a type."""
    return Failed(d["error"]) if "error" in d else SamplingRun(**d)


def above_baseline(row: Measured | Failed) -> float | None:
    """Peak memory above the process's baseline in MB; None for a failed measurement."""
    if isinstance(row, Failed):
        return None
    return max(row.peak_memory_mb - row.baseline_mb, 0.0)


@dataclass
class ThroughputRow:
    """One point of the throughput sweep: a training step at `context` with `batch_size`
    sequences (the same tokens per step for both models)."""

    context: int
    batch_size: int
    step: TrainStep | Failed

    def to_json(self) -> JSON:
        return {**dataclasses.asdict(self.step), "context": self.context, "batch_size": self.batch_size}

    @classmethod
    def from_json(cls, d: JSON) -> ThroughputRow:
        rest = {k: v for k, v in d.items() if k not in ("context", "batch_size")}
        return cls(d["context"], d["batch_size"], training_row(rest))


@dataclass
class JudgeCounts:
    """The tune judge on one model's sampled tunes (ABC), in tunes. A tune the music check refused
    before the judge read it counts as failing every criterion."""

    judged: int  # tunes that played (passed the music check) and so went before the judge
    criteria: dict[str, int]  # tunes passing each criterion, by name ("rhythm", "mode", ...)
    ends_on_tonic: int  # tunes whose last note is the K: field's tonic
    inner_bars: int  # the judged tunes' inner bars, those that must fill the metre
    full_inner_bars: int  # of them, the bars that do
    rules: int = 1  # the judge's rules (`seqgen.music.judge.RULES`); 1 in results from before it was kept

    @property
    def bar_fill(self) -> float | None:
        """Full inner bars / inner bars, over all the tunes."""
        return self.full_inner_bars / self.inner_bars if self.inner_bars else None


@dataclass
class SampleResult:
    """Samples drawn from a trained model's best checkpoint, and for music the check's verdicts:
    `passed` counts the tunes the kind's check kept (ABC: the music check, then the tune judge)."""

    samples: int
    passed: int | None  # None for text (no check)
    reasons: dict[str, int]  # why the others failed, most common first
    example: str | None  # the first passing (or first) sample's text
    dir: str
    seed: int
    temperature: float
    judge: JudgeCounts | None = None  # ABC; None for other kinds and in results from before the judge
    # Music: were the tunes drawn with the kind's bar guide (`seqgen sample --fill-bars`)? None:
    # text, or results from before it was recorded.
    bar_guide: bool | None = None

    def to_json(self) -> JSON:
        d = dataclasses.asdict(self)
        for name in ("judge", "bar_guide"):  # a results.json from before them is written back as it was
            if d[name] is None:
                del d[name]
        if self.judge is not None and self.judge.rules == 1:  # ... and from before the judge's rules
            del d["judge"]["rules"]
        return d

    @classmethod
    def from_json(cls, d: JSON) -> SampleResult:
        judge = d.get("judge")
        return cls(**{**d, "judge": JudgeCounts(**judge) if judge is not None else None})


@dataclass
class CompareResults:
    """Every figure of one comparison. The per-model tables are keyed "lstm", "transformer"."""

    date: str
    command: str
    machine: Machine
    precision: str  # "bf16" or "fp32"
    data: DataInfo
    budget_min: float
    seed: int
    models: dict[str, ModelResult]
    train_memory: dict[str, TrainStep | Failed]  # each model's own training step, alone
    curves: dict[str, list[CurvePoint]]
    val: dict[str, ValScores]
    throughput: dict[str, list[ThroughputRow]]
    sampling: dict[str, SamplingRun | Failed]
    samples: dict[str, SampleResult] = field(default_factory=dict)  # empty: none were drawn
    total_s: float = 0.0

    def reads_tunes(self, model: str) -> bool:
        """Whether `model` was trained, and is evaluated, on whole tunes from a fresh state, its
        state carried (the LSTM, and a rotary transformer, on ABC): its `fresh` score is then tune
        by tune, and is its streaming score too (the same figure: `run._score_val_split`), far
        below its loss in windows that start mid-tune."""
        scores = self.val[model]
        return scores.fresh == scores.streaming

    @property
    def tune_readers(self) -> list[str]:
        """The models that read tunes whole (`reads_tunes`), in the report's order."""
        return [m for m in ("lstm", "transformer") if self.reads_tunes(m)]

    @property
    def block_size(self) -> int:
        """Both models' training window (the transformer's context)."""
        return self.models["transformer"].config.block_size

    def throughput_at(self, model: str, context: int) -> TrainStep | None:
        """The model's measured training step at `context`; None if not measured or failed."""
        for row in self.throughput[model]:
            if row.context == context and isinstance(row.step, TrainStep):
                return row.step
        return None

    def to_json(self) -> JSON:
        """The results.json document, keys in the order it has always had."""
        return {
            "date": self.date,
            "command": self.command,
            "machine": dataclasses.asdict(self.machine),
            "precision": self.precision,
            "data": dataclasses.asdict(self.data),
            "budget_min": self.budget_min,
            "seed": self.seed,
            "models": {m: r.to_json() for m, r in self.models.items()},
            "train_memory": {m: dataclasses.asdict(r) for m, r in self.train_memory.items()},
            "curves": {m: [dataclasses.asdict(p) for p in c] for m, c in self.curves.items()},
            "val": {m: v.to_json() for m, v in self.val.items()},
            "throughput": {m: [row.to_json() for row in rows] for m, rows in self.throughput.items()},
            "sampling": {m: dataclasses.asdict(r) for m, r in self.sampling.items()},
            "samples": {m: s.to_json() for m, s in self.samples.items()},
            "total_s": self.total_s,
        }

    @classmethod
    def from_json(cls, r: JSON) -> CompareResults:
        return cls(
            date=r["date"],
            command=r["command"],
            machine=Machine(**r["machine"]),
            precision=r["precision"],
            data=DataInfo(**r["data"]),
            budget_min=r["budget_min"],
            seed=r["seed"],
            models={m: ModelResult.from_json(m, d) for m, d in r["models"].items()},
            train_memory={m: training_row(d) for m, d in r["train_memory"].items()},
            curves={m: [CurvePoint(**p) for p in c] for m, c in r["curves"].items()},
            val={m: ValScores.from_json(d) for m, d in r["val"].items()},
            throughput={m: [ThroughputRow.from_json(d) for d in rows] for m, rows in r["throughput"].items()},
            sampling={m: sampling_row(d) for m, d in r["sampling"].items()},
            samples={m: SampleResult.from_json(d) for m, d in r.get("samples", {}).items()},
            total_s=r["total_s"],
        )

    def save(self, path: Path) -> Path:
        """Write results.json atomically; returns its path."""
        from seqgen.files import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_json(), indent=1, default=str) + "\n")


def load(path: Path) -> CompareResults:
    """The results of an earlier comparison from its results.json (JSON turned the latency
    table's lengths into strings; they are numbers again here)."""
    try:
        r = json.loads(Path(path).read_text())
        for row in r["sampling"].values():
            if "latency_ms" in row:
                row["latency_ms"] = {int(k): v for k, v in row["latency_ms"].items()}
        missing = [k for k in REQUIRED if k not in r]
        if not missing:
            return CompareResults.from_json(r)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
        raise SeqgenError(f"{path} is not the results.json of a seqgen comparison ({e})") from None
    raise SeqgenError(f"{path} is not a complete comparison's results.json ({', '.join(missing)} missing)")

"""The plan of a comparison: which two models, how big, trained how, measured at which sizes.

Owns: `ComparePlan` (the settings of one `seqgen compare`, validated, with each default once),
sizing the LSTM to the transformer's parameter count (`match_lstm`), each model's training recipe
(`ModelPlan`) and how the wall-clock budget turns into a `TrainConfig`. Does not train or measure
anything (that is `run`) and knows nothing about the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from seqgen.config import ModelConfig, TrainConfig, TransformerConfig
from seqgen.errors import SeqgenError
from seqgen.measure.bench import LATENCY_LENGTHS

if TYPE_CHECKING:  # kept out of the import: `seqgen --help` reads this module's defaults
    import torch

    from seqgen.datasets.store import Dataset
    from seqgen.measure.bench import Shape

ModelName = Literal["lstm", "transformer"]
MODELS: tuple[ModelName, ModelName] = ("lstm", "transformer")
CONTEXTS = [64, 128, 256, 512, 1024]
TOKENS_PER_STEP = 4096  # the throughput sweep: batch = 4096 // context sequences, the same work per step
EVALUATIONS = 30  # points on each val-loss curve
LONG_FACTOR = 4  # the LSTM's loss by position is followed to 4x the training context
DEFAULT_BUDGET_MIN = 10.0  # minutes of training per model: long enough for the models to differ
DEFAULT_MUSIC_SAMPLES = 20  # tunes per model for the music check's pass share
TIMING_STEPS = 10  # timed steps per throughput measurement (after warm-up)

# --quick: just enough of each measurement to show that the whole comparison runs.
QUICK_LENGTHS = [16, 32, 64]
QUICK_MUSIC_SAMPLES = 2
QUICK_TIMING_STEPS = 2

# The transformer both models are sized from. CPU: the tuned `seqgen train` default. CUDA:
# nanoGPT's shakespeare_char shape and recipe (dropout 0.2 against over-fitting in long runs).
CUDA_TRANSFORMER = {"n_layer": 6, "n_embd": 384, "n_head": 6, "block_size": 256, "dropout": 0.2}
CUDA_TRAIN: dict[str, tuple[int, float]] = {  # (batch_size, learning_rate)
    "transformer": (64, 1e-3),
    "lstm": (64, 2e-3),
}

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
COMPILES = ("auto", "on", "off")


def check_choices(device: str, precision: str, compile: str) -> None:
    """Refuse a device, precision or compile setting seqgen does not know."""
    if device not in DEVICES or precision not in PRECISIONS:
        raise SeqgenError("--device takes auto, cpu or cuda and --precision auto, fp32 or bf16")
    if compile not in COMPILES:
        raise SeqgenError("--compile takes auto, on or off")


def parse_contexts(text: str) -> list[int]:
    """'64,128,256' -> [64, 128, 256] (the --contexts option)."""
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise SeqgenError(
            f"--contexts takes comma-separated whole numbers, e.g. 64,128,256; got {text!r}"
        ) from None


def default_out(dataset_name: str) -> Path:
    """Where a comparison goes when no --out is given: checkpoints/compare-NAME-TIME."""
    return Path(TrainConfig.out_dir) / f"compare-{dataset_name}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass
class ComparePlan:
    """The settings of one comparison. `transformer`: shape overrides (n_layer, n_embd, n_head,
    block_size, dropout; None keeps the default). `quick`: short measurements that only show the
    comparison runs; it replaces `lengths` and `timing_steps` and caps `music_samples`."""

    data: Path
    out: Path
    budget_min: float = DEFAULT_BUDGET_MIN
    device: str = TrainConfig.device
    seed: int = TrainConfig.seed
    compile: str = TrainConfig.compile
    precision: str = TrainConfig.precision
    transformer: dict[str, int | float | None] = field(default_factory=dict)
    lstm_layers: int = 2
    contexts: list[int] = field(default_factory=lambda: list(CONTEXTS))
    lengths: list[int] = field(default_factory=lambda: list(LATENCY_LENGTHS))
    music_samples: int = DEFAULT_MUSIC_SAMPLES
    timing_steps: int = TIMING_STEPS
    command: str = ""
    quick: bool = False
    fill_bars: bool = True  # ABC samples with the bar guide, as `seqgen sample` draws them

    def __post_init__(self) -> None:
        check_choices(self.device, self.precision, self.compile)
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise SeqgenError(f"--out {self.out} already exists and is not empty; choose another --out")
        if self.quick:
            self.lengths = list(QUICK_LENGTHS)
            self.music_samples = min(self.music_samples, QUICK_MUSIC_SAMPLES)
            self.timing_steps = QUICK_TIMING_STEPS
        if not (0 < self.budget_min < math.inf):
            raise SeqgenError(f"--budget must be a positive number of minutes, got {self.budget_min:g}")
        if self.lstm_layers < 1:
            raise SeqgenError(f"--lstm-layers must be at least 1, got {self.lstm_layers}")
        if self.music_samples < 0:
            raise SeqgenError(f"--music-samples must be >= 0, got {self.music_samples}")
        if not self.contexts or min(self.contexts) < 1:
            raise SeqgenError("--contexts needs positive context lengths, e.g. 64,128,256")
        if len(self.lengths) < 1 or any(
            b != 2 * a for a, b in zip(self.lengths, self.lengths[1:], strict=False)
        ):
            raise SeqgenError("sampling lengths must each be twice the one before")

    @property
    def estimated_minutes(self) -> float:
        """Training both models plus the measurements, roughly."""
        return 2 * self.budget_min + (1 if self.quick else 4)


def lstm_parameters(vocab_size: int, n_layer: int, width: int) -> int:
    """Parameters of seqgen's LSTM with embedding width = hidden width: embedding, per layer
    4 gates x (input + recurrent weights + two biases), and the output layer."""
    per_layer = 4 * width * (2 * width) + 8 * width
    return vocab_size * width + n_layer * per_layer + width * vocab_size + vocab_size


def match_lstm(
    target: int, vocab_size: int, n_layer: int, block_size: int | None = None, dropout: float | None = None
) -> ModelConfig:
    """The `n_layer` LSTM whose parameter count is closest to `target`. A width that is a multiple
    of 8 (faster kernels) is preferred when its count is within 2% of the target."""
    from seqgen.models import model_config

    def gap(w: int) -> int:
        return abs(lstm_parameters(vocab_size, n_layer, w) - target)

    width = min(range(1, 8193), key=gap)
    round8 = min(range(8, 8193, 8), key=gap)
    if gap(round8) <= 0.02 * target:
        width = round8
    return model_config(
        "lstm", vocab_size=vocab_size, n_layer=n_layer, n_embd=width, block_size=block_size, dropout=dropout
    )


@dataclass(frozen=True)
class ModelPlan:
    """One side of the comparison before it trains: its config, size and training recipe."""

    name: ModelName
    config: ModelConfig
    parameters: int
    batch_size: int
    learning_rate: float

    def shape(self, batch_size: int | None = None, block_size: int | None = None) -> Shape:
        """This model's size for a bench measurement (its own batch and window unless given)."""
        from seqgen.measure import bench

        cfg = self.config
        return bench.Shape(
            self.name,
            batch_size or self.batch_size,
            block_size or cfg.block_size,
            cfg.n_layer,
            cfg.n_embd,
            cfg.n_head if isinstance(cfg, TransformerConfig) else 0,
            cfg.vocab_size,
            cfg.dropout,
        )


def model_plans(plan: ComparePlan, vocab_size: int, device: torch.device) -> dict[str, ModelPlan]:
    """Both models, matched in parameter count (the LSTM sized to the transformer), each with its
    training batch size and learning rate (its kind's tuned defaults unless CUDA's recipe).
    Refuses a bad transformer shape before anything is made."""
    from seqgen.models import build_model, count_parameters, model_config

    shape = dict(CUDA_TRANSFORMER) if device.type == "cuda" else {}
    shape.update({k: v for k, v in plan.transformer.items() if v is not None})
    transformer = model_config("transformer", vocab_size=vocab_size, **shape)
    target = count_parameters(build_model("transformer", transformer))
    lstm = match_lstm(
        target, vocab_size, plan.lstm_layers, block_size=transformer.block_size, dropout=transformer.dropout
    )
    configs: dict[str, ModelConfig] = {"lstm": lstm, "transformer": transformer}
    out: dict[str, ModelPlan] = {}
    for m in MODELS:
        cfg = configs[m]
        batch, lr = CUDA_TRAIN[m] if device.type == "cuda" else (cfg.batch_size, cfg.learning_rate)
        out[m] = ModelPlan(m, cfg, count_parameters(build_model(m, cfg)), batch, lr)
    return out


def check_val_split(plan: ComparePlan, dataset: Dataset, block: int) -> None:
    """Refuse a val split too short for two windows of the training context."""
    if len(dataset.val) < 2 * block + 2:
        raise SeqgenError(
            f"the val split of {plan.data} holds {len(dataset.val)} tokens; the comparison scores "
            f"windows of {block} and needs at least {2 * block + 2}: prepare it with a larger "
            "--val-fraction, or give a smaller --block-size"
        )


def eval_interval(budget_min: float, step_ms: float | None) -> int:
    """Steps between evaluations that give about EVALUATIONS points on each curve, from the
    model's measured step time (100 ms when that measurement failed)."""
    return max(5, int(budget_min * 60e3 / (step_ms or 100.0) / EVALUATIONS))


def train_config(plan: ComparePlan, model: ModelPlan, interval: int) -> TrainConfig:
    """`seqgen train`'s settings for one side: the plan's budget, seed, device and recipe."""
    return TrainConfig(
        data=str(plan.data),
        model=model.name,
        run=model.name,
        out_dir=str(plan.out),
        max_time=plan.budget_min,
        seed=plan.seed,
        device=plan.device,  # type: ignore[arg-type]  # checked in ComparePlan.__post_init__
        precision=plan.precision,  # type: ignore[arg-type]
        compile=plan.compile,  # type: ignore[arg-type]
        eval_interval=interval,
        checkpoint_every="10m",
        batch_size=model.batch_size,
        learning_rate=model.learning_rate,
    )

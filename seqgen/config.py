"""Typed settings for every stage; each default lives here once and the CLI reads it from here.

Owns: `PrepareConfig`, `TransformerConfig`, `LSTMConfig`, `TrainConfig`, `SampleConfig`, their
validation, and their conversion to and from plain dicts (the form written beside datasets and
checkpoints). Imports nothing from seqgen but the error type.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from seqgen.errors import SeqgenError

DEFAULT_MAX_TIME_MIN = 10.0  # `seqgen train` with no budget: good folk tunes on a laptop CPU
# Sample length (new tokens) by default, read by the data kinds: a screenful of text; room for the
# longest corpus tune (2,439 chars) or a minute or two of MIDI events. Music stops earlier, at the
# end of the tune. Here rather than on the kinds so `seqgen --help` shows them without loading them.
TEXT_SAMPLE_LENGTH = 500
MUSIC_SAMPLE_LENGTH = 2500


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise SeqgenError(msg)


@dataclass
class PrepareConfig:
    val_fraction: float = 0.1  # nanoGPT's 90/10, so val losses are comparable
    seed: int = 1337  # only tune-level splits (ABC, MIDI) are seeded; text takes the tail

    def __post_init__(self) -> None:
        _check(0.0 < self.val_fraction < 1.0, f"--val-fraction must lie in (0, 1), got {self.val_fraction}")


@dataclass
class TransformerConfig:
    """Decoder-only transformer. The defaults won a wall-clock sweep on a 2-core CPU (tiny
    Shakespeare, 2.5 minutes each; BENCHMARKS.md): on a CPU, many small optimizer steps beat
    fewer large ones, so the model is small and the batch is short. Scale up on a GPU."""

    vocab_size: int = 0  # filled in from the dataset
    block_size: int = 64  # context length in tokens
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0  # short CPU runs underfit; raise to 0.1-0.2 for long runs on small data
    bias: bool = False  # no biases in Linear/LayerNorm: slightly faster, no worse (nanoGPT)
    learning_rate: float = 3e-3  # best of 2e-3, 3e-3, 4e-3, 6e-3 at 4,000 steps (BENCHMARKS.md)
    batch_size: int = 12  # sequences per step (a training default, tuned with the model)
    # The recipe (issue 17's ablations, BENCHMARKS.md): rotary positions and a ReLU^2 MLP won at
    # equal wall-clock time on tiny Shakespeare (val 1.563 against GPT-2's 1.598, 5 minutes, 2
    # seeds) and tied it on the folk corpus (val loss and the tune judge); QK-norm lost. GPT-2's
    # recipe is learned positions, GELU, a tied head, no norm on queries and keys. A checkpoint
    # saved before these fields existed reads as GPT-2's whatever the defaults are now (`LEGACY`).
    positions: str = "rotary"  # "rotary" (RoPE: relative) or "learned" (a table of block_size)
    qk_norm: bool = False  # RMS-normalise queries and keys per head before attention
    mlp: str = "relu2"  # "relu2" (ReLU squared) or "gelu"
    tie_head: bool = True  # the output head shares the token embedding's weights
    zero_init: bool = False  # output projections (attention's and the MLP's) start at zero
    # Every window keeps its tune's M:, L:, R: and K: lines in front of it, in training and past the
    # context when sampling (ABC; `seqgen.datasets.batches.pinned`): the bars written long after
    # the header still see the key they end in. Such a model re-encodes its window (no rolling).
    pin_header: bool = False

    LEGACY: ClassVar[dict[str, Any]] = {
        "positions": "learned",
        "qk_norm": False,
        "mlp": "gelu",
        "tie_head": True,
        "zero_init": False,
        "pin_header": False,
    }

    def __post_init__(self) -> None:
        _check(self.positions in ("learned", "rotary"), "--positions must be learned or rotary")
        _check(self.mlp in ("gelu", "relu2"), "--mlp must be gelu or relu2")
        _check(self.n_layer >= 1, "--n-layer must be at least 1")
        _check(self.n_embd >= 1 and self.n_head >= 1, "--n-embd and --n-head must be at least 1")
        _check(
            self.n_embd % self.n_head == 0,
            f"--n-embd {self.n_embd} must be divisible by --n-head {self.n_head}",
        )
        head = self.n_embd // max(self.n_head, 1)
        _check(
            self.positions != "rotary" or head % 2 == 0,
            f"head size {head} (--n-embd {self.n_embd} / --n-head {self.n_head}) is odd, and rotary "
            "positions (the default) turn pairs of channels: pick an even head size, or train with "
            "--positions learned",
        )
        _check(self.block_size >= 1, "--block-size must be at least 1")
        _check(0.0 <= self.dropout < 1.0, "--dropout must lie in [0, 1)")

    # How generation reads past the training window (for reports).
    @property
    def generation_context(self) -> str:
        rolling = self.positions == "rotary" and not self.pin_header
        pinned = ", its header kept in front" if self.pin_header else ""
        return f"{self.block_size} (then {'a rolling cache' if rolling else 'slides' + pinned})"

    @property
    def past_context(self) -> str:
        if self.positions == "rotary" and not self.pin_header:
            return "keeps a rolling KV cache of its last context, one token at a time"
        pinned = ", its tune's header lines kept in front" if self.pin_header else ""
        return f"slides its window a quarter of its context at a time{pinned}"

    @property
    def reading_past(self) -> str:
        if self.positions == "rotary" and not self.pin_header:
            return f"rolling its {self.block_size}-token cache"
        return f"sliding its {self.block_size}-token window"


@dataclass
class LSTMConfig:
    """Character-level stacked LSTM (cuDNN on CUDA). `block_size` is the truncated-BPTT length.
    Defaults: measured on a 2-core CPU (BENCHMARKS.md); an LSTM step is sequential in time, so a
    short window and a wider batch keep the cores busy."""

    vocab_size: int = 0
    block_size: int = 64  # training sequence length; sampling has no context limit
    n_layer: int = 2
    n_embd: int = 256  # embedding width, and the hidden width unless hidden_size is set
    hidden_size: int | None = None
    dropout: float = 0.0
    learning_rate: float = 3e-3
    batch_size: int = 32  # sequences per step (a training default, tuned with the model)

    def __post_init__(self) -> None:
        _check(self.n_layer >= 1, "--n-layer must be at least 1")
        _check(self.n_embd >= 1, "--n-embd must be at least 1")
        _check(self.hidden_size is None or self.hidden_size >= 1, "--hidden-size must be at least 1")
        _check(self.block_size >= 1, "--block-size must be at least 1")
        _check(0.0 <= self.dropout < 1.0, "--dropout must lie in [0, 1)")

    @property
    def hidden(self) -> int:
        return self.hidden_size or self.n_embd

    # How generation reads past the training window (for reports).
    generation_context: ClassVar[str] = "unbounded (carried state)"
    past_context: ClassVar[str] = "carries its state through"
    reading_past: ClassVar[str] = "carrying its state"


ModelConfig = TransformerConfig | LSTMConfig  # the registry naming them is seqgen.models.MODELS


WindowChoice = Literal["auto", "random", "tunes", "streams"]


@dataclass
class TrainConfig:
    data: str = ""  # dataset directory (data/NAME)
    model: Literal["transformer", "lstm"] = "transformer"
    run: str = ""  # checkpoint directory name; empty -> data-model-time
    out_dir: str = "checkpoints"
    batch_size: int | None = None  # None -> the model config's tuned default
    max_iters: int | None = None  # optimizer steps; stops at whichever budget ends first
    max_time: float | None = None  # minutes; both None -> DEFAULT_MAX_TIME_MIN
    learning_rate: float | None = None  # None -> the model config's tuned default
    min_lr_ratio: float = 0.0  # cosine decays to learning_rate * min_lr_ratio; to 0 measured best
    warmup_iters: int = 100
    weight_decay: float = 0.1  # applied to matrices only (p.dim() >= 2)
    beta1: float = 0.9
    beta2: float = 0.99  # small batches: a shorter second-moment memory (nanoGPT char config)
    grad_clip: float = 1.0  # 0 disables clipping
    grad_accum: int = 1  # micro-batches per optimizer step: the step sees batch x grad_accum x processes
    eval_interval: int = 250
    eval_iters: int = 40
    seed: int = 1337
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA and AMX CPUs, else fp32
    compile: Literal["auto", "on", "off"] = "auto"  # torch.compile; auto: where it measured faster
    # last.pt is written at every evaluation and also every N steps ("500") or minutes ("10m"), so
    # a killed run loses at most that much work; 10 minutes bounds the loss when evals are rare.
    checkpoint_every: str = "10m"
    patience: int | None = None  # stop after this many evaluations without a better val loss
    # Where training windows are placed (see seqgen.datasets.batches): "auto" -> "streams" for a
    # model that carries a state (the LSTM, a rotary transformer's memory) on data of whole
    # pieces (ABC, MIDI), else "random".
    windows: WindowChoice = "auto"
    model_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_iters is None and self.max_time is None:
            self.max_time = DEFAULT_MAX_TIME_MIN
        _check(self.batch_size is None or self.batch_size >= 1, "--batch-size must be at least 1")
        _check(self.max_iters is None or self.max_iters >= 1, "--max-iters must be at least 1")
        finite_time = self.max_time is None or 0 < self.max_time < math.inf
        _check(finite_time, "--max-time must be a positive number (minutes)")
        _check(
            self.learning_rate is None or 0 < self.learning_rate < math.inf,
            "--learning-rate must be a positive number",
        )
        _check(
            self.eval_interval >= 1 and self.eval_iters >= 1, "--eval-interval and --eval-iters must be >= 1"
        )
        _check(self.warmup_iters >= 0, "--warmup-iters must be >= 0")
        _check(self.grad_clip >= 0, "--grad-clip must be >= 0")
        _check(self.grad_accum >= 1, "--grad-accum must be at least 1")
        _check(self.device in ("auto", "cpu", "cuda"), "--device must be auto, cpu or cuda")
        _check(self.precision in ("auto", "fp32", "bf16"), "--precision must be auto, fp32 or bf16")
        _check(self.compile in ("auto", "on", "off"), "--compile must be auto, on or off")
        _check(self.patience is None or self.patience >= 1, "--patience must be at least 1 (evaluations)")
        _check(
            self.windows in ("auto", "random", "tunes", "streams"),
            "--windows must be auto, random, tunes or streams",
        )
        parse_interval(self.checkpoint_every)

    @property
    def checkpoint_interval(self) -> tuple[int | None, float | None]:
        """(steps, seconds) between checkpoints; one of them is None."""
        return parse_interval(self.checkpoint_every)


def parse_interval(text: str) -> tuple[int | None, float | None]:
    """'500' -> every 500 steps; '10m' (or '10min') -> every 10 minutes; '30s' -> every 30 seconds."""
    found = re.fullmatch(r"\s*(\d+)\s*|\s*(\d+(?:\.\d*)?|\.\d+)\s*(m|min|s)\s*", str(text).lower())
    value: float = 0
    if found is not None:
        value = float(found.group(2)) if found.group(2) else int(found.group(1))
    if found is None or not value > 0:
        raise SeqgenError(
            f"--checkpoint-every {text!r} is not a positive number of steps (500) or minutes (10m)"
        )
    if found.group(1):
        return int(value), None
    return None, value * (1.0 if found.group(3) == "s" else 60.0)


# `seqgen sample` on music: redraw a tune that fails the music check up to this many times ...
MAX_RETRIES = 3
# ... and this many when a key or metre is asked: a tune must then keep them too, and in a mode the
# corpus barely has the first tries rarely do (reels in Dmix: 31 of 100 at the first try, 73 after
# 3 retries, 98 after 10; BENCHMARKS.md, 2026-12-05).
CONDITIONED_RETRIES = 10
# A tune that fails only at its ending gets this many new endings (its last two bars) from the
# model at once on each retry, before it is redrawn whole (`--redraw-endings`).
ENDING_DRAWS = 4
# ... each at most this many times as long (in tokens) as the ending it replaces: new last bars, not
# a new part.
ENDING_SPAN = 2


def default_retries(asks_key_or_meter: bool) -> int:
    """The retries `seqgen sample` and the page allow when the user names none."""
    return CONDITIONED_RETRIES if asks_key_or_meter else MAX_RETRIES


@dataclass
class SampleConfig:
    temperature: float = 0.8
    top_k: int | None = None
    top_p: float | None = None
    length: int | None = None  # max new tokens per sample; None -> the data kind's default_length
    num_samples: int = 1
    seed: int | None = None  # None: a fresh random seed, printed so the run can be repeated
    prompt: str = ""
    # Transformer past its context: slide the window this many tokens at a time (None: a quarter
    # of the context; 1: re-read the whole context for every token, as a cropping sampler does).
    window_step: int | None = None
    rolling: bool = True  # a rotary transformer past its context: a rolling KV cache (False: re-encode)

    def __post_init__(self) -> None:
        _check(self.window_step is None or self.window_step >= 1, "--window-step must be at least 1")
        _check(self.temperature >= 0, f"--temperature must be >= 0 (0 = greedy), got {self.temperature}")
        _check(self.top_k is None or self.top_k >= 1, f"--top-k must be at least 1, got {self.top_k}")
        _check(self.top_p is None or 0 < self.top_p <= 1, f"--top-p must lie in (0, 1], got {self.top_p}")
        _check(self.length is None or self.length >= 1, f"--length must be at least 1, got {self.length}")
        _check(self.num_samples >= 1, f"--num-samples must be at least 1, got {self.num_samples}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """`cfg` as a dict for a file; a field equal to its `LEGACY` value is left out (it reads back
    as that value), so files of runs that use the old recipe stay as they were written before."""
    d = dataclasses.asdict(cfg)
    for key, value in getattr(cfg, "LEGACY", {}).items():
        if d.get(key) == value:
            del d[key]
    return d


def from_dict(cls: type, d: dict[str, Any]):
    """Rebuild a dataclass from a dict, ignoring keys it does not know (newer files). A key an
    older file lacks takes the class's `LEGACY` value where it has one (what files meant before
    the field existed), else the default."""
    names = {f.name for f in dataclasses.fields(cls)}
    legacy = {k: v for k, v in getattr(cls, "LEGACY", {}).items() if k not in d}
    return cls(**legacy, **{k: v for k, v in d.items() if k in names})


# -- config files ---------------------------------------------------------------------------------
MODEL_SHAPE_KEYS = (
    "block_size",
    "n_layer",
    "n_head",
    "n_embd",
    "hidden_size",
    "dropout",
    *TransformerConfig.LEGACY,  # the recipe: positions, qk_norm, mlp, tie_head, zero_init, pin_header
)


def read_toml(path: Any) -> dict[str, Any]:
    """The settings of a TOML file as a flat dict, with `-` in keys read as `_` (a file may use
    the flags' spelling, max-time, or the fields', max_time). Tables are not options: refused."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise SeqgenError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise SeqgenError(f"config file {path} is not valid TOML ({e})") from None
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            raise SeqgenError(f"{path}: [{key}] is a table; write the options as plain `key = value` lines")
        out[key.replace("-", "_")] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def train_toml(cfg: TrainConfig, model_cfg: Any, header: str = "") -> str:
    """A TOML file that `seqgen train --config FILE` reads back into the same run's settings
    (every option resolved; the run's name commented out so that a new run needs a new name)."""
    lines = [f"# {line}" for line in header.splitlines()]
    train = {k: v for k, v in to_dict(cfg).items() if k != "model_config"}
    # Every field, recipe included (not `to_dict`, which leaves out GPT-2's recipe): the file must
    # mean the same run whatever the defaults become.
    shape = {k: v for k, v in dataclasses.asdict(model_cfg).items() if k in MODEL_SHAPE_KEYS}
    for key, value in {**train, **shape}.items():
        if value is None:
            continue
        line = f"{key} = {_toml_value(value)}"
        lines.append(f"# {line}" if key == "run" else line)
    return "\n".join(lines) + "\n"

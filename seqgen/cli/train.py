"""`seqgen train`: parse the options, plan a new run or open the one to resume, train it with a
live progress display, show how it ended. The library does the rest (`seqgen.train`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seqgen.cli import app, console, default_dataset, handle_errors
from seqgen.cli._progress import TrainView
from seqgen.cli.prepare import DEFAULT_CORPUS, check_name
from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.train.distributed import Dist
    from seqgen.train.plan import RunPlan

T = TrainConfig
CLI_ONLY = ("resume", "json_out", "config")  # options of the command, not settings of the run

__all__ = ["TrainView", "train_cmd"]


@app.command("train", short_help="Train an LSTM or a causal transformer on a prepared dataset.")
@handle_errors
def train_cmd(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            help="A prepared dataset (data/NAME). Default: the built-in folk corpus, prepared on first use."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="transformer or lstm. Default: the data's own (the LSTM on ABC tunes, whose tunes "
            "pass the tune judge most often; the transformer on text and MIDI).",
            show_default=False,
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            "--name",
            help="Run name: writes OUT_DIR/RUN. Default: data-model-time. Under torchrun write --name "
            "(torchrun would read --run as its own --run-path).",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option(help="Where runs are written.")] = Path(T.out_dir),
    max_iters: Annotated[int | None, typer.Option(help="Budget in optimizer steps.")] = None,
    max_time: Annotated[
        float | None,
        typer.Option(
            help="Budget in minutes (default 10 when no budget is given; both: whichever ends first)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Sequences per step (default: tuned per model; 6 for the transformer on ABC)."),
    ] = None,
    block_size: Annotated[
        int | None,
        typer.Option(help="Context length (transformer; 128 on ABC tunes, else 64) / BPTT length (LSTM)."),
    ] = None,
    n_layer: Annotated[int | None, typer.Option(help="Layers.")] = None,
    n_head: Annotated[int | None, typer.Option(help="Attention heads (transformer only).")] = None,
    n_embd: Annotated[
        int | None, typer.Option(help="Width; for the LSTM also the hidden size unless --hidden-size.")
    ] = None,
    hidden_size: Annotated[int | None, typer.Option(help="LSTM hidden size (LSTM only).")] = None,
    positions: Annotated[
        str | None,
        typer.Option(help="Transformer positions: rotary (RoPE, relative; default) or learned (GPT-2)."),
    ] = None,
    qk_norm: Annotated[
        bool | None,
        typer.Option("--qk-norm/--no-qk-norm", help="Transformer: RMS-normalise queries and keys."),
    ] = None,
    mlp: Annotated[
        str | None, typer.Option(help="Transformer MLP activation: relu2 (ReLU squared; default) or gelu.")
    ] = None,
    tie_head: Annotated[
        bool | None,
        typer.Option("--tie-head/--untie-head", help="Transformer: the output head shares the embedding."),
    ] = None,
    zero_init: Annotated[
        bool | None,
        typer.Option("--zero-init/--no-zero-init", help="Transformer: output projections start at zero."),
    ] = None,
    pin_header: Annotated[
        bool | None,
        typer.Option(
            "--pin-header/--no-pin-header",
            help="Transformer on ABC: every window keeps its tune's M:, L:, R: and K: lines in front, "
            "in training and when sampling past the context.",
        ),
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            help="Dropout probability (default 0; 0.2 for the LSTM on ABC tunes, which over-fits without)."
        ),
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Peak learning rate (default: tuned per model).")
    ] = None,
    min_lr_ratio: Annotated[
        float, typer.Option(help="The cosine schedule ends at learning rate x this.")
    ] = T.min_lr_ratio,
    warmup_iters: Annotated[int, typer.Option(help="Linear warm-up steps.")] = T.warmup_iters,
    beta1: Annotated[float, typer.Option(help="AdamW beta1.")] = T.beta1,
    beta2: Annotated[float, typer.Option(help="AdamW beta2.")] = T.beta2,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (matrices only).")] = T.weight_decay,
    grad_clip: Annotated[float, typer.Option(help="Gradient-norm clip (0: off).")] = T.grad_clip,
    grad_accum: Annotated[
        int,
        typer.Option(help="Micro-batches per optimizer step (each step sees batch x K x processes)."),
    ] = T.grad_accum,
    eval_interval: Annotated[
        int, typer.Option(help="Evaluate train/val loss every N steps.")
    ] = T.eval_interval,
    eval_iters: Annotated[int, typer.Option(help="Batches per evaluation.")] = T.eval_iters,
    seed: Annotated[int, typer.Option(help="Random seed (init and batches).")] = T.seed,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = T.device,
    precision: Annotated[
        str, typer.Option(help="auto (bf16 on CUDA and on CPUs with AMX, else fp32), fp32 or bf16.")
    ] = T.precision,
    compile: Annotated[
        str,
        typer.Option(help="torch.compile the model: auto (on CUDA; on the CPU where it pays), on or off."),
    ] = T.compile,
    checkpoint_every: Annotated[
        str,
        typer.Option(help="Save last.pt every N steps ('500') or minutes ('10m'), besides every evaluation."),
    ] = T.checkpoint_every,
    windows: Annotated[
        str,
        typer.Option(
            help="Where training windows start: auto (the LSTM or a rotary transformer on tunes "
            "and MIDI pieces: each piece read window by window, the state or memory carried; "
            "otherwise anywhere), random, tunes (at piece starts) or streams."
        ),
    ] = T.windows,
    patience: Annotated[
        int | None,
        typer.Option(help="Stop early after N evaluations without a better val loss."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue a stopped run (checkpoints/RUN or RUN) exactly where it stopped; "
            "a new --max-iters/--max-time extends it.",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="No progress display; print the run's summary as JSON at the end.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Read options from a TOML file (key = value, named as the flags: max_time = 5); "
            "flags given here override it. Every run saves its own as RUN/config.toml.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train a character/event-level LSTM or causal transformer on a prepared dataset.

    Examples:

      [bold]seqgen train[/]                                  (built-in folk tunes, 10 minutes)

      [bold]seqgen train --data data/shakespeare --max-time 5[/]

      [bold]seqgen train --data data/mine --model lstm --n-layer 2 --n-embd 512 --max-iters 3000[/]

      [bold]seqgen train --resume checkpoints/RUN --max-time 30[/]      (continue a stopped run)

      [bold]seqgen train --config run.toml --max-time 5[/]       (options from a file, one overridden)
    """
    from seqgen.train import distributed

    if json_out:
        from seqgen.cli import quiet

        quiet()  # before anything prints: stdout carries the JSON document alone
    if config is not None:  # before the process group: the file may choose the device
        if resume is not None:
            raise SeqgenError("--config starts a new run; --resume continues one with its own settings")
        apply_config_file(ctx, config)
    dist, _ = distributed.init(ctx.params["device"])  # torchrun: join the group (else a single process)
    try:
        try:
            _train(ctx, dist)
        except typer.Exit:
            dist.barrier()  # stopped by a signal: every rank got here; leave the group together
            raise
        dist.barrier()  # rank 0 may still be writing: no rank tears the group down before it ends
    finally:
        distributed.shutdown()


def _train(ctx: typer.Context, dist: Dist) -> None:
    from seqgen.train.trainer import Trainer

    error, plan = None, None
    try:
        plan = _plan(ctx, dist)
    except SeqgenError as e:
        error = e
    _fail_together(dist, error, "another rank could not start the run (its error says why)")
    assert plan is not None
    if not dist.main:  # rank 0 alone reports; the others train silently
        result = Trainer(plan.cfg, plan.dataset, plan.model_cfg, plan.run_dir, None, plan.resume, dist).run()
        if result.stopped.startswith("SIG"):
            raise typer.Exit(result.exit_code)
        return
    for line in plan.changes:
        console.print(f"Changed on resume: {line}", highlight=False)
    view = TrainView()
    try:
        result = Trainer(plan.cfg, plan.dataset, plan.model_cfg, plan.run_dir, view, plan.resume, dist).run()
    finally:
        view.close()
    run_dir = plan.run_dir
    if result.stopped.startswith("SIG"):
        console.print(
            f"Stopped by {result.stopped} at step {result.steps:,}; saved {run_dir / 'last.pt'}.\n"
            f"Resume with: [bold]seqgen train --resume {run_dir}[/]",
            highlight=False,
        )
        raise typer.Exit(result.exit_code)
    how = "Done"
    if result.stopped == "patience":
        how = f"Stopped early (no better val loss in {plan.cfg.patience} evaluations)"
    console.print(
        f"{how}: {result.steps:,} steps in {result.elapsed_s / 60:.1f} min, best val loss "
        f"{result.best_val_loss:.4f}, {result.tokens_per_sec:,.0f} tokens/s.",
        highlight=False,
    )
    console.print(f"Next: [bold]seqgen sample {run_dir}[/]", highlight=False)
    if ctx.params.get("json_out"):
        from seqgen.cli import emit_json

        emit_json({**dataclasses.asdict(result), "run_dir": str(run_dir)})


def _plan(ctx: typer.Context, dist: Dist) -> RunPlan:
    """The run to train: the one --resume names, with the options given on the command line, or a
    new one from all the options."""
    from seqgen.datasets.store import open_dataset
    from seqgen.train.plan import plan_new_run
    from seqgen.train.resume import open_resume

    params = ctx.params
    out_dir = Path(params["out_dir"])
    if params["resume"] is not None:
        given = {
            name: value
            for name, value in params.items()
            if name not in CLI_ONLY and _source(ctx, name) == "COMMANDLINE"
        }
        return open_resume(params["resume"], out_dir, given)
    check_name(params["run"], "--run")
    data = params["data"]
    if data is None:
        # Under torchrun rank 0 prepares the built-in corpus if needed; the others wait for it.
        data, failed = Path("data") / DEFAULT_CORPUS, None
        if dist.main:
            try:
                data = default_dataset()
            except SeqgenError as e:
                failed = e
        _fail_together(dist, failed, "rank 0 could not prepare the built-in corpus (its error says why)")
    # Under torchrun, rank 0 may already have made the run directory.
    return plan_new_run({**params, "out_dir": out_dir}, open_dataset(Path(data)), check_exists=dist.main)


def _source(ctx: typer.Context, name: str) -> str | None:
    """Where an option's value came from: COMMANDLINE, DEFAULT, ..."""
    source = ctx.get_parameter_source(name)
    return source.name if source is not None else None


def apply_config_file(ctx: typer.Context, path: Path) -> None:
    """Fill `ctx.params` from a TOML file: each key names an option of this command; an option
    given on the command line wins over the file. Values are checked as the flag's own would be."""
    from seqgen.config import read_toml

    settings = read_toml(path)
    settings = _legacy_recipe(path, settings)
    if "name" in settings:  # --name is --run's other spelling
        settings.setdefault("run", settings.pop("name"))
    if "resume" in settings:
        raise SeqgenError(f"{path}: resume cannot come from a config file; give --resume on the command line")
    options = {k: t for k, t in _option_types().items() if k not in (*CLI_ONLY, "ctx")}
    for key, value in settings.items():
        if key not in options:
            known = ", ".join(sorted(options))
            raise SeqgenError(f"{path}: {key!r} is not an option of seqgen train (options: {known})")
        if _source(ctx, key) == "COMMANDLINE":
            continue
        kind = options[key]
        wanted = {int: (int,), float: (int, float), bool: (bool,)}.get(kind, (str,))
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, wanted):
            noun = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "a string")
            raise SeqgenError(f"{path}: {key} = {value!r} must be {noun}; fix it in the file")
        ctx.params[key] = kind(value)


def _legacy_recipe(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """A run's own config.toml (its first line "# seqgen VERSION: the settings of ...") written
    before the transformer's recipe fields existed meant GPT-2's recipe: it trains that again,
    not today's default. A hand-written file without them takes the defaults."""
    from seqgen.config import TransformerConfig

    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    own = first.startswith("# seqgen ") and ": the settings of " in first
    recipe = TransformerConfig.LEGACY
    if own and settings.get("model", "transformer") == "transformer" and not set(recipe) & set(settings):
        return {**settings, **recipe}
    return settings


def _option_types() -> dict[str, type]:
    """Each option of `seqgen train` and its plain type (int, float, str or Path), from the
    command's own annotations."""
    import typing

    fn = getattr(train_cmd, "__wrapped__", train_cmd)
    out = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[name] = args[0] if args else hint
    out.pop("return", None)
    return out


def _fail_together(dist: Any, error: SeqgenError | None, elsewhere: str) -> None:
    """Raise `error`; under torchrun every rank first learns whether any rank failed, and a rank
    that did not raises `elsewhere`, so that no rank is left waiting in a collective."""
    if dist is not None and dist.any_(error is not None) and error is None:
        raise SeqgenError(elsewhere)
    if error is not None:
        raise error

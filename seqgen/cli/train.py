"""`seqgen train`: one training loop for the LSTM and the transformer, with a live progress bar."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from seqgen.cli import app, console, handle_errors
from seqgen.cli.prepare import DEFAULT_CORPUS, check_name
from seqgen.config import TrainConfig, model_config
from seqgen.errors import SeqgenError

T = TrainConfig


class TrainView:
    """Renders trainer events: a header, a bar with step/loss/tokens-per-second/ETA, eval lines."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]step {task.fields[step]:>6}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tps]:>8,.0f} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("train", total=1000, step=0, loss=float("nan"), tps=0.0)

    def __call__(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "start":
            at = info["resumed_from"]
            verb = "Training" if at is None else f"Resuming at step {at:,}:"
            console.print(
                f"{verb} {info['parameters']:,} parameters on {info['device']} ({info['precision']}"
                f"{', compiled' if info['compiled'] else ''}), "
                f"peak lr {info['lr']:g}, {info['tokens_per_step']:,} tokens/step -> {info['run_dir']}",
                highlight=False,
            )
            if info["world_size"] > 1 or info["grad_accum"] > 1:
                console.print(
                    f"{info['world_size']} process(es) x batch {info['batch_size']} x grad-accum "
                    f"{info['grad_accum']} = {info['world_size'] * info['batch_size'] * info['grad_accum']} "
                    "sequences per optimizer step",
                    highlight=False,
                )
            self.progress.update(self.task, completed=1000 * info["progress"])
            self.progress.start()
        elif kind == "step":
            self.progress.update(
                self.task,
                completed=1000 * info["progress"],
                step=info["step"],
                loss=info["loss"],
                tps=info["tokens_per_sec"],
            )
        elif kind == "eval":
            mark = "  [green]best[/]" if info["improved"] else ""
            self.progress.console.print(
                f"step {info['step']:>6}  train {info['train_loss']:.4f}  val {info['val_loss']:.4f}  "
                f"lr {info['lr']:.2e}  {info['elapsed_s']:7.1f} s{mark}",
                highlight=False,
            )
            sys.stdout.flush()  # eval lines reach a redirected log as they happen
        elif kind == "end":
            self.progress.update(self.task, completed=1000)
            self.progress.stop()

    def close(self) -> None:
        self.progress.stop()


@app.command("train")
@handle_errors
def train_cmd(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            help="A prepared dataset (data/NAME). Default: the built-in folk corpus, prepared on first use."
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="transformer or lstm.")] = T.model,
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
        int | None, typer.Option(help="Sequences per step (default: tuned per model).")
    ] = None,
    block_size: Annotated[
        int | None, typer.Option(help="Context length (transformer) / BPTT length (LSTM).")
    ] = None,
    n_layer: Annotated[int | None, typer.Option(help="Layers.")] = None,
    n_head: Annotated[int | None, typer.Option(help="Attention heads (transformer only).")] = None,
    n_embd: Annotated[
        int | None, typer.Option(help="Width; for the LSTM also the hidden size unless --hidden-size.")
    ] = None,
    hidden_size: Annotated[int | None, typer.Option(help="LSTM hidden size (LSTM only).")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout probability.")] = None,
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
        model, run, device = ctx.params["model"], ctx.params["run"], ctx.params["device"]
        data = Path(ctx.params["data"]) if ctx.params["data"] is not None else None
        out_dir = Path(ctx.params["out_dir"])
    dist, _ = distributed.init(device)  # torchrun: join the process group (else a single process)
    try:
        try:
            _train(ctx, dist, data, model, run, out_dir, resume)
        except typer.Exit:
            dist.barrier()  # stopped by a signal: every rank got here; leave the group together
            raise
        dist.barrier()  # rank 0 may still be writing: no rank tears the group down before it ends
    finally:
        distributed.shutdown()


def _train(
    ctx: typer.Context,
    dist: Any,
    data: Path | None,
    model: str,
    run: str | None,
    out_dir: Path,
    resume: str | None,
) -> None:
    from seqgen.train.trainer import Trainer

    error = None
    try:
        if resume is not None:
            given = {
                name: value
                for name, value in ctx.params.items()
                if name != "resume" and ctx.get_parameter_source(name).name == "COMMANDLINE"
            }
            run_dir, cfg, mcfg, dataset, ckpt = _resume(resume, out_dir, given, dist.main)
        else:
            run_dir, cfg, mcfg, dataset, ckpt = _new_run(ctx.params, data, model, run, out_dir, dist)
    except SeqgenError as e:
        error = e
    _fail_together(dist, error, "another rank could not start the run (its error says why)")
    if not dist.main:  # rank 0 alone reports; the others train silently
        result = Trainer(cfg, dataset, mcfg, run_dir, None, resume=ckpt, dist=dist).run()
        if result.stopped.startswith("SIG"):
            raise typer.Exit(result.exit_code)
        return
    json_out = bool(ctx.params.get("json_out"))
    view = TrainView()
    try:
        result = Trainer(cfg, dataset, mcfg, run_dir, view, resume=ckpt, dist=dist).run()
    finally:
        view.close()
    if result.stopped.startswith("SIG"):
        console.print(
            f"Stopped by {result.stopped} at step {result.steps:,}; saved {run_dir / 'last.pt'}.\n"
            f"Resume with: [bold]seqgen train --resume {run_dir}[/]",
            highlight=False,
        )
        raise typer.Exit(result.exit_code)
    how = "Done"
    if result.stopped == "patience":
        how = f"Stopped early (no better val loss in {cfg.patience} evaluations)"
    console.print(
        f"{how}: {result.steps:,} steps in {result.elapsed_s / 60:.1f} min, best val loss "
        f"{result.best_val_loss:.4f}, {result.tokens_per_sec:,.0f} tokens/s.",
        highlight=False,
    )
    console.print(f"Next: [bold]seqgen sample {run_dir}[/]", highlight=False)
    if json_out:
        from seqgen.cli import emit_json

        emit_json({**dataclasses.asdict(result), "run_dir": str(run_dir)})


def _new_run(
    params: dict[str, Any], data: Path | None, model: str, run: str | None, out_dir: Path, dist: Any = None
):
    from seqgen.datasets.store import open_dataset

    check_name(run, "--run")
    main = dist is None or dist.main
    if data is None:
        # Under torchrun rank 0 prepares the built-in corpus if needed; the others wait for it.
        data, failed = Path("data") / DEFAULT_CORPUS, None
        if main:
            try:
                data = _default_dataset()
            except SeqgenError as e:
                failed = e
        _fail_together(dist, failed, "rank 0 could not prepare the built-in corpus (its error says why)")
    dataset = open_dataset(data)
    shape = ("block_size", "n_layer", "n_head", "n_embd", "hidden_size", "dropout")
    mcfg = model_config(model, vocab_size=dataset.tokenizer.vocab_size, **{k: params[k] for k in shape})
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    options = {k: v for k, v in params.items() if k in fields}
    cfg = TrainConfig(**{**options, "data": str(data), "run": run or "", "out_dir": str(out_dir)})
    cfg.run = run or _free_name(out_dir, f"{dataset.name}-{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = out_dir / cfg.run
    if run_dir.exists() and main:  # under torchrun, rank 0 may already have made it
        raise SeqgenError(f"{run_dir} already exists; pick another --run, or continue it with --resume")
    return run_dir, cfg, mcfg, dataset, None


def apply_config_file(ctx: typer.Context, path: Path) -> None:
    """Fill `ctx.params` from a TOML file: each key names an option of this command; an option
    given on the command line wins over the file. Values are checked as the flag's own would be."""
    from seqgen.config import read_toml

    settings = read_toml(path)
    if "name" in settings:  # --name is --run's other spelling
        settings.setdefault("run", settings.pop("name"))
    if "resume" in settings:
        raise SeqgenError(f"{path}: resume cannot come from a config file; give --resume on the command line")
    options = {k: t for k, t in _option_types().items() if k not in ("config", "resume", "json_out", "ctx")}
    for key, value in settings.items():
        if key not in options:
            known = ", ".join(sorted(options))
            raise SeqgenError(f"{path}: {key!r} is not an option of seqgen train (options: {known})")
        if ctx.get_parameter_source(key).name == "COMMANDLINE":
            continue
        kind = options[key]
        wanted = {int: (int,), float: (int, float)}.get(kind, (str,))
        if isinstance(value, bool) or not isinstance(value, wanted):
            noun = {int: "a whole number", float: "a number"}.get(kind, "a string")
            raise SeqgenError(f"{path}: {key} = {value!r} must be {noun}; fix it in the file")
        ctx.params[key] = kind(value)


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


def _free_name(out_dir: Path, name: str) -> str:
    """`name`, or `name-2`, `name-3`, ... when runs started in the same second already took it."""
    candidate, n = name, 1
    while (out_dir / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _resume(target: str, out_dir: Path, given: dict[str, Any], main: bool = True):
    """The run directory, configs, dataset and last.pt of the run to continue."""
    from seqgen.config import resume_configs
    from seqgen.datasets.store import open_dataset
    from seqgen.train.checkpoint import LAST, load_checkpoint, resolve_run

    run_dir = resolve_run(target, out_dir)
    ckpt = load_checkpoint(run_dir / LAST)
    missing = [k for k in ("counters", "rng", "data_position", "optimizer") if k not in ckpt]
    if missing:
        raise SeqgenError(
            f"{run_dir / LAST} holds no resume state ({', '.join(missing)} missing; it was written by "
            f"an older seqgen or edited); start a new run, or sample from it with seqgen sample {run_dir}"
        )
    if "run" in given and given.pop("run") != run_dir.name:
        raise SeqgenError("--run does not apply with --resume (the run is the one being resumed); drop it")
    given.pop("out_dir", None)
    if "data" in given:
        given["data"] = str(given["data"])
    cfg, mcfg, changes = resume_configs(ckpt["model_type"], ckpt["train_config"], ckpt["model_config"], given)
    data = Path(cfg.data)
    if "data" not in given and not (data / "meta.json").is_file():
        data = Path(ckpt["data"]["path"])  # the run was started from another directory
        if not (data / "meta.json").is_file():
            raise SeqgenError(
                f"the dataset of {run_dir} ({cfg.data}) is gone; give --data DIR with the same vocabulary"
            )
    dataset = open_dataset(data)
    if dataset.tokenizer.to_dict() != ckpt["tokenizer"] or dataset.kind != ckpt["data"]["kind"]:
        raise SeqgenError(
            f"{data} does not match the run being resumed: its vocabulary has "
            f"{dataset.tokenizer.vocab_size} {dataset.kind} tokens, the model was trained on a different "
            f"one; resume with the run's dataset ({ckpt['data']['path']})"
        )
    cfg.data = str(data)
    for line in changes if main else []:
        console.print(f"Changed on resume: {line}", highlight=False)
    return run_dir, cfg, mcfg, dataset, ckpt


def _default_dataset() -> Path:
    """data/<default corpus>, prepared now if it is not there yet."""
    from seqgen.cli._progress import stage_progress
    from seqgen.config import PrepareConfig
    from seqgen.datasets.prepare import prepare_corpus

    path = Path("data") / DEFAULT_CORPUS
    if not (path / "meta.json").is_file():
        console.print(f"No --data given: preparing the built-in corpus {DEFAULT_CORPUS} into {path} ...")
        with stage_progress() as progress:
            prepare_corpus(DEFAULT_CORPUS, Path("data"), PrepareConfig(), on_progress=progress)
    return path

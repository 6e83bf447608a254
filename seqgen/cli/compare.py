"""`seqgen compare`: train an LSTM and a transformer of the same size on the same data for the same
time, measure both, and write a Markdown report with plots."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from seqgen.cli import app, console, handle_errors
from seqgen.compare.plan import CONTEXTS, CUDA_TRANSFORMER, ComparePlan
from seqgen.config import TransformerConfig

if TYPE_CHECKING:
    from seqgen.cli._progress import TrainView
    from seqgen.compare.events import CompareEvent
    from seqgen.compare.results import CompareResults

P = ComparePlan


@app.command(
    "compare", short_help="Train an LSTM and a transformer of one size for the same time; report both."
)
@handle_errors
def compare_cmd(
    data: Annotated[
        Path | None,
        typer.Option(help="Prepared dataset directory (data/NAME). Default: the built-in corpus."),
    ] = None,
    budget: Annotated[float, typer.Option(help="Wall-clock training minutes for each model.")] = P.budget_min,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where the two runs, the report and its plots go. Default: checkpoints/compare-NAME-TIME."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = P.device,
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (as seqgen train).")] = P.precision,
    compile: Annotated[str, typer.Option(help="auto, on or off: torch.compile while training.")] = P.compile,
    seed: Annotated[int, typer.Option(help="Seed of both runs (weights, batches, samples).")] = P.seed,
    n_layer: Annotated[
        int | None, typer.Option(help="Transformer layers (the LSTM is sized to match).")
    ] = None,
    n_embd: Annotated[int | None, typer.Option(help="Transformer width.")] = None,
    n_head: Annotated[int | None, typer.Option(help="Transformer attention heads.")] = None,
    block_size: Annotated[
        int | None, typer.Option(help="Training window of both models (the transformer's context).")
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            help=f"Dropout of both models (default: {TransformerConfig.dropout:g} on a CPU, "
            f"{CUDA_TRANSFORMER['dropout']:g} on CUDA)."
        ),
    ] = None,
    lstm_layers: Annotated[
        int, typer.Option(help="LSTM layers; its width is chosen to match the parameters.")
    ] = P.lstm_layers,
    contexts: Annotated[
        str, typer.Option(help="Context lengths of the throughput measurement, comma-separated.")
    ] = ",".join(map(str, CONTEXTS)),
    music_samples: Annotated[
        int,
        typer.Option(
            help="Music data: tunes sampled from each model for the music check (ABC: the tune judge)."
        ),
    ] = P.music_samples,
    fill_bars: Annotated[
        bool,
        typer.Option(
            "--fill-bars/--free-bars",
            help="ABC: draw the tunes as `seqgen sample` does, decoding guided by the metre's bars "
            "(the model still writes every note); --free-bars leaves the model's bar lines alone.",
        ),
    ] = P.fill_bars,
    quick: Annotated[
        bool, typer.Option("--quick", help="Short measurements (tiny contexts and samples): checks it runs.")
    ] = False,
    redraw: Annotated[
        Path | None,
        typer.Option(
            help="Rewrite the report and plots of an earlier comparison (its --out) from its "
            "results.json; trains and measures nothing.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Which model suits your data, measured: an LSTM and a transformer with matched parameter counts,
    each trained for the same --budget minutes on the same data, split and seed. Then both are
    measured (val loss over time and tokens, throughput by context length, sampling latency as a
    sample grows, peak memory, loss by position in the context, sampled tunes: the music check and,
    for ABC, the tune judge) and report.md with PNG plots is written to --out.

    It takes about twice the budget plus a few minutes. Run it with nothing else busy on the machine.

    Examples:

      [bold]seqgen compare --budget 10[/]                                (the built-in folk corpus)

      [bold]seqgen compare --data data/shakespeare --budget 10 --out docs/compare-shakespeare[/]
    """
    from seqgen.cli import default_dataset
    from seqgen.compare import compare
    from seqgen.compare.plan import check_choices, default_out, parse_contexts
    from seqgen.compare.report import redraw as redraw_report
    from seqgen.datasets.store import open_dataset

    if redraw is not None:
        results, written = redraw_report(redraw)
        console.print(_summary(results), width=None if console.is_terminal else 120)
        console.print(f"Rewrote {redraw / 'report.md'} and {len(written) - 2} plots.", highlight=False)
        return
    context_list = parse_contexts(contexts)
    check_choices(device, precision, compile)  # before the built-in corpus is prepared
    data = data if data is not None else default_dataset()
    dataset = open_dataset(data)
    if not fill_bars:  # before anything trains
        from seqgen.generate.pipeline import check_decoding

        check_decoding(dataset.data_kind, dataset.tokenizer, fill_bars)
    plan = ComparePlan(
        data=data,
        out=out if out is not None else default_out(dataset.name),
        budget_min=budget,
        device=device,
        seed=seed,
        compile=compile,
        precision=precision,
        transformer={
            "n_layer": n_layer,
            "n_embd": n_embd,
            "n_head": n_head,
            "block_size": block_size,
            "dropout": dropout,
        },
        lstm_layers=lstm_layers,
        contexts=context_list,
        music_samples=music_samples,
        quick=quick,
        fill_bars=fill_bars,
        command="seqgen " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    console.print(
        f"Comparing an LSTM and a transformer on {data}: {budget:g} min of training each, then "
        f"measurements; about {plan.estimated_minutes:.0f} min in all -> {plan.out}",
        highlight=False,
    )
    progress = _Progress(budget)
    try:
        results, written = compare(plan, dataset, progress)
    finally:
        progress.close()
    console.print(_summary(results), width=None if console.is_terminal else 120)
    console.print(f"Wrote {plan.out / 'report.md'} and {len(written) - 2} plots.", highlight=False)


class _Progress:
    """Shows a comparison's events: a line per measurement, and each model's training as
    `seqgen train` shows it."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.view: TrainView | None = None

    def __call__(self, event: CompareEvent) -> None:
        from seqgen.cli._progress import TrainView
        from seqgen.compare.events import ModelTraining, StageStarted
        from seqgen.train.events import TrainEnded

        if isinstance(event, StageStarted):
            console.print(f"[dim]·[/] {event.text} ...", highlight=False)
        elif isinstance(event, ModelTraining):
            console.print(f"[bold]{event.model}[/]: training for {self.budget:g} min", highlight=False)
            self.view = TrainView()
        elif self.view is not None:
            self.view(event.event)
            if isinstance(event.event, TrainEnded):
                self.close()

    def close(self) -> None:
        if self.view is not None:
            self.view.close()
            self.view = None


def _summary(r: CompareResults) -> Table:
    """The main figures side by side, with the better model by the report's own rules."""
    from seqgen.compare.results import SamplingRun, above_baseline
    from seqgen.compare.verdicts import better, verdicts

    models = ("lstm", "transformer")
    block = r.block_size
    table = Table(
        title=f"LSTM vs transformer on {r.data.name} ({r.budget_min:g} min each)",
        title_justify="left",
    )
    for col in ("", "LSTM", "transformer", "better"):
        table.add_column(col, justify="left" if col in ("", "better") else "right")

    def row(
        name: str, values: Mapping[str, float | None], fmt: str, lower: bool | None, timing: bool = False
    ) -> None:
        """`timing`: a speed or memory figure, called even within 5% (as the report does)."""
        cells = [format(values[m], fmt) if values[m] is not None else "-" for m in models]
        table.add_row(name, *cells, "" if lower is None else better(values, lower, timing))

    row("parameters", {m: r.models[m].parameters for m in models}, ",", None)
    row("val loss (as it writes)", {m: r.val[m].streaming for m in models}, ".4f", True)
    row(
        f"val loss, fresh {block}-token windows",
        {m: r.val[m].window_mean(block) for m in models},
        ".4f",
        True,
    )
    row("training tokens seen", {m: r.models[m].tokens_seen for m in models}, ",", None)
    steps = {m: r.throughput_at(m, block) for m in models}
    tps = {m: s.tokens_per_s if s is not None else None for m, s in steps.items()}
    row(f"train tokens/s @ context {block}", tps, ",.0f", False, timing=True)
    lat = {m: s.latency_ms if isinstance(s := r.sampling[m], SamplingRun) else {} for m in models}
    n = max(lat["lstm"]) if lat["lstm"] else None
    at_n = {m: lat[m].get(n) if n is not None else None for m in models}
    row(f"sampling ms/token @ {n}", at_n, ".2f", True, timing=True)
    memory = {m: above_baseline(r.train_memory[m]) for m in models}
    row("train memory above baseline, MB", memory, ",.0f", True, timing=True)
    if r.samples and r.samples["lstm"].passed is not None:
        _sample_rows(r, row)
    table.caption = f"winner on val loss: {verdicts(r).winner}"
    return table


def _sample_rows(r: CompareResults, row: Callable[..., None]) -> None:
    """The sampled tunes: those passing the check and, with the tune judge (ABC), the share
    passing each criterion, ending on the tonic, and the inner bars that fill the metre."""
    models = ("lstm", "transformer")
    passed = {m: r.samples[m].passed for m in models}
    judges = {m: r.samples[m].judge for m in models}
    if not all(judges.values()):  # MIDI, or results from before the judge
        row("tunes passing the music check", passed, "d", False)
        return
    n = {m: r.samples[m].samples for m in models}
    row("tunes passing the tune judge", passed, "d", False)
    plays = {m: j.judged / n[m] if j is not None and n[m] else None for m, j in judges.items()}
    row("  plays (the music check)", plays, ".0%", False)
    for name in next(j.criteria for j in judges.values() if j is not None):
        share = {m: j.criteria[name] / n[m] if j is not None and n[m] else None for m, j in judges.items()}
        row(f"  {name}", share, ".0%", False)
    tonic = {m: j.ends_on_tonic / n[m] if j is not None and n[m] else None for m, j in judges.items()}
    row("  ends on the tonic", tonic, ".0%", False)
    fill = {m: j.bar_fill if j is not None else None for m, j in judges.items()}
    row("  inner bars that fill the metre", fill, ".0%", False)

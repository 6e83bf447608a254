"""`seqgen compare`: train an LSTM and a transformer of the same size on the same data for the same
time, measure both, and write a Markdown report with plots."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, handle_errors
from seqgen.errors import SeqgenError


@app.command("compare")
@handle_errors
def compare_cmd(
    data: Annotated[
        Path | None,
        typer.Option(help="Prepared dataset directory (data/NAME). Default: the built-in corpus."),
    ] = None,
    budget: Annotated[float, typer.Option(help="Wall-clock training minutes for each model.")] = 10.0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where the two runs, the report and its plots go. Default: checkpoints/compare-NAME-TIME."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (as seqgen train).")] = "auto",
    compile: Annotated[str, typer.Option(help="auto, on or off: torch.compile while training.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of both runs (weights, batches, samples).")] = 1337,
    n_layer: Annotated[
        int | None, typer.Option(help="Transformer layers (the LSTM is sized to match).")
    ] = None,
    n_embd: Annotated[int | None, typer.Option(help="Transformer width.")] = None,
    n_head: Annotated[int | None, typer.Option(help="Transformer attention heads.")] = None,
    block_size: Annotated[
        int | None, typer.Option(help="Training window of both models (the transformer's context).")
    ] = None,
    dropout: Annotated[
        float | None, typer.Option(help="Dropout of both models (default: 0 on a CPU, 0.2 on CUDA).")
    ] = None,
    lstm_layers: Annotated[
        int, typer.Option(help="LSTM layers; its width is chosen to match the parameters.")
    ] = 2,
    contexts: Annotated[
        str, typer.Option(help="Context lengths of the throughput measurement, comma-separated.")
    ] = "64,128,256,512,1024",
    music_samples: Annotated[
        int, typer.Option(help="Music data: tunes sampled from each model for the music check.")
    ] = 20,
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
    sample grows, peak memory, loss by position in the context, the music check) and report.md with
    PNG plots is written to --out.

    It takes about twice the budget plus a few minutes. Run it with nothing else busy on the machine.

    Examples:

      [bold]seqgen compare --budget 10[/]                                (the built-in folk corpus)

      [bold]seqgen compare --data data/shakespeare --budget 10 --out docs/compare-shakespeare[/]
    """
    from seqgen.cli.train import TrainView, _default_dataset
    from seqgen.compare.report import load_results, write_report
    from seqgen.compare.run import LATENCY_LENGTHS, ComparePlan, run_compare
    from seqgen.datasets.store import open_dataset

    if redraw is not None:
        results = load_results(redraw / "results.json")
        written = write_report(results, redraw)
        console.print(_summary(results), width=None if console.is_terminal else 120)
        console.print(f"Rewrote {redraw / 'report.md'} and {len(written) - 2} plots.", highlight=False)
        return
    try:
        context_list = [int(c) for c in contexts.split(",") if c.strip()]
    except ValueError:
        raise SeqgenError(
            f"--contexts takes comma-separated whole numbers, e.g. 64,128,256; got {contexts!r}"
        ) from None
    if device not in ("auto", "cpu", "cuda") or precision not in ("auto", "fp32", "bf16"):
        raise SeqgenError("--device takes auto, cpu or cuda and --precision auto, fp32 or bf16")
    if compile not in ("auto", "on", "off"):
        raise SeqgenError("--compile takes auto, on or off")
    data = data if data is not None else _default_dataset()
    dataset = open_dataset(data)
    if out is None:
        out = Path("checkpoints") / f"compare-{dataset.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SeqgenError(f"--out {out} already exists and is not empty; choose another --out")
    plan = ComparePlan(
        data=data,
        out=out,
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
        lengths=[16, 32, 64] if quick else LATENCY_LENGTHS,
        music_samples=min(music_samples, 2) if quick else music_samples,
        timing_steps=2 if quick else 10,
        command="seqgen " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    view: dict[str, Any] = {}

    def show(kind: str, info: dict[str, Any]) -> None:
        if kind == "stage":
            console.print(f"[dim]·[/] {info['text']} ...", highlight=False)
        elif kind == "train":
            console.print(f"[bold]{info['model']}[/]: training for {budget:g} min", highlight=False)
            view["train"] = TrainView()
        elif kind == "trainer":
            view["train"](info["kind"], info["info"])
            if info["kind"] == "end":
                view.pop("train").close()

    console.print(
        f"Comparing an LSTM and a transformer on {data}: {budget:g} min of training each, then "
        f"measurements; about {2 * budget + (1 if quick else 4):.0f} min in all -> {out}",
        highlight=False,
    )
    try:
        results = run_compare(plan, dataset, show)
    finally:
        if "train" in view:
            view.pop("train").close()
    written = write_report(results, out)
    console.print(_summary(results), width=None if console.is_terminal else 120)
    console.print(f"Wrote {out / 'report.md'} and {len(written) - 2} plots.", highlight=False)


def _summary(r: dict[str, Any]) -> Table:
    from seqgen.compare.report import TIE, _above, _row_at, verdicts

    v = verdicts(r)
    models = ("lstm", "transformer")
    block = r["models"]["transformer"]["config"]["block_size"]
    table = Table(
        title=f"LSTM vs transformer on {r['data']['name']} ({r['budget_min']:g} min each)",
        title_justify="left",
    )
    for col in ("", "LSTM", "transformer", "better"):
        table.add_column(col, justify="left" if col in ("", "better") else "right")

    def row(
        name: str, values: dict[str, float | None], fmt: str, lower: bool | None, timing: bool = False
    ) -> None:
        """`timing`: a speed or memory figure, called even within 5% (as the report does)."""
        cells = [format(values[m], fmt) if values[m] is not None else "-" for m in models]
        better = ""
        a, b = values["lstm"], values["transformer"]
        if lower is not None and a is not None and b is not None:
            if a == b or (timing and min(a, b) > 0 and max(a, b) / min(a, b) < TIE):
                better = "even"
            else:
                better = (min if lower else max)(models, key=lambda m: values[m])
        table.add_row(name, *cells, better)

    row("parameters", {m: r["models"][m]["parameters"] for m in models}, ",", None)
    row("val loss (whole val split)", {m: r["val"][m]["fresh"] for m in models}, ".4f", True)
    row("val loss, streaming", {m: r["val"][m]["streaming"] for m in models}, ".4f", True)
    row("training tokens seen", {m: r["models"][m]["tokens_seen"] for m in models}, ",", None)
    tps = {m: (_row_at(r["throughput"][m], block) or {}).get("tokens_per_s") for m in models}
    row(f"train tokens/s @ context {block}", tps, ",.0f", False, timing=True)
    lat = {m: r["sampling"][m].get("latency_ms", {}) for m in models}
    n = max(lat["lstm"]) if lat["lstm"] else None
    row(f"sampling ms/token @ {n}", {m: lat[m].get(n) for m in models}, ".2f", True, timing=True)
    row(
        "train memory above baseline, MB",
        {m: _above(r["train_memory"][m]) for m in models},
        ",.0f",
        True,
        timing=True,
    )
    samples = r.get("samples", {})
    if samples and samples["lstm"].get("passed") is not None:
        row("tunes passing the music check", {m: samples[m]["passed"] for m in models}, "d", False)
    table.caption = f"winner on val loss: {v['winner']}"
    return table

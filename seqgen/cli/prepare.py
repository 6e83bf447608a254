"""`seqgen prepare`: text, ABC or MIDI files (or a built-in folk corpus) -> data/NAME.

Parses the options and shows the summary; which kind the files are, which options apply to it
and the preparing itself are the data kind's (`seqgen.datasets.kinds`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from seqgen.cli import app, console, handle_errors
from seqgen.cli._progress import stage_progress
from seqgen.config import PrepareConfig
from seqgen.datasets.corpus.builtin import DEFAULT_CORPUS
from seqgen.errors import SeqgenError

__all__ = ["DEFAULT_CORPUS", "check_name", "prepare_cmd"]


@app.command(
    "prepare", short_help="Turn text, ABC or MIDI files (or the built-in corpus) into a token dataset."
)
@handle_errors
def prepare_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Text (.txt), ABC (.abc) or MIDI (.mid) files or folders. None: the built-in folk corpus."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Dataset name: writes DATA_DIR/NAME. Default: from the input.")
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where datasets live.")] = Path("data"),
    corpus: Annotated[
        str | None, typer.Option(help="A built-in music21 folk collection (see --list-corpora), or 'all'.")
    ] = None,
    list_corpora: Annotated[
        bool, typer.Option("--list-corpora", help="List the built-in corpora and exit.")
    ] = False,
    val_fraction: Annotated[float, typer.Option(help="Share of the data held out for validation.")] = (
        PrepareConfig.val_fraction
    ),
    seed: Annotated[
        int, typer.Option(help="Seed of the by-tune / by-piece split (music).")
    ] = PrepareConfig.seed,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of text input (default utf-8).")] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="ABC: parse every tune with music21 and drop those that fail.")
    ] = False,
    titles: Annotated[
        bool | None, typer.Option("--titles/--no-titles", help="ABC: keep T: title lines (default: keep).")
    ] = None,
    comments: Annotated[
        bool | None,
        typer.Option("--comments/--no-comments", help="ABC: keep % comment lines (default: drop)."),
    ] = None,
    info_fields: Annotated[
        bool | None,
        typer.Option(
            "--info-fields/--no-info-fields",
            help="ABC: keep non-musical header fields such as N:, O:, Z: (default: drop).",
        ),
    ] = None,
    drums: Annotated[
        bool | None,
        typer.Option("--drums/--no-drums", help="MIDI: keep channel-10 percussion (default: keep)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing dataset of that name.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the dataset's summary as JSON.")] = False,
) -> None:
    """Turn a corpus into a token dataset (characters for text and ABC, note events for MIDI).

    Examples:

      [bold]seqgen prepare[/]                                  (O'Neill's 1850 tunes, built in)

      [bold]seqgen prepare --corpus all[/]                      (all ~13,000 built-in folk tunes)

      [bold]seqgen prepare my_tunes.abc --name mine --validate[/]

      [bold]seqgen prepare input.txt --name shakespeare[/]

      [bold]seqgen prepare midi_folder/ --no-drums[/]
    """
    from seqgen.cli import emit_json, quiet
    from seqgen.datasets.kinds import AbcKind, SourceOptions, detect_kind

    if json_out:
        quiet()
    if list_corpora:
        _show_corpora()
        return
    check_name(name, "--name")
    cfg = PrepareConfig(val_fraction=val_fraction, seed=seed)
    options = SourceOptions(encoding, validate, titles, comments, info_fields, drums)
    t0 = time.perf_counter()
    with stage_progress() as progress:
        if paths and corpus:
            raise SeqgenError("give either input paths or --corpus, not both")
        if not paths:
            corpus = corpus or DEFAULT_CORPUS
            meta = AbcKind().prepare_builtin(corpus, data_dir, cfg, options, force, progress, out_name=name)
        else:
            kind = detect_kind(paths)
            out = data_dir / (name or _default_name(paths))
            meta = kind.prepare(paths, out, cfg, options, force, progress)
    _show_summary(meta, data_dir / meta["name"], time.perf_counter() - t0)
    if json_out:
        keep = ("name", "kind", "counts", "split", "tokens", "created")
        emit_json({"path": str(data_dir / meta["name"]), **{k: meta.get(k) for k in keep}})


def check_name(value: str | None, flag: str) -> None:
    """A dataset or run name is one folder name: no path separators, no '..'."""
    if value is not None and (not value or "/" in value or "\\" in value or value in (".", "..")):
        raise SeqgenError(
            f"{flag} {value!r} must be a plain name (no '/', '\\' or '..'); use --data-dir or "
            "--out-dir to choose the folder"
        )


def _default_name(paths: list[Path]) -> str:
    p = paths[0].resolve()
    return p.name if p.is_dir() else p.stem


def _show_summary(meta: dict, out: Path, seconds: float) -> None:
    counts = meta["counts"]
    # The headline is a line of its own: as a table title it would wrap to the narrow table's width.
    console.print(f"Prepared {out} ({meta['kind']}) in {seconds:.2f} s", highlight=False)
    table = Table()
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in counts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{n} {r}" for r, n in value.items()) or "none"
        elif isinstance(value, int):
            value = f"{value:,}"
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("train tokens", f"{meta['tokens']['train']:,}")
    table.add_row("val tokens", f"{meta['tokens']['val']:,}")
    table.add_row("token dtype", meta["dtype"])
    table.add_row("split", f"{meta['split']['method']}, val {meta['split']['val_fraction']:.0%}")
    console.print(table)
    for item in meta.get("skipped", [])[:10]:
        console.print(f"  skipped {item['path']}: {item['reason']}", highlight=False)
    console.print(f"Next: [bold]seqgen train --data {out}[/]", highlight=False)


def _show_corpora() -> None:
    from seqgen.datasets.corpus.builtin import list_corpora

    table = Table(title="Built-in folk corpora (from the installed music21)", title_justify="left")
    for col in ("name", "files", "tunes", "description"):
        table.add_column(col, justify="right" if col in ("files", "tunes") else "left")
    for info in list_corpora():
        star = " (default)" if info.name == DEFAULT_CORPUS else ""
        table.add_row(info.name + star, f"{info.files:,}", f"{info.tunes:,}", info.description)
    console.print(table)

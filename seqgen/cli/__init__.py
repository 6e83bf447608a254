"""The `seqgen` command line: thin commands over the library.

Owns: option parsing, building configs, one library call per command, and showing results
(rich tables and progress bars). Library errors (`SeqgenError`) become one line on stderr and exit
code 1; `--debug` shows the traceback instead. Nothing in the library imports this package.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from seqgen import __version__
from seqgen.errors import SeqgenError

app = typer.Typer(
    name="seqgen",
    help="Learn to generate music (ABC, MIDI) and text with an LSTM or a causal transformer.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)
_error_console = Console(stderr=True)  # errors are shown even with --quiet or --json
STATE = {"debug": False}


def quiet(on: bool = True) -> None:
    """Silence seqgen's messages, tables and progress bars (errors still show)."""
    console.quiet = err_console.quiet = on


def warn(message: str) -> None:
    """A warning the user must see even with --quiet or --json (on stderr)."""
    _error_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def emit_json(obj: Any) -> None:
    """A command's --json summary: one JSON document on stdout, whatever --quiet says."""
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> typer.Exit:
    rank = os.environ.get("RANK", "0")
    where = "" if rank == "0" else f" (rank {rank})"  # under torchrun, which process says it
    # The message is plain text: a [section] or [1] in it is shown, never read as markup.
    _error_console.print(f"[bold red]error{where}:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one line and an exit code (tracebacks only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except SeqgenError as e:
            if STATE["debug"]:
                raise
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            if STATE["debug"]:
                raise
            raise fail("interrupted", 130) from None
        except BrokenPipeError:  # `seqgen sample | head`: the reader left; stop quietly like `cat`
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except (MemoryError, torch_oom()) as e:
            if STATE["debug"]:
                raise
            where = "the GPU" if type(e).__name__ == "OutOfMemoryError" else "the machine"
            raise fail(
                f"{where} ran out of memory; lower --batch-size, --block-size or the model size"
            ) from None
        except OSError as e:  # the system refused: a full disk, a permission, a missing path
            if STATE["debug"]:
                raise
            where = f" {e.filename}" if e.filename else ""
            raise fail(f"cannot access{where}: {e.strerror or e}") from None
        except Exception as e:  # a bug: say so in one line, keep the traceback for --debug
            if STATE["debug"]:
                raise
            raise fail(
                f"internal error: {type(e).__name__}: {e} (rerun with --debug and report it)"
            ) from None

    return wrapper


def default_dataset() -> Path:
    """data/<default corpus>, prepared now (with a progress bar) if it is not there yet: what
    `seqgen train` and `seqgen compare` use when no --data is given."""
    from seqgen.cli._progress import stage_progress
    from seqgen.config import PrepareConfig
    from seqgen.datasets.corpus.builtin import DEFAULT_CORPUS
    from seqgen.datasets.kinds.abc import prepare_corpus

    path = Path("data") / DEFAULT_CORPUS
    if not (path / "meta.json").is_file():
        console.print(f"No --data given: preparing the built-in corpus {DEFAULT_CORPUS} into {path} ...")
        with stage_progress() as progress:
            prepare_corpus(DEFAULT_CORPUS, Path("data"), PrepareConfig(), on_progress=progress)
    return path


def torch_oom() -> type[BaseException]:
    """torch's CUDA out-of-memory error, without importing torch for commands that never load it."""
    torch = sys.modules.get("torch")
    return getattr(torch, "OutOfMemoryError", MemoryError) if torch else MemoryError


def _version(value: bool) -> None:
    if value:
        console.print(f"seqgen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks (for bug reports).")] = False,
    quiet_: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing but results and errors (no progress bars).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """seqgen: prepare a corpus, train a model on it, sample new tunes or text.

    Example: [bold]seqgen prepare && seqgen train --max-time 10 && seqgen sample --num-samples 5[/]
    """
    STATE["debug"] = debug
    quiet(quiet_)


from seqgen.cli import (  # noqa: E402, F401  (register commands)
    bench,
    compare,
    convert,
    evaluate,
    info,
    plot,
    prepare,
    sample,
    serve,
    train,
)

__all__ = ["app", "main"]
_ = (convert, prepare, sample, serve, train)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C (temporary files are removed) and exits 143. Training installs
    its own handler, which saves a checkpoint first."""
    err_console.print(f"[bold red]error:[/] stopped by {signal.Signals(signum).name}", highlight=False)
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="seqgen")


if __name__ == "__main__":
    main()

"""`seqgen serve`: the composer page on a local web server (Starlette under uvicorn)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from seqgen.cli import app, console, handle_errors
from seqgen.errors import SeqgenError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve", short_help="A local web page to generate and hear tunes (and text) from your runs.")
@handle_errors
def serve_cmd(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run directories to offer (inside --out-dir). Default: every run there."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option(help="The checkpoints directory; only runs inside it load.")
    ] = Path("checkpoints"),
    host: Annotated[
        str, typer.Option(help="Address to listen on. Default 127.0.0.1: this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    samples_dir: Annotated[
        Path, typer.Option(help="Where tunes made in the page are saved (RUN/seed-SEED inside).")
    ] = Path("samples"),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    max_running: Annotated[int, typer.Option(help="Generations drawn at once; more wait their turn.")] = 2,
    shipped: Annotated[
        bool, typer.Option("--shipped/--no-shipped", help="Offer the model that ships with seqgen.")
    ] = True,
) -> None:
    """Serve the composer page: pick a run, set metre, key, rhythm, opening, temperature, seed and
    the number of tunes, press Generate, and see each tune's score, hear it, read the judge's
    verdict and download .abc, .mid and .wav. Text runs stream their text as it is written.

    Examples:

      [bold]seqgen serve[/]                                  (then open http://127.0.0.1:8000)

      [bold]seqgen serve checkpoints/folk-lstm --port 8080[/]

    The page and all its assets come from seqgen itself (no internet needed). It listens on
    127.0.0.1 only unless --host says otherwise; only runs inside --out-dir can be loaded.
    """
    import uvicorn

    from seqgen.cli import warn
    from seqgen.device import resolve_device
    from seqgen.serve.app import Settings, make_app
    from seqgen.serve.catalog import Catalog

    if not 1 <= port <= 65535:
        raise SeqgenError(f"--port must lie in [1, 65535], got {port}")
    if max_running < 1:
        raise SeqgenError(f"--max-running must be >= 1, got {max_running}")
    catalog = Catalog(out_dir, runs or None, resolve_device(device), shipped=shipped)
    if not catalog.runs():
        raise SeqgenError(
            f"no runs to serve: none under {out_dir}/ and no shipped model; train one with `seqgen train`"
        )
    for problem in catalog.skipped:
        warn(f"left out {problem}")
    if not _loopback(host):
        warn(
            f"listening on {host}: other machines can reach this page and run generations on this "
            "machine; use --host 127.0.0.1 to keep it local"
        )
    sock = _listening(host, port)  # before anything is printed: a port in use is a one-line error
    shown = f"[{host}]" if ":" in host else host
    names = ", ".join(r.name for r in catalog.runs())
    console.print(f"seqgen composer at http://{shown}:{port}", highlight=False)
    console.print(f"{len(catalog.runs())} runs: {names}", highlight=False)
    console.print("Press Ctrl-C to stop.", highlight=False)
    settings = Settings(samples_dir=samples_dir, max_running=max_running)
    page = make_app(catalog, settings)

    class Server(uvicorn.Server):
        """Ctrl-C stops the running generations first, so shutdown does not wait for them."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            page.state.stopping.set()
            super().handle_exit(sig, frame)

    # An open page's stream is given 3 s to end; then the server stops.
    try:
        Server(uvicorn.Config(page, log_level="warning", timeout_graceful_shutdown=3)).run(sockets=[sock])
    finally:  # also when uvicorn re-raises the Ctrl-C
        _leave_stuck_work(page.state.working)


STOP_WAIT_S = 3.0  # how long a stopped server waits for a generation to notice it should stop


def _leave_stuck_work(working: Callable[[], int]) -> None:
    """The server has stopped. A generation stops at its next token, but one inside a library
    call (music21 reading a tune, verovio engraving) cannot be interrupted, and Python waits for
    its worker thread before exiting: a Ctrl-C'd server once stayed up for minutes. Wait a moment,
    then leave without it (every file is written whole or not at all)."""
    import os
    import sys
    import time

    deadline = time.monotonic() + STOP_WAIT_S
    while True:
        busy = working()
        if not busy:
            return
        if time.monotonic() > deadline:
            console.print(f"Stopped; left {busy} unfinished generation(s).", highlight=False)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        time.sleep(0.1)


def _listening(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line error (the port is in use, the address is not
    this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise SeqgenError(f"cannot listen on {host}:{port} ({e.strerror or e}); try another --port") from None
    return sock

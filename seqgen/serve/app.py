"""The composer page's web server (Starlette): the page, its assets, the runs, generation, files.

Owns: the routes, the limit on concurrent generations (a few run, some wait, the rest are told
the server is busy), running each generation in a worker thread so the page stays responsive,
streaming its events to the page as NDJSON lines, and the downloads: each written file gets an
unguessable address; no request value is ever used as a path. Every asset is served from the
package (the page works offline). Errors reach the page as one line of JSON, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from seqgen.errors import SeqgenError
from seqgen.serve.catalog import Catalog
from seqgen.serve.compose import Cancelled, Limits, Request, compose

STATIC = Path(__file__).with_name("static")
_TYPES = {
    ".abc": "text/vnd.abc; charset=utf-8",
    ".mid": "audio/midi",
    ".wav": "audio/wav",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass
class Settings:
    samples_dir: Path = Path("samples")
    limits: Limits = field(default_factory=Limits)
    max_running: int = 2  # generations drawing at once (each uses the model on its own thread)
    max_waiting: int = 32  # generations queued behind them; past this the server says it is busy
    max_body: int = 16_384  # bytes of one request's form (the longest field, a prompt, is 2,000 chars)


class Files:
    """Written files behind unguessable addresses: /files/TOKEN/NAME. The newest `keep` addresses
    are served (a long-running server's index stays bounded; the files stay on disk)."""

    def __init__(self, keep: int = 20_000) -> None:
        self._paths: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()
        self.keep = keep

    def address(self, path: Path) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._paths[token] = path
            while len(self._paths) > self.keep:
                self._paths.popitem(last=False)
        return f"/files/{token}/{path.name}"

    def path(self, token: str, name: str) -> Path | None:
        with self._lock:
            path = self._paths.get(token)
        return path if path is not None and path.name == name and path.is_file() else None


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def make_app(catalog: Catalog, settings: Settings | None = None) -> Starlette:
    """The ASGI app serving `catalog`'s runs."""
    settings = settings or Settings()
    files = Files()
    pool = ThreadPoolExecutor(max_workers=settings.max_running, thread_name_prefix="seqgen-generate")
    running = asyncio.Semaphore(settings.max_running)
    queue = {"waiting": 0, "running": 0}
    stopping = threading.Event()  # the server is shutting down: running generations stop
    working = {"jobs": 0}  # generations inside a worker thread now
    working_lock = threading.Lock()

    async def index(request: HttpRequest) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def runs(request: HttpRequest) -> Response:
        limits = settings.limits
        return JSONResponse(
            {
                "runs": [r.to_json() for r in catalog.runs()],
                "skipped": catalog.skipped,
                "limits": {
                    "tunes": limits.max_tunes,
                    "music_length": limits.max_music_length,
                    "text_length": limits.max_text_length,
                    "temperature": limits.max_temperature,
                },
            }
        )

    async def generate(request: HttpRequest) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body:
                return _error(f"the request is over {settings.max_body} bytes; send a shorter form", 413)
        try:
            form = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error("the request is not JSON; send the form as a JSON object", 400)
        if not isinstance(form, dict):
            return _error("the request must be a JSON object", 400)
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(None, catalog.load, form.get("run"))
            checked = Request.of(form, loaded, settings.limits)
        except SeqgenError as e:
            return _error(str(e), 400)
        if running.locked() and queue["waiting"] >= settings.max_waiting:
            return _error(
                f"the server is busy ({settings.max_running} generations running, "
                f"{queue['waiting']} waiting); try again in a moment",
                429,
            )
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        stop = threading.Event()

        def emit(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def job() -> None:
            with working_lock:
                working["jobs"] += 1
            try:
                compose(
                    loaded,
                    checked,
                    settings.samples_dir,
                    files.address,
                    emit,
                    lambda: stop.is_set() or stopping.is_set(),
                )
            except Cancelled:
                pass
            except SeqgenError as e:
                emit({"type": "error", "message": str(e)})
            except Exception as e:  # a bug: one line for the page, never a traceback
                emit({"type": "error", "message": f"generation failed ({type(e).__name__}: {e})"[:300]})
            finally:
                with working_lock:
                    working["jobs"] -= 1
                with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped meanwhile
                    loop.call_soon_threadsafe(events.put_nowait, None)

        async def stream() -> AsyncIterator[bytes]:
            queue["waiting"] += 1
            waiting = True
            try:
                busy = queue["running"] if queue["running"] >= settings.max_running else 0
                yield _line({"type": "queued", "ahead": busy + queue["waiting"] - 1})
                async with running:
                    queue["waiting"] -= 1
                    queue["running"] += 1
                    waiting = False
                    try:
                        future = loop.run_in_executor(pool, job)
                    except RuntimeError:  # the pool is shut down: the server is stopping
                        queue["running"] -= 1
                        yield _line({"type": "error", "message": "the server is stopping; start it again"})
                        return
                    try:
                        while True:
                            try:
                                event = await asyncio.wait_for(events.get(), 0.5)
                            except asyncio.TimeoutError:
                                if stopping.is_set():  # the worker may be stuck: the page is told now
                                    yield _line({"type": "error", "message": "the server stopped"})
                                    return
                                continue
                            if event is None:
                                break
                            yield _line(event)
                        await future
                    finally:
                        queue["running"] -= 1
                        stop.set()  # the page went away: the worker stops at its next token
            finally:
                if waiting:
                    queue["waiting"] -= 1

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    async def download(request: HttpRequest) -> Response:
        path = files.path(request.path_params["token"], request.path_params["name"])
        if path is None:
            return _error("no such file (files are kept while the server runs)", 404)
        media = _TYPES.get(path.suffix, "application/octet-stream")
        inline = path.suffix in (".wav", ".svg")
        return FileResponse(
            path,
            media_type=media,
            filename=path.name,
            content_disposition_type="inline" if inline else "attachment",
        )

    async def not_found(request: HttpRequest, exc: Exception) -> Response:
        return _error("no such page", 404)

    async def server_error(request: HttpRequest, exc: Exception) -> Response:
        return _error(f"the server failed ({type(exc).__name__}); see its terminal", 500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/runs", runs),
            Route("/api/generate", generate, methods=["POST"]),
            Route("/files/{token}/{name}", download),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={404: not_found, 500: server_error},
        lifespan=lifespan,
    )
    app.state.stopping = stopping  # set on Ctrl-C by `seqgen serve`, before connections drain
    app.state.working = lambda: working["jobs"]  # generations still inside a worker thread
    return app


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event) + "\n").encode("utf-8")

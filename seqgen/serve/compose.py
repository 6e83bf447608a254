"""One generation asked for by the page: checked parameters in, events out.

Owns: `Request` (the page's form, checked against the server's limits, every failure one line),
and `compose`, which runs in a worker thread: it draws the samples through the same pipeline as
`seqgen sample` (conditioning header, retries, the tune judge, files under samples/RUN/seed-SEED)
and reports as it goes through `emit(event)`: `progress`, `text` (a text run's characters as
they are drawn), `tune` (a music sample: ABC, engraved score, judge's verdict, downloads), then
`done`. Knows nothing about HTTP (see `app`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqgen.config import SampleConfig, default_retries
from seqgen.errors import SeqgenError
from seqgen.serve.catalog import Loaded

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (the page's fields are bounded to the same)."""

    max_tunes: int = 8
    max_music_length: int = 3000  # tokens per tune: O'Neill's longest tunes are ~1,500 characters
    max_text_length: int = 2000
    max_temperature: float = 2.0


class Cancelled(Exception):
    """The page went away: stop drawing."""


_FIELDS = {"--meter": "metre", "--key": "key", "--rhythm": "rhythm", "--title": "title", "--start": "opening"}


def _page_words(message: str) -> str:
    """A library message in the page's words: the form's field names, not the CLI's options."""
    for flag, field in _FIELDS.items():
        message = message.replace(flag, field)
    return message


HEADER_FIELDS = ("meter", "key", "rhythm", "title", "start")  # the page's fields of an ABC header


def _number(form: dict[str, Any], name: str, cast: type, default: Any, low: Any, high: Any) -> Any:
    value = form.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise SeqgenError(f"{name} must be a number, got {str(value).lower()}")
    try:
        got = cast(value)
    except (TypeError, ValueError):
        raise SeqgenError(f"{name} must be a number, got {str(value)[:40]!r}") from None
    if cast is int and isinstance(value, float) and value != got:  # 2.5 tunes: not drawn as 2
        raise SeqgenError(f"{name} must be a whole number, got {value}")
    if isinstance(got, float) and got != got:  # NaN
        raise SeqgenError(f"{name} must be a number, got {value!r}")
    if not low <= got <= high:
        raise SeqgenError(f"{name} must lie in [{low}, {high}], got {got}")
    return got


def _text(form: dict[str, Any], name: str, limit: int = 200) -> str | None:
    value = form.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise SeqgenError(f"{name} must be text")
    if len(value) > limit:
        raise SeqgenError(f"{name} is {len(value)} characters; at most {limit}")
    return value


def _flag(form: dict[str, Any], name: str) -> bool | None:
    value = form.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise SeqgenError(f"{name} must be a JSON true or false, got {str(value)[:40]!r}")


# The page's switches of ABC decoding (`seqgen sample --free-bars`, `--whole-redraws`).
SWITCHES = ("fill_bars", "new_endings")


@dataclass
class Request:
    """A generation the page asked for, checked."""

    cfg: SampleConfig
    header: Any  # seqgen.music.header.TuneHeader | None
    prompt: str
    start_ids: list[int]  # what every sample continues: the header or prompt, read by the run's tokenizer
    fill_bars: bool = True  # decoding follows the bar guide (`seqgen sample --fill-bars`)
    new_endings: bool = True  # a tune failing only at its ending gets new endings first

    @classmethod
    def of(cls, form: dict[str, Any], loaded: Loaded, limits: Limits) -> Request:
        """Check the page's fields for this run; raises SeqgenError with a one-line message."""
        from seqgen.music.header import TuneHeader

        kind = loaded.kind
        temperature = _number(
            form, "temperature", float, SampleConfig().temperature, 0.0, limits.max_temperature
        )
        top_k = _number(form, "top_k", int, None, 1, loaded.tokenizer.vocab_size)
        top_p = _number(form, "top_p", float, None, 0.01, 1.0)
        seed = _number(form, "seed", int, None, 0, 2**31 - 2)
        if kind.music:
            count = _number(form, "tunes", int, 4, 1, limits.max_tunes)
            length = _number(form, "length", int, kind.default_length, 16, limits.max_music_length)
        else:
            count = 1  # a text run streams one sample
            length = _number(form, "length", int, 500, 1, limits.max_text_length)
        header = None
        prompt = _text(form, "prompt", 2000) or ""
        if kind.states_key_and_meter:
            fields = {k: _text(form, k) for k in HEADER_FIELDS}
            if fields["start"] is not None:  # a one-line field: \n starts a new line, as on the CLI
                fields["start"] = fields["start"].replace("\\n", "\n")
            if any(v is not None for v in fields.values()):
                try:
                    header = TuneHeader(**fields)
                except SeqgenError as e:
                    raise SeqgenError(_page_words(str(e))) from None
                prompt = header.text()
        else:
            asked = [k for k in HEADER_FIELDS if _text(form, k) is not None]
            asked += [k for k in SWITCHES if _flag(form, k) is not None]
            if asked:
                raise SeqgenError(f"{', '.join(asked)}: for ABC runs only; this run writes {kind.label}")
        switches = {k: _flag(form, k) for k in SWITCHES}
        cfg = SampleConfig(
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            length=length,
            num_samples=count,
            seed=seed,
            prompt=prompt,
        )
        from seqgen.generate import pipeline

        try:  # a character the model never saw is refused here, before anything streams
            if header is not None:
                start_ids = pipeline.header_ids(kind, loaded.tokenizer, header)
            else:
                start_ids = kind.prompt_ids(loaded.tokenizer, prompt)
        except SeqgenError as e:
            raise SeqgenError(_page_words(str(e))) from None
        return cls(cfg, header, prompt, start_ids, *(switches[k] is not False for k in SWITCHES))


class Throttle:
    """Progress events at most every `every` seconds (the last one always)."""

    def __init__(self, emit: Emit, every: float = 0.2) -> None:
        self.emit, self.every, self.last = emit, every, 0.0

    def __call__(self, event: dict[str, Any], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            self.emit(event)


def compose(
    loaded: Loaded,
    request: Request,
    samples_dir: Path,
    files: Callable[[Path], str],
    emit: Emit,
    cancelled: Callable[[], bool],
) -> None:
    """Draw the request's samples from the loaded run, emitting events (see the module's
    docstring); `files(path)` gives a written file's download address. Raises SeqgenError (one
    line) or Cancelled."""
    from seqgen.generate import pipeline

    cfg, kind, tokenizer = request.cfg, loaded.kind, loaded.tokenizer
    cfg.seed = pipeline.fixed_seed(cfg.seed)
    start_ids = request.start_ids
    emit({"type": "start", "run": loaded.entry.name, "seed": cfg.seed, "samples": cfg.num_samples})
    progress = Throttle(emit)
    counts = {"done": 0}

    def on_progress(done: int, total: int) -> None:
        counts["done"] = done
        progress({"type": "progress", "done": done, "total": total}, force=True)

    def on_draw(attempt: int, t: int, length: int) -> None:
        if cancelled():
            raise Cancelled
        progress(
            {
                "type": "progress",
                "draw": attempt,
                "tokens": t,
                "length": length,
                "done": counts["done"],
                "total": cfg.num_samples,
            }
        )

    if not kind.music:
        _stream_text(loaded, request, start_ids, emit, on_draw)
        return
    pipe = pipeline.SamplePipeline(
        loaded.model,
        tokenizer,
        kind,
        loaded.device,
        start_ids,
        loaded.corpus,
        request.header,
        fill_bars=request.fill_bars,
        redraw_endings=request.new_endings,
    )
    out = _free_folder(pipeline.default_out(loaded.entry.checkpoint, cfg.seed, samples_dir))
    planned = pipe.plan(out, cfg.num_samples)
    with torch.no_grad():
        asked = request.header is not None and request.header.asks_key_or_meter
        report = pipe.draw(cfg, default_retries(asked), on_progress, None, on_draw)
    if cancelled():
        raise Cancelled
    audio = pipeline.audio_problem(None)
    written = pipe.write(report, planned, wav=audio is None, score=True)  # the kind engraves or not
    for i, w in enumerate(written, 1):
        if audio is not None:
            _plain_audio(w)
        emit(_tune_event(i, w, request, files, audio))
    emit(
        {
            "type": "done",
            "saved": str(out),
            "first_try": report.first_try,
            "samples": len(written),
            "audio": "FluidSynth" if audio is None else "plain synth (FluidSynth is not installed)",
        }
    )


def _free_folder(out: Path) -> Path:
    """`out`, or `out`-2, -3 ... when it exists: a tune the page made never replaces one made
    before."""
    candidate, n = out, 1
    while candidate.exists():
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")
    return candidate


def _plain_audio(w: Any) -> None:
    """A WAV beside the MIDI file from the plain synth, where FluidSynth is missing."""
    from seqgen.generate.audio import plain_wav

    mid = next((p for p in w.files if p.suffix == ".mid"), None)
    if mid is not None and w.rendered.notes:
        wav = mid.with_suffix(".wav")
        plain_wav(w.rendered.notes, wav)
        w.files.append(wav)


def _tune_event(
    index: int, w: Any, request: Request, files: Callable[[Path], str], audio: str | None
) -> dict[str, Any]:
    from seqgen.measure.samples import judge_json

    check = w.sample.check
    judge = judge_json(check.judge) if check is not None and check.judge is not None else None
    svg = next((p for p in w.files if p.suffix == ".svg"), None)
    event: dict[str, Any] = {
        "type": "tune",
        "index": index,
        "name": w.files[0].stem if w.files else f"sample_{index}",
        "text": w.rendered.text,
        "ok": bool(check.ok) if check is not None else None,
        "reason": check.reason if check is not None else None,
        "judge": judge,
        "attempts": w.sample.attempts,
        "draws": w.sample.draws,
        "new_ending": w.sample.new_ending,
        "svg": svg.read_text(encoding="utf-8") if svg is not None else None,
        "score_error": w.score_error,
        "files": {p.suffix.lstrip("."): files(p) for p in w.files},
        "seconds": round(max((n.end for n in w.rendered.notes or []), default=0.0), 1),
        "plain_audio": audio is not None,
    }
    if request.header is not None and request.header.asks_key_or_meter:
        event["kept_header"] = request.header.kept(w.rendered.text or "")
    return event


def _stream_text(
    loaded: Loaded,
    request: Request,
    start_ids: list[int],
    emit: Emit,
    on_draw: Callable[[int, int, int], None],
) -> None:
    """A text run's one sample, its characters emitted as they are drawn (a few at a time)."""
    from seqgen.generate.sampler import sample

    tokenizer, eos = loaded.tokenizer, loaded.tokenizer.eos_id
    emit({"type": "text", "text": request.prompt})
    pending: list[int] = []
    ended = [False]
    last = [time.monotonic()]

    def flush() -> None:
        if pending:
            emit({"type": "text", "text": tokenizer.decode(pending)})
            pending.clear()
        last[0] = time.monotonic()

    def on_token(t: int, ids: torch.Tensor) -> None:
        i = int(ids[0])
        if ended[0] or i == eos:
            ended[0] = True
            return
        pending.append(i)
        if len(pending) >= 16 or time.monotonic() - last[0] >= 0.05:  # a few characters at a time
            flush()

    with torch.no_grad():
        report = sample(
            loaded.model,
            start_ids,
            request.cfg,
            eos,
            loaded.device,
            on_token=on_token,
            on_draw=on_draw,
        )
    flush()
    emit({"type": "done", "samples": 1, "tokens": len(report.samples[0].ids), "saved": None})

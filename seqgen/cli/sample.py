"""`seqgen sample`: generate text, ABC tunes (+ MIDI) or MIDI from a trained run.

Parses the options and shows the result; the work (prompt, sampling, checks, files) is the data
kind's and `seqgen.generate.pipeline`'s.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seqgen.cli import app, console, err_console, handle_errors
from seqgen.config import (
    CONDITIONED_RETRIES,
    ENDING_DRAWS,
    MAX_RETRIES,
    MUSIC_SAMPLE_LENGTH,
    TEXT_SAMPLE_LENGTH,
    SampleConfig,
    default_retries,
)
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from seqgen.datasets.kinds import DataKind
    from seqgen.datasets.tokenizers import Tokenizer
    from seqgen.generate.pipeline import WrittenSample
    from seqgen.generate.sampler import SampleReport
    from seqgen.music.header import TuneHeader
    from seqgen.music.judge import Verdict

S = SampleConfig


def unescape(prompt: str) -> str:
    r"""Shell-friendly prompts: the two characters \n (and \t) mean a newline (tab)."""
    return prompt.replace("\\n", "\n").replace("\\t", "\t")


@app.command("sample", short_help="Generate text, or tunes as ABC + MIDI, from a trained run.")
@handle_errors
def sample_cmd(
    run: Annotated[
        Path | None,
        typer.Argument(
            help="A run directory (checkpoints/RUN), a checkpoint file, or `shipped` (the folk-tune model "
            "that ships with seqgen). Default: the newest run, else the shipped model."
        ),
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Randomness: <1 safer, >1 wilder, 0 greedy.")
    ] = S.temperature,
    top_k: Annotated[int | None, typer.Option(help="Sample only from the K most likely tokens.")] = None,
    top_p: Annotated[
        float | None,
        typer.Option(help="Nucleus sampling: the smallest set of tokens with probability mass P."),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(help="Text/ABC to start from; \\n means newline, e.g. 'X:1\\nM:6/8\\nK:D\\n'."),
    ] = None,
    meter: Annotated[
        str | None,
        typer.Option(help="ABC models: the tune's metre, written as M:, e.g. 6/8, 3/4, C (4/4) or C| (2/2)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="ABC models: the tune's key, written as K:, a tonic A-G with optional # or b and a mode "
            "(maj, min/m, mix, dor, phr, lyd, ion, aeo), e.g. D, Em, Dmix, F#dor."
        ),
    ] = None,
    rhythm: Annotated[
        str | None, typer.Option(help="ABC models: the tune type, written as R:, e.g. jig, reel, hornpipe.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="ABC models: the tune's title, written as T:.")] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="ABC models: the opening music, written after the K: line, so it needs --key; "
            "\\n means newline, e.g. 'D E F'."
        ),
    ] = None,
    hold_header: Annotated[
        bool,
        typer.Option(
            "--hold-header/--free-header",
            help="ABC with --key or --meter: no line of the music may start a field (K:, M:, L:), "
            "so the tune keeps the asked key and metre; the model still writes every note. "
            "--free-header lets it change them.",
        ),
    ] = True,
    fill_bars: Annotated[
        bool,
        typer.Option(
            "--fill-bars/--free-bars",
            help="ABC: decoding follows the metre: a bar line only closes a full bar (or a pickup, "
            "a part's last bar, an ending), no note goes past a full bar, and a tune does not end "
            "inside a bar; the model still writes every note. --free-bars leaves its choice alone.",
        ),
    ] = True,
    redraw_endings: Annotated[
        bool,
        typer.Option(
            "--redraw-endings/--whole-redraws",
            help="ABC, with retries: a tune that fails only at its ending (its last note not on the "
            f"key's tonic) first gets {ENDING_DRAWS} new last two bars from the model before each "
            "whole redraw, which only comes when none ends at home. --whole-redraws always "
            "redraws the whole tune.",
        ),
    ] = True,
    primer: Annotated[Path | None, typer.Option(help="MIDI models: a .mid file to continue.")] = None,
    length: Annotated[
        int | None,
        typer.Option(
            help="Max new tokens per sample (music stops at the end of "
            f"a tune). Default: {TEXT_SAMPLE_LENGTH} text, {MUSIC_SAMPLE_LENGTH} music."
        ),
    ] = None,
    num_samples: Annotated[int, typer.Option(help="How many samples.")] = S.num_samples,
    window_step: Annotated[
        int | None,
        typer.Option(
            help="Transformer, past its context: slide by N tokens (default: a quarter of the context; "
            "1 re-reads the whole context for every token, slower). Re-encodes even a rotary model."
        ),
    ] = None,
    rolling: Annotated[
        bool | None,
        typer.Option(
            "--rolling/--re-encode",
            help="A rotary transformer past its context: keep a rolling cache (one token's cost per "
            "token; its default) or re-encode the window as a learned-position model must (exact).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; the same seed gives the same output.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for one file per sample. Default: print text; "
            "music goes to samples/RUN/seed-SEED/."
        ),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            help="Music: regenerate a tune that fails the check (ABC: the tune judge) up to N times; "
            "an ABC tune that passes but ends away from its key's tonic is redrawn too, and kept "
            "when no redraw ends on the tonic; when no draw passes, the nearest miss is kept. "
            f"0: keep every first try. Default: {MAX_RETRIES}; "
            f"{CONDITIONED_RETRIES} when --key or --meter is asked (the tune must keep them too)."
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option(help="Where runs are looked up when RUN is not given.")] = Path(
        "checkpoints"
    ),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing sample files.")] = False,
    wav: Annotated[
        bool, typer.Option("--wav", help="Music: also render each sample to .wav (FluidSynth).")
    ] = False,
    score: Annotated[
        bool,
        typer.Option(
            "--score", help="Music: also engrave each sample as sheet music (.svg, verovio) beside it."
        ),
    ] = False,
    soundfont: Annotated[
        Path | None, typer.Option(help="The .sf2 soundfont for --wav. Default: the installed one.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print text or ABC as it is generated (one sample).")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary (samples, files, checks) instead of tables.")
    ] = False,
) -> None:
    """Generate new text or music from a trained model.

    Examples:

      [bold]seqgen sample[/]                                             (newest run)

      [bold]seqgen sample checkpoints/RUN --temperature 0.8 --num-samples 20 --out tunes/[/]

      [bold]seqgen sample checkpoints/RUN --prompt 'X:1\\nM:6/8\\nK:D\\n' --seed 7[/]

      [bold]seqgen sample checkpoints/RUN --meter 6/8 --key Dmix --rhythm jig --start 'D E F'[/]

      [bold]seqgen sample checkpoints/shakespeare-transformer --prompt 'ROMEO:' --length 300 --top-p 0.9[/]

      [bold]seqgen sample checkpoints/RUN --num-samples 5 --wav[/]          (tunes as ABC, MIDI and WAV)

      [bold]seqgen sample checkpoints/RUN --stream[/]                     (watch one tune being written)

    Conditioning (ABC models, instead of --prompt): each tune starts with the header X:1, T:,
    M:, L:1/8, R:, K: (the O'Neill corpus's order; T:, M:, R: and K: only when --title, --meter,
    --rhythm, --key are given), then --start. The summary counts the tunes whose every M: and K:
    field is still the one asked.

    Checks: an ABC tune must play (the music check) and pass the tune judge (rhythm, mode, form,
    and plagiarism against the training data when it is still there); each sample's line names the
    criteria it failed. A MIDI sample must pass the music check. Failed samples are redrawn up to
    --max-retries times; so is a tune that passes but does not end on its key's tonic (kept if no
    redraw does). When no draw of a tune passes, the nearest miss is kept: a tune that plays before
    one that does not, then one in the asked key and metre, then an original before a copy, then
    the fewest criteria failed.
    """
    from seqgen.cli import emit_json, quiet
    from seqgen.cli._progress import stage_progress
    from seqgen.datasets.kinds import kind_named
    from seqgen.device import resolve_device
    from seqgen.generate import pipeline
    from seqgen.shipped import resolve_sample_checkpoint
    from seqgen.train.checkpoint import load_model

    if max_retries is not None and max_retries < 0:
        raise SeqgenError(f"--max-retries must be >= 0, got {max_retries}")
    header = _tune_header(prompt, meter, key, rhythm, title, start)
    if max_retries is None:
        max_retries = default_retries(header is not None and header.asks_key_or_meter)
    cfg = SampleConfig(
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        length=length,
        num_samples=num_samples,
        seed=seed,
        prompt=header.text() if header else prompt or "",
        window_step=window_step,
        rolling=S.rolling if rolling is None else rolling,
    )
    if rolling and window_step is not None:
        raise SeqgenError(
            "--rolling keeps a rolling cache, --window-step re-encodes a window: give one of them"
        )
    if json_out:
        quiet()
    path, shipped = resolve_sample_checkpoint(run, out_dir)
    named = shipped or str(path)  # the shipped model is named as such in every output
    dev = resolve_device(device)
    model, tokenizer, ckpt = load_model(path, dev)
    if rolling and model.pins_header:
        raise SeqgenError(
            f"{named} was trained with --pin-header: it re-encodes its window with its header "
            "lines kept in front, not a rolling cache: drop --rolling"
        )
    if rolling and not model.rolls:
        raise SeqgenError(
            f"--rolling needs a transformer with rotary positions; {named} re-encodes (learned "
            "positions) or has no context limit (LSTM): drop --rolling"
        )
    kind = kind_named(ckpt.data.kind)
    cfg.length = cfg.length or kind.default_length
    if header is None:
        start_ids = kind.prompt_ids(tokenizer, unescape(prompt or ""), primer)
    else:
        start_ids = pipeline.header_ids(kind, tokenizer, header, primer)
    if stream:
        _check_stream(kind, num_samples, json_out)
        max_retries = 0  # what was streamed is the sample: no silent redraw
    if wav and not kind.music:
        raise SeqgenError("--wav renders music; this model writes text")
    if score and not kind.music:
        raise SeqgenError("--score engraves music; this model writes text")
    audio_problem = pipeline.audio_problem(soundfont) if wav else None
    pipeline.check_decoding(kind, tokenizer, fill_bars, redraw_endings)
    corpus = pipeline.training_text(ckpt.data.path, kind, tokenizer)
    pipe = pipeline.SamplePipeline(
        model, tokenizer, kind, dev, start_ids, corpus, header, hold_header, fill_bars, redraw_endings
    )
    # Fix the seed and the output paths before any work, so an existing file stops us early.
    cfg.seed = pipeline.fixed_seed(cfg.seed)
    if out is None and kind.music:
        out = pipeline.default_out(path, cfg.seed)
    planned = pipe.plan(out, cfg.num_samples, force, wav, score) if out is not None else []
    on_token = _stream(tokenizer, start_ids) if stream else None
    with stage_progress(hidden=stream) as progress:
        report = pipe.draw(
            cfg,
            max_retries,
            lambda d, t: progress("samples done", d, t),
            on_token,
            lambda attempt, t, n: progress(f"draw {attempt}: tokens", t, n),
        )
    if stream:
        sys.stdout.write("\n")
        sys.stdout.flush()
    written = pipe.write(report, planned, wav=wav and audio_problem is None, soundfont=soundfont, score=score)
    if out is None:
        _print_texts(written, report.seed, named, stream, json_out)
        return
    # Streamed music: stdout holds the tune alone, so the per-sample lines go to stderr.
    show = err_console if stream else console
    judged = kind.states_key_and_meter  # ABC: the check ends with the tune judge
    show.print(f"{len(written)} samples from {named} (seed {report.seed}) -> {out}", highlight=False)
    _show_samples(written, judged, show)
    if audio_problem:
        from seqgen.cli import warn

        warn(f"no audio: {audio_problem}")
    for w in written:
        if w.score_error:
            from seqgen.cli import warn

            warn(f"no score: {w.score_error}")
    if json_out:
        samples = pipeline.summary(written)
        result = {"checkpoint": str(path), "seed": report.seed, "out": str(out), "samples": samples}
        if shipped:
            result["shipped_model"] = shipped
        result["first_try"] = report.first_try  # samples whose first draw passed the check
        if kind.music:
            result["checked_by"] = "tune judge" if judged else "music check"
        if judged:
            result["judge"] = _judge_json(written, samples, pipe.corpus is not None)
        if header is not None:
            result["header"] = _header_summary(header, written, samples)
        emit_json({**result, "audio_error": audio_problem})
    if kind.music:
        verdicts = _verdicts(written) if judged else None
        show.print(_check_line(report, max_retries, verdicts, pipe.corpus is not None), highlight=False)
    if header is not None and header.asks_key_or_meter:
        show.print(_kept_line(header, written), highlight=False)


def _tune_header(
    prompt: str | None,
    meter: str | None,
    key: str | None,
    rhythm: str | None,
    title: str | None,
    start: str | None,
) -> TuneHeader | None:
    """The header the conditioning options ask for (checked), or None when none is given."""
    from seqgen.music.header import TuneHeader

    options = {"--meter": meter, "--key": key, "--rhythm": rhythm, "--title": title, "--start": start}
    given = [flag for flag, v in options.items() if v is not None]
    if not given:
        return None
    if prompt is not None:
        raise SeqgenError(
            f"--prompt cannot be combined with {', '.join(given)}: they build the prompt; "
            "use one or the other"
        )
    return TuneHeader(meter, key, rhythm, title, unescape(start) if start is not None else None)


def _header_summary(
    header: TuneHeader, written: list[WrittenSample], samples: list[dict[str, Any]]
) -> dict[str, Any]:
    """The --json account of the header: what was asked and, when an M: or K: was, which samples
    kept it (also marked on each sample as `kept_header`)."""
    kept = None
    if header.asks_key_or_meter:
        for w, s in zip(written, samples, strict=True):
            s["kept_header"] = header.kept(w.rendered.text or "")
        kept = sum(1 for s in samples if s["kept_header"])
    return {"text": header.text(), "meter": header.meter, "key": header.key, "kept": kept}


def _kept_line(header: TuneHeader, written: list[WrittenSample]) -> str:
    kept = sum(1 for w in written if header.kept(w.rendered.text or ""))
    return f"{kept} of {len(written)} kept the asked {header.asked} (every M: and K: field in the tune)."


def _check_stream(kind: DataKind, num_samples: int, json_out: bool) -> None:
    if not kind.streams:
        raise SeqgenError("--stream prints text or ABC; a MIDI model's samples are note events (use --out)")
    if num_samples != 1:
        raise SeqgenError("--stream prints one sample as it is made; drop --num-samples or --stream")
    if json_out:
        raise SeqgenError("--stream and --json both write stdout; pick one")


def _stream(tokenizer: Tokenizer, start: list[int]):
    """Print the prompt now, and return the sampler's `on_token` that prints each new token
    until the end of the document."""
    sys.stdout.write(tokenizer.decode([i for i in start if i != tokenizer.eos_id]))
    ended: list[bool] = []

    def on_token(t: int, ids: torch.Tensor) -> None:
        i = int(ids[0])
        if ended or i == tokenizer.eos_id:
            ended.append(True)
            return
        sys.stdout.write(tokenizer.decode([i]))
        sys.stdout.flush()

    return on_token


def _print_texts(written: list[WrittenSample], seed: int, path: str, streamed: bool, json_out: bool) -> None:
    """Text samples on stdout, untouched (no markup, no wrapping), or as JSON; the rest on stderr."""
    from seqgen.cli import emit_json

    if json_out:
        samples = [{"text": w.rendered.text, "tokens": len(w.sample.ids)} for w in written]
        emit_json({"checkpoint": path, "seed": seed, "samples": samples})
        return
    if not streamed:
        for i, w in enumerate(written):
            if len(written) > 1:
                err_console.rule(f"sample {i + 1}")
            text = w.rendered.text or ""
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    err_console.print(f"[dim](seed {seed})[/]")


def _show_samples(written: list[WrittenSample], judged: bool, to: Console) -> None:
    """One block per sample: its files, pass or fail, tries, and for ABC the tune judge's verdict
    (each failed criterion with its reason) or the music check's reason."""
    from seqgen.cli._tunes import entry, judge_details, show
    from seqgen.measure.samples import judge_score

    entries = []
    for w in written:
        s, c = w.sample, w.sample.check
        name = " ".join([w.files[0].name, *(p.suffix for p in w.files[1:])]) if w.files else "-"
        if c is None:
            entries.append(entry(name, None, [f"{len(s.ids)} tokens"], to.width))
            continue
        details = [f"{s.draws} {'try' if s.draws == 1 else 'tries'}"]
        if s.draws != s.attempts:
            passed = ": no later try passed and ended on the tonic"
            why = passed if s.passed else ", the nearest miss: no try passed"
            details[0] += f" (kept try {s.attempts}{why})"
        if s.new_ending:
            details[0] += ", its last two bars redrawn"
        if c.judge is not None:
            details += judge_details(judge_score(c.judge))
        elif not c.ok:
            details.append(f"music check: {c.reason}" if judged else c.reason or "failed")
        if c.notes:
            pitches = f", pitches {c.lowest}-{c.highest}" if c.lowest is not None else ""
            details.append(f"{c.notes} notes, {c.seconds:.1f} s{pitches}")
        entries.append(entry(name, c.ok, details, to.width))
    show(entries, to)


def _verdicts(written: list[WrittenSample]) -> list[Verdict | None]:
    """The tune judge's verdict on each sample; None where the music check failed before it."""
    return [w.sample.check.judge if w.sample.check is not None else None for w in written]


def _judge_json(
    written: list[WrittenSample], samples: list[dict[str, Any]], plagiarism: bool
) -> dict[str, Any]:
    """The --json account of the tune judge: its verdict on each sample (also set on each sample
    as `judge`, null where the music check failed first), and the counts passing each criterion."""
    from seqgen.measure.samples import judge_json
    from seqgen.music.judge import CRITERIA

    verdicts = _verdicts(written)
    for v, s in zip(verdicts, samples, strict=True):
        s["judge"] = judge_json(v)
    judged = [v for v in verdicts if v is not None]
    return {
        "judged": len(judged),
        "passed": sum(v.ok for v in judged),
        "criteria": {name: sum(v.passed(name) for v in judged) for name in CRITERIA},
        "ends_on_tonic": sum(v.ends_on_tonic for v in judged),
        "plagiarism_measured": plagiarism,
    }


def _check_line(
    report: SampleReport, max_retries: int, verdicts: list[Verdict | None] | None, plagiarism: bool
) -> str:
    """How many passed the check on the first try and after retries; with the tune judge's
    `verdicts` (ABC), the tunes written criterion by criterion."""
    n = len(report.samples)
    passed = sum(1 for s in report.samples if s.passed)
    check = "the music check" if verdicts is None else "the tune judge"
    if report.greedy:
        line = (
            f"{passed} of {n} passed {check}; no retries: --temperature 0 is greedy and "
            "would draw the same tune again (raise it to retry)."
        )
    else:
        endings = sum(s.new_ending for s in report.samples)
        redrawn = f", {endings} of them with a new ending" if endings else ""
        line = (
            f"{report.first_try} of {n} passed {check} on the first try; "
            f"{passed} of {n} after retries (--max-retries {max_retries}{redrawn})."
        )
    return line if verdicts is None else f"{line} {_criteria_line(verdicts, plagiarism)}"


def _criteria_line(verdicts: list[Verdict | None], plagiarism: bool) -> str:
    """The tunes as written, criterion by criterion (a tune the music check refused counts as
    failing each)."""
    from seqgen.music.judge import CRITERIA

    n = len(verdicts)
    judged = [v for v in verdicts if v is not None]
    counts = [
        f"{name} {sum(v.passed(name) for v in judged)}/{n}"
        for name in CRITERIA
        if plagiarism or name != "plagiarism"
    ]
    line = f"The tunes written: {', '.join(counts)}"
    line += "" if plagiarism else ", plagiarism not measured (the training data was not found)"
    line += f"; {sum(v.ends_on_tonic for v in judged)} of {n} end on the tonic"
    if len(judged) < n:
        line += f"; {n - len(judged)} not judged (refused by the music check first)"
    return line + "."

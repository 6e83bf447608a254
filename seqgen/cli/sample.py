"""`seqgen sample`: generate text, ABC tunes (+ MIDI) or MIDI from a trained run.

Parses the options and shows the result; the work (prompt, sampling, checks, files) is the data
kind's and `seqgen.generate.pipeline`'s.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from seqgen.cli import app, console, err_console, handle_errors
from seqgen.config import MAX_RETRIES, MUSIC_SAMPLE_LENGTH, TEXT_SAMPLE_LENGTH, SampleConfig
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    import torch

    from seqgen.datasets.kinds import DataKind
    from seqgen.datasets.tokenizers import Tokenizer
    from seqgen.generate.pipeline import WrittenSample
    from seqgen.generate.sampler import SampleReport

S = SampleConfig


def unescape(prompt: str) -> str:
    r"""Shell-friendly prompts: the two characters \n (and \t) mean a newline (tab)."""
    return prompt.replace("\\n", "\n").replace("\\t", "\t")


@app.command("sample", short_help="Generate text, or tunes as ABC + MIDI, from a trained run.")
@handle_errors
def sample_cmd(
    run: Annotated[
        Path | None,
        typer.Argument(help="A run directory (checkpoints/RUN) or checkpoint file. Default: the newest run."),
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
            "1 re-reads the whole context for every token, slower)."
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
        int, typer.Option(help="Music: regenerate a tune that fails the check up to N times.")
    ] = MAX_RETRIES,
    out_dir: Annotated[Path, typer.Option(help="Where runs are looked up when RUN is not given.")] = Path(
        "checkpoints"
    ),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing sample files.")] = False,
    wav: Annotated[
        bool, typer.Option("--wav", help="Music: also render each sample to .wav (FluidSynth).")
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

      [bold]seqgen sample checkpoints/shakespeare-transformer --prompt 'ROMEO:' --length 300 --top-p 0.9[/]

      [bold]seqgen sample checkpoints/RUN --num-samples 5 --wav[/]          (tunes as ABC, MIDI and WAV)

      [bold]seqgen sample checkpoints/RUN --stream[/]                     (watch one tune being written)
    """
    from seqgen.cli import emit_json, quiet
    from seqgen.cli._progress import stage_progress
    from seqgen.datasets.kinds import kind_named
    from seqgen.device import resolve_device
    from seqgen.generate import pipeline
    from seqgen.train.checkpoint import load_model
    from seqgen.train.rundir import resolve_checkpoint

    if max_retries < 0:
        raise SeqgenError(f"--max-retries must be >= 0, got {max_retries}")
    cfg = SampleConfig(
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        length=length,
        num_samples=num_samples,
        seed=seed,
        prompt=prompt or "",
        window_step=window_step,
    )
    if json_out:
        quiet()
    path = resolve_checkpoint(run, out_dir)
    dev = resolve_device(device)
    model, tokenizer, ckpt = load_model(path, dev)
    kind = kind_named(ckpt.data.kind)
    cfg.length = cfg.length or kind.default_length
    start = kind.prompt_ids(tokenizer, unescape(prompt or ""), primer)
    if stream:
        _check_stream(kind, num_samples, json_out)
        max_retries = 0  # what was streamed is the sample: no silent redraw
    if wav and not kind.music:
        raise SeqgenError("--wav renders music; this model writes text")
    audio_problem = pipeline.audio_problem(soundfont) if wav else None
    pipe = pipeline.SamplePipeline(model, tokenizer, kind, dev, start)
    # Fix the seed and the output paths before any work, so an existing file stops us early.
    cfg.seed = pipeline.fixed_seed(cfg.seed)
    if out is None and kind.music:
        out = pipeline.default_out(path, cfg.seed)
    planned = pipe.plan(out, cfg.num_samples, force, wav) if out is not None else []
    on_token = _stream(tokenizer, start) if stream else None
    with stage_progress(hidden=stream) as progress:
        report = pipe.draw(cfg, max_retries, lambda d, t: progress("sampling", d, t), on_token)
    if stream:
        sys.stdout.write("\n")
        sys.stdout.flush()
    written = pipe.write(report, planned, wav=wav and audio_problem is None, soundfont=soundfont)
    if out is None:
        _print_texts(written, report.seed, path, stream, json_out)
        return
    # Streamed music: stdout holds the tune alone, so the table goes to stderr.
    show = err_console if stream else console
    show.print(_table(written, f"{len(written)} samples from {path} (seed {report.seed}) -> {out}"))
    if audio_problem:
        from seqgen.cli import warn

        warn(f"no audio: {audio_problem}")
    if json_out:
        emit_json(
            {
                "checkpoint": str(path),
                "seed": report.seed,
                "out": str(out),
                "samples": pipeline.summary(written),
                "audio_error": audio_problem,
            }
        )
    if kind.music:
        show.print(_check_line(report, max_retries), highlight=False)


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


def _print_texts(written: list[WrittenSample], seed: int, path: Path, streamed: bool, json_out: bool) -> None:
    """Text samples on stdout, untouched (no markup, no wrapping), or as JSON; the rest on stderr."""
    from seqgen.cli import emit_json

    if json_out:
        samples = [{"text": w.rendered.text, "tokens": len(w.sample.ids)} for w in written]
        emit_json({"checkpoint": str(path), "seed": seed, "samples": samples})
        return
    if not streamed:
        for i, w in enumerate(written):
            if len(written) > 1:
                err_console.rule(f"sample {i + 1}")
            text = w.rendered.text or ""
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    err_console.print(f"[dim](seed {seed})[/]")


def _table(written: list[WrittenSample], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("#", "files", "tokens", "notes", "seconds", "pitches", "tries", "check"):
        table.add_column(col, justify="left" if col in ("files", "check") else "right")
    for i, w in enumerate(written):
        s, c = w.sample, w.sample.check
        row = [str(i + 1), " ".join(p.name for p in w.files), str(len(s.ids))]
        if c is not None:
            pitches = f"{c.lowest}-{c.highest}" if c.lowest is not None else "-"
            row += [
                str(c.notes),
                f"{c.seconds:.1f}",
                pitches,
                str(s.attempts),
                "[green]ok[/]" if c.ok else f"[red]{c.reason}[/]",
            ]
        else:
            row += ["-", "-", "-", "1", "-"]
        table.add_row(*row)
    return table


def _check_line(report: SampleReport, max_retries: int) -> str:
    n = len(report.samples)
    passed = sum(1 for s in report.samples if s.passed)
    if report.greedy:
        return (
            f"{passed} of {n} passed the music check; no retries: --temperature 0 is greedy and "
            "would draw the same tune again (raise it to retry)."
        )
    return (
        f"{report.first_try} of {n} passed the music check on the first try; "
        f"{passed} of {n} after retries (--max-retries {max_retries})."
    )

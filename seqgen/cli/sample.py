"""`seqgen sample`: generate text, ABC tunes (+ MIDI) or MIDI from a trained run."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from seqgen.cli import app, console, err_console, handle_errors
from seqgen.config import DEFAULT_LENGTH, SampleConfig
from seqgen.errors import SeqgenError

S = SampleConfig


def unescape(prompt: str) -> str:
    r"""Shell-friendly prompts: the two characters \n (and \t) mean a newline (tab)."""
    return prompt.replace("\\n", "\n").replace("\\t", "\t")


def prompt_ids(kind: str, tokenizer, prompt: str | None, primer: Path | None) -> list[int]:
    """The context the sampler starts from, for the data kind."""
    if kind == "midi":
        if prompt:
            raise SeqgenError("--prompt does not apply to a MIDI model; use --primer FILE.mid")
        ids = [tokenizer.eos_id]
        if primer is not None:
            from seqgen.music.midi_io import read_midi

            ids += tokenizer.encode_notes(read_midi(primer, drums=tokenizer.drums))
        return ids
    if primer is not None:
        raise SeqgenError(
            f"--primer applies to MIDI models only; this model was trained on {kind}, use --prompt"
        )
    text = unescape(prompt or "")
    bad = tokenizer.unknown(text)
    if bad:
        shown = " ".join(repr(c) for c in bad[:20])
        raise SeqgenError(f"the prompt holds characters the model never saw: {shown}; remove them")
    from seqgen.generate.sampler import document_start

    ids = tokenizer.encode(text)
    if tokenizer.eos_id is not None or not ids:
        return document_start(tokenizer) + ids
    return ids


@app.command("sample")
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
            "a tune). Default: 500 text, 2500 music."
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
    ] = 3,
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
    from seqgen.device import resolve_device
    from seqgen.generate import writer
    from seqgen.generate.sampler import sample
    from seqgen.train.checkpoint import load_model, resolve_checkpoint

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
    from seqgen.cli import emit_json, quiet

    if json_out:
        quiet()
    path = resolve_checkpoint(run, out_dir)
    dev = resolve_device(device)
    model, tokenizer, ckpt = load_model(path, dev)
    kind = ckpt["data"]["kind"]
    cfg.length = cfg.length or DEFAULT_LENGTH[kind]
    start = prompt_ids(kind, tokenizer, prompt, primer)
    music = kind != "text"
    if stream:
        if kind == "midi":
            raise SeqgenError(
                "--stream prints text or ABC; a MIDI model's samples are note events (use --out)"
            )
        if num_samples != 1:
            raise SeqgenError("--stream prints one sample as it is made; drop --num-samples or --stream")
        if json_out:
            raise SeqgenError("--stream and --json both write stdout; pick one")
        max_retries = 0  # what was streamed is the sample: no silent redraw
    if wav and not music:
        raise SeqgenError("--wav renders music; this model writes text")
    audio_problem = None
    if wav:
        from seqgen.generate.audio import check_audio

        try:
            check_audio(soundfont)
        except SeqgenError as e:  # the MIDI files are still written; say what to install
            audio_problem = str(e)

    renders: dict[tuple[int, ...], writer.Rendered] = {}

    def render(ids: list[int]) -> writer.Rendered:
        """Decode (and for ABC, parse) each sample once: the check and the files share it."""
        key = tuple(ids)
        if key not in renders:
            renders[key] = writer.render(kind, tokenizer, start, ids)
        return renders[key]

    def check(ids: list[int], ended: bool):
        return writer.check(kind, render(ids), ended)

    # Fix the seed and the output paths before any work, so an existing file stops us early.
    if cfg.seed is None:
        cfg.seed = random.randrange(2**31 - 1)
    if out is None and music:
        out = Path("samples") / path.parent.name / f"seed-{cfg.seed}"
    planned: list[list[Path]] = []
    if out is not None:
        if out.exists() and not out.is_dir():
            raise SeqgenError(f"--out {out} is a file, not a directory; choose a directory")
        planned = writer.planned_paths(kind, out, cfg.num_samples)
        writer.refuse_existing(planned, force)
        if wav:
            writer.refuse_existing(
                [[p.with_suffix(".wav") for p in g if p.suffix == ".mid"] for g in planned], force
            )

    from seqgen.cli._progress import stage_progress

    on_token = None
    if stream:
        sys.stdout.write(tokenizer.decode([i for i in start if i != tokenizer.eos_id]))
        ended = []

        def on_token(t: int, ids: Any) -> None:
            i = int(ids[0])
            if ended or i == tokenizer.eos_id:
                ended.append(True)
                return
            sys.stdout.write(tokenizer.decode([i]))
            sys.stdout.flush()

    with stage_progress(hidden=stream) as progress:
        report = sample(
            model,
            start,
            cfg,
            tokenizer.eos_id,
            dev,
            check=check if music else None,
            max_retries=max_retries if music else 0,
            on_progress=lambda d, t: progress("sampling", d, t),
            on_token=on_token,
        )
    if stream:
        sys.stdout.write("\n")
        sys.stdout.flush()
    if json_out and out is None:
        emit_json(
            {
                "checkpoint": str(path),
                "seed": report.seed,
                "samples": [{"text": render(s.ids).text, "tokens": len(s.ids)} for s in report.samples],
            }
        )
        return
    if out is None:
        if stream:
            err_console.print(f"[dim](seed {report.seed})[/]")
            return
        # The text itself goes to stdout untouched (no markup, no wrapping); the rest to stderr.
        for i, s in enumerate(report.samples):
            if len(report.samples) > 1:
                err_console.rule(f"sample {i + 1}")
            text = render(s.ids).text or ""
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        err_console.print(f"[dim](seed {report.seed})[/]")
        return
    table = Table(
        title=f"{len(report.samples)} samples from {path} (seed {report.seed}) -> {out}", title_justify="left"
    )
    for col in ("#", "files", "tokens", "notes", "seconds", "pitches", "tries", "check"):
        table.add_column(col, justify="left" if col in ("files", "check") else "right")
    summary = []
    for i, (s, paths) in enumerate(zip(report.samples, planned, strict=False)):
        rendered = render(s.ids)
        written = writer.write(kind, rendered, paths)
        if wav and audio_problem is None:
            from seqgen.generate.audio import render_wav

            for p in [p for p in written if p.suffix == ".mid"]:
                render_wav(p, p.with_suffix(".wav"), soundfont)
                written.append(p.with_suffix(".wav"))
        summary.append(
            {
                "files": [str(p) for p in written],
                "tokens": len(s.ids),
                "attempts": s.attempts,
                "check": None if s.check is None else {"ok": s.check.ok, "reason": s.check.reason},
            }
        )
        c = s.check
        row = [str(i + 1), " ".join(p.name for p in written), str(len(s.ids))]
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
    # Streamed music: stdout holds the tune alone, so the table goes to stderr.
    show = err_console if stream else console
    show.print(table)
    if audio_problem:
        from seqgen.cli import warn

        warn(f"no audio: {audio_problem}")
    if json_out:
        emit_json(
            {
                "checkpoint": str(path),
                "seed": report.seed,
                "out": str(out),
                "samples": summary,
                "audio_error": audio_problem,
            }
        )
    if music:
        passed = sum(1 for s in report.samples if s.passed)
        show.print(
            f"{report.first_try} of {len(report.samples)} passed the music check on the first try; "
            f"{passed} of {len(report.samples)} after retries (--max-retries {max_retries}).",
            highlight=False,
        )

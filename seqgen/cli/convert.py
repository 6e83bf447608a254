"""`seqgen convert midi`: ABC tunes (files, corpus tunes, samples) and event-token text -> MIDI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from seqgen.cli import app, console, err_console, handle_errors
from seqgen.errors import SeqgenError, WriteError

if TYPE_CHECKING:
    from seqgen.datasets.kinds import DataKind

convert_app = typer.Typer(help="Convert between formats.", no_args_is_help=True)
app.add_typer(convert_app, name="convert", short_help="Convert ABC or event text to MIDI, and MIDI to WAV.")


def _resolve_input(p: Path) -> Path:
    """A path on disk, or a file of music21's bundled corpus such as oneills1850/0001-0050.abc."""
    if p.exists():
        return p
    from seqgen.datasets.corpus.builtin import corpus_paths

    want = p.as_posix()
    for candidate in corpus_paths("all"):
        if candidate.as_posix().endswith("/" + want):
            return candidate
    raise SeqgenError(
        f"{p} does not exist (neither on disk nor in music21's corpus, e.g. oneills1850/0001-0050.abc)"
    )


def _jobs(inputs: list[Path]) -> list[tuple[DataKind, str, str]]:
    """(kind, label, text) per tune / token file: ABC tunes split out of tunebooks, MIDI event text."""
    from seqgen.datasets.corpus.abc import split_tunebook
    from seqgen.datasets.kinds import AbcKind, MidiKind

    abc, events = AbcKind(), MidiKind()
    jobs: list[tuple[DataKind, str, str]] = []
    for raw in inputs:
        path = _resolve_input(raw)
        files = (
            sorted(f for f in path.rglob("*") if f.suffix.lower() in (".abc", ".txt"))
            if path.is_dir()
            else [path]
        )
        for f in files:
            try:
                text = f.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise SeqgenError(f"cannot read {f}: {e.strerror or e}") from None
            if f.suffix.lower() == ".abc" or text.lstrip().startswith("X:"):
                tunes = split_tunebook(text)
                if not tunes:
                    raise SeqgenError(f"{f} holds no ABC tune (no X: line)")
                for k, tune in enumerate(tunes, start=1):
                    jobs.append((abc, f.stem if len(tunes) == 1 else f"{f.stem}_{k:03d}", tune))
            else:
                jobs.append((events, f.stem, text))
    # Two inputs with the same name (a/t.abc, b/t.abc) must not write the same t.mid.
    seen: dict[str, int] = {}
    unique: list[tuple[DataKind, str, str]] = []
    for kind, label, text in jobs:
        seen[label] = seen.get(label, 0) + 1
        unique.append((kind, label if seen[label] == 1 else f"{label}-{seen[label]}", text))
    return unique


@convert_app.command(
    "midi", short_help="ABC tunes (corpus tunes or samples) or event-token text -> .mid files."
)
@handle_errors
def midi_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="ABC files or folders (tunebooks are split into tunes), "
            "music21 corpus files, or event-token .txt files."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Directory for the .mid files.")] = Path("midi"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing .mid files.")] = False,
) -> None:
    """Convert ABC tunes (or event-token text from a MIDI model) to MIDI files, one per tune.

    Examples:

      [bold]seqgen convert midi oneills1850/0001-0050.abc --out midi/[/]   (a built-in corpus file)

      [bold]seqgen convert midi samples/RUN/seed-1/ --out midi/[/]
    """
    from seqgen.music.midi_io import write_midi

    jobs = _jobs(inputs)
    targets = [out / f"{label}.mid" for _, label, _ in jobs]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise SeqgenError(
            f"{existing[0]} already exists ({len(existing)} in all); pass --force or choose --out"
        )
    ok, failed = 0, []
    progress = Progress(
        TextColumn("converting"), BarColumn(), MofNCompleteColumn(), console=console, transient=True
    )
    with progress:
        task = progress.add_task("convert", total=len(jobs))
        for (kind, label, text), target in zip(jobs, targets, strict=False):
            # A tune that does not parse is reported and skipped; a file that cannot be written
            # (a full disk, no permission) stops the command.
            try:
                notes, tempo = kind.notes_of(text)
                if not notes:
                    raise SeqgenError("it has no notes")
                write_midi(notes, target, tempo_qpm=tempo)
                ok += 1
            except WriteError:
                raise
            except SeqgenError as e:
                failed.append((label, str(e)))
            progress.advance(task)
    for label, reason in failed:
        err_console.print(f"[yellow]skipped[/] {label}: {reason}", highlight=False)
    if ok == 0:
        label, reason = failed[0]
        raise SeqgenError(
            f"no MIDI file written: all {len(failed)} tune(s) failed (first, {label}: {reason})"
        )
    console.print(f"Wrote {ok} MIDI file(s) to {out}/; {len(failed)} failed.", highlight=False)


@convert_app.command("wav", short_help="MIDI files -> audio (.wav) with FluidSynth.")
@handle_errors
def wav_cmd(
    inputs: Annotated[
        list[Path], typer.Argument(help="MIDI files, or folders of them (searched recursively).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Directory for the .wav files. Default: beside each MIDI file.")
    ] = None,
    soundfont: Annotated[
        Path | None,
        typer.Option(
            help="A General MIDI .sf2 soundfont. Default: $SEQGEN_SOUNDFONT, then the installed one."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing .wav files.")] = False,
) -> None:
    """Render MIDI files to audio (WAV, 44.1 kHz stereo) with FluidSynth and a General MIDI
    soundfont, at a listening level (RMS -18 dBFS, peaks below -1 dBFS).

    Examples:

      [bold]seqgen convert wav samples/RUN/seed-7/[/]                  (every sample, beside its .mid)

      [bold]seqgen convert wav tune.mid --out audio/ --soundfont ~/sf2/FluidR3_GM.sf2[/]
    """
    from seqgen.generate.audio import check_audio, render_wav

    check_audio(soundfont)  # a missing FluidSynth or soundfont: one line, before any work
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in (".mid", ".midi"))
        elif p.is_file():
            if p.suffix.lower() not in (".mid", ".midi"):
                raise SeqgenError(f"{p} is not a MIDI file (.mid); render MIDI files or folders of them")
            files.append(p)
        else:
            raise SeqgenError(f"{p} does not exist; give MIDI files or folders")
    if not files:
        raise SeqgenError(f"no .mid files in {', '.join(map(str, inputs))}")
    targets = [(out / f.name if out else f).with_suffix(".wav") for f in files]
    if len(set(targets)) < len(targets):
        raise SeqgenError("two inputs have the same name and would write the same .wav; convert them apart")
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise SeqgenError(
            f"{existing[0]} already exists ({len(existing)} in all); pass --force or choose --out"
        )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    seconds, ok, failed = 0.0, 0, []
    progress = Progress(
        TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), console=err_console, transient=True
    )
    with progress:
        task = progress.add_task("render", total=len(files))
        for f, target in zip(files, targets, strict=True):
            # A file FluidSynth cannot render is reported and skipped; one that cannot be written
            # (a full disk, no permission) stops the command.
            try:
                seconds += render_wav(f, target, soundfont)["seconds"]
                ok += 1
            except WriteError:
                raise
            except SeqgenError as e:
                failed.append((f, str(e)))
            progress.advance(task)
    for f, reason in failed:
        err_console.print(f"[yellow]skipped[/] {f}: {reason}", highlight=False)
    if ok == 0:
        raise SeqgenError(f"no WAV file written: all {len(failed)} file(s) failed (first: {failed[0][1]})")
    where = f"{out}/" if out else "beside the MIDI files"
    console.print(
        f"Wrote {ok} WAV file(s), {seconds:.0f} s of audio, {where}; {len(failed)} failed.", highlight=False
    )

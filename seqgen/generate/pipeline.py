"""One sample-to-files pipeline, shared by `seqgen sample` and `seqgen compare`.

Owns: the order of the work once a model is loaded: plan the output files and refuse existing
ones (before any sampling), draw the samples (redrawing those the data kind's check rejects),
render each sample once (the check, the files and the caller share that one render), write the
files and, on request, a WAV beside each MIDI file. Knows nothing about options or printing (the
CLI's), the decoding loop (`sampler`), or what a kind's samples look like (`seqgen.datasets.kinds`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from seqgen.config import SampleConfig
from seqgen.datasets.kinds import DataKind, Rendered
from seqgen.datasets.tokenizers import Tokenizer
from seqgen.errors import SeqgenError
from seqgen.generate import sampler, writer
from seqgen.models.base import SequenceModel

if TYPE_CHECKING:
    from seqgen.music.check import TuneCheck
    from seqgen.music.header import TuneHeader

SAMPLES_DIR = Path("samples")  # music samples go to samples/RUN/seed-SEED/ when no --out is given


@dataclass
class WrittenSample:
    """One sample as drawn, decoded, and written (`files` is empty when nothing was written)."""

    sample: sampler.Sample
    rendered: Rendered
    files: list[Path]
    score_error: str | None = None  # why `--score` wrote no score for this sample


def fixed_seed(seed: int | None) -> int:
    """The seed to sample with: `seed`, or a fresh one to print so the run can be repeated."""
    return random.randrange(2**31 - 1) if seed is None else seed


def default_out(checkpoint: Path, seed: int, root: Path = SAMPLES_DIR) -> Path:
    """Where a run's music samples go without --out: samples/RUN/seed-SEED (under `root`)."""
    return root / checkpoint.parent.name / f"seed-{seed}"


def audio_problem(soundfont: Path | None) -> str | None:
    """Why WAVs cannot be rendered (FluidSynth or a soundfont missing), or None when they can.
    The MIDI files are written either way."""
    from seqgen.generate.audio import check_audio

    try:
        check_audio(soundfont)
    except SeqgenError as e:
        return str(e)
    return None


def training_text(data_path: str | Path, kind: DataKind, tokenizer: Tokenizer) -> str | None:
    """The training split's text of the dataset a music model was trained on, for the check of
    copying; None for text, or when that dataset is gone or no longer matches the model."""
    from seqgen.datasets.store import open_dataset

    path = Path(data_path)
    if not kind.music or not (path / "meta.json").is_file():
        return None
    try:
        dataset = open_dataset(path)
    except SeqgenError:
        return None
    if dataset.tokenizer.to_dict() != tokenizer.to_dict():
        return None
    return kind.corpus_text(dataset.train, tokenizer)


def header_ids(
    kind: DataKind, tokenizer: Tokenizer, header: TuneHeader, primer: Path | None = None
) -> list[int]:
    """The prompt ids of the header, refused for a kind whose samples state no key or meter, and
    with the option named when its text holds characters the model never saw."""
    given = header.given()
    if not kind.states_key_and_meter:
        flags = ", ".join(flag for flag, _ in given)
        verb = "applies" if len(given) == 1 else "apply"
        raise SeqgenError(f"{flags} {verb} to ABC models only; this model was trained on {kind.label}")
    for flag, value in given:
        try:
            kind.prompt_ids(tokenizer, value)
        except SeqgenError as e:
            raise SeqgenError(f"{flag} {value!r}: {e}") from None
    text = header.text()
    try:
        return kind.prompt_ids(tokenizer, text, primer)
    except SeqgenError as e:
        raise SeqgenError(f"the header {text!r} built from {', '.join(f for f, _ in given)}: {e}") from None


def check_decoding(
    kind: DataKind, tokenizer: Tokenizer, fill_bars: bool, redraw_endings: bool = True
) -> None:
    """Refuse (SeqgenError, one line) `--free-bars` or `--whole-redraws` for a kind that has no
    bar guide or no new endings to turn off (text, MIDI): an option that does not apply fails."""
    if not fill_bars and kind.bar_guide(tokenizer) is None:
        raise SeqgenError(f"--free-bars turns off the ABC bar guide; this model writes {kind.label}: drop it")
    if not redraw_endings and kind.ending(tokenizer) is None:
        raise SeqgenError(
            f"--whole-redraws turns off new ABC endings; this model writes {kind.label}: drop it"
        )


class SamplePipeline:
    """Samples of one model, from its ids to files. `start`: the ids every sample continues
    (see `DataKind.prompt_ids`)."""

    def __init__(
        self,
        model: SequenceModel,
        tokenizer: Tokenizer,
        kind: DataKind,
        device: torch.device,
        start: list[int],
        corpus: str | None = None,
        asked: TuneHeader | None = None,
        hold: bool = True,
        fill_bars: bool = True,
        redraw_endings: bool = True,
    ) -> None:
        """`corpus`: the training data's text (`DataKind.corpus_text`), so the check can refuse a
        tune copied from it; None: copying is not checked. `asked`: the header the samples were
        asked to keep (`seqgen sample --key/--meter`): a tune that changes its metre or key away
        from it fails the check, so it is redrawn like any other; with `hold`, decoding keeps the
        kind's `header_ban` out of it too (ABC: no field line in the music). `fill_bars`: decoding
        follows the kind's `bar_guide` (ABC: a bar line closes a full bar, the tune ends at one).
        `redraw_endings`: a retry of a tune that fails only at its ending first draws new endings
        from where the kind's `ending` says it starts (ABC: its last two bars)."""
        self.model, self.tokenizer, self.kind = model, tokenizer, kind
        self.device, self.start, self.corpus = device, start, corpus
        self.asked = asked if asked is not None and asked.asks_key_or_meter else None
        self.ban = kind.header_ban(tokenizer) if self.asked is not None and hold else None
        self.guide = kind.bar_guide(tokenizer) if fill_bars else None
        self.ending = kind.ending(tokenizer) if redraw_endings else None
        # A model trained with its tunes' header lines kept in front of each window keeps them so
        # when it samples past its context (`sampler.generate`'s `pins`).
        lines = kind.header_lines(tokenizer) if getattr(model, "pins_header", False) else None
        self.pins = lines.spans if lines is not None else None
        self._renders: dict[tuple[int, ...], Rendered] = {}

    def render(self, ids: list[int]) -> Rendered:
        """Decode (and for ABC, parse) each sample once: the check and the files share it."""
        key = tuple(ids)
        if key not in self._renders:
            self._renders[key] = self.kind.render(self.tokenizer, self.start, ids)
        return self._renders[key]

    def check(self, ids: list[int], ended: bool) -> TuneCheck | None:
        rendered = self.render(ids)
        found = self.kind.check(rendered, ended, self.corpus)
        if found is None or self.asked is None:
            return found
        kept = self.asked.kept(rendered.text or "")
        found = dataclasses.replace(found, asked_kept=kept)
        if not found.ok or kept:
            return found
        return dataclasses.replace(found, ok=False, reason=f"did not keep the asked {self.asked.asked}")

    def plan(
        self, out: Path, count: int, force: bool = False, wav: bool = False, score: bool = False
    ) -> list[list[Path]]:
        """The files of `count` samples in `out` (and their WAVs with `wav`, their scores with
        `score`); raises SeqgenError when `out` is a file, or when a file exists and not `force`."""
        if out.exists() and not out.is_dir():
            raise SeqgenError(f"--out {out} is a file, not a directory; choose a directory")
        planned = writer.planned_paths(self.kind, out, count)
        writer.refuse_existing(planned, force)
        if wav:
            writer.refuse_existing(
                [[p.with_suffix(".wav") for p in g if p.suffix == ".mid"] for g in planned], force
            )
        if score:
            writer.refuse_existing([[g[0].with_suffix(".svg")] for g in planned], force)
        return planned

    def draw(
        self,
        cfg: SampleConfig,
        max_retries: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
        on_token: Callable[[int, torch.Tensor], None] | None = None,
        on_draw: Callable[[int, int, int], None] | None = None,
    ) -> sampler.SampleReport:
        """Draw `cfg.num_samples` samples; music that fails the check is redrawn up to
        `max_retries` times (text is kept as drawn). Progress: see `sampler.sample`."""
        music = self.kind.music
        return sampler.sample(
            self.model,
            self.start,
            cfg,
            self.tokenizer.eos_id,
            self.device,
            check=self.check if music else None,
            max_retries=max_retries if music else 0,
            on_progress=on_progress,
            on_token=on_token,
            on_draw=on_draw,
            ban=self.ban,
            guide=self.guide,
            ending=self.ending,
            pins=self.pins,
        )

    def write(
        self,
        report: sampler.SampleReport,
        planned: list[list[Path]],
        wav: bool = False,
        soundfont: Path | None = None,
        score: bool = False,
    ) -> list[WrittenSample]:
        """Write each sample to its planned files (`planned` may be empty: nothing is written),
        with `wav` render each MIDI file to a WAV beside it, and with `score` engrave each sample
        as an SVG beside it (a sample that cannot be engraved gets none; `WrittenSample.score_error`
        says why)."""
        out = []
        for i, s in enumerate(report.samples):
            rendered = self.render(s.ids)
            files = writer.write(rendered, planned[i]) if planned else []
            if wav:
                from seqgen.generate.audio import render_wav

                for p in [p for p in files if p.suffix == ".mid"]:
                    render_wav(p, p.with_suffix(".wav"), soundfont)
                    files.append(p.with_suffix(".wav"))
            problem = None
            if score and files:
                try:
                    svg = self.kind.engrave(files)
                except SeqgenError as e:
                    svg, problem = None, str(e)
                if svg is not None:
                    path = files[0].with_suffix(".svg")
                    path.write_text(svg, encoding="utf-8")
                    files.append(path)
            out.append(WrittenSample(s, rendered, files, problem))
        return out


def summary(written: list[WrittenSample]) -> list[dict[str, Any]]:
    """The samples as plain JSON values: files, tokens, attempts and the check's verdict."""
    return [
        {
            "files": [str(p) for p in w.files],
            "tokens": len(w.sample.ids),
            "attempts": w.sample.attempts,  # the draw kept
            "draws": w.sample.draws,
            "new_ending": w.sample.new_ending,  # the ending kept was redrawn alone
            "check": None
            if w.sample.check is None
            else {"ok": w.sample.check.ok, "reason": w.sample.check.reason},
        }
        for w in written
    ]

"""The data-kind contract: everything that differs between text, ABC tunes and MIDI, in one place.

Owns: `DataKind` (the base of `TextKind`, `AbcKind`, `MidiKind`), `SourceOptions` (how `seqgen
prepare` reads sources, and which of those options a kind accepts), and `Rendered` (a sample
decoded into the document it forms). Callers ask the kind (is it music? what is its default sample
length? which files does a sample become?) instead of comparing kind names. Does not own the
tokenizers (`tokenizers/`), the readers of source files (`corpus/`), the dataset format (`store`),
the sampling loop or writing sample files (`seqgen.generate`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seqgen.datasets.tokenizers.base import Tokenizer
from seqgen.errors import SeqgenError
from seqgen.music.notes import Note
from seqgen.progress import Progress, no_progress

if TYPE_CHECKING:
    from seqgen.config import PrepareConfig
    from seqgen.generate.sampler import Ban, Ending, Guide
    from seqgen.music.check import TuneCheck
    from seqgen.music.fields import FieldLines


@dataclass
class SourceOptions:
    """How `seqgen prepare` reads its sources. None (False for `validate`) means not given: the
    kind's own default applies, and an option given to a kind it does not apply to is refused."""

    encoding: str | None = None  # text: the files' text encoding (default utf-8)
    validate: bool = False  # ABC: parse every tune with music21 and drop those that fail
    titles: bool | None = None  # ABC: keep T: lines (default keep)
    comments: bool | None = None  # ABC: keep % comment lines (default drop)
    info_fields: bool | None = None  # ABC: keep N:, O:, Z: ... (default drop)
    drums: bool | None = None  # MIDI: keep channel-10 percussion (default keep)

    FLAGS: ClassVar[dict[str, str]] = {
        "encoding": "--encoding",
        "validate": "--validate",
        "titles": "--titles/--no-titles",
        "comments": "--comments/--no-comments",
        "info_fields": "--info-fields/--no-info-fields",
        "drums": "--drums/--no-drums",
    }

    def _given(self, name: str) -> bool:
        """Whether the user gave the option: `--no-titles` (False) is given; `validate` is off
        unless asked for."""
        value = getattr(self, name)
        return bool(value) if name == "validate" else value is not None

    def refuse_others(self, label: str, applies: tuple[str, ...]) -> None:
        """Raise SeqgenError naming every given option that is not in `applies`."""
        wrong = [self.FLAGS[f.name] for f in fields(self) if f.name not in applies and self._given(f.name)]
        if wrong:
            raise SeqgenError(f"{', '.join(wrong)} does not apply to {label} input; drop it")


@dataclass
class Rendered:
    """A sample decoded for its data kind: `text` for text and ABC, `notes` for music."""

    text: str | None = None
    notes: list[Note] | None = None
    tempo_qpm: float = 120.0
    error: str | None = None  # why the music could not be derived (ABC that does not parse)


class DataKind(ABC):
    """One kind of data. The class attributes are its fixed facts; the methods its behaviour."""

    name: ClassVar[str]  # as stored in meta.json "kind" and in a checkpoint's data.kind
    label: ClassVar[str]  # the kind in messages: "text", "ABC", "MIDI"
    music: ClassVar[bool]  # samples are music: checked, written as MIDI, playable
    unit: ClassVar[str]  # what one token is, in reports: "character", "event token"
    short_unit: ClassVar[str]  # `seqgen eval`'s "bits per ...": "character", "token"
    streams: ClassVar[bool]  # a sample is text that can be printed as it is drawn
    states_key_and_meter: ClassVar[bool] = False  # a sample's header names its key and meter (ABC)
    # Each document is a whole piece (a tune) with a start and an end a sample must reproduce: train
    # on windows placed at document starts (see `datasets.batches`), not anywhere in the stream.
    whole_documents: ClassVar[bool] = False
    # The model `seqgen train` trains when none is named (ABC: the one whose tunes the judge passes).
    default_model: ClassVar[str] = "transformer"
    # Model settings that differ from the model's own defaults on this kind of data, by model name
    # (what was measured best on it); an option the user gives always wins.
    model_defaults: ClassVar[dict[str, dict[str, float]]] = {}
    # Max new tokens per sample: a screenful of text; room for the longest corpus tune (2,439
    # chars) or a minute or two of MIDI events. Music stops earlier, at the end of the tune.
    default_length: ClassVar[int]
    source_suffixes: ClassVar[tuple[str, ...]]  # input files that make `prepare` pick this kind
    sample_suffixes: ClassVar[tuple[str, ...]]  # the files one written sample becomes
    options: ClassVar[tuple[str, ...]]  # the SourceOptions fields this kind reads

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- sources -> dataset ------------------------------------------------------------------------

    def prepare(
        self,
        paths: list[Path],
        out: Path,
        cfg: PrepareConfig,
        options: SourceOptions | None = None,
        force: bool = False,
        on_progress: Progress = no_progress,
    ) -> dict[str, Any]:
        """Write the dataset `out` from source files of this kind; returns its metadata."""
        options = options or SourceOptions()
        options.refuse_others(self.label, self.options)
        return self._prepare(paths, out, cfg, options, force, on_progress)

    @abstractmethod
    def _prepare(
        self,
        paths: list[Path],
        out: Path,
        cfg: PrepareConfig,
        options: SourceOptions,
        force: bool,
        on_progress: Progress,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def file_tokens(self, path: Path, tokenizer: Tokenizer, dataset: Path | None = None) -> np.ndarray:
        """The tokens of one raw file as `seqgen prepare` makes them (to score a model on it);
        `dataset`: the directory of the data the model was trained on, read as it was read."""

    @abstractmethod
    def corpus_text(self, train: np.ndarray, tokenizer: Tokenizer) -> str:
        """The training split as the string novelty is searched in (see `measure.evaluate`)."""

    # -- ids -> samples ----------------------------------------------------------------------------

    def header_ban(self, tokenizer: Tokenizer) -> Ban | None:
        """What decoding keeps out of a sample asked for a key and metre, so that it keeps them
        (ABC: a field line in the music); None: nothing."""
        return None

    def bar_guide(self, tokenizer: Tokenizer) -> Guide | None:
        """Decoding that knows the music's bars (ABC: `music.bars.BarGuide`); None: nothing."""
        return None

    def header_lines(self, tokenizer: Tokenizer) -> FieldLines | None:
        """Where a document's header lines lie in its ids, kept in front of a window by a model
        trained with `--pin-header` (ABC: M:, L:, R:, K:, `music.fields.FieldLines`); None: none."""
        return None

    def ending(self, tokenizer: Tokenizer) -> Ending | None:
        """Where a sample's ending starts, for a redraw of only its ending (ABC: its last two
        bars, `music.bars.LastBars`); None: a failed sample is redrawn whole."""
        return None

    @abstractmethod
    def prompt_ids(self, tokenizer: Tokenizer, prompt: str = "", primer: Path | None = None) -> list[int]:
        """The context the sampler starts from: the document start, then the prompt (text, ABC)
        or the primer file's events (MIDI). Raises SeqgenError for an option the kind refuses."""

    @abstractmethod
    def render(self, tokenizer: Tokenizer, prompt_ids: list[int], ids: list[int]) -> Rendered:
        """Decode prompt + new ids into the document they form."""

    def check(self, rendered: Rendered, ended: bool, corpus: str | None = None) -> TuneCheck | None:
        """The check a sample must pass to be kept; None: any sample is accepted (text).
        `corpus`: the training data as `corpus_text` gives it, for a check of copying (or None)."""
        return None

    def engrave(self, files: list[Path]) -> str | None:
        """The engraved score (SVG) of one written sample, from its files; None: this kind has no
        score (text). Raises SeqgenError when the sample cannot be engraved."""
        return None

    def notes_of(self, text: str) -> tuple[list[Note], float]:
        """The notes and tempo (quarter notes per minute) of one document of this kind written as
        text (`seqgen convert midi`); raises SeqgenError when it is not music."""
        raise SeqgenError(f"{self.label} is not music; it has no notes")


def check_music(rendered: Rendered, problem: str | None) -> TuneCheck:
    """The music check of a rendered sample: `problem` (or a rendering error) fails it outright;
    otherwise the notes `render` already parsed are checked (the ABC is not parsed again)."""
    from seqgen.music.check import TuneCheck, check_notes

    problem = rendered.error or problem
    if problem:
        return TuneCheck(ok=False, reason=problem, notes=0, seconds=0.0, lowest=None, highest=None)
    return check_notes(rendered.notes or [])

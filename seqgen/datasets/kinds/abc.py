"""ABC tunebooks: characters, one document per tune, samples that must be playable tunes.

Owns: `AbcKind`: preparing tunebooks (and the built-in folk corpus) into a dataset, reading a file
as its tunes (with the options the training data was read with), and rendering a sample as ABC
text plus the notes music21 finds in it, which the music check and the MIDI file share. Does not
own splitting or normalising tunes (`corpus.abc`) or parsing ABC (`seqgen.music.abc`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seqgen.config import MUSIC_SAMPLE_LENGTH
from seqgen.datasets.kinds.base import Rendered, SourceOptions, check_music
from seqgen.datasets.kinds.text import CharKind
from seqgen.datasets.layout import write_documents
from seqgen.datasets.tokenizers.base import Tokenizer
from seqgen.datasets.tokenizers.char import CharTokenizer
from seqgen.errors import SeqgenError
from seqgen.progress import Progress, no_progress

if TYPE_CHECKING:
    from seqgen.config import PrepareConfig
    from seqgen.datasets.corpus.abc import AbcOptions
    from seqgen.generate.sampler import Ban, Ending, Guide
    from seqgen.music.check import TuneCheck
    from seqgen.music.fields import FieldLines
    from seqgen.music.notes import Note


class AbcKind(CharKind):
    name: ClassVar[str] = "abc"
    label: ClassVar[str] = "ABC"
    music: ClassVar[bool] = True
    whole_documents: ClassVar[bool] = True
    # First tries passing the judge after 10 minutes: the LSTM's 50%, the transformer's 32.7%.
    default_model: ClassVar[str] = "lstm"
    # Without dropout the LSTM over-fits O'Neill's tunes inside the 10-minute main job; the
    # transformer's tunes pass the judge more often with a context of 128 at the same tokens per
    # step (40.3% of first tries against 32.7% at 64; form 87.7% against 69.7%): BENCHMARKS.md.
    model_defaults: ClassVar[dict[str, dict[str, float]]] = {
        "lstm": {"dropout": 0.2},
        "transformer": {"block_size": 128, "batch_size": 6},
    }
    states_key_and_meter: ClassVar[bool] = True
    default_length: ClassVar[int] = MUSIC_SAMPLE_LENGTH
    source_suffixes: ClassVar[tuple[str, ...]] = (".abc",)
    sample_suffixes: ClassVar[tuple[str, ...]] = (".abc", ".mid")
    options: ClassVar[tuple[str, ...]] = ("validate", "titles", "comments", "info_fields")

    def header_ban(self, tokenizer: Tokenizer) -> Ban | None:
        """No line of the music may start with a letter that is not a note or a rest: so no K:,
        M:, L: or other field line undoes the asked header (the model wrote `M:1/8` or `L:1/16`
        right after the asked K: line in 60 of 100 reels). Decorations written as letters (T, H)
        may not open a line either; they rarely do."""
        from seqgen.generate.sampler import Ban

        chars = self.chars(tokenizer)
        newline = chars.stoi.get("\n")
        if newline is None:
            return None
        music = set("ABCDEFGabcdefgzxZX")
        ids = tuple(i for c, i in chars.stoi.items() if c.isascii() and c.isalpha() and c not in music)
        return Ban(newline, ids) if ids else None

    def bar_guide(self, tokenizer: Tokenizer) -> Guide | None:
        """A bar line only where the bar is full (or a pickup, or a section line), no note past a
        full bar, the tune's end at a bar line: from the metre and unit length the tune writes."""
        from seqgen.music.bars import BarGuide

        chars = self.chars(tokenizer)
        return BarGuide(chars.stoi, chars.vocab_size, chars.eos_id)

    def header_lines(self, tokenizer: Tokenizer) -> FieldLines | None:
        """The M:, L:, R: and K: lines: what the bars and the ending must agree with."""
        from seqgen.music.fields import FieldLines

        chars = self.chars(tokenizer)
        return FieldLines(chars.stoi, chars.eos_id)

    def ending(self, tokenizer: Tokenizer) -> Ending | None:
        """A tune's last two bars (its final cadence): what a redraw of its ending rewrites."""
        from seqgen.music.bars import LastBars

        chars = self.chars(tokenizer)
        return LastBars(chars.stoi, chars.eos_id)

    @staticmethod
    def abc_options(options: SourceOptions) -> AbcOptions:
        """What of each tune to keep: the defaults, changed where an option was given."""
        from seqgen.datasets.corpus.abc import AbcOptions

        opts = AbcOptions()
        if options.titles is not None:
            opts.keep_titles = options.titles
        if options.comments is not None:
            opts.keep_comments = options.comments
        if options.info_fields is not None:
            opts.keep_info_fields = options.info_fields
        return opts

    def _prepare(
        self,
        paths: list[Path],
        out: Path,
        cfg: PrepareConfig,
        options: SourceOptions,
        force: bool,
        on_progress: Progress,
    ) -> dict[str, Any]:
        return prepare_abc(paths, out, cfg, self.abc_options(options), options.validate, force, on_progress)

    def prepare_builtin(
        self,
        corpus: str,
        data_dir: Path,
        cfg: PrepareConfig,
        options: SourceOptions | None = None,
        force: bool = False,
        on_progress: Progress = no_progress,
        out_name: str | None = None,
    ) -> dict[str, Any]:
        """Prepare one of music21's bundled folk collections (or 'all') into data_dir/NAME."""
        options = options or SourceOptions()
        options.refuse_others("built-in ABC", self.options)
        return prepare_corpus(
            corpus, data_dir, cfg, self.abc_options(options), options.validate, force, on_progress, out_name
        )

    def documents(self, path: Path, dataset: Path | None) -> list[str]:
        """The file's tunes, normalised with the options the training data was prepared with."""
        from seqgen.datasets.corpus.abc import AbcOptions, read_abc

        saved: dict[str, Any] = {}
        meta_path = dataset / "meta.json" if dataset is not None else None
        if meta_path is not None and meta_path.is_file():
            saved = json.loads(meta_path.read_text()).get("abc_options") or {}
        known = {k: v for k, v in saved.items() if k in AbcOptions.__dataclass_fields__}
        tunes = read_abc([path], AbcOptions(**known)).tunes
        if not tunes:
            raise SeqgenError(f"{path} holds no usable ABC tune (no X: line followed by music)")
        return [t.text for t in tunes]

    def render(self, tokenizer: Tokenizer, prompt_ids: list[int], ids: list[int]) -> Rendered:
        """The tune's text (one final newline) and, when music21 reads it, its notes."""
        from seqgen.music.abc import abc_to_notes

        text = self.decode(tokenizer, prompt_ids, ids).strip("\n") + "\n"
        try:
            music = abc_to_notes(text)
        except SeqgenError as e:
            return Rendered(text=text, error=str(e))
        return Rendered(text=text, notes=music.notes, tempo_qpm=music.tempo_qpm)

    def notes_of(self, text: str) -> tuple[list[Note], float]:
        """The notes of one ABC tune, at the tempo its Q: field gives."""
        from seqgen.music.abc import abc_to_notes

        music = abc_to_notes(text)
        return music.notes, music.tempo_qpm

    def engrave(self, files: list[Path]) -> str | None:
        """From the .abc file: it holds the metre, key and title that the .mid file lacks."""
        from seqgen.music.score import engrave_abc

        abc = next(p for p in files if p.suffix == ".abc")
        return engrave_abc(abc.read_text(encoding="utf-8"), abc.name)

    def check(self, rendered: Rendered, ended: bool, corpus: str | None = None) -> TuneCheck:
        """The music check (a header that makes a tune, notes that play, a tune that ended by
        itself), then the tune judge: rhythm, mode, form and, given the training `corpus`,
        plagiarism (see `seqgen.music.judge`)."""
        from seqgen.music.check import header_problem
        from seqgen.music.judge import copy_share, judge_tune

        verdict = check_music(rendered, header_problem(rendered.text or ""))
        if verdict.ok and not ended:
            verdict.ok, verdict.reason = False, "the tune did not end within --length"
        if verdict.ok and rendered.text:
            judged = judge_tune(rendered.text, copy_share(rendered.text, corpus))
            verdict.judge = judged
            verdict.ok, verdict.reason = judged.ok, judged.reason
        return verdict


def prepare_abc(
    paths: list[Path],
    out: Path,
    cfg: PrepareConfig,
    options: AbcOptions | None = None,
    validate: bool = False,
    force: bool = False,
    on_progress: Progress = no_progress,
    corpus: str | None = None,
) -> dict[str, Any]:
    """Character dataset from ABC tunebooks: one document per tune, split by tune identity."""
    from seqgen.datasets.corpus.abc import AbcOptions, read_abc, split_tunes, validate_tunes

    options = options or AbcOptions()
    result = read_abc(paths, options, on_progress=lambda d, t: on_progress("reading", d, t))
    tunes = result.tunes
    dropped: dict[str, int] = {}
    if validate and tunes:
        tunes, dropped = validate_tunes(tunes, on_progress=lambda d, t: on_progress("validating", d, t))
    if not tunes:
        why = "; ".join(f"{n} {r}" for r, n in {**result.skipped, **dropped}.items()) or "no X: headers found"
        raise SeqgenError(f"no usable ABC tunes in {', '.join(map(str, paths))} ({why})")
    train, val = split_tunes(tunes, cfg.val_fraction, cfg.seed)
    if not val or not train:
        raise SeqgenError(
            f"all {len(tunes)} tune(s) are copies or versions of one tune; the train/val split "
            "needs at least 2 different tunes"
        )
    chars: set[str] = set()
    for t in tunes:
        chars.update(t.text)
    tok = CharTokenizer(chars, eos=True)
    meta = {
        "kind": AbcKind.name,
        "corpus": corpus,
        "sources": [str(p) for p in paths],
        "counts": {
            "files": result.files,
            "tunes": len(train) + len(val),
            "train_tunes": len(train),
            "val_tunes": len(val),
            "characters": sum(len(t.text) for t in train + val),
            "vocab_size": tok.vocab_size,
            "skipped": dict(result.skipped),
            "invalid": dropped,
        },
        "split": {"method": "by-tune", "val_fraction": cfg.val_fraction, "seed": cfg.seed},
        "abc_options": dataclasses.asdict(options),
    }
    on_progress("encoding", 0, 1)
    meta = write_documents(
        out,
        tok,
        (tok.encode_array(t.text) for t in train),
        (tok.encode_array(t.text) for t in val),
        meta,
        force=force,
    )
    on_progress("encoding", 1, 1)
    return meta


def prepare_corpus(
    name: str,
    data_dir: Path,
    cfg: PrepareConfig,
    options: AbcOptions | None = None,
    validate: bool = False,
    force: bool = False,
    on_progress: Progress = no_progress,
    out_name: str | None = None,
) -> dict[str, Any]:
    """Prepare one of music21's bundled folk collections (or 'all') into data_dir/NAME."""
    from seqgen.datasets.corpus.builtin import corpus_paths

    paths = corpus_paths(name)
    return prepare_abc(
        paths, data_dir / (out_name or name), cfg, options, validate, force, on_progress, corpus=name
    )

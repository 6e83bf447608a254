"""Scoring generated music on what a listener checks (`seqgen eval --samples DIR`).

Owns: the scores of generated tunes, per tune and summarised: the music check, pitch range, note
density, agreement of the notes with the header's key, novelty (the longest run copied verbatim
from the training data) and, for ABC, the tune judge's verdict (`JudgeScore`, `judge_summary`), also
for the dataset's held-out tunes, so that samples are read beside real tunes judged the same way;
and finding the training data a folder of samples came from. The judge is `seqgen.music.judge`'s;
parsing is music21's (`seqgen.music.abc`); MIDI reading is mido's. Prints nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.datasets.kinds import AbcKind, DataKind, MidiKind, kind_named
from seqgen.datasets.kinds.midi import events_as_text
from seqgen.datasets.store import Dataset, open_dataset
from seqgen.datasets.tokenizers import Tokenizer
from seqgen.datasets.tokenizers.events import EventTokenizer
from seqgen.errors import SeqgenError
from seqgen.measure.evaluate import dataset_of
from seqgen.music.judge import CRITERIA, copied, copy_share, judge_tune, longest_copy
from seqgen.progress import Progress, no_progress
from seqgen.train.checkpoint import Checkpoint
from seqgen.train.rundir import resolve_checkpoint

if TYPE_CHECKING:
    from seqgen.music.judge import Verdict


@dataclass
class CriterionScore:
    ok: bool
    reason: str | None  # why it failed, e.g. "3 of 14 inner bars do not fill 6/8"; None when ok


@dataclass
class JudgeScore:
    """The tune judge's verdict on one ABC tune as plain values (see `seqgen.music.judge`)."""

    ok: bool  # passed all four criteria
    criteria: dict[str, CriterionScore]  # by name, in `CRITERIA`'s order
    readable: bool  # music21 read it (else every musical criterion failed)
    ends_on_tonic: bool  # the last note is the K: field's tonic
    meter: str | None  # the M: field
    played_bars: float | None  # bars of the metre played, repeats included; None: they run away
    inner_bars: int  # the bars that must fill the metre (not a section's first or last, no volta)
    full_inner_bars: int | None  # of them, those that do; None: no metre to fill
    copy_share: float | None  # the longest passage copied from the training tunes / its music

    @property
    def failed(self) -> list[str]:
        """The failed criteria as "name: reason"."""
        return [f"{name}: {c.reason}" for name, c in self.criteria.items() if not c.ok]


def judge_score(verdict: Verdict) -> JudgeScore:
    """A `judge_tune` verdict as a `JudgeScore`."""
    r = verdict.reading
    inner = len(r.bar_lengths) if r is not None else 0
    full = inner - r.inner_bad if r is not None and r.bar_quarters is not None else None
    return JudgeScore(
        ok=verdict.ok,
        criteria={c.name: CriterionScore(c.ok, c.reason) for c in verdict.criteria},
        readable=r is not None and r.error is None,
        ends_on_tonic=verdict.ends_on_tonic,
        meter=r.meter if r is not None else None,
        played_bars=r.played_bars if r is not None else None,
        inner_bars=inner,
        full_inner_bars=full,
        copy_share=verdict.copy_share,
    )


def judge_json(verdict: Verdict | None) -> dict[str, Any] | None:
    """A verdict as the plain values of `seqgen sample --json` and `seqgen eval --json`."""
    return None if verdict is None else asdict(judge_score(verdict))


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def judge_summary(scores: list[JudgeScore], plagiarism: bool) -> dict[str, Any]:
    """The judge's figures over many tunes: the share passing each criterion and all four, ending
    on the tonic, and filling the metre (full inner bars / inner bars, over all tunes); the median
    bars played and copy share. `plagiarism`: whether copying was measured (else its share is None)."""
    metred = [s for s in scores if s.full_inner_bars is not None]
    inner = sum(s.inner_bars for s in metred)
    played = [s.played_bars for s in scores if s.played_bars is not None]
    return {
        "tunes": len(scores),
        "criteria": {
            name: _share([s.criteria[name].ok for s in scores])
            if plagiarism or name != "plagiarism"
            else None
            for name in CRITERIA
        },
        "all": _share([s.ok for s in scores]),
        "ends_on_tonic": _share([s.ends_on_tonic for s in scores]),
        "inner_bars_full": sum(s.full_inner_bars or 0 for s in metred) / inner if inner else None,
        "median_bars_played": _median(played),
        "median_copy_share": _median([s.copy_share for s in scores if s.copy_share is not None]),
        "plagiarism_measured": plagiarism,
    }


def held_out_tunes(dataset: Dataset) -> list[str]:
    """The tunes of a dataset's val split, as text (`corpus_text` separates them with a NUL)."""
    text = dataset.data_kind.corpus_text(dataset.val, dataset.tokenizer)
    return [tune.strip("\n") + "\n" for tune in text.split("\x00") if tune.strip()]


def judge_tunes(
    tunes: list[str], corpus: str | None, on_progress: Callable[[int, int], None] | None = None
) -> list[JudgeScore]:
    """Judge each tune; plagiarism against `corpus` (the training tunes' text), None: unmeasured."""
    out = []
    for i, text in enumerate(tunes, 1):
        out.append(judge_score(judge_tune(text, copy_share(text, corpus))))
        if on_progress is not None:
            on_progress(i, len(tunes))
    return out


@dataclass
class TuneScore:
    name: str
    ok: bool  # passed the music check (it plays: notes, a sane length and range)
    reason: str | None
    notes: int
    seconds: float
    lowest: int | None
    highest: int | None
    notes_per_second: float
    key_agrees: bool | None  # the key found in the notes has the header's key signature (ABC)
    header_key: str | None
    found_key: str | None
    longest_copy: int | None  # the longest run (characters / tokens) copied from the training data
    copy_share: float | None  # that run as a share of the tune's music
    judge: JudgeScore | None = None  # the tune judge's verdict (ABC)

    @property
    def passed(self) -> bool:
        """Passed the music check and, for ABC, the tune judge."""
        return self.ok and (self.judge is None or self.judge.ok)


def score_abc(name: str, text: str, corpus: str | None) -> TuneScore:
    """Score one ABC tune (see TuneScore); `corpus`: the training tunes' text, or None."""
    from music21 import key as m21key

    from seqgen.music.abc import abc_to_notes, parse_abc
    from seqgen.music.check import check_notes, header_problem

    copy, length = copied(text, corpus) if corpus is not None else (None, 0)
    share = copy / length if copy is not None and length else None
    judged = judge_score(judge_tune(text, share))  # a tune without music copies nothing
    problem = header_problem(text)
    try:
        if problem:
            raise SeqgenError(problem)
        music = abc_to_notes(text)
        score = parse_abc(text)
    except SeqgenError as e:
        return TuneScore(name, False, str(e), 0, 0.0, None, None, 0.0, None, None, None, copy, share, judged)
    verdict = check_notes(music.notes)
    seconds = music.seconds
    header = next(iter(score.recurse().getElementsByClass(m21key.KeySignature)), None)
    found = score.analyze("key") if music.notes else None
    agrees = None if header is None or found is None else header.sharps == found.sharps
    return TuneScore(
        name,
        verdict.ok,
        verdict.reason,
        verdict.notes,
        seconds,
        verdict.lowest,
        verdict.highest,
        verdict.notes / seconds if seconds > 0 else 0.0,
        agrees,
        _key_name(header),
        _key_name(found),
        copy,
        share,
        judged,
    )


def _key_name(k: Any) -> str | None:
    if k is None:
        return None
    if hasattr(k, "tonic"):
        return f"{k.tonic.name} {k.mode}"
    return f"{k.sharps:+d} sharps" if k.sharps >= 0 else f"{-k.sharps} flats"


def score_midi(name: str, path: Path, corpus: str | None, tokenizer: Tokenizer | None) -> TuneScore:
    """Score one MIDI sample: check, range, density; novelty over event tokens (no header: no key
    agreement, no tune judge)."""
    from seqgen.music.check import check_notes
    from seqgen.music.midi_io import read_midi

    try:
        notes = read_midi(path, drums=tokenizer.drums if isinstance(tokenizer, EventTokenizer) else True)
    except SeqgenError as e:  # an unreadable file is a failed sample, not the end of the scoring
        return TuneScore(name, False, str(e), 0, 0.0, None, None, 0.0, None, None, None, None, None)
    verdict = check_notes(notes)
    copy = share = None
    if corpus is not None and isinstance(tokenizer, EventTokenizer):
        text = events_as_text(tokenizer.encode_notes(notes))
        copy = longest_copy(text, corpus)
        share = copy / len(text) if text else None
    seconds = verdict.seconds
    return TuneScore(
        name,
        verdict.ok,
        verdict.reason,
        verdict.notes,
        seconds,
        verdict.lowest,
        verdict.highest,
        verdict.notes / seconds if seconds > 0 else 0.0,
        None,
        None,
        None,
        copy,
        share,
    )


def training_corpus(train: np.ndarray, kind: str, tokenizer: Tokenizer) -> str:
    """The training split of data of `kind` as the string novelty is searched in (see
    `DataKind.corpus_text`)."""
    return kind_named(kind).corpus_text(train, tokenizer)


def samples_kind(folder: Path) -> DataKind:
    """The kind of the samples in `folder`, as `score_samples` picks them: ABC when it holds a
    .abc file, else MIDI."""
    return kind_named(AbcKind.name if any(folder.glob("*.abc")) else MidiKind.name)


def score_samples(
    folder: Path,
    corpus: str | None = None,
    tokenizer: Tokenizer | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score every sample in `folder`: the .abc tunes, or the .mid files when there are none."""
    if not folder.is_dir():
        raise SeqgenError(f"{folder} is not a directory of samples; give the --out of seqgen sample")
    abc = sorted(folder.glob("*.abc"))
    midi = [] if abc else sorted(folder.glob("*.mid"))
    if not abc and not midi:
        raise SeqgenError(f"{folder} holds no .abc or .mid samples")
    rows = []
    for i, path in enumerate(abc or midi, 1):
        if abc:
            rows.append(score_abc(path.name, path.read_text(encoding="utf-8", errors="replace"), corpus))
        else:
            rows.append(score_midi(path.name, path, corpus, tokenizer))
        if on_progress is not None:
            on_progress(i, len(abc or midi))
    return {
        "kind": AbcKind.name if abc else MidiKind.name,
        "rows": [asdict(r) | {"passed": r.passed} for r in rows],
        "summary": summarise(rows, plagiarism=corpus is not None),
    }


def summarise(rows: list[TuneScore], plagiarism: bool = False) -> dict[str, Any]:
    """The figures over all samples: pass shares, medians, key agreement, novelty and, for ABC,
    the tune judge's figures (`judge_summary`; `plagiarism`: whether copying was measured)."""
    parsed = [r for r in rows if r.notes]
    ranges = [(r.lowest, r.highest) for r in parsed if r.lowest is not None and r.highest is not None]
    copies = [
        (r.longest_copy, r.copy_share)
        for r in rows
        if r.longest_copy is not None and r.copy_share is not None
    ]
    judged = [r.judge for r in rows if r.judge is not None]
    return {
        "samples": len(rows),
        "passed": sum(r.ok for r in rows),  # the music check
        "pass_share": sum(r.ok for r in rows) / len(rows),
        "passed_all": sum(r.passed for r in rows),  # the music check and the tune judge
        "lowest_pitch": min((lo for lo, _ in ranges), default=None),
        "highest_pitch": max((hi for _, hi in ranges), default=None),
        "median_pitch_span": _median([hi - lo for lo, hi in ranges]),
        "median_notes_per_second": _median([r.notes_per_second for r in parsed]),
        "median_seconds": _median([r.seconds for r in parsed]),
        "key_agreement": _share([r.key_agrees for r in rows if r.key_agrees is not None]),
        "median_longest_copy": _median([n for n, _ in copies]),
        "median_copy_share": _median([c for _, c in copies]),
        "mostly_copied": _share([c >= 0.5 for _, c in copies]),
        "judge": judge_summary(judged, plagiarism) if judged else None,
    }


def _training_dataset(folder: Path, checkpoint: Path | None, data: Path | None) -> Dataset | None:
    """The data the samples' model was trained on: --data, or the checkpoint's dataset, or the run
    the samples came from (samples/RUN/... beside checkpoints/RUN); None when none is found."""
    if data is not None:
        return open_dataset(data)
    run = checkpoint
    if run is None:  # samples/RUN/seed-N -> checkpoints/RUN; a comparison's DIR/samples/M -> DIR/M
        parts = folder.resolve().parts
        if "samples" in parts:
            at = len(parts) - 1 - parts[::-1].index("samples")
            if at + 1 < len(parts):
                name, base = parts[at + 1], Path(*parts[:at])
                for guess in (Path("checkpoints") / name, base / name):
                    if (guess / "best.pt").is_file() or (guess / "last.pt").is_file():
                        run = guess
                        break
    if run is None:
        return None
    try:
        return dataset_of(Checkpoint.load(resolve_checkpoint(run)))
    except SeqgenError:
        return None


def score_sample_folder(
    folder: Path,
    checkpoint: Path | None = None,
    data: Path | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Score the samples. Novelty (and the judge's plagiarism) needs the training data: --data, or
    the checkpoint's dataset, or the run the samples came from. With it, ABC samples are shown
    beside the dataset's held-out tunes, judged the same way (`held_out`)."""
    if not folder.is_dir():
        raise SeqgenError(f"{folder} is not a directory of samples; give the --out of seqgen sample")
    dataset = _training_dataset(folder, checkpoint, data)
    kind = samples_kind(folder)
    if dataset is not None and dataset.data_kind is not kind:
        raise SeqgenError(
            f"{folder} holds {kind.label} samples but {dataset.path} is {dataset.kind} data; "
            "give --data the dataset the samples' model was trained on"
        )
    report = on_progress or no_progress
    corpus = None
    if dataset is not None:
        report("reading", 0, 1)  # the training data, for the novelty check
        corpus = dataset.data_kind.corpus_text(dataset.train, dataset.tokenizer)
        report("reading", 1, 1)
    tokenizer = dataset.tokenizer if dataset else None
    result = score_samples(folder, corpus, tokenizer, lambda d, t: report("scoring", d, t))
    result["folder"] = str(folder)
    result["training_data"] = str(dataset.path) if dataset else None
    result["held_out"] = None
    if dataset is not None and kind.states_key_and_meter:  # the judge reads the K: and M: fields
        tunes = held_out_tunes(dataset)
        scores = judge_tunes(tunes, corpus, lambda d, t: report("judging held-out tunes", d, t))
        result["held_out"] = {"data": str(dataset.path), "judge": judge_summary(scores, plagiarism=True)}
    return result

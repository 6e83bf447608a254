"""Scoring generated music on what a listener checks (`seqgen eval --samples DIR`).

Owns: the scores of generated tunes: the music check, pitch range, note density, agreement of the
notes with the header's key and meter, and novelty (the longest run copied verbatim from the
training data), per tune and summarised; and finding the training data a folder of samples came
from. Parsing is music21's (`seqgen.music.abc`); MIDI reading is mido's. Prints nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.datasets.kinds import AbcKind, DataKind, MidiKind, kind_named
from seqgen.datasets.kinds.midi import events_as_text
from seqgen.datasets.store import open_dataset
from seqgen.datasets.tokenizers import Tokenizer
from seqgen.datasets.tokenizers.events import EventTokenizer
from seqgen.errors import SeqgenError
from seqgen.measure.evaluate import dataset_of
from seqgen.progress import Progress, no_progress
from seqgen.train.checkpoint import Checkpoint
from seqgen.train.rundir import resolve_checkpoint


@dataclass
class TuneScore:
    name: str
    ok: bool  # passed the music check
    reason: str | None
    notes: int
    seconds: float
    lowest: int | None
    highest: int | None
    notes_per_second: float
    key_agrees: bool | None  # the key found in the notes has the header's key signature (ABC)
    header_key: str | None
    found_key: str | None
    full_bars: float | None  # share of inner bars as long as the header's meter says (ABC)
    longest_copy: int | None  # the longest run (characters / tokens) copied from the training data
    copy_share: float | None  # that run as a share of the tune's music


def longest_copy(sample: str, corpus: str) -> int:
    """Length of the longest substring of `sample` that occurs verbatim in `corpus`. Two pointers:
    if sample[i:j] occurs, so does sample[i+1:j], so j never moves back (about 2 x len(sample)
    substring searches, each CPython's fast search)."""
    best, j = 0, 0
    for i in range(len(sample)):
        j = max(j, i)
        while j < len(sample) and sample[i : j + 1] in corpus:
            j += 1
        best = max(best, j - i)
        if j == len(sample):
            break
    return best


def abc_body(text: str) -> str:
    """The music of an ABC tune: everything after its K: line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            return "\n".join(lines[i + 1 :]).strip("\n")
    return text


def score_abc(name: str, text: str, corpus: str | None) -> TuneScore:
    """Score one ABC tune (see TuneScore); `corpus`: the training tunes' text, or None."""
    from music21 import key as m21key
    from music21 import meter

    from seqgen.music.abc import abc_to_notes, parse_abc
    from seqgen.music.check import check_notes, header_problem

    body = abc_body(text)
    copy = longest_copy(body, corpus) if corpus is not None and body else None
    share = copy / len(body) if copy is not None and body else None
    problem = header_problem(text)
    try:
        if problem:
            raise SeqgenError(problem)
        music = abc_to_notes(text)
        score = parse_abc(text)
    except SeqgenError as e:
        return TuneScore(name, False, str(e), 0, 0.0, None, None, 0.0, None, None, None, None, copy, share)
    verdict = check_notes(music.notes)
    seconds = music.seconds
    header = next(iter(score.recurse().getElementsByClass(m21key.KeySignature)), None)
    found = score.analyze("key") if music.notes else None
    agrees = None if header is None or found is None else header.sharps == found.sharps
    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
    full = None
    if ts is not None and score.parts:
        bars = list(score.parts[0].getElementsByClass("Measure"))
        inner = bars[1:-1] if len(bars) > 2 else bars  # a pickup and a last bar may be short
        if inner:
            full = full_bar_share([b.duration.quarterLength for b in inner], ts.barDuration.quarterLength)
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
        full,
        copy,
        share,
    )


def full_bar_share(lengths: list[float], bar: float) -> float:
    """The share of bars as long as the meter says. Two short bars that make one full bar
    together count as full: a section that ends short before its next pickup, as folk tunes
    write them (`... G2z || G | ...`)."""
    ok, i = 0, 0
    while i < len(lengths):
        if abs(lengths[i] - bar) < 1e-6:
            ok, i = ok + 1, i + 1
        elif i + 1 < len(lengths) and abs(lengths[i] + lengths[i + 1] - bar) < 1e-6:
            ok, i = ok + 2, i + 2
        else:
            i += 1
    return ok / len(lengths)


def _key_name(k: Any) -> str | None:
    if k is None:
        return None
    if hasattr(k, "tonic"):
        return f"{k.tonic.name} {k.mode}"
    return f"{k.sharps:+d} sharps" if k.sharps >= 0 else f"{-k.sharps} flats"


def score_midi(name: str, path: Path, corpus: str | None, tokenizer: Tokenizer | None) -> TuneScore:
    """Score one MIDI sample: check, range, density; novelty over event tokens (no header: no key
    or meter agreement)."""
    from seqgen.music.check import check_notes
    from seqgen.music.midi_io import read_midi

    try:
        notes = read_midi(path, drums=tokenizer.drums if isinstance(tokenizer, EventTokenizer) else True)
    except SeqgenError as e:  # an unreadable file is a failed sample, not the end of the scoring
        return TuneScore(name, False, str(e), 0, 0.0, None, None, 0.0, None, None, None, None, None, None)
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
        "rows": [asdict(r) for r in rows],
        "summary": summarise(rows),
    }


def summarise(rows: list[TuneScore]) -> dict[str, Any]:
    """The figures over all samples: pass share, medians, agreement shares, novelty."""

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def mean(values: list[float]) -> float | None:
        return statistics.fmean(values) if values else None

    def share(flags: list[bool]) -> float | None:
        return sum(flags) / len(flags) if flags else None

    parsed = [r for r in rows if r.notes]
    ranges = [(r.lowest, r.highest) for r in parsed if r.lowest is not None and r.highest is not None]
    copies = [
        (r.longest_copy, r.copy_share)
        for r in rows
        if r.longest_copy is not None and r.copy_share is not None
    ]
    return {
        "samples": len(rows),
        "passed": sum(r.ok for r in rows),
        "pass_share": sum(r.ok for r in rows) / len(rows),
        "lowest_pitch": min((lo for lo, _ in ranges), default=None),
        "highest_pitch": max((hi for _, hi in ranges), default=None),
        "median_pitch_span": median([hi - lo for lo, hi in ranges]),
        "median_notes_per_second": median([r.notes_per_second for r in parsed]),
        "median_seconds": median([r.seconds for r in parsed]),
        "key_agreement": share([r.key_agrees for r in rows if r.key_agrees is not None]),
        "mean_full_bars": mean([r.full_bars for r in rows if r.full_bars is not None]),
        "median_longest_copy": median([n for n, _ in copies]),
        "median_copy_share": median([c for _, c in copies]),
        "mostly_copied": share([c >= 0.5 for _, c in copies]),
    }


def score_sample_folder(
    folder: Path,
    checkpoint: Path | None = None,
    data: Path | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Score the samples; novelty needs the training data: --data, or the checkpoint's dataset,
    or the run the samples came from (samples/RUN/... beside checkpoints/RUN)."""
    if not folder.is_dir():
        raise SeqgenError(f"{folder} is not a directory of samples; give the --out of seqgen sample")
    dataset = None
    if data is not None:
        dataset = open_dataset(data)
    else:
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
        if run is not None:
            try:
                dataset = dataset_of(Checkpoint.load(resolve_checkpoint(run)))
            except SeqgenError:
                dataset = None
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
    return result

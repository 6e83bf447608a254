"""Calibrate the tune judge (seqgen/music/judge.py) on O'Neill's tunes, and measure its pass rates.

    python benchmarks/calibrate_judge.py [--cache /tmp/oneill_readings.pkl]

Splits the built-in corpus exactly as `seqgen prepare` does (by tune identity, val 10%, seed 1337),
reads every tune with music21 (two processes, about a minute), prints the distribution of each
figure the judge uses on the training tunes (the limits in `JudgeLimits` are set from these), then
judges the held-out tunes: each criterion's pass rate and all four together. Plagiarism is measured
for the held-out tunes against the training tunes' text.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import pickle
import statistics
from pathlib import Path

from seqgen.config import PrepareConfig
from seqgen.datasets.corpus.abc import AbcOptions, read_abc, split_tunes
from seqgen.datasets.corpus.builtin import corpus_paths
from seqgen.music.judge import (
    CRITERIA,
    LIMITS,
    _is_marking,
    _mode_family,
    _parts,
    _phrase,
    abc_body,
    judge_reading,
    longest_copy,
)
from seqgen.music.reading import read_tune


def quantiles(xs: list[float], qs=(0.01, 0.03, 0.05, 0.5, 0.95, 0.97, 0.99)) -> str:
    xs = sorted(xs)
    return "  ".join(f"p{round(q * 100)}={xs[min(len(xs) - 1, int(q * len(xs)))]:.3g}" for q in qs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args()
    cfg = PrepareConfig()
    tunes = read_abc(corpus_paths("oneills1850"), AbcOptions()).tunes
    train, val = split_tunes(tunes, cfg.val_fraction, cfg.seed)
    if args.cache and args.cache.exists():
        readings = pickle.loads(args.cache.read_bytes())
    else:
        with multiprocessing.Pool(2) as pool:
            readings = pool.map(read_tune, [t.text for t in train + val], chunksize=16)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(readings))
    tr, va = readings[: len(train)], readings[len(train) :]
    ok = [r for r in tr if not r.error]
    print(f"{len(train)} training tunes ({len(tr) - len(ok)} unreadable), {len(val)} held out")
    print("bad inner bars     ", quantiles([r.bad_bars for r in ok]))
    print("bad bar share      ", quantiles([r.bad_bars / max(1, len(r.bar_lengths)) for r in ok]))
    print("foreign note share ", quantiles([r.foreign / max(1, r.notes) for r in ok]))
    print("played bars        ", quantiles([r.played_bars for r in ok if r.played_bars is not None]))
    print("written bars       ", quantiles([r.written_bars for r in ok]))
    print("same bar run       ", quantiles([r.same_bars_run for r in ok]))
    print("distinct bar share ", quantiles([r.distinct_share for r in ok]))
    for fam in ("major", "minor", "other"):
        c = collections.Counter(r.last_degree for r in ok if _mode_family(r.mode) == fam)
        n = sum(c.values())
        print(f"last degree, {fam:5} ({n}):", ", ".join(f"{d}:{k / n:.1%}" for d, k in c.most_common(6)))
    print(f"tonic endings, all: {sum(r.last_degree == 0 for r in ok) / len(ok):.1%}")
    off = [r for r in ok if r.last_degree not in (0, None) and r.marked_ending is None]
    backed = sum(
        r.last_degree in [(pc - r.tonic) % 12 for pc in (r.section_ends[:-1] or [r.half_end])] for r in off
    )
    print(
        f"endings off the tonic, no D.C./Fine: {len(off)}, of them an earlier part ends alike: {backed}; "
        f"ending at a D.C. or Fine marking: {sum(r.marked_ending is not None for r in ok)}"
    )
    dances = [
        r.last_part_bars
        for r in ok
        if r.last_part_bars is not None and r.rhythm and any(d in r.rhythm for d in LIMITS.dances)
    ]
    print(f"last part of a dance tune (bars, {len(dances)} tunes)", quantiles(dances))
    one_part = [
        r for r in ok if r.last_part_bars is None and r.rhythm and any(d in r.rhythm for d in LIMITS.dances)
    ]
    print(f"dance tunes in one part: {len(one_part)}")
    print("last part, all tunes in parts", quantiles([r.last_part_bars for r in ok if r.last_part_bars]))
    heard = [_parts(r, LIMITS) for r in ok]
    ratio = [p[-1] / p[0] for p in heard if len(p) > 1]
    print(f"last part / first part ({len(ratio)} tunes in parts)", quantiles(ratio))
    print(f"first endings with no second: {sum(r.open_endings > 0 for r in ok)} tunes")
    in_parts = [r for r in ok if r.part_bars and r.rhythm and any(d in r.rhythm for d in LIMITS.dances)]
    lengths = collections.Counter(round(b * 4) / 4 for r in in_parts for b in _parts(r, LIMITS))
    print(f"part lengths of dance tunes in parts ({len(in_parts)} tunes):", lengths.most_common(12))
    odd = [r for r in in_parts if not all(_phrase(b, r, LIMITS) for b in _parts(r, LIMITS))]
    print(f"  of them with a part of no phrase length {LIMITS.part_lengths} (jigs: 10 too): {len(odd)}")
    # Tunes with no dance R: by metre with a part of no length of `phrase_metre_part_lengths`:
    # JudgeLimits.phrase_metres are the metres where nearly none has one.
    lengths4 = LIMITS.phrase_metre_part_lengths
    for metre in ("C|", "4/4", "C", "2/4", "6/8", "3/4"):
        plain = [
            r for r in ok if r.meter == metre and not (r.rhythm and any(d in r.rhythm for d in LIMITS.dances))
        ]
        odd_plain = sum(
            len(p) > 1 and any(min(abs(b - n) for n in lengths4) > LIMITS.part_slack + 1e-6 for b in p)
            for p in (_parts(r, LIMITS) for r in plain)
        )
        print(f"no dance R:, M:{metre}: {len(plain)} tunes, {odd_plain} with a part of no length {lengths4}")
    print(f"music after a final bar line |]: {sum(r.early_ends > 0 for r in ok)} tunes")
    texts = collections.Counter(t for r in ok for t in r.texts)
    stray = {t: k for t, k in texts.items() if not _is_marking(t, LIMITS)}
    print(f"quoted texts in the music: {sum(texts.values())} in {sum(bool(r.texts) for r in ok)} tunes;")
    print(f"  no chord or marking: {stray} ({sum(any(t in stray for t in r.texts) for r in ok)} tunes)")
    corpus = "\n".join(abc_body(t.text) for t in train)
    shares = []
    for t in val:
        body = abc_body(t.text)
        shares.append(longest_copy(body, corpus) / max(1, len(body)))
    print("held-out copy share", quantiles(shares), f"median={statistics.median(shares):.3f}")
    verdicts = [judge_reading(r, s) for r, s in zip(va, shares, strict=True)]
    for name in CRITERIA:
        fails = [v for v in verdicts if not v.passed(name)]
        print(
            f"held out, {name:10}: {1 - len(fails) / len(verdicts):.1%} pass",
            [next(c.reason for c in v.criteria if c.name == name) for v in fails[:4]],
        )
    print(f"held out, all four : {sum(v.ok for v in verdicts) / len(verdicts):.1%} pass")
    tv = [judge_reading(r) for r in tr]
    print(f"training, all three (no plagiarism): {sum(v.ok for v in tv) / len(tv):.1%} pass")
    for name in CRITERIA[:3]:
        print(f"training, {name:10}: {sum(v.passed(name) for v in tv) / len(tv):.1%}")


if __name__ == "__main__":
    main()

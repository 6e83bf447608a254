"""Does the transformer's sliding window cost tunes? Music-check pass rates with nanoGPT-style
cropping (`window_step=1`: the whole context re-read for every token) against seqgen's default
sliding window (a quarter of the context at a time), on one checkpoint, same seeds.

Usage:
  python benchmarks/window_music.py checkpoints/RUN/best.pt [--seeds 1 2 3] [--num-samples 20]
"""

from __future__ import annotations

import argparse

import torch

from seqgen.config import SampleConfig
from seqgen.datasets.kinds import kind_named
from seqgen.generate.sampler import generate
from seqgen.train.checkpoint import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--num-samples", type=int, default=20)
    args = ap.parse_args()
    model, tok, ckpt = load_model(args.checkpoint)
    kind = kind_named(ckpt.data.kind)
    start = kind.prompt_ids(tok)
    cfg = SampleConfig()
    for window_step in (1, None):
        passed = total = 0
        for seed in args.seeds:
            gen = torch.Generator().manual_seed(seed)
            rows = generate(
                model, start, args.num_samples, kind.default_length, cfg.temperature, cfg.top_k, cfg.top_p,
                gen, eos_id=tok.eos_id, window_step=window_step,
            )  # fmt: skip
            for row in rows:
                ended = bool(row) and row[-1] == tok.eos_id
                ids = row[:-1] if ended else row
                verdict = kind.check(kind.render(tok, start, ids), ended)
                passed += bool(verdict is not None and verdict.ok)
                total += 1
        name = "1 (crop, as nanoGPT)" if window_step == 1 else "default (a quarter of the context)"
        print(f"window_step {name}: {passed}/{total} pass the music check", flush=True)


if __name__ == "__main__":
    main()

"""Learning-rate (and final-lr) sweep of the default transformer at a fixed number of steps.

Runs `seqgen`'s own Trainer one configuration after the other (never two at once) on a text file,
each for the same number of optimizer steps, and prints each run's val loss: its own estimate at
the end, and the mean loss over the whole val split (consecutive windows of the model's context).
Fixed steps, not a time budget: on a shared machine the step rate drifts, and a sweep must compare
the settings, not the machine's mood.

Usage:
  python benchmarks/lr_sweep.py --text tinyshakespeare.txt --steps 4000 --lr 2e-3 3e-3 4e-3 6e-3
  python benchmarks/lr_sweep.py --text tinyshakespeare.txt --steps 4000 --lr 3e-3 --min-lr-ratio 0 0.1
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from vs_nanogpt import full_val_loss  # the same whole-val-split loss as the nanoGPT comparison

from seqgen.config import PrepareConfig, TrainConfig
from seqgen.datasets.kinds.text import prepare_text
from seqgen.datasets.store import open_dataset
from seqgen.models import model_config
from seqgen.train.trainer import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--lr", type=float, nargs="+", default=[3e-3])
    ap.add_argument("--min-lr-ratio", type=float, nargs="+", default=[0.0])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqgen-sweep-"))
    prepare_text([args.text], work / "data", PrepareConfig())
    ds = open_dataset(work / "data")
    print(
        f"{'lr':>8} {'min lr ratio':>13} {'steps':>6} {'seconds':>8} {'own val':>8} {'full val':>9}",
        flush=True,
    )
    for lr, ratio in itertools.product(args.lr, args.min_lr_ratio):
        mcfg = model_config("transformer", vocab_size=ds.tokenizer.vocab_size)
        cfg = TrainConfig(
            data=str(work / "data"),
            max_iters=args.steps,
            learning_rate=lr,
            min_lr_ratio=ratio,
            checkpoint_every="100000",
        )
        t0 = time.perf_counter()
        trainer = Trainer(cfg, ds, mcfg, work / f"lr{lr:g}-min{ratio:g}")
        result = trainer.run()
        seconds = time.perf_counter() - t0
        model = trainer.model.eval()
        full = full_val_loss(lambda x, model=model: model(x)[0], ds.val, mcfg.block_size)
        print(
            f"{lr:8.0e} {ratio:13g} {result.steps:6d} {seconds:8.1f} {result.val_loss:8.4f} {full:9.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

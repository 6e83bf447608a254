#!/usr/bin/env bash
# The model that ships with seqgen (seqgen/shipped/oneills1850-lstm.pt): the README's main job
# (`seqgen prepare && seqgen train`: O'Neill's 1850 collection, public domain, the LSTM with its
# music defaults) for MINUTES (default 10) on this machine, alone; then its best.pt, whose data
# path is made relative (data/oneills1850, where `seqgen prepare` puts it, so the plagiarism check
# finds the training tunes on a user's machine too), is copied into the package.
#
#   bash benchmarks/ship_model.sh [MINUTES]
set -eu
MINUTES=${1:-10}
cd "$(dirname "$0")/.."
[ -f data/oneills1850/meta.json ] || seqgen --quiet prepare
seqgen --quiet train --data data/oneills1850 --name ship-oneills1850 --max-time "$MINUTES"
python3 - <<'PY'
import dataclasses
from pathlib import Path

from seqgen.train.checkpoint import Checkpoint

ckpt = Checkpoint.load(Path("checkpoints/ship-oneills1850/best.pt"))
assert ckpt.resume is None and ckpt.data.name == "oneills1850"
ckpt = dataclasses.replace(ckpt, data=dataclasses.replace(ckpt.data, path="data/oneills1850"))
out = Path("seqgen/shipped/oneills1850-lstm.pt")
ckpt.save(out)
print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, step {ckpt.step}, best val {ckpt.best_val_loss:.4f}")
PY

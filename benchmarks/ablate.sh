#!/usr/bin/env bash
# Issue 17's ablation: each row is one change of the transformer's recipe against GPT-2's
# (learned positions, GELU, tied head; the default until 2026-12-06), trained for the same
# wall-clock time on one dataset, per seed; then `seqgen eval` scores best.pt on the dataset's whole val split (consecutive
# windows). Run alone: on a 2-core CPU a second busy process slows torch many times over.
#
#   bash benchmarks/ablate.sh DATA MINUTES OUT "SEEDS" [ROW ...]
#   e.g. bash benchmarks/ablate.sh data/shakespeare 5 /tmp/abl "1 2" gpt2 rotary qknorm relu2 all rotary+relu2
#
# Seqgen is run as `python -m seqgen` from this checkout (set PYTHON to pick the interpreter), so
# the code measured is the checkout's even while another copy is edited.
set -eu
DATA=$1
MINUTES=$2
OUT=$3
SEEDS=$4
shift 4
ROWS=("$@")
[ ${#ROWS[@]} -gt 0 ] || ROWS=(gpt2 rotary qknorm relu2 untied zeroinit all)
PY=${PYTHON:-python}
# Every row starts from GPT-2's recipe, whatever the defaults are (since 2026-12-06 they are rotary
# + relu2); a row's own flags come after and win (the last value of an option counts).
GPT2="--positions learned --mlp gelu --no-qk-norm --tie-head --no-zero-init"
cd "$(dirname "$0")/.."
flags() {  # a row joins changes with +, e.g. rotary+relu2
    local part
    if [[ $1 == *+* ]]; then
        for part in ${1//+/ }; do flags "$part"; done
        return
    fi
    case $1 in
        gpt2) echo "" ;;
        rotary) echo "--positions rotary" ;;
        qknorm) echo "--qk-norm" ;;
        relu2) echo "--mlp relu2" ;;
        untied) echo "--untie-head" ;;
        zeroinit) echo "--zero-init" ;;
        all) echo "--positions rotary --qk-norm --mlp relu2 --untie-head --zero-init" ;;
        *) echo "unknown row $1" >&2; exit 2 ;;
    esac
}
mkdir -p "$OUT"
for seed in $SEEDS; do
    for row in "${ROWS[@]}"; do
        run="$row-s$seed"
        [ -f "$OUT/$run/eval.json" ] && continue
        # shellcheck disable=SC2046
        $PY -m seqgen --quiet train --data "$DATA" --model transformer --max-time "$MINUTES" --seed "$seed" \
            --out-dir "$OUT" --run "$run" --json $GPT2 $(flags "$row") >"$OUT/$run.train.json"
        $PY -m seqgen --quiet eval "$OUT/$run" --json >"$OUT/$run/eval.json"
        $PY - "$OUT" "$run" <<'PY'
import json, sys
from pathlib import Path
out, run = Path(sys.argv[1]), sys.argv[2]
t = json.loads((out / f"{run}.train.json").read_text())
e = json.loads((out / run / "eval.json").read_text())
print(f"{run:14} steps {t['steps']:>6}  tokens/s {t['tokens_per_sec']:>8,.0f}  best val (sampled) "
      f"{t['best_val_loss']:.4f}  whole val split {e['loss']:.4f}", flush=True)
PY
    done
done

#!/usr/bin/env bash
# Issue 15's target figures for one trained run: 100 tunes x seeds 1, 2, 3 with `seqgen sample`'s
# defaults (retries on) and with --max-retries 0 (the first tries), each set of 300 judged by
# `seqgen eval --samples` beside the dataset's held-out tunes.
#
#   bash benchmarks/tune_targets.sh checkpoints/RUN OUTDIR [data/oneills1850]
#
# Writes OUTDIR/{default,first}/sN/ (the tunes), OUTDIR/{default,first}/all/ (the 300, renamed
# sN_sample_XXX.abc), OUTDIR/{default,first}.json (eval's JSON) and prints one line per set.
set -eu
RUN=$1
OUT=$2
DATA=${3:-data/oneills1850}
for mode in default first; do
    retries=()
    [ "$mode" = first ] && retries=(--max-retries 0)
    mkdir -p "$OUT/$mode/all"
    for seed in 1 2 3; do
        seqgen --quiet sample "$RUN" --num-samples 100 --seed "$seed" --out "$OUT/$mode/s$seed" --force \
            "${retries[@]}" >/dev/null
        for f in "$OUT/$mode/s$seed"/*.abc; do cp "$f" "$OUT/$mode/all/s${seed}_$(basename "$f")"; done
    done
    seqgen --quiet eval --samples "$OUT/$mode/all" --data "$DATA" --json >"$OUT/$mode.json"
    python3 - "$OUT/$mode.json" "$mode" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def show(name, j):
    c = j["criteria"]
    print(f"{name}: all {j['all']:.1%}, rhythm {c['rhythm']:.1%}, mode {c['mode']:.1%}, form {c['form']:.1%}, "
          f"plagiarism {c['plagiarism']:.1%}, tonic {j['ends_on_tonic']:.1%}, fill {j['inner_bars_full']:.1%}, "
          f"median bars {j['median_bars_played']}, median copy {j['median_copy_share']:.1%}, tunes {j['tunes']}")
show(sys.argv[2], d["summary"]["judge"])
if d.get("held_out"):
    show("held-out", d["held_out"]["judge"])
EOF
done

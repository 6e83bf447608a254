#!/usr/bin/env bash
# Music defaults chosen on music (issue 15): each row is `seqgen train` on a tune dataset with its
# own flags for the same wall-clock time, then 100 first-try tunes (no retries) per sampling seed,
# judged together by `seqgen eval --samples` beside the dataset's held-out tunes. Run alone: on a
# 2-core CPU a second busy process slows torch many times over.
#
#   bash benchmarks/music_rows.sh DATA MINUTES OUT "SEEDS" NAME="FLAGS" ...
#   e.g. bash benchmarks/music_rows.sh data/oneills1850 10 /tmp/mrows "1 2 3" \
#        random="--model transformer --windows random" streams="--model transformer --windows streams"
#
# Writes OUT/NAME (the run), OUT/NAME-tunes/ (the tunes, sSEED_sample_XXX.abc), OUT/NAME.json
# (eval's JSON) and prints one line per row. A row whose NAME.json exists is skipped.
set -eu
DATA=$1
MINUTES=$2
OUT=$3
SEEDS=$4
shift 4
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
for row in "$@"; do
    name=${row%%=*}
    flags=${row#*=}
    [ -f "$OUT/$name.json" ] && continue
    # shellcheck disable=SC2086  # the row's flags are words
    [ -f "$OUT/$name/best.pt" ] || $PY -m seqgen --quiet train --data "$DATA" --max-time "$MINUTES" \
        --run "$name" --out-dir "$OUT" --json $flags >"$OUT/$name.train.json"
    rm -rf "$OUT/$name-tunes"
    mkdir -p "$OUT/$name-tunes"
    for seed in $SEEDS; do
        $PY -m seqgen --quiet sample "$OUT/$name" --num-samples 100 --seed "$seed" --max-retries 0 \
            --out "$OUT/$name-s$seed" --force >/dev/null
        for f in "$OUT/$name-s$seed"/*.abc; do cp "$f" "$OUT/$name-tunes/s${seed}_$(basename "$f")"; done
    done
    $PY -m seqgen --quiet eval --samples "$OUT/$name-tunes" --data "$DATA" --json >"$OUT/$name.json"
    $PY - "$OUT/$name.json" "$name" "$OUT/$name.train.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
j = d["summary"]["judge"]; c = j["criteria"]
t = json.load(open(sys.argv[3]))
print(f"{sys.argv[2]:24} steps {t['steps']} best val {t['best_val_loss']:.4f} | all {j['all']:.1%} rhythm {c['rhythm']:.1%} "
      f"mode {c['mode']:.1%} form {c['form']:.1%} plagiarism {c['plagiarism']:.1%} "
      f"tonic {j['ends_on_tonic']:.1%} bars full {j['inner_bars_full']:.1%} "
      f"median bars {j['median_bars_played']} median copy {j['median_copy_share']:.1%} tunes {j['tunes']}",
      flush=True)
PY
done

#!/usr/bin/env bash
# 100 first-try tunes (no retries) per sampling seed from each named run, judged together by
# `seqgen eval --samples` beside the dataset's held-out tunes; one line per run. A run named
# RUN:FLAGS samples with those `seqgen sample` flags (commas between flags), e.g.
# RUN:--re-encode (a rotary model's exact window) or RUN:--free-bars (no bar guide). RUN may be
# `shipped` (the shipped model). SEEDS (default "1") picks the sampling seeds.
#
#   [SEEDS="1 2 3"] bash benchmarks/judge_runs.sh RUNS_DIR OUT DATA RUN[:FLAGS] ...
#   e.g. bash benchmarks/judge_runs.sh /tmp/abl-folk /tmp/judge data/oneills1850 gpt2-s1 rotary+relu2-s1:--re-encode
set -u
RUNS=$1
OUT=$2
DATA=$3
shift 3
PY=${PYTHON:-python}
SEEDS=${SEEDS:-1}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
for spec in "$@"; do
    run=${spec%%:*}
    flags=""
    [[ $spec == *:* ]] && flags=${spec#*:}
    flags=${flags//,/ }
    suffix=${flags//--/}
    suffix=${suffix// /_}
    name=$run${suffix:+-$suffix}
    out=$OUT/$name
    [ -f "$out.json" ] && continue
    path=$RUNS/$run
    [ "$run" = shipped ] && path=shipped
    rm -rf "$out"
    mkdir -p "$out"
    for seed in $SEEDS; do
        # shellcheck disable=SC2086  # the flags are words
        $PY -m seqgen --quiet sample "$path" --num-samples 100 --seed "$seed" --max-retries 0 \
            --out "$out-s$seed" --force $flags >/dev/null
        for f in "$out-s$seed"/*.abc; do cp "$f" "$out/s${seed}_$(basename "$f")"; done
    done
    $PY -m seqgen --quiet eval --samples "$out" --data "$DATA" --json >"$out.json"
    $PY - "$out.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
j = d["summary"]["judge"]; c = j["criteria"]
print(f"{sys.argv[2]:32} all {j['all']:.1%} rhythm {c['rhythm']:.1%} mode {c['mode']:.1%} form {c['form']:.1%} "
      f"plagiarism {c['plagiarism']:.1%} tonic {j['ends_on_tonic']:.1%} bars full {j['inner_bars_full']:.1%} "
      f"median bars {j['median_bars_played']:.1f} median copy {j['median_copy_share']:.1%} tunes {j['tunes']}",
      flush=True)
PY
done

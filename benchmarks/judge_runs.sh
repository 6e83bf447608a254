#!/usr/bin/env bash
# 100 first-try tunes (seed 1, no retries) from each named run, judged by `seqgen eval --samples`
# beside the dataset's held-out tunes; one line per run. A run named RUN:--re-encode samples with
# that flag (a rotary model's exact window instead of its rolling cache).
#
#   bash benchmarks/judge_runs.sh RUNS_DIR OUT DATA RUN[:FLAG] ...
#   e.g. bash benchmarks/judge_runs.sh /tmp/abl-folk /tmp/judge data/oneills1850 gpt2-s1 rotary+relu2-s1:--re-encode
set -u
RUNS=$1
OUT=$2
DATA=$3
shift 3
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
for spec in "$@"; do
    run=${spec%%:*}
    flag=""
    [[ $spec == *:* ]] && flag=${spec#*:}
    out=$OUT/$run${flag:+-reencode}
    [ -f "$out.json" ] && continue
    $PY -m seqgen --quiet sample "$RUNS/$run" --num-samples 100 --seed 1 --max-retries 0 --out "$out" --force $flag >/dev/null
    $PY -m seqgen --quiet eval --samples "$out" --data "$DATA" --json >"$out.json"
    $PY - "$out.json" "$run${flag:+ $flag}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
j = d["summary"]["judge"]; c = j["criteria"]
print(f"{sys.argv[2]:28} all {j['all']:.0%} rhythm {c['rhythm']:.0%} mode {c['mode']:.0%} form {c['form']:.0%} "
      f"plagiarism {c['plagiarism']:.0%} tonic {j['ends_on_tonic']:.0%} bars full {j['inner_bars_full']:.0%} "
      f"median bars {j['median_bars_played']:.1f}", flush=True)
PY
done

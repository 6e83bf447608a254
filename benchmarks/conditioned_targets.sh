#!/usr/bin/env bash
# Issue 15's conditioning target for one trained run: 100 tunes per asked header (seed 1), at the
# first try (--max-retries 0), with `seqgen sample`'s default retries, and with --max-retries 10;
# each set judged by `seqgen eval --samples`. A tune keeps what was asked when every M: and K:
# field says it (the header, `kept_header`), its bars fill the metre (the judge's rhythm) and its
# notes and ending are in the asked mode (the judge's mode).
#
#   bash benchmarks/conditioned_targets.sh checkpoints/RUN OUTDIR [data/oneills1850]
#
# RETRIES (default "0 3 10") picks the retry counts, ASKED ("rhythm meter key;..." ) the headers,
# SEQGEN the command (default `seqgen`; `python -m seqgen` runs the checkout in the current folder).
# Writes OUTDIR/<asked>-r<retries>/ (the tunes, sample.json, eval.json) and prints one line per set.
set -eu
RUN=$1
OUT=$2
DATA=${3:-data/oneills1850}
IFS=";" read -r -a ASKED <<<"${ASKED:-jig 6/8 D;reel C| G;reel C| Dmix;reel C| Ador}"
SEQGEN=${SEQGEN:-seqgen}
for asked in "${ASKED[@]}"; do
    read -r rhythm meter key <<<"$asked"
    for retries in ${RETRIES:-0 3 10}; do
        dir="$OUT/${rhythm}-${meter//[|\/]/_}-${key}-r$retries"
        mkdir -p "$dir"
        # shellcheck disable=SC2086  # SEQGEN may be several words
        $SEQGEN --quiet sample "$RUN" --rhythm "$rhythm" --meter "$meter" --key "$key" --num-samples 100 \
            --seed 1 --max-retries "$retries" --out "$dir" --force --json >"$dir/sample.json"
        # shellcheck disable=SC2086
        $SEQGEN --quiet eval --samples "$dir" --data "$DATA" --json >"$dir/eval.json"
        python3 - "$dir" "$asked" "$retries" <<'PY'
import json, statistics, sys
from pathlib import Path
d = Path(sys.argv[1])
sample = json.loads((d / "sample.json").read_text())
rows = {r["name"]: r for r in json.loads((d / "eval.json").read_text())["rows"]}
n = kept = held = mode = rhythm = ok = tonic = 0
bars = []
for s in sample["samples"]:
    name = Path(next(f for f in s["files"] if f.endswith(".abc"))).name
    j = rows[name]["judge"]
    n += 1
    kept += s["kept_header"]
    rhythm += j["criteria"]["rhythm"]["ok"]
    mode += j["criteria"]["mode"]["ok"]
    held += s["kept_header"] and j["criteria"]["rhythm"]["ok"] and j["criteria"]["mode"]["ok"]
    ok += j["ok"]
    tonic += j["ends_on_tonic"]
    if j.get("played_bars") is not None:
        bars.append(j["played_bars"])
print(f"{sys.argv[2]:14} retries {sys.argv[3]:>2}: header kept {kept}/{n}, rhythm {rhythm}, mode {mode}, "
      f"kept metre and mode {held}/{n}, all four {ok}, tonic {tonic}, median bars {statistics.median(bars) if bars else 0:g}")
PY
    done
done

#!/usr/bin/env bash
# One lease of a CUDA machine: the CUDA tests, then nanoGPT's baby GPT (train_shakespeare_char) and
# seqgen with the same settings, each timed from launch to val 1.47 on the same card, one after the
# other. Expects (carried, git-ignored): .whl/ (music21, mido and their pure-Python needs for the
# machine's Python), .bench/nanogpt/ (nanoGPT's train.py, model.py, configurator.py, its config and
# data/shakespeare_char/{train,val}.bin, meta.pkl made by its prepare.py from tiny Shakespeare) and
# data/shakespeare/ (`seqgen prepare tinyshakespeare.txt --name shakespeare`). Results land in $OUT.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
export PYTHONPATH=/tmp/site:$PWD
ROOT=$PWD
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== CUDA tests"
timeout "${TEST_LIMIT:-170}" python3 -m pytest -q -rA -m cuda tests/test_cuda.py -p no:cacheprovider \
    >"$OUT/pytest.log" 2>&1
echo "pytest rc=$?"
grep -E "passed|failed|error|PASSED|FAILED|ERROR" "$OUT/pytest.log" | tail -15

LIMIT=${RACE_LIMIT:-170}
echo "== nanoGPT baby GPT"
(cd .bench/nanogpt && python3 "$ROOT/benchmarks/gpu_race.py" --name nanogpt --target 1.47 --limit "$LIMIT" \
    --log "$OUT/nanogpt.log" -- python3 -u train.py config/train_shakespeare_char.py) | tail -1 >"$OUT/race_nanogpt.json"
cut -c1-400 "$OUT/race_nanogpt.json"

echo "== seqgen baby GPT"
python3 benchmarks/gpu_race.py --name seqgen --target 1.47 --limit "$LIMIT" --log "$OUT/seqgen.log" \
    --metrics checkpoints/babygpt/metrics.jsonl -- python3 -m seqgen train --data data/shakespeare \
    --model transformer --run babygpt --n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 64 \
    --dropout 0.2 --learning-rate 1e-3 --min-lr-ratio 0.1 --warmup-iters 100 --beta2 0.99 --max-iters 5000 \
    --eval-interval 250 --eval-iters 200 --device cuda --json | tail -1 >"$OUT/race_seqgen.json"
cut -c1-400 "$OUT/race_seqgen.json"
cp checkpoints/babygpt/config.json "$OUT/seqgen_config.json" 2>/dev/null

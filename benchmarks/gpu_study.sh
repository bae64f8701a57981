#!/usr/bin/env bash
# The GPU study (issue 4, item 5) in one prepared script for a short-lived GPU machine: throughput, meta-step
# memory and grow-vs-train on CUDA, then a meta-training run of the data-conditioned MNIST rule sized to a
# wall-time budget. Every stage has its own time limit, so one failing stage leaves the others' results.
#
#   WORK=/tmp/gpu DATA=path/to/mnist RULE=rule.pt [TRAIN_S=240] [DEADLINE=epoch-s] [DEVICE=cuda] \
#     bash benchmarks/gpu_study.sh
#
# WORK: results folder (bench/, train/, one sub-folder per stage); DATA: MNIST IDX folder; RULE: a data-conditioned
# MNIST rule (checkpoint or `graphnca export` file) for grow-vs-train and as the training run's --init-from.
# After each stage WORK is packed into PACK (default WORK.tgz), so a machine that is taken back mid-run still
# leaves the finished stages. QUICK=1 shrinks every stage to seconds (the test suite smoke-runs it that way on a CPU).
set -u
WORK=${WORK:?set WORK}; DATA=${DATA:?set DATA}; RULE=${RULE:?set RULE}
TRAIN_S=${TRAIN_S:-240}; PACK=${PACK:-$WORK.tgz}; PY=${PYTHON:-python3}; DEVICE=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1
mkdir -p "$WORK/bench"
if [ "${QUICK:-0}" = 1 ]; then
  TP=(--weights 1e3 --at 1e3 --hidden 2 --widths 8 --repeats 1); MEM=(--arch 20,8,3 --batch 2 --steps 4 --plain-steps 2,4)
  GVT=(--arch 784,6,10 --many 2 --max-steps 4 --grow-every 2 --max-epochs 1 --adam-every 1)
  ARCHS=(--arch 784,6,10); NETS=2; MIN_TRAIN_S=1
  SLACK=4      # the smoke run checks that every stage runs, not how fast: a busy CPU must not time it out
else
  TP=(--weights 1e3,1e4,1e5,1e6,1e7,3e7 --at 1e7 --repeats 10); MEM=(--plain-steps 8,64)
  GVT=(--many 100 --max-epochs 3)
  ARCHS=(--arch 784,30,30,10 --arch 784,60,60,10 --arch 784,100,100,10); NETS=8; MIN_TRAIN_S=30; SLACK=1
fi

stage() { echo "=== $1 $(date +%T)"; }
pack() { tar czf "$PACK.tmp" -C "$(dirname "$WORK")" "$(basename "$WORK")" && mv "$PACK.tmp" "$PACK"; }

stage env
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "import torch, torch_geometric; from graphnca.runinfo import run_metadata; \
print('torch', torch.__version__, 'pyg', torch_geometric.__version__, run_metadata('$DEVICE'))"

stage smoke      # the data-free meta-training path, eval and checkpoint on CUDA
timeout $((90 * SLACK)) $PY -m graphnca train --device "$DEVICE" --task iris --steps 5 --experimental eval_every=5 --experimental checkpoint_every=5 \
  --out "$WORK/smoke" || echo "stage smoke failed: rc $?"

stage throughput   # sweeps of H and rule width at 1e7 weights, where a GPU is not launch-bound
timeout $((150 * SLACK)) $PY benchmarks/throughput.py --device "$DEVICE" "${TP[@]}" --out "$WORK/bench" \
  || echo "stage throughput failed: rc $?"
pack

stage memory      # plain BPTT at 64 steps fits an 80 GB card: measured, not extrapolated
timeout $((150 * SLACK)) $PY benchmarks/memory.py --device "$DEVICE" "${MEM[@]}" --out "$WORK/bench" \
  || echo "stage memory failed: rc $?"
pack

stage grow_vs_train
timeout $((120 * SLACK)) $PY benchmarks/grow_vs_train.py --device "$DEVICE" --rule "$RULE" --data-root "$DATA" "${GVT[@]}" \
  --out "$WORK/bench" || echo "stage grow_vs_train failed: rc $?"
pack

# meta-training: the zero-init data rule continued on wider nets and a larger batch than a CPU affords
TRAIN=(--device "$DEVICE" --task mnist --data-root "$DATA" --condition data --deadzone 0 --hidden-init zeros
       --experimental weight_scale=1.0 --init-from "$RULE" "${ARCHS[@]}" --batch-per-arch "$NETS" --schedule uniform:10,20 --data-batch 512 --experimental grow_batch=64 --experimental stationary_weight=0.1
       --lr 1e-3 --experimental warmup=20 --seed 0)
if [ -n "${DEADLINE:-}" ]; then   # epoch seconds by which everything must be packed: shrink the training budget
  LEFT=$((DEADLINE - $(date +%s) - 90)); [ "$LEFT" -lt "$TRAIN_S" ] && TRAIN_S=$LEFT
  echo "training budget: $TRAIN_S s"
fi
stage calibrate   # 12 meta-steps (one eval, one checkpoint) give the step time that sizes the real run
timeout $((150 * SLACK)) $PY -m graphnca train "${TRAIN[@]}" --steps 12 --experimental eval_every=12 --experimental checkpoint_every=12 \
  --out "$WORK/calibrate" || echo "stage calibrate failed: rc $?"
STEPS=$($PY -c "import json, sys; s = json.load(open(sys.argv[1]))['summary']; \
print(max(4, int(0.85 * $TRAIN_S * s['steps'] / s['wall_s'])))" "$WORK/calibrate/train.json" 2>/dev/null || echo 0)
echo "meta-steps for a $TRAIN_S s budget: $STEPS"
rm -f "$WORK/calibrate/checkpoint.pt"
pack

if [ "$STEPS" -gt 0 ] && [ "$TRAIN_S" -ge "$MIN_TRAIN_S" ]; then
  stage train
  # --time-limit ends the run cleanly (checkpoint + train.json) if the calibration was optimistic; timeout is the
  # backstop for a hang, with room for the final evaluation
  timeout $(((TRAIN_S + 120) * SLACK)) $PY -m graphnca train "${TRAIN[@]}" --steps "$STEPS" \
    --experimental eval_every=$(((STEPS + 3) / 4)) --experimental checkpoint_every=50 --time-limit $((TRAIN_S * SLACK)) --out "$WORK/train" \
    || echo "stage train failed: rc $?"
  # the full checkpoint carries pools of 784-100-100-10 states (tens of MB): keep the rule alone
  $PY -m graphnca export --rule "$WORK/train/checkpoint.pt" --out "$WORK/train/rule.pt" \
    && rm -f "$WORK/train/checkpoint.pt"
fi
rm -f "$WORK/smoke/checkpoint.pt"
pack
stage done

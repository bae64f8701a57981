#!/usr/bin/env bash
# Meta-train variants of the data-conditioned MNIST rule side by side on one short-lived GPU, then evaluate each
# (and the starting rule) there on MNIST: the [784, X, Y, 10] grid, an unseen depth, and 784-100-100-10.
# Variants, all continued from RULE with the same data, batch and seed:
#   more  the session-5 recipe again (3 archs x 8 nets, T ~ U{10..20}): what more meta-steps alone buy
#   long  the same networks at T ~ U{30..60}, lr halved: a horizon nearer the growth lengths used at test time
#   wide  784-100-100-10, 784-300-300-10 and 784-1000-10 at T ~ U{10..20}: the widths Fashion-MNIST growth uses
# They share the GPU, which costs each its rate (on an H100, `more` made 1.2 meta-steps/s beside the other two,
# 3.1 alone): the script compares recipes, it does not maximise one. A calibration run of each, side by side,
# sizes their meta-steps to the wall-time budget left before DEADLINE.
#
#   WORK=/tmp/r DATA=path/to/mnist RULE=rule.pt [DEADLINE=epoch-s] [EVAL_S=180] [DEVICE=cuda] \
#     bash benchmarks/gpu_rules.sh
#
# WORK is packed into PACK (default WORK.tgz) after every stage; grown networks and pools are deleted first (the
# exported rules, JSONs and PNGs stay). QUICK=1 shrinks everything to seconds (the test suite runs it that way).
set -u
WORK=${WORK:?set WORK}; DATA=${DATA:?set DATA}; RULE=${RULE:?set RULE}
PACK=${PACK:-$WORK.tgz}; PY=${PYTHON:-python3}; DEVICE=${DEVICE:-cuda}; EVAL_S=${EVAL_S:-180}
DEADLINE=${DEADLINE:-$(($(date +%s) + 540))}
export PYTHONUNBUFFERED=1
mkdir -p "$WORK"
if [ "${QUICK:-0}" = 1 ]; then
  SMALL=(--arch 784,6,10); WIDE=(--arch 784,8,10); NETS=2; HIDDEN=6,8; DEEP=784,5,5,5,10; MID=784,6,6,10
  SAMPLES=2; GRID_SAMPLES=1; T=3; CAL=2; SHORT=uniform:2,3; LONG=uniform:3,4; MAX_STEPS=3
else
  SMALL=(--arch 784,30,30,10 --arch 784,60,60,10 --arch 784,100,100,10)
  WIDE=(--arch 784,100,100,10 --arch 784,300,300,10 --arch 784,1000,10); NETS=8
  HIDDEN=10,20,30,40,50,60,70,80,90,100; DEEP=784,50,50,50,10; MID=784,100,100,10
  SAMPLES=20; GRID_SAMPLES=5; T=100; CAL=10; SHORT=uniform:10,20; LONG=uniform:30,60; MAX_STEPS=100000
fi
BASE=(--device "$DEVICE" --task mnist --data-root "$DATA" --condition data --deadzone 0 --hidden-init zeros
      --experimental weight_scale=1.0 --init-from "$RULE" --batch-per-arch "$NETS" --data-batch 512 --experimental grow_batch=64
      --experimental stationary_weight=0.1 --experimental warmup=20 --seed 2 --experimental grad_checkpoint=true)
VARIANTS=(more long wide)
args() {   # the variant's own flags
  case $1 in
    more) echo "${SMALL[*]} --schedule $SHORT --lr 1e-3" ;;
    long) echo "${SMALL[*]} --schedule $LONG --lr 5e-4" ;;
    wide) echo "${WIDE[*]} --schedule $SHORT --lr 1e-3" ;;
  esac
}
left() {   # seconds a command may take so the pack lands in time (at least 1: timeout 0 would mean no limit)
  local s=$((DEADLINE - $(date +%s) - 20)); [ "$s" -lt 1 ] && s=1; echo "$s"
}
stage() { echo "=== $1 $(date +%T) ($((DEADLINE - $(date +%s))) s to the deadline)"; }
pack() {
  find "$WORK" \( -name 'net_*.pt' -o -name checkpoint.pt \) -delete
  tar czf "$PACK.tmp" -C "$(dirname "$WORK")" "$(basename "$WORK")" && mv "$PACK.tmp" "$PACK"
}

stage env
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "from graphnca.runinfo import run_metadata; print(run_metadata('$DEVICE'))"

stage calibrate     # all variants at once, so each step time includes the others' load on the GPU
for v in "${VARIANTS[@]}"; do
  # shellcheck disable=SC2046
  timeout 150 $PY -m graphnca train "${BASE[@]}" $(args "$v") --steps "$CAL" --experimental eval_every=0 --experimental checkpoint_every=0 \
    --out "$WORK/calibrate_$v" >"$WORK/calibrate_$v.log" 2>&1 &
done
wait
pack

stage train
LEFT=$((DEADLINE - $(date +%s) - EVAL_S - 40)); echo "training budget: $LEFT s"
for v in "${VARIANTS[@]}"; do
  STEPS=$($PY -c "import json, sys; s = json.load(open(sys.argv[1]))['summary']; \
print(min($MAX_STEPS, max(2, int(0.85 * $LEFT * s['steps'] / s['wall_s']))))" "$WORK/calibrate_$v/train.json" 2>/dev/null || echo 0)
  echo "$v: $STEPS meta-steps"
  [ "$STEPS" -gt 0 ] || continue
  # shellcheck disable=SC2046
  ( timeout $((LEFT + 60)) $PY -m graphnca train "${BASE[@]}" $(args "$v") --steps "$STEPS" \
      --time-limit "$LEFT" --experimental eval_every=$(((STEPS + 3) / 4)) --experimental checkpoint_every=25 --out "$WORK/$v" >"$WORK/train_$v.log" 2>&1 \
      || echo "train $v: rc $?"
    $PY -m graphnca export --rule "$WORK/$v/checkpoint.pt" --out "$WORK/$v/rule.pt" ) &
done
wait
grep -h -A1 "\"steps\"" "$WORK"/train_*.log
pack

stage evaluate      # every rule at once; each command has its own limit, so one failure leaves the rest
evaluate() {   # name rule
  local o="$WORK/eval_$1" g=(--rule "$2" --data-root "$DATA" --device "$DEVICE" --seed 0)
  mkdir -p "$o"
  timeout "$(left)" $PY -m graphnca grow "${g[@]}" --arch "$MID" --samples "$SAMPLES" --steps "$T" --out "$o/mid"
  timeout "$(left)" $PY -m graphnca heatmap "${g[@]}" --hidden "$HIDDEN" --samples "$GRID_SAMPLES" --steps "$T" \
    --out "$o/grid"
  timeout "$(left)" $PY -m graphnca grow "${g[@]}" --arch "$DEEP" --samples "$SAMPLES" --steps "$T" --out "$o/deep"
}
evaluate base "$RULE" >"$WORK/eval_base.log" 2>&1 &
for v in "${VARIANTS[@]}"; do
  [ -f "$WORK/$v/rule.pt" ] && evaluate "$v" "$WORK/$v/rule.pt" >"$WORK/eval_$v.log" 2>&1 &
done
# the same seed grows the same networks from the same batches on either device: only float rounding differs
timeout 60 $PY -m graphnca grow --rule "$RULE" --data-root "$DATA" --arch "$MID" --samples 4 --steps 20 \
  --device cpu --out "$WORK/same_cpu" >"$WORK/same.log" 2>&1
timeout 60 $PY -m graphnca grow --rule "$RULE" --data-root "$DATA" --arch "$MID" --samples 4 --steps 20 \
  --device "$DEVICE" --out "$WORK/same_dev" >>"$WORK/same.log" 2>&1
wait
$PY - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
def get(path, *keys):
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    for k in keys:
        d = d[k]
    return d
w = Path(sys.argv[1])
print("rule | 784-100-100-10 | grid mean | grid worst cell | 784-50-50-50-10")
for e in sorted(w.glob("eval_*/")):
    row = [get(e / "mid/grow.json", "summary", "mean"), get(e / "grid/heatmap.json", "summary", "grown_mean"),
           get(e / "grid/heatmap.json", "summary", "grown_min_cell"), get(e / "deep/grow.json", "summary", "mean")]
    print(e.name[5:], "|", " | ".join("-" if v is None else f"{v:.4f}" for v in row))
print("same seed, cpu vs device:", get(w / "same_cpu/grow.json", "accuracy"), get(w / "same_dev/grow.json", "accuracy"))
EOF
pack
stage done

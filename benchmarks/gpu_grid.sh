#!/usr/bin/env bash
# The issue's grid protocol on one short-lived GPU: 100 grown networks per cell of the MNIST [784, X, Y, 10] grid
# (X, Y in 10..100), which takes hours on a 2-core CPU, for the shipped data-conditioned rules; the same grid with
# a third hidden layer of Z units (a depth the rules never saw); and a longer growth on fewer networks.
# Two lanes share the GPU, each running its jobs in priority order under the deadline; each job has its own limit,
# so a job cut short loses only itself, and WORK is packed into PACK after every job.
#
#   WORK=/tmp/g DATA=path/to/mnist BASE_RULE=a.pt MIX_RULE=b.pt [DEADLINE=epoch-s] [DEVICE=cuda] \
#     bash benchmarks/gpu_grid.sh
#
# QUICK=1 shrinks everything to seconds (the test suite runs it that way, on the CPU).
set -u
WORK=${WORK:?set WORK}; DATA=${DATA:?set DATA}
BASE_RULE=${BASE_RULE:?set BASE_RULE}; MIX_RULE=${MIX_RULE:?set MIX_RULE}
PACK=${PACK:-$WORK.tgz}; PY=${PYTHON:-python3}; DEVICE=${DEVICE:-cuda}
DEADLINE=${DEADLINE:-$(($(date +%s) + 540))}
export PYTHONUNBUFFERED=1
mkdir -p "$WORK"
if [ "${QUICK:-0}" = 1 ]; then
  HIDDEN=6,8; SAMPLES=2; FEW=1; T=3; SHORT=2; LONG=6; Z=5
else
  HIDDEN=10,20,30,40,50,60,70,80,90,100; SAMPLES=100; FEW=20; T=100; SHORT=20; LONG=300; Z=50
fi

left() {   # seconds a job may take so the pack lands in time (at least 1: timeout 0 would mean no limit)
  local s=$((DEADLINE - $(date +%s) - 15)); [ "$s" -lt 1 ] && s=1; echo "$s"
}
pack() {   # $1: a name of its own for the temporary file, since both lanes pack
  tar czf "$PACK.$1.tmp" -C "$(dirname "$WORK")" "$(basename "$WORK")" && mv "$PACK.$1.tmp" "$PACK"
}
grid() {   # name rule [heatmap flags]: one grid, logged and packed
  local name=$1 rule=$2; shift 2
  echo "=== $name $(date +%T) ($((DEADLINE - $(date +%s))) s to the deadline)"
  local t0; t0=$(date +%s)
  timeout "$(left)" $PY -m graphnca heatmap --rule "$rule" --data-root "$DATA" --device "$DEVICE" --seed 0 \
    --hidden "$HIDDEN" --out "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 || echo "$name: rc $?"
  echo "$name: $(($(date +%s) - t0)) s"
  pack "$name"
}

echo "=== env $(date +%T)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "from graphnca.runinfo import run_metadata; print(run_metadata('$DEVICE'))"

(   # lane A: the headline rule on the grid at T = 100 and at its training length, then a longer growth
  grid base_T$T "$BASE_RULE" --samples "$SAMPLES" --steps "$T"
  grid base_T$SHORT "$BASE_RULE" --samples "$SAMPLES" --steps "$SHORT"
  grid base_T$LONG "$BASE_RULE" --samples "$FEW" --steps "$LONG"
) &
(   # lane B: an unseen depth, then the damage-trained rule
  grid deep${Z}_T$T "$BASE_RULE" --samples "$SAMPLES" --steps "$T" --third "$Z"
  grid mix_T$SHORT "$MIX_RULE" --samples "$SAMPLES" --steps "$SHORT"
) &
wait

$PY - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
print("grid | rule | samples | T | mean | worst cell | worst network | wall s")
for f in sorted(Path(sys.argv[1]).glob("*/heatmap.json")):
    d = json.loads(f.read_text())
    s = d["summary"]
    print(f.parent.name, "|", Path(d["rule"]).name, "|", d["samples"], "|", d["steps"], "|",
          f"{s['grown_mean']:.4f} | {s['grown_min_cell']:.4f} | {s['grown_min_network']:.4f} |",
          f"{d['wall_s']:.0f}")
EOF
pack final
echo "=== done $(date +%T)"

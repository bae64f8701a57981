#!/usr/bin/env bash
# The fixed panel on which robust-rule variants are compared (stability, regrowth, growth cost), each stage a
# graphnca command that writes JSON + PNG under $OUT/NAME/, then one line per rule from those JSONs.
#
#   MNIST=DIR OUT=DIR bash benchmarks/robust_panel.sh NAME=RULE [NAME=RULE ...]
#
# RULE: a pretrained rule's name, a training checkpoint or an exported file. Panel (held-out architectures):
# stability: $UPDATES updates of 2 grown $ARCH networks (784-100-100-10); zero-out: $SAMPLES (20) networks of $ARCH,
# a layer plus 30 % of the other weights zeroed after 10 growth steps, 10 updates to regrow; cost: the
# [784, X, Y, 10] grid at X, Y in $HIDDEN, $SAMPLES / 2 networks per cell. Growth uses 10 steps and no data.
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST=${MNIST:?set MNIST to a folder with the MNIST IDX files}
OUT=${OUT:?set OUT to a folder for the panel results}
UPDATES=${UPDATES:-500}
ARCH=${ARCH:-784,100,100,10}
SAMPLES=${SAMPLES:-20}
HIDDEN=${HIDDEN:-10,20,50,100}
FORCE=${FORCE:-}
PY=${PY:-python}
[[ $# -gt 0 ]] || { echo "usage: MNIST=DIR OUT=DIR $0 NAME=RULE [NAME=RULE ...]" >&2; exit 2; }
for pair in "$@"; do
  [[ "$pair" == *=* ]] || { echo "expected NAME=RULE, got '$pair'" >&2; exit 2; }
done
for pair in "$@"; do
  name=${pair%%=*} rule=${pair#*=}
  echo "== $name: stability ($(date +%T))"
  $PY -m graphnca stability --rule "$rule" --data-root "$MNIST" --arch "$ARCH" --updates "$UPDATES" \
    --samples 2 --loss-examples 4096 --out "$OUT/$name/stability" $FORCE
  echo "== $name: zero-out ($(date +%T))"
  $PY -m graphnca robustness --rule "$rule" --data-root "$MNIST" --arch "$ARCH" --steps 10 --after 10 \
    --samples "$SAMPLES" --out "$OUT/$name/zero_out" $FORCE
  echo "== $name: grid ($(date +%T))"
  $PY -m graphnca heatmap --rule "$rule" --data-root "$MNIST" --hidden "$HIDDEN" \
    --samples $((SAMPLES > 1 ? SAMPLES / 2 : 1)) --out "$OUT/$name/grid" $FORCE
done
$PY - "$OUT" "$@" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'rule':24s} {'within10%':>9s} {'min loss':>8s} {'loss@100':>8s} {'loss@end':>8s} "
      f"{'before':>6s} {'regrown':>7s} {'grid':>6s}")
for pair in sys.argv[2:]:
    name = pair.split("=", 1)[0]
    s = json.loads((out / name / "stability" / "stability.json").read_text())["results"][0]
    z = json.loads((out / name / "zero_out" / "robustness.json").read_text())["summary"][0]
    g = json.loads((out / name / "grid" / "heatmap.json").read_text())["summary"]
    at100 = s["loss"][min(99, len(s["loss"]) - 1)]              # the last update when fewer than 100 ran
    print(f"{name:24s} {s['updates_within_10pct']:9d} {s['min_loss']:8.3f} {at100:8.3f} {s['loss'][-1]:8.3f} "
          f"{z['before']:6.3f} {z['after_growth_steps']:7.3f} {g['grown_mean']:6.3f}")
EOF

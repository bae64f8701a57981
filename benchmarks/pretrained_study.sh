#!/usr/bin/env bash
# Every measurement of the shipped data-free rules (graphnca.load_rule("mnist" | "fashion-mnist")), each a command
# that writes JSON + PNG under $OUT. Growth uses each rule's own step count (10) and no data.
#
#   MNIST=DIR FASHION=DIR bash benchmarks/pretrained_study.sh            # DIR: folders with the IDX files
#   SAMPLES=100 DEVICE=cuda ...                                           # the protocol's 100 per cell on a GPU
#
# OUT (default benchmarks/results/experiments/pretrained) must not hold earlier results unless FORCE=--force.
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST=${MNIST:?set MNIST to a folder with the MNIST IDX files}
FASHION=${FASHION:?set FASHION to a folder with the Fashion-MNIST IDX files}
OUT=${OUT:-benchmarks/results/experiments/pretrained}
SAMPLES=${SAMPLES:-20}
DEVICE=${DEVICE:-cpu}
FORCE=${FORCE:-}
RULE=${RULE:-mnist}
FRULE=${FRULE:-fashion-mnist}
PY=${PY:-python}
only() { [[ -z "${ONLY:-}" || " $ONLY " == *" $1 "* ]]; }
stage() { echo "== $1 ($(date +%T))"; }

if only grid; then stage "MNIST [784, X, Y, 10] grid, $SAMPLES networks per cell, beside Adam's one epoch"
  $PY -m graphnca heatmap --rule "$RULE" --data-root "$MNIST" --hidden 10,20,30,40,50,60,70,80,90,100 \
    --samples "$SAMPLES" --baseline adam --epochs 1 --device "$DEVICE" --out "$OUT/mnist_grid" $FORCE
fi
if only wide; then stage "wider than ever trained: [784, W, W, 10], W = 200, 400, 1000"
  $PY benchmarks/arch_suite.py --rule "$RULE" --suite mnist-wide --data-root "$MNIST" --samples "$SAMPLES" \
    --no-adam --out "$OUT"
fi
if only depth; then stage "unseen depth: [784, X, Y, Z, 10], X, Y, Z in {20, 50, 100}"
  $PY benchmarks/arch_suite.py --rule "$RULE" --suite mnist-depth --data-root "$MNIST" --samples "$SAMPLES" \
    --no-adam --out "$OUT"
fi
if only fashion; then stage "Fashion-MNIST depth-3 MLPs: 4 trained on, 16 held out, beside Adam with a tuned lr"
  $PY benchmarks/arch_suite.py --rule "$FRULE" --suite fashion-depth3 --data-root "$FASHION" --samples "$SAMPLES" \
    --adam-seeds 2 --adam-epochs 1 --out "$OUT"
fi
if only stability; then stage "stability: 20,000 updates of ${STAB_SAMPLES:-2} grown 784-32-32-10 networks"
  $PY -m graphnca stability --rule "$RULE" --data-root "$MNIST" --arch 784,32,32,10 --updates 20000 --samples "${STAB_SAMPLES:-2}" --loss-examples 4096 \
    --device "$DEVICE" --out "$OUT/stability" $FORCE
fi
if only zero_out; then stage "zero-out: a layer plus 30 % of the other weights, 10 updates to recover"
  $PY -m graphnca robustness --rule "$RULE" --data-root "$MNIST" --arch 784,100,100,10 --steps 10 --after 10 \
    --samples "$SAMPLES" --device "$DEVICE" --out "$OUT/zero_out" $FORCE
fi
if only grow_vs_train; then stage "grow 1 and 100 networks of 784-100-100-10 vs Adam training one"
  $PY benchmarks/grow_vs_train.py --rule "$RULE" --data-root "$MNIST" --arch 784,100,100,10 --many 100 \
    --max-steps 10 --grow-every 10 --adam-every 10 --target "${TARGET:-0.80}" --device "$DEVICE" --out "$OUT"
fi
stage done

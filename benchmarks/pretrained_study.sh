#!/usr/bin/env bash
# Every measurement of the shipped data-free rules (graphnca.load_rule("mnist" | "mnist-robust" | "fashion-mnist")),
# each a command that writes JSON + PNG under $OUT. Growth uses each rule's own step count (10) and no data.
#
#   MNIST=DIR FASHION=DIR bash benchmarks/pretrained_study.sh            # DIR: folders with the IDX files
#   ONLY="grid wide" ...  SAMPLES=100 DEVICE=cuda ...                     # some stages; the protocol's 100 per cell
#   THREADS=1 ...                                                         # torch threads (two stages side by side)
#
# Stages: grid (the [784, X, Y, 10] grid beside Adam, lr tuned per cell on a validation split), wide, depth,
# fashion, stability (plain and robust rule), zero_out (three held-out architectures), robust_grid (what
# robustness costs), grow_vs_train. OUT (default benchmarks/results/experiments/pretrained) must not hold earlier
# results unless FORCE=--force. HIDDEN, UPDATES and the rule names can be overridden (tests shrink them).
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST=${MNIST:?set MNIST to a folder with the MNIST IDX files}
FASHION=${FASHION:?set FASHION to a folder with the Fashion-MNIST IDX files}
OUT=${OUT:-benchmarks/results/experiments/pretrained}
SAMPLES=${SAMPLES:-20}
DEVICE=${DEVICE:-cpu}
FORCE=${FORCE:-}
RULE=${RULE:-mnist}
ROBUST=${ROBUST:-mnist-robust}
FRULE=${FRULE:-fashion-mnist}
HIDDEN=${HIDDEN:-10,20,30,40,50,60,70,80,90,100}
UPDATES=${UPDATES:-20000}
ADAM_LRS=${ADAM_LRS:-3e-4,1e-3,3e-3}
WIDE=${WIDE:-}              # e.g. "784,40,10;784,50,50,10" instead of each suite's architectures
DEPTH=${DEPTH:-}
FDEPTH=${FDEPTH:-}
ZERO_ARCHS=${ZERO_ARCHS:-784,100,100,10 784,64,64,10 784,200,200,10}
STAB_ARCHS=${STAB_ARCHS:-784,100,100,10 784,64,64,10}
PY=${PY:-python}
if [[ -n "${THREADS:-}" ]]; then export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS; fi
only() { [[ -z "${ONLY:-}" || " $ONLY " == *" $1 "* ]]; }
stage() { echo "== $1 ($(date +%T))"; }
archs() { [[ -n "$1" ]] && echo --archs "$1" || true; }

if only grid; then stage "MNIST [784, X, Y, 10] grid, $SAMPLES networks per cell, beside Adam's one epoch"
  $PY -m graphnca heatmap --rule "$RULE" --data-root "$MNIST" --hidden "$HIDDEN" --samples "$SAMPLES" \
    --baseline adam --epochs 1 --adam-lrs "$ADAM_LRS" --device "$DEVICE" --out "$OUT/mnist_grid" $FORCE
fi
if only wide; then stage "wider than ever trained: [784, W, W, 10], W = 200, 400, 1000"
  $PY benchmarks/arch_suite.py --rule "$RULE" --suite mnist-wide $(archs "$WIDE") --data-root "$MNIST" \
    --samples "$SAMPLES" --no-adam --out "$OUT" $FORCE
fi
if only depth; then stage "unseen depth: [784, X, Y, Z, 10], X, Y, Z in {20, 50, 100}"
  $PY benchmarks/arch_suite.py --rule "$RULE" --suite mnist-depth $(archs "$DEPTH") --data-root "$MNIST" \
    --samples "$SAMPLES" --no-adam --out "$OUT" $FORCE
fi
if only fashion; then stage "Fashion-MNIST depth-3 MLPs beside Adam with a tuned lr"
  $PY benchmarks/arch_suite.py --rule "$FRULE" --suite fashion-depth3 $(archs "$FDEPTH") --data-root "$FASHION" \
    --samples "$SAMPLES" --adam-seeds 2 --adam-epochs 1 --lrs "$ADAM_LRS" --out "$OUT" $FORCE
fi
if only stability; then
  for arch in $STAB_ARCHS; do stage "stability: $UPDATES updates of 2 grown $arch networks, plain and robust rule"
    $PY -m graphnca stability --rule "$RULE" --rule "$ROBUST" --data-root "$MNIST" --arch "$arch" \
      --updates "$UPDATES" --samples 2 --loss-examples 4096 --device "$DEVICE" \
      --out "$OUT/stability_${arch//,/-}" $FORCE
  done
fi
if only zero_out; then
  for arch in $ZERO_ARCHS; do stage "zero-out of $arch: a layer plus 30 % of the other weights, 10 updates"
    $PY -m graphnca robustness --rule "$RULE" --rule "$ROBUST" --data-root "$MNIST" --arch "$arch" --steps 10 \
      --after 10 --samples "$SAMPLES" --device "$DEVICE" --out "$OUT/zero_out_${arch//,/-}" $FORCE
  done
fi
if only robust_grid; then stage "what robustness costs: the grid grown by the robust rule"
  $PY -m graphnca heatmap --rule "$ROBUST" --data-root "$MNIST" --hidden "$HIDDEN" --samples "$SAMPLES" \
    --device "$DEVICE" --out "$OUT/robust_grid" $FORCE
fi
if only grow_vs_train; then stage "grow 1 and 100 networks of 784-100-100-10 vs Adam training one to the same accuracy"
  $PY benchmarks/grow_vs_train.py --rule "$RULE" --data-root "$MNIST" --arch 784,100,100,10 \
    --many "${MANY:-100}" --repeats "${REPEATS:-5}" --out "$OUT"
fi
stage done

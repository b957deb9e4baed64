#!/usr/bin/env bash
# Run every claim of `ilsvrc reproduce` at one budget on CIFAR-10 and keep the reports under docs/results/CLAIM/.
# usage: bash benchmarks/reproduce_all.sh [budget] [data]     (small: each claim < 20 min on 2 CPU cores)
set -uo pipefail
budget=${1:-small}
data=${2:-../shared/data/cifar10/cifar-10-batches-py}
claims=${CLAIMS:-"degradation relu-vs-tanh bottleneck small-filters ensemble lrn vit-data"}
for claim in $claims; do
  echo "== $claim ($budget) $(date -u +%H:%M:%S)"
  ilsvrc reproduce "$claim" --budget "$budget" --data "$data" --out "docs/results/$claim" || echo "!! $claim failed"
done
ilsvrc reproduce --table docs/results

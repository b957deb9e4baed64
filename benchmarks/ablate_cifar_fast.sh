#!/usr/bin/env bash
# The cifar-fast ablation: the full recipe, then each airbench piece removed, at the same epochs and seeds;
# then the table of test accuracy at a fixed wall time. Run alone on the machine (timings are the result).
# usage: bash benchmarks/ablate_cifar_fast.sh [seeds] [epochs] [at_seconds] [data]
#   One 10-epoch seed takes ~10 min on the 2-core Intel Xeon (AMX) VM, ~18 on the AMD EPYC (AVX512) one and ~75 on
#   the AMD EPYC (AVX2, fp32) one, so 1 seed of the ten arms (full + nine removed) is ~1.7 h, ~3 h or ~12 h.
set -uo pipefail
seeds=${1:-3}
epochs=${2:-10}
at=${3:-600}
data=${4:-../shared/data/cifar10/cifar-10-batches-py}
pieces=${PIECES:-"lookahead alternate-flip tta translate-tta batch1024 whiten-bias-freeze triangle label-smoothing reflect-pad"}
out=benchmarks/results/ablate
mkdir -p "$out"
run() {  # name, extra flags
  local name=$1; shift
  echo "== $name $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  python benchmarks/time_to_accuracy.py --cifar "$data" --seeds "$seeds" --epochs "$epochs" --at-seconds "$at" \
    --targets 0.90 0.93 0.94 --out "runs/ablate/$name" --json "$out/$name.json" "$@" || echo "!! $name failed"
}
run full
for piece in $pieces; do run "without-$piece" --ablate "$piece"; done
python benchmarks/ablation_table.py --at-seconds "$at" "$out"/*.json | tee "$out/table.md"

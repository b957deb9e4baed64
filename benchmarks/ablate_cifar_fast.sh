#!/usr/bin/env bash
# The speed-run ablation: the full recipe, then each airbench piece removed, at the same epochs and seeds; then the
# table of test accuracy at a fixed wall time. Run alone on the machine (timings are the result).
# usage: bash benchmarks/ablate_cifar_fast.sh [seeds] [epochs] [at_seconds] [data]
#   RECIPE: cifar-fast (default) or cifar-muon. PIECES: what to remove, one arm each (default: the recipe's pieces;
#   cifar-muon has no Lookahead and no triangle to remove). FULL: an existing time_to_accuracy.py JSON of the full
#   recipe at the same epochs (e.g. benchmarks/results/record_10min_5ep.json) to reuse instead of running it again.
#   EVAL_EVERY: epochs between test evaluations (default 1, for the curve; each costs training time, so a run whose
#   only reading is at the end takes EVAL_EVERY=EPOCHS). OUT: where the JSONs, table.md and ablation.png go.
#   One 10-epoch seed of cifar-fast takes ~10 min on the 2-core Intel Xeon (AMX) VM, ~18 on the AMD EPYC (Zen 4,
#   AVX512-BF16) one and ~75 on the AMD EPYC (AVX2, fp32) one.
set -uo pipefail
seeds=${1:-3}
epochs=${2:-10}
at=${3:-600}
data=${4:-../shared/data/cifar10/cifar-10-batches-py}
recipe=${RECIPE:-cifar-fast}
eval_every=${EVAL_EVERY:-1}
if [[ $recipe == cifar-muon ]]; then
  default_pieces="muon alternate-flip tta translate-tta batch1024 whiten-bias-freeze label-smoothing reflect-pad"
else
  default_pieces="lookahead alternate-flip tta translate-tta batch1024"
  default_pieces+=" whiten-bias-freeze triangle label-smoothing reflect-pad"
fi
pieces=${PIECES:-$default_pieces}
out=${OUT:-benchmarks/results/ablate}
mkdir -p "$out"
run() {  # name, extra flags
  local name=$1; shift
  echo "== $name $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  python benchmarks/time_to_accuracy.py --cifar "$data" --recipe "$recipe" --seeds "$seeds" --epochs "$epochs" \
    --eval-every "$eval_every" --at-seconds "$at" --targets 0.90 0.93 0.94 --out "runs/ablate/$recipe/$name" \
    --json "$out/$name.json" "$@" || echo "!! $name failed"
}
if [[ -n ${FULL:-} ]]; then cp "$FULL" "$out/full.json"; else run full; fi
for piece in $pieces; do run "without-$piece" --ablate "$piece"; done
python benchmarks/ablation_table.py --at-seconds "$at" "$out"/*.json --png "$out/ablation.png" | tee "$out/table.md"

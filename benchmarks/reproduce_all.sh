#!/usr/bin/env bash
# Run every claim of `ilsvrc reproduce` at one budget on CIFAR-10; reports go to docs/results/CLAIM/BUDGET/.
# usage: bash benchmarks/reproduce_all.sh [budget] [data]
#   small: each claim <= 15 min and all seven <= 90 min on 2 CPU cores; medium: each claim <= 45 min
#   (budgets sized on the 2-core Xeon with AMX: all seven small took 78 min there, 2026-12-02. The AVX2-only
#   AMD EPYC VM is ~2.7x slower: degradation at medium took 89 min there, 2026-12-03. Check `lscpu` first.)
#   CLAIMS="degradation ensemble" bash benchmarks/reproduce_all.sh medium   runs only those claims
#   RESUME=1 bash benchmarks/reproduce_all.sh medium   continues claims that stopped (their nets in OUT/nets)
set -uo pipefail
budget=${1:-small}
data=${2:-../shared/data/cifar10/cifar-10-batches-py}
claims=${CLAIMS:-"relu-vs-tanh lrn small-filters bottleneck degradation ensemble vit-data"}
start=$(date +%s)
for claim in $claims; do
  echo "== $claim ($budget) $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  ilsvrc reproduce "$claim" --budget "$budget" --data "$data" --out "docs/results/$claim/$budget" ${RESUME:+--resume} || echo "!! $claim failed"
done
echo "== all claims at $budget: $(( ($(date +%s) - start) / 60 )) min"
ilsvrc reproduce --table docs/results

#!/usr/bin/env bash
# Every CPU table of README's performance section in one go (about 30 minutes on 2 cores, plus 36 minutes of
# time-to-accuracy runs). Results land in ${OUT:-benchmarks/results}/; run it on a quiet machine.
# usage: bash benchmarks/cpu.sh            (CIFAR=... FOLDER=... to point at other copies of the data)
set -uo pipefail
cifar=${CIFAR:-../shared/data/cifar10/cifar-10-batches-py}
folder=${FOLDER:-../shared/data/imagenette224/train}
out=${OUT:-benchmarks/results}
mkdir -p "$out"
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; "$@" || echo "!! failed (exit $?): $*"; }
step ilsvrc bench --suite models --cifar "$cifar" --data "$folder" --json "$out/models_cpu.json"
step ilsvrc bench --suite models --amp --models resnet20 resnet18 --cifar "$cifar" --data "$folder" \
  --json "$out/models_cpu_bf16.json"
step ilsvrc bench --suite mfu --models resnet50 vgg16 resnet18 googlenet alexnet resnet20 --json "$out/mfu.json"
step ilsvrc bench --suite inference --steps 5 --json "$out/inference.json"
step ilsvrc bench --suite memory --json "$out/memory.json"
step ilsvrc bench --suite data --data "$folder" --json "$out/data_64.json"
step ilsvrc bench --suite data --data "$folder" --input-size 224 --json "$out/data_224.json"
step python benchmarks/jpeg_decode.py --data "$folder" --json "$out/jpeg_decode_cpu.json"
step python benchmarks/profile_step.py resnet20 --size 32 --batch-size 128 --out "$out/profile_resnet20_32.txt"
step python benchmarks/profile_step.py resnet18 --size 64 --batch-size 64 --out "$out/profile_resnet18_64.txt"
step python benchmarks/time_to_accuracy.py --cifar "$cifar" --targets 0.90 0.93 0.94 --epochs 10 \
  --widths 64 256 256 --amp --out runs/tta --json "$out/time_to_accuracy.json"

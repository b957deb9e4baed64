#!/usr/bin/env bash
# GPU check, one prepared script for a lent CUDA machine (about 12 minutes on one H100):
# CUDA paths (bf16 autocast, channels_last, torch.compile), MFU against the card's own GEMM ceiling,
# CIFAR-10 seconds to 94% with cifar-fast and cifar-muon, and a 1-process nccl DDP training run.
# Results land in ${OUT:-benchmarks/results}/gpu-*.json and gpu.log.
# usage: bash benchmarks/gpu.sh        (CI never runs it; everything here also runs on CPU with --device cpu)
# Data: CIFAR=DIR (python batches) and FOLDER=DIR (an ImageFolder), default ../shared/data/...; steps without them
# are skipped. Through the session's device tool ../shared does not travel: copy the Imagenette subset (37 MB) into
# an ignored folder of the checkout, carry it and set FOLDER; the CIFAR-10 copy (170 MB) is over the tool's 64 MiB.
set -uo pipefail
out=${OUT:-benchmarks/results}
mkdir -p "$out"
log="$out/gpu.log"
exec > >(tee "$log") 2>&1
# The lent machine reaches no network and has its own PyTorch (2.11 when last seen) but not every dependency
# (grad-cam, only `ilsvrc show cam` needs it): run from the source tree instead of pip-installing it
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-$(command -v python3 || command -v python)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$py" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name())
PY
step() { echo; echo "== $*"; timeout 240 "$@" || echo "!! failed (exit $?): $*"; }
step "$py" -m ilsvrc bench --suite mfu --device cuda --models resnet50 vgg16 --batch-size 128 --steps 10 --json "$out/gpu-mfu-fp32.json"
step "$py" -m ilsvrc bench --suite mfu --device cuda --amp --models resnet50 vgg16 resnet18 googlenet vit_b16 --batch-size 128 \
  --steps 10 --json "$out/gpu-mfu-bf16.json"
step "$py" -m ilsvrc bench --suite mfu --device cuda --amp --compile --models resnet50 --batch-size 128 --steps 10 \
  --json "$out/gpu-mfu-bf16-compile.json"
step "$py" -m ilsvrc bench --suite inference --device cuda --batch-size 64 --steps 10 --json "$out/gpu-inference.json"
cifar=${CIFAR:-../shared/data/cifar10/cifar-10-batches-py}
folder=${FOLDER:-../shared/data/imagenette224/train}
if [ -d "$cifar" ] && [ -d "$folder" ]; then
  step "$py" -m ilsvrc bench --suite models --device cuda --amp --cifar "$cifar" --data "$folder" --repeats 2 \
    --json "$out/gpu-models.json"
  step "$py" benchmarks/jpeg_decode.py --data "$folder" --seconds 5 --json "$out/gpu-jpeg-decode.json"  # nvJPEG vs CPU
  # training and evaluation read a JPEG pack with nvJPEG + GPU crops (jpeg_dataset.py): a short run, then evaluate
  step "$py" -m ilsvrc pack "$(dirname "$folder")" "$out/gpu-jpeg-pack" --payload jpeg --quiet
  step "$py" -m ilsvrc train resnet18 --data "$out/gpu-jpeg-pack" --device cuda --amp --max-steps 40 --batch-size 128 \
    --no-progress --out "$out/gpu-jpeg-run"
  step "$py" -m ilsvrc evaluate "$out/gpu-jpeg-run" --data "$out/gpu-jpeg-pack" --device cuda --format json
else
  echo "no CIFAR-10 / ImageFolder data beside the checkout: models suite skipped"
fi
if [ -d "$cifar" ]; then
  # seconds to 94% with the full cifar-fast recipe (lookahead, alternating flips, translate TTA, batch 1024):
  # bf16 autocast, channels_last (the benchmark's default), torch.compile; 2 seeds; the JSON's
  # summary.targets["0.94"].time_s holds the mean and spread
  echo; echo "== time to 94% (CUDA, bf16, compiled)"
  timeout 420 "$py" benchmarks/time_to_accuracy.py --cifar "$cifar" --device cuda --precision bf16 --compile \
    --targets 0.90 0.93 0.94 --seeds 2 --out "$out/gpu-tta-run" --json "$out/gpu-tta-94.json" \
    || echo "!! failed (exit $?): time_to_accuracy"
  # the same with Muon on the conv filters, 8 epochs as airbench94_muon (94.01% on the lossless images)
  echo; echo "== time to 94% with cifar-muon (CUDA, bf16, compiled, 8 epochs)"
  timeout 300 "$py" benchmarks/time_to_accuracy.py --cifar "$cifar" --recipe cifar-muon --epochs 8 --device cuda \
    --precision bf16 --compile --targets 0.90 0.93 0.94 --seeds 2 --out "$out/gpu-muon-run" \
    --json "$out/gpu-muon-94.json" || echo "!! failed (exit $?): time_to_accuracy cifar-muon"
else
  echo "no CIFAR-10 beside the checkout: time-to-accuracy skipped"
fi
step torchrun --standalone --nproc_per_node=1 -m ilsvrc train resnet20 --device cuda --amp --channels-last \
  --epochs 2 --out "$out/gpu-ddp-run"
step "$py" -m ilsvrc train --device cuda --amp --channels-last --compile --out "$out/gpu-default-run"
echo "done: $log"

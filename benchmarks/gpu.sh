#!/usr/bin/env bash
# GPU check, one prepared script for a lent CUDA machine (about 8 minutes on one H100):
# CUDA paths (bf16 autocast, channels_last, torch.compile), MFU against the card's own GEMM ceiling,
# and a 1-process nccl DDP training run. Results land in ${OUT:-benchmarks/results}/gpu-*.json and gpu.log.
# usage: bash benchmarks/gpu.sh        (CI never runs it; everything here also runs on CPU with --device cpu)
set -uo pipefail
out=${OUT:-benchmarks/results}
mkdir -p "$out"
log="$out/gpu.log"
exec > >(tee "$log") 2>&1
python -m pip install -q -e . 2>/dev/null || python -m pip install -q -e ".[test]"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name())
PY
step() { echo; echo "== $*"; timeout 240 "$@" || echo "!! failed (exit $?): $*"; }
step ilsvrc bench --suite mfu --device cuda --models resnet50 vgg16 --batch-size 128 --steps 10 --json "$out/gpu-mfu-fp32.json"
step ilsvrc bench --suite mfu --device cuda --amp --models resnet50 vgg16 resnet18 googlenet vit_b16 --batch-size 128 \
  --steps 10 --json "$out/gpu-mfu-bf16.json"
step ilsvrc bench --suite mfu --device cuda --amp --compile --models resnet50 --batch-size 128 --steps 10 \
  --json "$out/gpu-mfu-bf16-compile.json"
step ilsvrc bench --suite inference --device cuda --batch-size 64 --steps 10 --json "$out/gpu-inference.json"
cifar=${CIFAR:-../shared/data/cifar10/cifar-10-batches-py}
folder=${FOLDER:-../shared/data/imagenette224/train}
if [ -d "$cifar" ] && [ -d "$folder" ]; then
  step ilsvrc bench --suite models --device cuda --amp --cifar "$cifar" --data "$folder" --repeats 2 \
    --json "$out/gpu-models.json"
  step python benchmarks/jpeg_decode.py --data "$folder" --seconds 5 --json "$out/gpu-jpeg-decode.json"  # nvJPEG vs CPU
  # training and evaluation read a JPEG pack with nvJPEG + GPU crops (jpeg_dataset.py): a short run, then evaluate
  step ilsvrc pack "$(dirname "$folder")" "$out/gpu-jpeg-pack" --payload jpeg --quiet
  step ilsvrc train resnet18 --data "$out/gpu-jpeg-pack" --device cuda --amp --max-steps 40 --batch-size 128 \
    --no-progress --out "$out/gpu-jpeg-run"
  step ilsvrc evaluate "$out/gpu-jpeg-run" --data "$out/gpu-jpeg-pack" --device cuda --format json
  step python benchmarks/time_to_accuracy.py --cifar "$cifar" --target 0.94 --epochs 10 --amp \
    --out "$out/gpu-tta-run" --json "$out/gpu-tta-94.json"
else
  echo "no CIFAR-10 / ImageFolder data beside the checkout: models suite and time-to-accuracy skipped"
fi
step torchrun --standalone --nproc_per_node=1 -m ilsvrc train resnet20 --device cuda --amp --channels-last \
  --epochs 2 --out "$out/gpu-ddp-run"
step python -m ilsvrc train --device cuda --amp --channels-last --compile --out "$out/gpu-default-run"
echo "done: $log"

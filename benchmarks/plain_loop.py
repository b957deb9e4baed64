"""The plain PyTorch loop a torchvision user writes, as its own process: the baseline of `ilsvrc bench --suite e2e`.

It does the work `ilsvrc train MODEL --data DATA --epochs N` does with the default 'quick' recipe: the same
network, batch 128, SGD (momentum 0.9, Nesterov, weight decay 5e-4), label smoothing 0.1, a cosine learning
rate with one warm-up epoch, pad-crop-flip augmentation (2 pixels), then top-1 error on the validation split.
The user's way: torchvision transforms on PIL images one at a time, DataLoader(num_workers=2), eager fp32 in
the default memory format, `loss.item()` every step.

    python benchmarks/plain_loop.py resnet20 --data CIFAR_BATCHES_DIR --epochs 1
    python benchmarks/plain_loop.py resnet18 --data ../shared/data/imagenette224 --epochs 1 --size 64
"""

from __future__ import annotations

import argparse
import math
import pickle
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class CifarBatches(torch.utils.data.Dataset):
    """CIFAR-10 python batches (data_batch_* or test_batch) served as PIL images, as torchvision's CIFAR10 does."""

    def __init__(self, folder: Path, train: bool, transform) -> None:
        names = sorted(folder.glob("data_batch_*")) if train else [folder / "test_batch"]
        images, labels = [], []
        for name in names:
            with open(name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")  # a trusted local file, as torchvision reads it
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(batch["labels"])
        self.images, self.labels, self.transform = np.concatenate(images), labels, transform
        self.classes = list(range(10))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def datasets(data: Path, size: int):
    from torchvision import datasets as D
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(MEAN, STD)]
    if (data / "test_batch").is_file():  # CIFAR batches
        train_tf = T.Compose([T.RandomCrop(size, padding=2), T.RandomHorizontalFlip(), *norm])
        return CifarBatches(data, True, train_tf), CifarBatches(data, False, T.Compose(norm))
    fit = [T.Resize(size), T.CenterCrop(size)]
    train_tf = T.Compose([*fit, T.RandomCrop(size, padding=2), T.RandomHorizontalFlip(), *norm])
    return D.ImageFolder(data / "train", train_tf), D.ImageFolder(data / "val", T.Compose([*fit, *norm]))


def build(name: str, num_classes: int) -> torch.nn.Module:
    import torchvision

    if hasattr(torchvision.models, name):
        return getattr(torchvision.models, name)(num_classes=num_classes)
    from ilsvrc.models import create_model  # resnet20 & co: torchvision has no CIFAR ResNets

    return create_model(name, num_classes=num_classes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument(
        "--size",
        type=int,
        help="input side (default 32 for CIFAR, else 64: the side ilsvrc decodes "
        "image folders to when no size is given)",
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.2)
    args = p.parse_args()
    t0 = time.perf_counter()
    size = args.size or (32 if (args.data / "test_batch").is_file() else 64)
    train_set, val_set = datasets(args.data, size)
    loader = torch.utils.data.DataLoader(train_set, args.batch_size, shuffle=True, num_workers=2, drop_last=True)
    if len(loader) == 0:
        raise SystemExit(f"{args.data}: {len(train_set)} training images, fewer than one batch of {args.batch_size}")
    torch.manual_seed(0)
    model = build(args.model, len(train_set.classes)).train()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    total = max(1, round(args.epochs * len(loader)))
    warmup = min(total, len(loader))
    step = 0
    while step < total:
        for x, y in loader:
            lr = (
                args.lr * (step + 1) / warmup
                if step < warmup
                else 0.5 * args.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
            )
            for group in opt.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            print(f"step {step + 1}/{total} loss {loss.item():.4f}", flush=True)
            step += 1
            if step == total:
                break
    model.eval()
    wrong = seen = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val_set, 256, num_workers=2):
            wrong += (model(x).argmax(1) != y).sum().item()
            seen += len(y)
    print(f"val top-1 error {100 * wrong / max(1, seen):.2f}% on {seen} images; {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""The models suite: end-to-end training throughput of ilsvrc's engine against a plain eager PyTorch loop.

Both sides train the same architecture on the same images for the same number of steps, in this process,
interleaved, and each reports the median of `repeats` runs of the images/s between the end of its warm-up
steps and the end of its last step (data loading, augmentation, forward, backward and update included):

- plain: what a torchvision user writes. torchvision's model where it has the same architecture (else ours),
  a Dataset of PIL images (ImageFolder of the JPEGs, or the CIFAR arrays as torchvision's CIFAR10 serves
  them) with torchvision transforms, DataLoader(num_workers=2, shuffle=True), SGD with momentum and
  PyTorch's default implementation, and `loss.item()` every step.
- ilsvrc: `ilsvrc.train.train` itself on the packed uint8 data (decoded once, as `ilsvrc pack` does),
  batched augmentation, channels_last, foreach SGD, no per-step host syncs; step times come from the engine.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ilsvrc.bench.machine import describe

PLAIN_WORKERS = 2
# torchvision builders with exactly our layout (same parameter count and outputs); others use our module
TORCHVISION_SAME = {"resnet18": "resnet18", "resnet34": "resnet34", "vgg11": "vgg11", "vgg16": "vgg16"}


@dataclass(frozen=True)
class Case:
    model: str
    size: int
    batch: int
    data: str  # "cifar": 32-px CIFAR arrays (pad-crop-flip); "folder": an ImageFolder of JPEGs (random-resized-crop)
    steps: int = 20  # timed steps per run, after `warmup`
    warmup: int = 3


DEFAULT_CASES = (
    Case("resnet20", 32, 128, "cifar", steps=40, warmup=5),
    Case("resnet18", 64, 64, "folder", steps=20),
    Case("resnet18", 224, 32, "folder", steps=6, warmup=2),
    Case("vgg11", 64, 64, "folder", steps=10),
    Case("alexnet", 227, 64, "folder", steps=6, warmup=2),
    Case("googlenet", 224, 32, "folder", steps=5, warmup=2),
)


class _PilArrays(torch.utils.data.Dataset):
    """uint8 (N, H, W, C) arrays served one PIL image at a time, as torchvision.datasets.CIFAR10 does."""

    def __init__(self, images: Any, labels: Any, transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def plain_loader(case: Case, sources: dict[str, Any]) -> torch.utils.data.DataLoader:
    """torchvision's per-image pipeline for `case`, as its tutorials and reference scripts build it."""
    import torchvision
    from torchvision import transforms as T

    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if case.data == "cifar":
        tf = T.Compose([T.RandomCrop(case.size, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        arrays = sources["cifar"]
        ds = _PilArrays(arrays.images.numpy(), arrays.labels.numpy(), tf)
    else:
        tf = T.Compose([T.RandomResizedCrop(case.size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        ds = torchvision.datasets.ImageFolder(sources["folder"], transform=tf)
    return torch.utils.data.DataLoader(
        ds, batch_size=case.batch, shuffle=True, num_workers=PLAIN_WORKERS, drop_last=True
    )


def plain_model(case: Case, num_classes: int) -> torch.nn.Module:
    import torchvision

    from ilsvrc.models import create_model

    if case.model in TORCHVISION_SAME:
        return getattr(torchvision.models, TORCHVISION_SAME[case.model])(num_classes=num_classes)
    return create_model(case.model, num_classes=num_classes)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_images_per_s(case: Case, sources: dict[str, Any], num_classes: int, device: str = "cpu") -> float:
    """A user's eager loop; the clock starts after `warmup` steps (worker start-up is not throughput)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    model = plain_model(case, num_classes).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loader = plain_loader(case, sources)
    running, t0, step = 0.0, 0.0, 0
    for x, y in loader:
        x, y = x.to(dev), y.to(dev)
        out = model(x)
        logits = out[0] if isinstance(out, (tuple, list)) else out
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running += loss.item()
        step += 1
        if step == case.warmup:
            _sync(dev)
            t0 = time.perf_counter()
        if step == case.warmup + case.steps:
            break
    if step < case.warmup + case.steps:
        raise ValueError(f"{case.model}: the data give {step} batches, fewer than warm-up + timed steps")
    _sync(dev)  # loss.item() already waited for the last step; kept for loops that do not call it
    return case.steps * case.batch / (time.perf_counter() - t0)


def engine_images_per_s(
    case: Case,
    train_set: Any,
    val_set: Any,
    *,
    channels_last: bool = True,
    compile: bool = False,
    amp: bool = False,
    device: str = "cpu",
) -> float:
    """`ilsvrc.train.train` for warm-up + timed steps; images/s from the engine's own step end times."""
    from ilsvrc.train import TrainConfig, train

    recipe = "resnet-cifar" if case.data == "cifar" else "modern"
    with tempfile.TemporaryDirectory(prefix="ilsvrc-bench-") as tmp:
        cfg = TrainConfig(
            model=case.model,
            recipe=recipe,
            batch_size=case.batch,
            max_steps=case.warmup + case.steps,
            lr=0.01,
            warmup_epochs=0,
            input_size=case.size,
            channels_last=channels_last,
            compile=compile,
            precision="bf16" if amp else "fp32",  # this suite's fp32 arm stays fp32 under --precision auto
            device=device,
            checkpoint_every=0,
            progress=False,
            tensorboard=False,
            out=str(Path(tmp) / "run"),
        )
        result = train(cfg, train_set, val_set)
    times = result.step_times
    return case.steps * case.batch / (times[-1] - times[case.warmup - 1])


def packed_folder(folder: str, size: int, cache: Path) -> Any:
    """The ImageFolder decoded once into ilsvrc's packed format at `size` (the engine's data; not timed)."""
    from ilsvrc.data import load_dataset, pack

    out = cache / f"packed-{size}"
    if not out.exists():
        pack(folder, out, size=size, progress=False)
    return load_dataset(out, "train")


def run_models(
    cases: list[Case] | tuple[Case, ...] = DEFAULT_CASES,
    *,
    cifar: str | None = None,
    folder: str | None = None,
    repeats: int = 3,
    compile: bool = False,
    amp: bool = False,
    device: str = "cpu",
    log: Any = print,
) -> dict:
    """Interleaved plain/ilsvrc runs per case; cases whose data were not given are skipped with a note."""
    from ilsvrc.data import load_dataset

    results, skipped = [], []
    cifar_set = load_dataset(cifar, "train") if cifar else None
    with tempfile.TemporaryDirectory(prefix="ilsvrc-bench-pack-") as tmp:
        packs: dict[int, Any] = {}
        for case in cases:
            if (case.data == "cifar" and cifar_set is None) or (case.data == "folder" and folder is None):
                skipped.append(f"{case.model}@{case.size}: no {'--cifar' if case.data == 'cifar' else '--data'} given")
                continue
            if case.data == "cifar":
                train_set = cifar_set
            else:
                stored = case.size if case.size <= 64 else 224  # big crops come from the 224-px images themselves
                if stored not in packs:
                    packs[stored] = packed_folder(folder, stored, Path(tmp))
                train_set = packs[stored]
            val_set = train_set.subset(torch.arange(min(64, len(train_set))))
            sources = {"cifar": cifar_set, "folder": folder}
            ours, plain = [], []
            for r in range(repeats):
                ours.append(engine_images_per_s(case, train_set, val_set, compile=compile, amp=amp, device=device))
                plain.append(plain_images_per_s(case, sources, len(train_set.classes), device))
                log(
                    f"  {case.model}@{case.size} run {r + 1}/{repeats}: "
                    f"ilsvrc {ours[-1]:.1f}, plain {plain[-1]:.1f} img/s"
                )
            row = {
                **asdict(case),
                "ilsvrc_images_per_s": statistics.median(ours),
                "plain_images_per_s": statistics.median(plain),
                "ilsvrc_runs": ours,
                "plain_runs": plain,
            }
            row["speedup"] = row["ilsvrc_images_per_s"] / row["plain_images_per_s"]
            results.append(row)
            log(
                f"{case.model:>10s} @{case.size:<3d} batch {case.batch:<4d} ilsvrc {row['ilsvrc_images_per_s']:8.1f}  "
                f"plain {row['plain_images_per_s']:8.1f} img/s  x{row['speedup']:.2f}"
            )
    return {
        "suite": "models",
        "machine": describe(),
        "plain": f"torchvision transforms + DataLoader(num_workers={PLAIN_WORKERS}), eager model, default SGD, "
        "loss.item() per step; torchvision's model for " + ", ".join(sorted(TORCHVISION_SAME)),
        "ilsvrc": "ilsvrc.train.train on packed uint8 data, batched augmentation, channels_last"
        + (", torch.compile" if compile else "")
        + (", bf16 autocast" if amp else "")
        + (", fused SGD" if device == "cuda" else ", foreach SGD"),
        "device": device,
        "repeats": repeats,
        "rows": results,
        "skipped": skipped,
    }

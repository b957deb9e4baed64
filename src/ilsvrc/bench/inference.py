"""The inference suite: eval-mode images/s of our models against torchvision's builders of the same network.

Ours runs as the toolkit serves it (channels_last, `torch.inference_mode`); torchvision's as a user calls it
(default memory format, `torch.no_grad`). Runs are interleaved; each keeps the median of `steps` batches,
and the best of `repeats` such runs is reported.
"""

from __future__ import annotations

from ilsvrc.bench.machine import describe
from ilsvrc.bench.throughput import inference_images_per_s

DEFAULT_MODELS = ["resnet18", "resnet50_v1_5", "vgg16", "alexnet_tv", "vit_b16"]


def run_inference(
    models: list[str] | None = None,
    batch_size: int = 16,
    steps: int = 5,
    repeats: int = 2,
    device: str = "cpu",
    log=print,
) -> dict:
    import torchvision

    from ilsvrc.models import get_card, load_torchvision

    rows = []
    for name in models or DEFAULT_MODELS:
        card = get_card(name)
        if card.torchvision is None:
            log(f"{name}: torchvision has no builder with the same layout; skipped")
            continue
        size = card.input_size
        reference = getattr(torchvision.models, card.torchvision)().eval()
        ours = load_torchvision(name, reference.state_dict())
        mine, theirs = [], []
        for _ in range(repeats):
            mine.append(inference_images_per_s(ours, size, batch_size, steps, device, inference_mode=True))
            theirs.append(inference_images_per_s(reference, size, batch_size, steps, device, channels_last=False))
        row = {
            "model": name,
            "torchvision": card.torchvision,
            "input_size": size,
            "batch_size": batch_size,
            "ilsvrc_images_per_s": max(mine),
            "torchvision_images_per_s": max(theirs),
        }
        row["speedup"] = row["ilsvrc_images_per_s"] / row["torchvision_images_per_s"]
        rows.append(row)
        log(
            f"{name:>16s} @{size}: ilsvrc {row['ilsvrc_images_per_s']:8.1f}  torchvision "
            f"{row['torchvision_images_per_s']:8.1f} img/s  x{row['speedup']:.2f}"
        )
    return {"suite": "inference", "machine": describe(), "device": device, "rows": rows}

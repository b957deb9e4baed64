"""Parameter and multiply-add counts of a registered model, computed on the meta device (no memory, no math)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from ilsvrc.models.registry import create_model, get_card


def inference_params(model: torch.nn.Module) -> int:
    """Parameters used at inference: GoogLeNet's training-only auxiliary heads are left out."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith(("aux1.", "aux2.")))


def model_costs(
    name: str, input_size: int | None = None, num_classes: int | None = None, in_chans: int = 3, **options
) -> dict[str, int]:
    """{"params", "macs", "input_size"} for one image; MACs are FlopCounterMode's FLOPs / 2 in eval mode.

    `options` are the model's variant options (as for `create_model`)."""
    card = get_card(name)
    size = input_size or card.input_size
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, in_chans=in_chans, **options).eval()
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.empty(1, in_chans, size, size))
    return {"params": inference_params(model), "macs": counter.get_total_flops() // 2, "input_size": size}

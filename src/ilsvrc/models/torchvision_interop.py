"""Load torchvision state_dicts into ilsvrc models.

Where the architecture is the same, ilsvrc keeps torchvision's parameter names, so the key map is
the identity; `TORCHVISION_NAMES` says which torchvision builder has the same layout. The ResNet v1
bottleneck nets (resnet50/101/152) share the layout of torchvision's v1.5 nets but not their
strides: their weights load, their outputs differ (use the `_v1_5` names for parity).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ilsvrc.errors import UserError
from ilsvrc.models.registry import create_model, get_card, list_models

# ilsvrc name -> key in the torchvision state_dict that holds the classifier weight
_CLASSIFIER_KEY = {
    "alexnet": "classifier.6.weight",
    "vgg": "classifier.6.weight",
    "resnet": "fc.weight",
    "senet": "fc.weight",
    "vit": "heads.head.weight",
}


def torchvision_names() -> dict[str, str]:
    """ilsvrc name -> torchvision builder name, for every model whose state_dict layout is torchvision's."""
    return {n: get_card(n).torchvision for n in list_models() if get_card(n).torchvision}


def load_torchvision(name: str, state_dict: Mapping[str, torch.Tensor], strict: bool = True) -> nn.Module:
    """Build ilsvrc model `name` sized from `state_dict` (classes, input channels) and load the weights."""
    card = get_card(name)
    if not card.torchvision:
        raise UserError(
            f"{name} has no torchvision counterpart with the same layout; these do: {', '.join(torchvision_names())}"
        )
    head = state_dict.get(_CLASSIFIER_KEY[card.family])
    stem = next(t for t in state_dict.values() if t.dim() == 4)  # the first convolution's weight
    if head is None:
        raise UserError(f"state_dict has no {_CLASSIFIER_KEY[card.family]!r}: is it torchvision's {card.torchvision}?")
    options = {}
    if card.family == "vit":
        seq_len = state_dict["encoder.pos_embedding"].shape[1]
        options["image_size"] = round((seq_len - 1) ** 0.5) * 16
    model = create_model(name, num_classes=head.shape[0], in_chans=stem.shape[1], **options)
    missing, unexpected = model.load_state_dict(dict(state_dict), strict=False)
    if strict and (missing or unexpected):
        raise UserError(
            f"torchvision state_dict does not fit {name}: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model

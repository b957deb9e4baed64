"""VGG (Simonyan & Zisserman, ICLR 2015), configurations A to E of Table 1.

Each configuration is a column of the paper's table: an int is a 3x3 convolution with that many
channels, "L" the A-LRN normalisation, "M" a 2x2/2 max-pool, and (C, k) a kxk convolution (configuration C's
1x1s, and section 4.1's 5x5s). Layout and names follow torchvision (`features`, `avgpool`, `classifier`) so
its weights load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ilsvrc.models.layers import paper_lrn
from ilsvrc.models.registry import ModelCard, register

# Table 1 of the paper, keyed by its column names.
CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "L", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
    # section 4.1's shallow net: B with each pair of 3x3 convolutions replaced by one 5x5 (the same receptive field)
    "B-5x5": [(64, 5), "M", (128, 5), "M", (256, 5), "M", (512, 5), "M", (512, 5), "M"],
}


def make_layers(config: list, in_chans: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_chans
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif item == "L":
            layers.append(paper_lrn())
        else:
            out, k = item if isinstance(item, tuple) else (item, 3)
            layers.append(nn.Conv2d(channels, out, kernel_size=k, padding=k // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            channels = out
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(
        self, config: str, *, num_classes: int = 1000, in_chans: int = 3, batch_norm: bool = False, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = make_layers(CONFIGS[config], in_chans, batch_norm)
        # Identity at 224x224 (the FC layers were trained on 7x7x512); the paper's dense evaluation
        # converts the FC layers to convolutions instead, see ilsvrc.evaluate.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        self.num_classes, self.num_features = num_classes, 4096
        # Section 3.1 (note added after submission): Glorot initialisation trains all depths from scratch.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


_PAPER = (
    "Simonyan & Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition. "
    "ICLR 2015 (arXiv 1409.1556)"
)
_RESULT = "2nd in classification, ILSVRC-2014: 7.3% top-5 test (7-net ensemble); "
# name: (config, batch_norm, params, GMACs from torchvision's metadata or None, Table 3 single-scale result)
_VARIANTS = {
    "vgg11": ("A", False, 132_863_336, 7_609_090_048, "A: 29.6/10.4 top-1/top-5 val"),
    "vgg11_lrn": ("A-LRN", False, 132_863_336, None, "A-LRN: 29.7/10.5 top-1/top-5 val (LRN did not help)"),
    "vgg13": ("B", False, 133_047_848, 11_308_466_176, "B: 28.7/9.9 top-1/top-5 val"),
    "vgg13_5x5": ("B-5x5", False, 134_503_528, None, "B with 5x5s (section 4.1): top-1 7% above B's (centre crop)"),
    "vgg16_c": ("C", False, 133_638_952, None, "C: 28.1/9.4 top-1/top-5 val (S=256)"),
    "vgg16": ("D", False, 138_357_544, 15_470_264_320, "D: 27.0/8.8 top-1/top-5 val (S=256)"),
    "vgg19": ("E", False, 143_667_240, 19_632_062_464, "E: 27.3/9.0 top-1/top-5 val (S=256)"),
    "vgg11_bn": ("A", True, 132_868_840, 7_609_090_048, "not in the paper (batch norm added later)"),
    "vgg13_bn": ("B", True, 133_053_736, 11_308_466_176, "not in the paper (batch norm added later)"),
    "vgg16_bn": ("D", True, 138_365_992, 15_470_264_320, "not in the paper (batch norm added later)"),
    "vgg19_bn": ("E", True, 143_678_248, 19_632_062_464, "not in the paper (batch norm added later)"),
}


def _builder(config: str, batch_norm: bool):
    def build(**kwargs) -> VGG:
        return VGG(config, batch_norm=batch_norm, **kwargs)

    return build


for _name, (_cfg, _bn, _params, _macs, _table3) in _VARIANTS.items():
    register(
        ModelCard(
            name=_name,
            family="vgg",
            paper=_PAPER,
            year=2014,
            ilsvrc=_RESULT + _table3,
            input_size=224,
            params=_params,
            macs=_macs,
            min_input_size=32,
            variant=f"configuration {_cfg}" + (" with batch norm after every convolution (torchvision)" if _bn else ""),
            torchvision=None if _cfg in ("A-LRN", "C", "B-5x5") else _name,
        ),
        _builder(_cfg, _bn),
    )

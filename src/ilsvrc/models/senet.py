"""SE-ResNet-50 (Hu, Shen & Sun, CVPR 2018), the ILSVRC-2017 winner's building block on ResNet-50."""

from __future__ import annotations

import torch
from torch import nn

from ilsvrc.models.registry import ModelCard, register
from ilsvrc.models.resnet import Bottleneck, ResNet


class SqueezeExcite(nn.Module):
    """Fig. 3: global average pool, FC C -> C/r, ReLU, FC C/r -> C, sigmoid, rescale the channels."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1)  # 1x1 convs on the pooled map are the paper's FC layers
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.relu(self.fc1(s))))


def seresnet50(*, num_classes: int = 1000, in_chans: int = 3, reduction: int = 16) -> ResNet:
    return ResNet(
        Bottleneck,
        [3, 4, 6, 3],
        num_classes=num_classes,
        in_chans=in_chans,
        stride_on_3x3=False,
        attention=lambda c: SqueezeExcite(c, reduction),
    )


register(
    ModelCard(
        name="seresnet50",
        family="senet",
        year=2017,
        paper="Hu, Shen & Sun. Squeeze-and-Excitation Networks. CVPR 2018 (arXiv 1709.01507)",
        # Hu et al. (arXiv 1709.01507), Table 2: SE-ResNet-50 23.29/6.62 top-1/top-5 val error, single 224 crop
        # (ResNet-50 re-implemented: 24.80/7.48).
        ilsvrc="1st, ILSVRC-2017: 2.25% top-5 test (SENet-154 ensemble); SE-ResNet-50 23.29/6.62 top-1/top-5 val "
        "single 224 crop (Table 2)",
        input_size=224,
        params=28_088_024,
        macs=3_870_000_000,
        macs_exact=False,
        min_input_size=32,
        variant="SE blocks (r=16) on ResNet-50 v1 (stride on the first 1x1), as in the paper's Caffe models "
        "(3.87 GFLOPs in Table 2)",
    ),
    seresnet50,
)

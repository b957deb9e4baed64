"""AlexNet (Krizhevsky, Sutskever & Hinton, NeurIPS 2012) and torchvision's single-tower variant.

The paper's net ran on two GPUs: conv2, conv4 and conv5 see only the half of the previous layer on
their own GPU, which is exactly a grouped convolution with groups=2; conv3 and the FC layers
connect across GPUs (groups=1). That gives the paper's 60,965,224 parameters at 227x227.
"""

from __future__ import annotations

import torch
from torch import nn

from ilsvrc.models.layers import paper_lrn
from ilsvrc.models.registry import ModelCard, register


class AlexNet(nn.Module):
    """The 2012 paper's net: conv -> ReLU -> LRN -> overlapping 3x3/2 max-pool, dropout in FC6/FC7."""

    def __init__(
        self, *, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5, groups: int = 2, lrn: bool = True
    ) -> None:
        super().__init__()

        def norm() -> nn.Module:
            return paper_lrn() if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 96, kernel_size=11, stride=4),  # 227 -> 55
            nn.ReLU(inplace=True),
            norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 55 -> 27
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups),
            nn.ReLU(inplace=True),
            norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 27 -> 13
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 13 -> 6
        )
        # Identity at 227x227; lets other input sizes reach the 6x6x256 FC6 input.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        self.num_classes, self.num_features = num_classes, 4096
        self._paper_init()

    def _paper_init(self) -> None:
        # Section 5: weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden FC layers
        # (to give ReLUs positive inputs early), 0 elsewhere.
        ones = {4, 10, 12}
        for i, m in enumerate(self.features):
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if i in ones else 0.0)
        for i, m in enumerate(self.classifier):
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 0.0 if i == 6 else 1.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


class AlexNetTV(nn.Module):
    """torchvision's AlexNet: Krizhevsky's 2014 'one weird trick' single tower (64-192-384-256-256, no LRN).

    Layer names and indices match torchvision so its state_dict loads unchanged.
    """

    def __init__(self, *, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        self.num_classes, self.num_features = num_classes, 4096

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


_PAPER = "Krizhevsky, Sutskever & Hinton. ImageNet Classification with Deep Convolutional Neural Networks. NeurIPS 2012"
register(
    ModelCard(
        name="alexnet",
        family="alexnet",
        paper=_PAPER,
        year=2012,
        ilsvrc="1st, ILSVRC-2012: 15.3% top-5 test (7-CNN ensemble); 1 CNN 40.7/18.2 top-1/top-5 val",
        input_size=227,
        crop_pct=227 / 256,  # section 2: 256x256 images, random 227x227 patches (224 in the text)
        params=60_965_224,
        min_input_size=67,
        variant="as in the paper: two-GPU split as groups=2 on conv2/4/5, LRN after conv1/conv2, paper init",
    ),
    AlexNet,
)
register(
    ModelCard(
        name="alexnet_tv",
        family="alexnet",
        year=2014,
        paper="Krizhevsky. One weird trick for parallelizing convolutional neural networks. arXiv 1404.5997",
        ilsvrc="not entered; torchvision weights: 43.5% top-1 / 20.9% top-5 val error",
        input_size=224,
        params=61_100_840,
        macs=714_188_480,
        torchvision="alexnet",
        min_input_size=63,
        variant="torchvision's single-tower variant (64-192-384-256-256, no LRN, dropout before FC6/FC7)",
    ),
    AlexNetTV,
)

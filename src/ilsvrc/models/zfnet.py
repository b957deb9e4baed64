"""ZFNet (Zeiler & Fergus, ECCV 2014), the basis of Clarifai's ILSVRC-2013 winning entry.

AlexNet with the first layer changed after visualising it (Fig. 3 and section 4.1): 7x7 filters
with stride 2 instead of 11x11 with stride 4, dense (single-tower) connections in layers 3-5, and
contrast normalisation after the first two layers.
"""

from __future__ import annotations

import torch
from torch import nn

from ilsvrc.models.layers import paper_lrn
from ilsvrc.models.registry import ModelCard, register


class ZFNet(nn.Module):
    def __init__(self, *, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        # Caffe-style ceil-mode pooling gives the paper's 110 -> 55 -> 26 -> 13 -> 6 map sizes at 224.
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 96, kernel_size=7, stride=2, padding=1),  # 224 -> 110
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # -> 55
            paper_lrn(),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),  # -> 26
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # -> 13
            paper_lrn(),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # -> 6
        )
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
        for m in self.modules():  # section 3: weights initialised to 1e-2, biases to 0
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


register(
    ModelCard(
        name="zfnet",
        family="zfnet",
        year=2013,
        paper="Zeiler & Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014 (arXiv 1311.2901)",
        ilsvrc="1st, ILSVRC-2013 (Clarifai): 11.7% top-5 test; 1 net 16.5% top-5 val (Table 2)",
        input_size=224,
        params=62_357_608,
        min_input_size=64,
        variant="Fig. 3 architecture; the paper does not state paddings: chosen to give its 110/55/26/13/6 maps. "
        "Its 'local contrast normalisation across feature maps' has no stated constants: this uses AlexNet's LRN "
        "(n=5, alpha=1e-4, beta=0.75, k=2), an unstated choice",
    ),
    ZFNet,
)

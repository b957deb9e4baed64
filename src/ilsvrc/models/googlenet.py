"""GoogLeNet (Szegedy et al., CVPR 2015), Table 1 exactly.

Unlike torchvision's `googlenet` (batch norm everywhere and a 3x3 conv where the paper's branch
is 5x5, pytorch/vision#906), this is the paper's net: plain convolutions with ReLU, LRN in the
stem, 5x5 branches, dropout 0.4 and two auxiliary classifiers used only in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc.models.layers import paper_lrn
from ilsvrc.models.registry import ModelCard, register


class ConvReLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2),
            nn.ReLU(inplace=True),
        )


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (Fig. 2b)."""

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        conv: type[nn.Module] = ConvReLU,  # (in_ch, out_ch, kernel_size) -> module; the paper's conv + ReLU
    ) -> None:
        super().__init__()
        self.branch1 = conv(in_ch, ch1x1, 1)
        self.branch2 = nn.Sequential(conv(in_ch, ch3x3red, 1), conv(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(conv(in_ch, ch5x5red, 1), conv(ch5x5red, ch5x5, 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(in_ch, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class NaiveInception(nn.Module):
    """Fig. 2a: 1x1, 3x3 and 5x5 convolutions and a 3x3 max-pool side by side, no reductions."""

    def __init__(self, in_ch: int, ch1x1: int, ch3x3: int, ch5x5: int, conv: type[nn.Module] = ConvReLU) -> None:
        super().__init__()
        self.branch1 = conv(in_ch, ch1x1, 1)
        self.branch2 = conv(in_ch, ch3x3, 3)
        self.branch3 = conv(in_ch, ch5x5, 5)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class AuxPool(nn.Module):
    """The auxiliary heads' 5x5/3 average pool (14x14 -> 4x4 at 224), then 4x4 for other input sizes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= 5:
            x = F.avg_pool2d(x, kernel_size=5, stride=3)
        return F.adaptive_avg_pool2d(x, 4) if x.shape[-2:] != (4, 4) else x


class AuxHead(nn.Module):
    """Section 5: avg-pool 5x5/3, 1x1 conv 128 + ReLU, FC 1024 + ReLU, dropout 0.7, linear classifier."""

    def __init__(self, in_ch: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.pool = AuxPool()
        self.conv = ConvReLU(in_ch, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE1 = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    """In training mode with aux_logits, forward returns (main, aux1, aux2) logits; otherwise main logits."""

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        dropout: float = 0.4,
        aux_dropout: float = 0.7,
        naive: bool = False,
    ) -> None:
        """`naive` builds every module as Fig. 2a (no 1x1 reductions, the pooled input passed on whole), the net
        section 4 argues would blow up: channels grow to 4,944 by 5b and the multiply-adds about 8x."""
        super().__init__()
        # output channels by Table 1 row, in build order after the stem's 192: Table 1's, or the naive modules'
        # growing sums, which the next module, the auxiliary heads and the classifier read
        channels = {"stem": 192}

        def inception(name: str) -> nn.Module:
            _, c1, _, c3, _, c5, _ = TABLE1[name]  # the naive module keeps the outputs, drops the reductions
            in_ch = next(reversed(channels.values()))
            module = NaiveInception(in_ch, c1, c3, c5) if naive else Inception(*TABLE1[name])
            channels[name] = module.out_channels
            return module

        self.conv1 = ConvReLU(in_chans, 64, 7, stride=2)  # 224 -> 112
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 56
        self.lrn1 = paper_lrn()
        self.conv2 = ConvReLU(64, 64, 1)
        self.conv3 = ConvReLU(64, 192, 3)
        self.lrn2 = paper_lrn()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 28
        self.inception3a = inception("3a")
        self.inception3b = inception("3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 14
        self.inception4a = inception("4a")
        self.inception4b = inception("4b")
        self.inception4c = inception("4c")
        self.inception4d = inception("4d")
        self.inception4e = inception("4e")
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 7
        self.inception5a = inception("5a")
        self.inception5b = inception("5b")
        self.aux1 = AuxHead(channels["4a"], num_classes, aux_dropout) if aux_logits else None  # Table 1: 512
        self.aux2 = AuxHead(channels["4d"], num_classes, aux_dropout) if aux_logits else None  # 528
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # the paper's 7x7/1 average pool at 224
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels["5b"], num_classes)  # 1024
        self.num_classes, self.num_features = num_classes, channels["5b"]
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux1 is not None and aux2 is not None:
            return logits, aux1, aux2
        return logits


register(
    ModelCard(
        name="googlenet",
        family="googlenet",
        year=2014,
        paper="Szegedy et al. Going Deeper with Convolutions. CVPR 2015 (arXiv 1409.4842)",
        ilsvrc="1st, ILSVRC-2014: 6.67% top-5 test (7 nets, 144 crops); 1 net 1 crop 10.07% top-5",
        input_size=224,
        params=7_000_000,
        params_exact=False,
        macs=None,
        min_input_size=32,
        variant="Table 1 exactly (5x5 branches, LRN, no batch norm) with both auxiliary heads (6.4M more params, "
        "training only); differs from torchvision's googlenet. The paper's 1.5G multiply-adds sums Table 1, "
        "which counts conv1 as 2.7K weights (it has 9.4K): counted layer by layer the net does 1.58G. "
        "LRN constants: the paper names LRN but not its constants; this uses AlexNet's (n=5, alpha=1e-4, "
        "beta=0.75, k=2), an unstated choice: Caffe's bvlc_googlenet (deploy.prototxt) uses k=1",
    ),
    GoogLeNet,
)

"""ResNet (He, Zhang, Ren & Sun, CVPR 2016): ImageNet v1 and v1.5, and the CIFAR-10 nets of section 4.2.

ImageNet nets keep torchvision's names (conv1/bn1/layer1..4/downsample/fc). v1 (the paper) puts
the stride of a downsampling bottleneck on its first 1x1 convolution; v1.5 (torchvision, from
Facebook's fb.resnet.torch) on the 3x3. Shortcuts that change shape are projections (option B).

CIFAR nets: 6n+2 layers on 16/32/64 channels; shortcut option A (parameter-free: subsample and
zero-pad channels, the paper's choice for Table 6), B (projection where the shape changes), C
(projection everywhere) or "none", which gives the plain nets of Fig. 6.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc.models.registry import ModelCard, register


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_on_3x3: bool = True,
        residual: bool = True,
        attention: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_on_3x3: bool = False,
        residual: bool = True,
        attention: nn.Module | None = None,
    ) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes, 1 if stride_on_3x3 else stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride if stride_on_3x3 else 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.se = attention  # squeeze-and-excitation (SENet) on the residual branch, before the sum
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages, global average pool, FC."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stride_on_3x3: bool = False,
        attention: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.in_ch = 64
        self.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = [
            self._stage(block, planes, n, 1 if i == 0 else 2, stride_on_3x3, attention)
            for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers, strict=True))
        ]
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512 * block.expansion
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():  # He et al. 2015 ("Delving deep") initialisation, as the paper says
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(
        self,
        block,
        planes: int,
        blocks: int,
        stride: int,
        stride_on_3x3: bool,
        attention: Callable[[int], nn.Module] | None,
    ) -> nn.Sequential:
        out_ch = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_ch != out_ch:
            downsample = nn.Sequential(conv1x1(self.in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))
        layers = []
        for i in range(blocks):
            se = attention(out_ch) if attention is not None else None
            layers.append(
                block(
                    self.in_ch,
                    planes,
                    stride if i == 0 else 1,
                    downsample if i == 0 else None,
                    stride_on_3x3=stride_on_3x3,
                    attention=se,
                )
            )
            self.in_ch = out_ch
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


class PadShortcut(nn.Module):
    """Option A: identity shortcut that subsamples by `stride` and zero-pads the new channels."""

    def __init__(self, out_ch: int, stride: int) -> None:
        super().__init__()
        self.out_ch, self.stride = out_ch, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_ch - x.shape[1]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class CifarResNet(nn.Module):
    """Section 4.2: 3x3 conv 16, then 3 stages of n basic blocks on 32x32/16x16/8x8 maps, GAP, FC.

    `width` is the first stage's channels (the paper's 16; the stages use width, 2x, 4x). The reproductions use
    narrower nets where a claim is about depth, not width, to spend a CPU budget on optimizer steps."""

    def __init__(
        self, depth: int, *, num_classes: int = 10, in_chans: int = 3, shortcut: str = "A", width: int = 16
    ) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        if shortcut not in ("A", "B", "C", "none"):
            raise ValueError(f"shortcut must be 'A', 'B', 'C' or 'none', got {shortcut!r}")
        n = (depth - 2) // 6
        self.in_ch, self.shortcut = width, shortcut
        self.conv1 = conv3x3(in_chans, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(width, n, 1)
        self.layer2 = self._stage(2 * width, n, 2)
        self.layer3 = self._stage(4 * width, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_classes, self.num_features = num_classes, 4 * width
        self.fc = nn.Linear(4 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            changes = s != 1 or self.in_ch != planes
            downsample: nn.Module | None = None
            if self.shortcut == "C" or (self.shortcut == "B" and changes):
                downsample = nn.Sequential(conv1x1(self.in_ch, planes, s), nn.BatchNorm2d(planes))
            elif self.shortcut == "A" and changes:
                downsample = PadShortcut(planes, s)
            layers.append(BasicBlock(self.in_ch, planes, s, downsample, residual=self.shortcut != "none"))
            self.in_ch = planes
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


_PAPER = "He, Zhang, Ren & Sun. Deep Residual Learning for Image Recognition. CVPR 2016 (arXiv 1512.03385)"
_WON = "1st, ILSVRC-2015: 3.57% top-5 test (ensemble); "
# name: (block, layers, params, the paper's 10-crop top-1/top-5 val error). These nets use projection shortcuts
# where dimensions grow (option B). Table 2 (ResNet-18, and 34 there) is option A (zero-padding, section 4.1); the
# paper has no option-B ResNet-18. Table 3 gives ResNet-34 A/B/C: 25.03/7.76, 24.52/7.46, 24.19/7.40.
_IMAGENET = {
    "resnet18": (
        BasicBlock,
        [2, 2, 2, 2],
        11_689_512,
        "27.88 top-1 (Table 2, 10-crop) is option A (zero-padding shortcuts); the paper has no option-B figure",
    ),
    "resnet34": (
        BasicBlock,
        [3, 4, 6, 3],
        21_797_672,
        "24.52/7.46 top-1/top-5 (Table 3, option B as here, 10-crop); option A 25.03/7.76, C 24.19/7.40",
    ),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 25_557_032, "22.85/6.71 top-1/top-5 (10-crop)"),
    "resnet101": (Bottleneck, [3, 4, 23, 3], 44_549_160, "21.75/6.05 top-1/top-5 (10-crop)"),
    "resnet152": (Bottleneck, [3, 8, 36, 3], 60_192_808, "21.43/5.71 top-1/top-5 (10-crop); 19.38/4.49 Table 4"),
}
# torchvision's GMACs (v1.5) and the paper's Table 1 multiply-adds (v1).
_TV_MACS = {
    "resnet18": 1_814_073_344,
    "resnet34": 3_663_761_408,
    "resnet50": 4_089_184_256,
    "resnet101": 7_801_405_440,
    "resnet152": 11_513_626_624,
}
_PAPER_MACS = {"resnet18": 1.8e9, "resnet34": 3.6e9, "resnet50": 3.8e9, "resnet101": 7.6e9, "resnet152": 11.3e9}
# v1.5 is not in the paper: its errors are torchvision's IMAGENET1K_V1 weights (torchvision 0.29.1 metadata, one
# 224 px centre crop; error = 100 - acc@1/acc@5), the numbers that apply to this layout.
_TV_V1_5 = {"resnet50": "23.87/7.14", "resnet101": "22.63/6.45", "resnet152": "21.69/5.95"}


def _imagenet_builder(block, layers: list[int], stride_on_3x3: bool):
    def build(**kwargs) -> ResNet:
        return ResNet(block, layers, stride_on_3x3=stride_on_3x3, **kwargs)

    return build


for _name, (_block, _layers, _params, _table3) in _IMAGENET.items():
    _basic = _block is BasicBlock
    register(
        ModelCard(
            name=_name,
            family="resnet",
            paper=_PAPER,
            year=2015,
            ilsvrc=_WON + _table3,
            input_size=224,
            params=_params,
            macs=_TV_MACS[_name] if _basic else int(_PAPER_MACS[_name]),
            macs_exact=_basic,
            variant="v1 as in the paper, projection shortcuts (option B)"
            + ("; identical to torchvision's" if _basic else "; stride on the first 1x1 of a bottleneck"),
            torchvision=_name,
            min_input_size=32,
        ),
        _imagenet_builder(_block, _layers, stride_on_3x3=False),
    )
    if not _basic:
        register(
            ModelCard(
                name=f"{_name}_v1_5",
                family="resnet",
                paper=_PAPER,
                year=2015,
                ilsvrc=f"not in the paper (its v1 {_name}: {_table3}); torchvision's IMAGENET1K_V1 weights for "
                f"this layout: {_TV_V1_5[_name]} top-1/top-5 val error, one 224 px crop",
                input_size=224,
                params=_params,
                macs=_TV_MACS[_name],
                torchvision=_name,
                min_input_size=32,
                variant="v1.5 (torchvision, fb.resnet.torch): stride on the 3x3 of a downsampling bottleneck",
            ),
            _imagenet_builder(_block, _layers, stride_on_3x3=True),
        )

# Table 6 test error; params and MACs counted for option A and rounded (REFERENCE.md; the paper prints 0.27M ...).
_CIFAR = {
    20: (270_000, 40_600_000, "8.75"),
    32: (464_000, 68_900_000, "7.51"),
    44: (659_000, 97_200_000, "7.17"),
    56: (853_000, 125_500_000, "6.97"),
    110: (1_728_000, 252_900_000, "6.43 (6.61 +- 0.16 over 5 runs)"),
}


def _cifar_builder(depth: int, default_shortcut: str):
    def build(
        *, num_classes: int = 1000, in_chans: int = 3, shortcut: str = default_shortcut, width: int = 16
    ) -> CifarResNet:
        return CifarResNet(depth, num_classes=num_classes, in_chans=in_chans, shortcut=shortcut, width=width)

    return build


for _depth, (_params, _macs, _err) in _CIFAR.items():
    register(
        ModelCard(
            name=f"resnet{_depth}",
            family="resnet-cifar",
            paper=_PAPER,
            year=2015,
            ilsvrc=f"CIFAR-10 net (Table 6): {_err}% test error",
            input_size=32,
            params=_params,
            params_exact=False,
            macs=_macs,
            macs_exact=False,
            min_input_size=8,
            num_classes=10,
            variant="CIFAR-10 net of section 4.2, option A shortcuts (shortcut='B'/'C' selectable)",
        ),
        _cifar_builder(_depth, "A"),
    )
for _depth in _CIFAR:
    register(
        ModelCard(
            name=f"plain{_depth}",
            family="resnet-cifar",
            paper=_PAPER,
            year=2015,
            ilsvrc="CIFAR-10 plain net (Fig. 6): deeper plain nets have higher training error",
            input_size=32,
            params=None,
            min_input_size=8,
            num_classes=10,
            variant=f"resnet{_depth} without shortcuts, for the degradation experiment",
        ),
        _cifar_builder(_depth, "none"),
    )

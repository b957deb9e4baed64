"""Small networks for `ilsvrc reproduce`: each paper's claim in miniature, sized for CIFAR-10 on a CPU.

They are registered like every other model (family "experiment") so the engine can train them by
name; their options are the variable each experiment changes.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ilsvrc.models.googlenet import ConvReLU, Inception, NaiveInception
from ilsvrc.models.layers import paper_lrn
from ilsvrc.models.registry import ModelCard, register
from ilsvrc.models.vgg import CONFIGS

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class CifarConvNet(nn.Module):
    """AlexNet's Fig. 1 / section 3.3 CIFAR-10 net (cuda-convnet's 3 conv + 1 FC "four-layer" net).

    conv5x5-32, max-pool 3/2, conv5x5-32, avg-pool 3/2, conv5x5-64, avg-pool 3/2, FC; `activation`
    switches ReLU and tanh, `lrn` adds response normalisation after the first two pools, `hidden`
    adds an FC layer with `dropout` before the classifier. `init="paper"` draws the weights as cuda-convnet's
    CIFAR-10 nets did (zero-mean Gaussians, see `_paper_init`) instead of PyTorch's fan-in-scaled default.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        activation: str = "relu",
        lrn: bool = False,
        hidden: int = 0,
        dropout: float = 0.0,
        init: str = "default",
    ) -> None:
        super().__init__()
        if init not in ("default", "paper"):
            raise ValueError(f"init must be 'default' or 'paper', got {init!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        act = _ACTIVATIONS[activation]

        def norm() -> nn.Module:
            # cuda-convnet's CIFAR-10 net (layers-18pct: size 3, scale 5e-5, pow 0.75) fed raw 0-255 pixels; our
            # inputs are normalised to unit std (about 64x smaller), so the scale grows by 64^2 to normalise as hard
            return paper_lrn(size=3, alpha=5e-5 * 64**2, beta=0.75, k=1.0) if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 32, 5, padding=2),
            act(),
            nn.MaxPool2d(3, 2, padding=1),
            norm(),
            nn.Conv2d(32, 32, 5, padding=2),
            act(),
            nn.AvgPool2d(3, 2, padding=1),
            norm(),
            nn.Conv2d(32, 64, 5, padding=2),
            act(),
            nn.AvgPool2d(3, 2, padding=1),
            nn.AdaptiveAvgPool2d(4),
        )
        head: list[nn.Module] = [nn.Flatten()]
        width = 64 * 4 * 4
        if hidden:
            head += [nn.Linear(width, hidden), act(), nn.Dropout(dropout)]
            width = hidden
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)
        self.num_classes, self.num_features = num_classes, width
        if init == "paper":
            self._paper_init()

    def _paper_init(self) -> None:
        """cuda-convnet's layers-80sec / layers-18pct weights: N(0, 1e-4^2) for conv1 and N(0, 0.01^2) for every
        later layer, biases 0. Those nets read mean-subtracted 0-255 pixels (std about 64); ours read unit-std
        inputs, so conv1's std grows 64x (to 0.0064) for the same first-layer responses. The signal then shrinks
        layer by layer: the regime cuda-convnet's CIFAR nets start in (the paper does not state Fig. 1's init)."""
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        for i, layer in enumerate(layers):
            nn.init.normal_(layer.weight, 0.0, 1e-4 * 64 if i == 0 else 0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class InceptionNet(nn.Module):
    """A small GoogLeNet for 32x32: stem, two stages of Inception modules, GAP, FC.

    `bottleneck=False` gives the naive module (no 1x1 reductions before the 3x3 and 5x5, and the
    pooled branch passed through unprojected, so channels grow); `True` gives the paper's module.
    `batch_norm` (default) puts BN after every convolution, as torchvision's GoogLeNet does: without it
    the bottleneck net's twice-as-deep branches barely move in a CPU budget (90% error after 3 epochs),
    so the comparison would measure initialisation, not compute. `width` scales every channel count
    (0.5: half the channels, about a quarter of the MACs, and nearly the same naive/bottleneck MAC ratio).
    """

    # per module: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) in GoogLeNet's 3a/3b proportions
    STAGES: ClassVar[list] = [[(32, 48, 64, 8, 16, 16), (64, 64, 96, 16, 48, 32)], [(96, 48, 104, 8, 24, 32)]]

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        bottleneck: bool = True,
        batch_norm: bool = True,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        conv = ConvBNReLU if batch_norm else ConvReLU

        def scaled(c: int) -> int:
            return max(1, round(c * width))

        ch = scaled(64)
        layers: list[nn.Module] = [conv(in_chans, ch, 3), nn.MaxPool2d(2)]
        for i, stage in enumerate(self.STAGES):
            if i:
                layers.append(nn.MaxPool2d(2))
            for spec in (tuple(map(scaled, s)) for s in stage):
                module = (
                    Inception(ch, *spec, conv=conv)
                    if bottleneck
                    else NaiveInception(ch, spec[0], spec[2], spec[4], conv=conv)
                )
                layers.append(module)
                ch = module.out_channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(ch, num_classes)
        self.num_classes, self.num_features = num_classes, ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias: BN's shift replaces it), batch norm, ReLU; torchvision GoogLeNet's BasicConv2d."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class FilterStackNet(nn.Module):
    """VGG's small-filter argument (section 2.3): in each of three stages a C -> C block sees a
    `receptive_field` x `receptive_field` window through one large convolution (25C^2 or 49C^2 weights)
    or a stack of 3x3 convolutions (`stack=True`: 18C^2 or 27C^2 weights, one ReLU per layer).
    The 3x3 stem and the 1x1 convolutions that change width between stages are the same in both."""

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        receptive_field: int = 5,
        stack: bool = True,
        widths: tuple[int, ...] = (32, 64, 128),
    ) -> None:
        super().__init__()
        if receptive_field not in (5, 7):
            raise ValueError(f"receptive_field must be 5 or 7, got {receptive_field}")

        def conv(c_in: int, c_out: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]

        layers: list[nn.Module] = conv(in_chans, widths[0], 3)
        ch = widths[0]
        for i, width in enumerate(widths):
            if i:
                layers += [nn.MaxPool2d(2), *conv(ch, width, 1)]
                ch = width
            for k in [3] * ((receptive_field - 1) // 2) if stack else [receptive_field]:
                layers += conv(width, width, k)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(ch, num_classes)
        self.num_classes, self.num_features = num_classes, ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class VGGSmall(nn.Module):
    """A VGG configuration (Table 1 column) with channels divided by `width_div`, batch norm, and a
    small classifier: the depth comparison (A vs D vs E) at CIFAR scale."""

    def __init__(self, *, num_classes: int = 10, in_chans: int = 3, config: str = "A", width_div: int = 4) -> None:
        super().__init__()
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {sorted(CONFIGS)}, got {config!r}")
        layers: list[nn.Module] = []
        ch = in_chans
        for item in CONFIGS[config]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil: 28 px inputs still reach 1x1 after 5 pools
            elif item == "L":
                layers.append(paper_lrn())
            else:
                out, k = item if isinstance(item, tuple) else (item, 3)
                out //= width_div
                layers += [nn.Conv2d(ch, out, k, padding=k // 2, bias=False), nn.BatchNorm2d(out), nn.ReLU(True)]
                ch = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(ch, num_classes)
        self.num_classes, self.num_features = num_classes, ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


_CARDS = [
    (
        "cifar_convnet",
        CifarConvNet,
        "Krizhevsky et al. 2012 (AlexNet), Fig. 1 and section 3.3",
        2012,
        "the four-layer CIFAR-10 net (cuda-convnet layout); options activation='relu'|'tanh', lrn, hidden, dropout",
    ),
    (
        "inception_net",
        InceptionNet,
        "Szegedy et al. 2014 (GoogLeNet), Fig. 2",
        2014,
        "a small GoogLeNet for 32x32; option bottleneck=False gives the naive module of Fig. 2a, width scales channels",
    ),
    (
        "filter_stack_net",
        FilterStackNet,
        "Simonyan & Zisserman 2014 (VGG), section 2.3",
        2014,
        "3 stages of one 5x5/7x7 conv or a stack of 3x3 convs (stack=True) with the same receptive field",
    ),
    (
        "vgg_small",
        VGGSmall,
        "Simonyan & Zisserman 2014 (VGG), Table 1",
        2014,
        "a Table 1 configuration (config='A'..'E') at 1/width_div width with BN and a GAP classifier, for 32x32",
    ),
]
for _name, _cls, _paper, _year, _variant in _CARDS:
    register(
        ModelCard(
            name=_name,
            family="experiment",
            paper=_paper,
            year=_year,
            ilsvrc="experiment net for 'ilsvrc reproduce'",
            input_size=32,
            min_input_size=8,
            num_classes=10,
            variant=_variant,
        ),
        _cls,
    )

"""Published ImageNet errors for the comparison table, with where each number comes from.

Paper numbers: ../shared/REFERENCE.md section 1b (each paper's own table and protocol). torchvision
numbers: the IMAGENET1K_V1 weights' metadata in torchvision 0.29.1 (accuracy; error = 100 - acc),
single 224 px centre crop. Kept here, not in the model cards, because they describe results, not nets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    depth: int | None  # the paper's own count of weight layers ("8 layers", "16", "22", "152")
    paper_top1: float | None  # top-1 error %, single model, the paper's protocol
    paper_top5: float | None
    paper_protocol: str
    tv_builder: str | None = None  # torchvision builder whose IMAGENET1K_V1 weights give the numbers below
    tv_top1_acc: float | None = None
    tv_top5_acc: float | None = None
    tv_note: str = ""  # how torchvision's net or weights differ from this one, when they do
    tv_variant: bool = False  # torchvision's architecture differs (not just its training)

    @property
    def tv_top1(self) -> float | None:
        return None if self.tv_top1_acc is None else round(100 - self.tv_top1_acc, 3)

    @property
    def tv_top5(self) -> float | None:
        return None if self.tv_top5_acc is None else round(100 - self.tv_top5_acc, 3)


_VGG3 = "1 net, single scale Q=S=256, dense (Table 3)"
_RES3 = "1 net, 10-crop (Table 3)"
_V15 = "torchvision's resnets are v1.5 (stride on the 3x3)"
PUBLISHED: dict[str, Published] = {
    "alexnet": Published(8, 40.7, 18.2, "1 CNN, val, average of 10 patches (Table 2)"),
    "alexnet_tv": Published(8, None, None, "", "alexnet", 56.522, 79.066),
    "zfnet": Published(8, None, 16.5, "1 net, val (Table 2)"),
    "vgg11": Published(11, 29.6, 10.4, _VGG3, "vgg11", 69.020, 88.628),
    "vgg11_lrn": Published(11, 29.7, 10.5, _VGG3),
    "vgg13": Published(13, 28.7, 9.9, _VGG3, "vgg13", 69.928, 89.246),
    "vgg16_c": Published(16, 28.1, 9.4, _VGG3),
    "vgg16": Published(16, 27.0, 8.8, _VGG3, "vgg16", 71.592, 90.382),
    "vgg19": Published(19, 27.3, 9.0, _VGG3, "vgg19", 72.376, 90.876),
    "vgg11_bn": Published(11, None, None, "", "vgg11_bn", 70.370, 89.810),
    "vgg13_bn": Published(13, None, None, "", "vgg13_bn", 71.586, 90.374),
    "vgg16_bn": Published(16, None, None, "", "vgg16_bn", 73.360, 91.516),
    "vgg19_bn": Published(19, None, None, "", "vgg19_bn", 74.218, 91.842),
    "googlenet": Published(
        22,
        None,
        10.07,
        "1 net, 1 crop (Table 3; no top-1 reported)",
        "googlenet",
        69.778,
        89.530,
        "torchvision's googlenet adds batch norm and uses 3x3 for the 5x5 branch",
        tv_variant=True,
    ),
    # Table 2 is option A (zero-padding shortcuts); the paper has no option-B ResNet-18 (ours is B)
    "resnet18": Published(18, 27.88, None, "1 net, 10-crop (Table 2, option A shortcuts)", "resnet18", 69.758, 89.078),
    "resnet34": Published(34, 24.52, 7.46, _RES3 + ", option B", "resnet34", 73.314, 91.420),
    "resnet50": Published(50, 22.85, 6.71, _RES3, "resnet50", 76.130, 92.862, _V15, tv_variant=True),
    "resnet101": Published(101, 21.75, 6.05, _RES3, "resnet101", 77.374, 93.546, _V15, tv_variant=True),
    "resnet152": Published(152, 21.43, 5.71, _RES3, "resnet152", 78.312, 94.046, _V15, tv_variant=True),
    "resnet50_v1_5": Published(50, None, None, "", "resnet50", 76.130, 92.862),
    "resnet101_v1_5": Published(101, None, None, "", "resnet101", 77.374, 93.546),
    "resnet152_v1_5": Published(152, None, None, "", "resnet152", 78.312, 94.046),
    # Hu et al. Table 2, SE-ResNet-50 row ("ours"): 23.29 / 6.62 (single 224 crop); not 22.28/6.03.
    "seresnet50": Published(50, 23.29, 6.62, "1 net, 1 crop (Table 2)"),
    "vit_b16": Published(
        12,
        None,
        None,
        "ImageNet-1k-only numbers not verified",
        "vit_b_16",
        81.072,
        95.318,
        "torchvision trained it on ImageNet-1k with the DeiT recipe",
    ),
}


def published(name: str) -> Published | None:
    return PUBLISHED.get(name)

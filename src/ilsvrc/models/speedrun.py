"""A small net built to reach 90-94% on CIFAR-10 in as few FLOPs as possible (the `cifar-fast` recipe's net).

Not an ILSVRC paper: it gathers the tricks of the CIFAR-10 speed-run line of work (Page 2018, "How to train
your ResNet"; Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498) into a
VGG-like stack, so that the toolkit's time-to-accuracy benchmark has a fast, honest baseline:

- a frozen 2x2 "whitening" first layer whose filters are the eigenvectors of the training patches'
  covariance (and their negatives), set from data by `init_from_data` before training;
- three groups of conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU;
- batch norms without a trained scale, identity (Dirac) initialisation of half of each conv's filters;
- a global max pool and a bias-free linear classifier whose logits are scaled down by `logit_scale`.
"""

from __future__ import annotations

import torch
from torch import nn

from ilsvrc.models.registry import ModelCard, register


def _norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, momentum=momentum, eps=1e-12)
    bn.weight.requires_grad_(False)  # a scale in front of a homogeneous layer only re-parameterises the lr
    return bn


def _conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        # the first min(cin, cout) filters start as identities: the deep stack begins close to a shallow one
        k = min(cin, cout)
        conv.weight[:k].zero_()
        conv.weight[:k, :, 1, 1].copy_(torch.eye(k, cin))
    return conv


class ConvGroup(nn.Sequential):
    def __init__(self, cin: int, cout: int, bn_momentum: float = 0.4) -> None:
        m = bn_momentum
        super().__init__(
            _conv(cin, cout), nn.MaxPool2d(2), _norm(cout, m), nn.GELU(), _conv(cout, cout), _norm(cout, m), nn.GELU()
        )


class SpeedrunNet(nn.Module):
    """widths: channels of the three conv groups; (64, 256, 256) is the 94% net, (32, 64, 128) a 90% one.

    bn_momentum: PyTorch's convention (the weight of the new batch in the running statistics); airbench's 0.6
    is written the other way round and equals 0.4 here. Fast statistics matter with lookahead (its ablations).
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        widths: tuple[int, int, int] = (64, 256, 256),
        logit_scale: float = 1 / 9,
        bn_momentum: float = 0.4,
    ) -> None:
        super().__init__()
        whiten_out = 2 * in_chans * 4  # every eigenvector of the 2x2 patches, and its negative
        self.whiten = nn.Conv2d(in_chans, whiten_out, 2, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = nn.GELU()
        layers, cin = [], whiten_out
        for w in widths:
            layers.append(ConvGroup(cin, w, bn_momentum))
            cin = w
        self.groups = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(cin, num_classes, bias=False)
        self.logit_scale = logit_scale
        self.num_classes = num_classes

    def early_parameters(self) -> list[nn.Parameter]:
        """Parameters worth training only early on (--whiten-bias-epochs): the whitening layer's bias."""
        return [self.whiten.bias]

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from normalised training images (N, C, H, W): W = V diag(1/sqrt(l + eps))."""
        c = images.shape[1]
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1)  # N, C, H-1, W-1, 2, 2
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4)
        patches = patches - patches.mean(0)
        cov = patches.T @ patches / patches.shape[0]
        eigval, eigvec = torch.linalg.eigh(cov.double())
        filters = (eigvec.T / (eigval.clamp_min(0) + eps).sqrt()[:, None]).float().view(c * 4, c, 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]).to(self.whiten.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.act(self.whiten(x)))
        return self.fc(self.pool(x).flatten(1)) * self.logit_scale


register(
    ModelCard(
        name="speedrun_cifar",
        family="experiment",
        paper="Page 2018 (How to train your ResNet); Jordan 2024, arXiv:2404.00498",
        year=2024,
        ilsvrc="CIFAR-10 speed-run net for the time-to-accuracy benchmark",
        input_size=32,
        min_input_size=16,
        num_classes=10,
        variant="whitened VGG-like net; widths=(64, 256, 256) by default, init_from_data sets the first layer",
    ),
    SpeedrunNet,
)

"""Muon for convolution filters, Nesterov SGD for everything else, in one optimizer.

Muon (Jordan et al. 2024, used by airbench94_muon for the CIFAR-10 speed record) replaces a weight matrix's
momentum by its nearest semi-orthogonal matrix before stepping: every direction the update spans moves by about
the same amount, however lopsided the gradient's singular values. A conv filter bank of shape
(out, in, kh, kw) is treated as the matrix (out, in * kh * kw).

Why not `torch.optim.Muon`: it accepts 2-D parameters only and decays the weights, where the speed runs step 4-D
filters and instead hold each bank's norm fixed (every conv here feeds a batch norm, which ignores the filters'
scale, so only their direction matters and a fixed norm makes the lr an angle per step). In a net whose convs do
not feed a normalisation layer (AlexNet, VGG without BN) the fixed norm changes what the layer computes: Muon here
is meant for batch-normalised nets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.sgd import sgd

# The quintic Newton-Schulz coefficients of Jordan's Muon: as steep at zero as still lands the singular values in
# about [0.5, 1.5] (not exactly 1, which costs nothing measurable and saves iterations).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(matrix: torch.Tensor, steps: int = 3, eps: float = 1e-7) -> torch.Tensor:
    """About U V^T for matrix = U S V^T: same shape, singular values pushed towards 1, in float32.

    The matrix is first divided by its Frobenius norm, which bounds its spectral norm by 1 so the iteration
    converges; the iteration runs on the wide orientation so the Gram matrix is the smaller one."""
    a, b, c = NS_COEFFICIENTS
    x = matrix.float()
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / (x.norm() + eps)
    for _ in range(steps):
        gram = x @ x.T  # (rows, rows)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class MuonSGD(torch.optim.Optimizer):
    """Nesterov SGD (torch's own functional step) for groups without the "muon" flag; Muon for those with it.

    A Muon group's parameters must be conv filters (4-D). Each step: momentum buffer = momentum x buffer +
    gradient; direction = gradient + momentum x buffer (Nesterov) or the buffer; the filter bank is rescaled to
    Frobenius norm sqrt(out channels) (unit norm per filter on average); then it moves by lr x the orthogonalised
    direction. The group's weight_decay is ignored: the norm is fixed instead."""

    def __init__(
        self,
        params: Iterable[dict],
        lr: float,
        momentum: float,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 3,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, muon=False)
        super().__init__(params, defaults)
        self.ns_steps = ns_steps
        for group in self.param_groups:
            if group["muon"] and any(p.ndim != 4 for p in group["params"]):
                raise ValueError("MuonSGD: a muon group holds conv filters (4-D parameters) only")

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if group["muon"]:
                self._muon_step(group, params)
            else:
                self._sgd_step(group, params)

    def _sgd_step(self, group: dict, params: list[torch.Tensor]) -> None:
        buffers = [self.state[p].get("momentum_buffer") for p in params]
        sgd(
            params,
            [p.grad for p in params],
            buffers,
            foreach=True,  # multi-tensor kernels, as the engine's own SGD
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            lr=group["lr"],
            dampening=0.0,
            nesterov=group["nesterov"] and group["momentum"] > 0,
            maximize=False,
        )
        for p, buffer in zip(params, buffers, strict=True):  # the functional step creates them on the first call
            self.state[p]["momentum_buffer"] = buffer

    def _muon_step(self, group: dict, params: list[torch.Tensor]) -> None:
        momentum, lr = group["momentum"], group["lr"]
        if lr == 0:  # as under SGD, lr 0 leaves the filters exactly as they are (no rescaling to the fixed norm)
            return
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p.grad)
            buffer = state["momentum_buffer"]
            buffer.mul_(momentum).add_(p.grad)
            direction = p.grad.add(buffer, alpha=momentum) if group["nesterov"] else buffer
            p.mul_(math.sqrt(p.size(0)) / p.norm().clamp_min(1e-12))
            update = orthogonalize(direction.reshape(p.size(0), -1), self.ns_steps)
            p.add_(update.view(p.shape).to(p.dtype), alpha=-lr)

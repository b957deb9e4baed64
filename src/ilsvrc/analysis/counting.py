"""Counting rules per layer type: multiply-adds (MACs), "other ops", and what kind of layer a module is.

A MAC is one multiply and one add (torchvision's "GFLOPS" and the ResNet paper's "FLOPs" are MACs;
real FLOPs are twice as many). MACs are counted only for the layers that do matrix work:
convolution (with groups), linear, and attention (projections plus the two matmuls QK^T and AV).
Everything else (pooling, normalisation, activations, softmax) is reported as "other ops", an
element-wise count under the conventions in `OTHER_OPS_PER_ELEMENT`, never mixed into the MACs.
Bias additions are not counted (as in torchvision's and FlopCounterMode's numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

# Kinds of layer; the lecture view keeps conv, pool and fc rows.
CONV, FC, ATTENTION, POOL, NORM, ACT, DROPOUT, IDENTITY, OTHER = (
    "conv",
    "fc",
    "attention",
    "pool",
    "norm",
    "act",
    "dropout",
    "identity",
    "other",
)

# "Other ops" per output element: conventions, stated so the numbers can be read, not a hardware model.
OTHER_OPS_PER_ELEMENT = {
    "BatchNorm": 2,  # eval: folded scale and shift
    "LayerNorm/GroupNorm/InstanceNorm": 7,  # mean 1, variance 2, normalise 2, affine 2
    "LocalResponseNorm": "size + 3",  # square, window sum of `size`, scale-and-power, divide
    "activation": 1,  # one max for ReLU; a transcendental (sigmoid, tanh, GELU) counts as one op too
    "Softmax": 3,  # exp, sum, divide
    "MaxPool/AvgPool": "kernel area",  # comparisons or additions per output element
    "AdaptivePool": "1 per input element",
    "Dropout (train)": 1,  # the mask multiply; 0 in eval
}

_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.LPPool2d)
_ADAPTIVE_POOLS = (
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
_GROUP_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.RMSNorm)


@dataclass
class Cost:
    """What one call of one module costs: its kind, MACs, other ops, and a note when it is a no-op here."""

    kind: str
    macs: int = 0
    other_ops: int = 0
    note: str = ""
    activations: int | None = None  # elements the layer makes, when not just its output (attention)


def is_attention(module: nn.Module) -> bool:
    """nn.MultiheadAttention, or a module with its parameter names (`in_proj_weight` and `num_heads`)."""
    return isinstance(module, nn.MultiheadAttention) or (
        isinstance(getattr(module, "in_proj_weight", None), torch.Tensor) and hasattr(module, "num_heads")
    )


def has_rule(module: nn.Module) -> bool:
    """Modules counted as one row although they have children (attention owns its projections)."""
    return is_attention(module)


def _first_tensor(values) -> torch.Tensor | None:
    if isinstance(values, torch.Tensor):
        return values
    if isinstance(values, (tuple, list)):
        for v in values:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _numel(x) -> int:
    t = _first_tensor(x)
    return 0 if t is None else t.numel()


def count(module: nn.Module, inputs: tuple, output, *, out_proj_called: bool = False) -> Cost:
    """The cost of one call of `module` with `inputs` that returned `output` (whole batch)."""
    x = _first_tensor(inputs)
    out = _first_tensor(output)
    n_out = out.numel() if out is not None else 0
    if isinstance(module, nn.modules.conv._ConvNd):
        k = math.prod(module.kernel_size)
        if module.transposed:  # every input element is scattered to out_channels/groups * k outputs
            return Cost(CONV, macs=_numel(x) * (module.out_channels // module.groups) * k)
        return Cost(CONV, macs=n_out * (module.in_channels // module.groups) * k)
    if isinstance(module, nn.Linear):
        return Cost(FC, macs=n_out * module.in_features)
    if isinstance(module, nn.Bilinear):
        return Cost(FC, macs=n_out * module.in1_features * module.in2_features)
    if is_attention(module):
        return _attention(module, inputs, out_proj_called)
    if isinstance(module, _POOLS):
        k = module.kernel_size
        nd = int(type(module).__name__[-2])  # MaxPool2d -> 2
        area = math.prod(k) if isinstance(k, tuple) else k**nd
        return Cost(POOL, other_ops=n_out * area)
    if isinstance(module, _ADAPTIVE_POOLS):
        if x is not None and out is not None and x.shape == out.shape:
            return Cost(POOL, note="identity at this input size")
        return Cost(POOL, other_ops=_numel(x))
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return Cost(NORM, other_ops=2 * n_out)
    if isinstance(module, _GROUP_NORMS):
        return Cost(NORM, other_ops=7 * n_out)
    if isinstance(module, nn.LocalResponseNorm):
        return Cost(NORM, other_ops=(module.size + 3) * n_out)
    if isinstance(module, _ACTIVATIONS):
        return Cost(ACT, other_ops=n_out)
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        return Cost(ACT, other_ops=3 * n_out)
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return Cost(DROPOUT, other_ops=n_out if module.training else 0, note="" if module.training else "eval: no-op")
    if isinstance(module, (nn.Identity, nn.Flatten, nn.Unflatten)):
        return Cost(IDENTITY)
    return Cost(OTHER)


def _attention(module: nn.Module, inputs: tuple, out_proj_called: bool) -> Cost:
    """Projections q, k, v (and out when the module does it itself) plus QK^T and AV, for any head count.

    Per batch element with L queries, S keys and width E: q L*E*E, k S*E*kdim, v S*E*vdim, QK^T L*S*E,
    AV L*S*E, out L*E*E. The head count does not change the total (each head does 1/h of it).
    """
    tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
    query = tensors[0]
    key = tensors[1] if len(tensors) > 1 else query
    batch_first = getattr(module, "batch_first", True)
    if query.dim() == 2:  # unbatched (L, E)
        n, seq_q, seq_k = 1, query.shape[0], key.shape[0]
    elif batch_first:
        n, seq_q, seq_k = query.shape[0], query.shape[1], key.shape[1]
    else:
        n, seq_q, seq_k = query.shape[1], query.shape[0], key.shape[0]
    width = query.shape[-1]
    kdim = getattr(module, "kdim", width)
    vdim = getattr(module, "vdim", width)
    projections = seq_q * width * width + seq_k * width * kdim + seq_k * width * vdim
    matmuls = 2 * seq_q * seq_k * width
    out_proj = 0 if out_proj_called else seq_q * width * width
    heads = getattr(module, "num_heads", 1)
    softmax = 3 * heads * seq_q * seq_k
    # q, k, v and the attention output (plus the projected output when out_proj is not its own layer);
    # fused kernels never store the L x S attention matrix, the math path adds heads * L * S.
    made = seq_q * width + seq_k * (kdim + vdim) + seq_q * width + (0 if out_proj_called else seq_q * width)
    return Cost(ATTENTION, macs=n * (projections + matmuls + out_proj), other_ops=n * softmax, activations=n * made)


def kind_of(module: nn.Module) -> str:
    """The layer kind of a module without calling it (for the receptive-field walk and labels)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return CONV
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return FC
    if isinstance(module, _POOLS + _ADAPTIVE_POOLS):
        return POOL
    return OTHER

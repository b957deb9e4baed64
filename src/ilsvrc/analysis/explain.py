"""Cost calculators behind the lecture's arguments: the Inception module, small filters, receptive fields.

All convolutions here use "same" padding and stride 1, as in the lecture: a k x k convolution from
C_in to C_out channels on an H x W map does H*W*C_out*k*k*C_in multiply-adds (MACs) with
k*k*C_in*C_out weights (+ C_out biases).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ilsvrc.analysis import counting
from ilsvrc.errors import UserError

# -- the Inception module ------------------------------------------------------------------------------

SEED_NAIVE_TOTAL = 854_396_939  # as printed in the lecture note ("854,396,939 paramter")
SLIDE_BOTTLENECK_TOTAL = "358M"  # as printed on the CS231n slide for the 1x1-bottleneck module


@dataclass
class Branch:
    """One layer of one branch of an Inception module."""

    branch: str  # "1x1", "3x3", "5x5", "pool"
    layer: str  # "1x1 conv, 128", "3x3 max pool"
    in_channels: int
    out_channels: int
    kernel: int
    macs: int
    weights: int
    biases: int
    formula: str


def _conv(branch: str, h: int, w: int, c_in: int, c_out: int, k: int, label: str = "") -> Branch:
    macs = h * w * c_out * k * k * c_in
    return Branch(
        branch=branch,
        layer=label or f"{k}x{k} conv, {c_out}",
        in_channels=c_in,
        out_channels=c_out,
        kernel=k,
        macs=macs,
        weights=k * k * c_in * c_out,
        biases=c_out,
        formula=f"{h}x{w}x{c_out}x{k}x{k}x{c_in} = {macs:,}",
    )


def _pool(h: int, w: int, c: int) -> Branch:
    return Branch(
        branch="pool",
        layer="3x3 max pool, stride 1",
        in_channels=c,
        out_channels=c,
        kernel=3,
        macs=0,
        weights=0,
        biases=0,
        formula=f"{h}x{w}x{c} = {h * w * c:,} outputs (9 comparisons each, no multiplies)",
    )


def inception_naive(h: int, w: int, c: int, ch1x1: int, ch3x3: int, ch5x5: int) -> list[Branch]:
    """Fig. 2a: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool, all on the C-channel input."""
    return [
        _conv("1x1", h, w, c, ch1x1, 1),
        _conv("3x3", h, w, c, ch3x3, 3),
        _conv("5x5", h, w, c, ch5x5, 5),
        _pool(h, w, c),
    ]


def inception_bottleneck(
    h: int, w: int, c: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int
) -> list[Branch]:
    """Fig. 2b, in Table 1's column order: 1x1 reductions before the 3x3 and 5x5, a 1x1 projection after the pool."""
    return [
        _conv("1x1", h, w, c, ch1x1, 1),
        _conv("3x3", h, w, c, ch3x3red, 1, f"1x1 conv, {ch3x3red} (reduce)"),
        _conv("3x3", h, w, ch3x3red, ch3x3, 3),
        _conv("5x5", h, w, c, ch5x5red, 1, f"1x1 conv, {ch5x5red} (reduce)"),
        _conv("5x5", h, w, ch5x5red, ch5x5, 5),
        _pool(h, w, c),
        _conv("pool", h, w, c, pool_proj, 1, f"1x1 conv, {pool_proj} (pool proj)"),
    ]


def module_totals(rows: list[Branch], h: int, w: int) -> dict[str, int]:
    last: dict[str, int] = {}
    for r in rows:  # the last layer of each branch sets its output depth
        last[r.branch] = r.out_channels
    depth = sum(last.values())
    return {
        "macs": sum(r.macs for r in rows),
        "weights": sum(r.weights for r in rows),
        "params": sum(r.weights + r.biases for r in rows),
        "output_depth": depth,
        "output_values": h * w * depth,
    }


def inception_report(h: int, w: int, c: int, naive: list[int], bottleneck: list[int]) -> dict:
    """Both modules on one H x W x C input, with totals and the notes that explain the lecture's numbers."""
    if min(h, w, c) < 1 or min(naive + bottleneck) < 1:
        raise UserError("input sizes and channel counts must be positive")
    if len(naive) != 3:
        raise UserError(f"--naive takes 3 channel counts (1x1, 3x3, 5x5), got {len(naive)}")
    if len(bottleneck) != 6:
        raise UserError(
            "--bottleneck takes 6 channel counts in Table 1's order (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, "
            f"pool proj), got {len(bottleneck)}"
        )
    a = inception_naive(h, w, c, *naive)
    b = inception_bottleneck(h, w, c, *bottleneck)
    ta, tb = module_totals(a, h, w), module_totals(b, h, w)
    pool_out = h * w * c
    notes = [
        f"Naive module: {ta['macs']:,} multiply-adds (MACs) and {ta['weights']:,} weights "
        f"({ta['params']:,} with biases); output {h}x{w}x{ta['output_depth']}.",
        f"Bottleneck module: {tb['macs']:,} MACs and {tb['weights']:,} weights ({tb['params']:,} with biases); "
        f"output {h}x{w}x{tb['output_depth']}: {ta['macs'] / tb['macs']:.2f}x fewer MACs.",
        "The counts are multiply-adds, not parameters (the lecture labels its totals 'parameter').",
    ]
    if (h, w, c, naive) == (28, 28, 256, [128, 192, 96]):
        notes.append(
            f"The lecture's {SEED_NAIVE_TOTAL:,} adds the pool's {pool_out:,} output values to the "
            f"{ta['macs']:,} MACs (= {ta['macs'] + pool_out:,}) and then mistypes the last digits "
            f"(...939 for ...928); the pool does comparisons, not multiplies, so the MACs are {ta['macs']:,}."
        )
    if (h, w, c, bottleneck) == (28, 28, 256, [128, 64, 192, 64, 96, 64]):
        notes.append(
            f"The CS231n slide prints 'Total: {SLIDE_BOTTLENECK_TOTAL} ops' for this module; its own listed "
            f"terms sum to {tb['macs']:,}."
        )
    return {
        "input": [h, w, c],
        "naive": {"layers": [asdict(r) for r in a], "totals": ta},
        "bottleneck": {"layers": [asdict(r) for r in b], "totals": tb},
        "notes": notes,
    }


# -- small filters: a stack of 3x3 convolutions against one larger filter --------------------------------


def filter_stacks(channels: int = 1, size: int = 56, kernels: tuple[int, ...] = (5, 7)) -> list[dict]:
    """For each large kernel K: the stack of (K-1)/2 3x3 layers with the same receptive field, and K x K itself.

    Weights per layer k*k*C*C (C in and out channels), MACs on a size x size map with same padding,
    receptive field 1 + n*(k-1), one non-linearity per layer.
    """
    if channels < 1 or size < 1:
        raise UserError("--channels and --size must be positive")
    rows = []
    for big in kernels:
        if big < 3 or big % 2 == 0:
            raise UserError(f"kernel sizes must be odd and >= 3, got {big}")
        n = (big - 1) // 2
        for layers, k in ((n, 3), (1, big)):
            per_pair = layers * k * k
            weights = per_pair * channels * channels
            rows.append(
                {
                    "filters": f"{layers} x {k}x{k}" if layers > 1 else f"1 x {k}x{k}",
                    "weights_per_channel_pair": per_pair,
                    "weights_formula": f"{'+'.join([f'{k}*{k}'] * layers)} = {per_pair}; {per_pair}C^2",
                    "weights": weights,
                    "macs": weights * size * size,
                    "receptive_field": 1 + layers * (k - 1),
                    "nonlinearities": layers,
                    "same_as": f"{big}x{big}",
                }
            )
    return rows


# -- receptive field of a model --------------------------------------------------------------------------


@dataclass
class RF:
    size: float  # receptive field side in input pixels
    jump: float  # distance in input pixels between neighbouring output units
    start: float  # input coordinate of the centre of the first output unit's field
    whole: bool = False  # every output sees the whole input (after a linear layer on a flat map, attention)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)[:2]


class _RFTracer(TorchDispatchMode):
    """Follows receptive fields along the forward pass; where paths join (add, cat) it keeps the largest."""

    def __init__(self, model: nn.Module, input_side: int) -> None:
        super().__init__()
        self.names = {m: n for n, m in model.named_modules()}
        self.counted = {m for m in self.names if not list(m.children()) or counting.has_rule(m)}
        self.info: dict[int, RF] = {}
        self.keep: list[torch.Tensor] = []
        self.rows: list[dict] = []
        self.depth = 0
        self.input_side = input_side
        self.handles: list = []

    def set(self, t: torch.Tensor, rf: RF) -> None:
        self.info[id(t)] = rf
        self.keep.append(t)

    def get(self, values) -> RF | None:
        found = [self.info[id(t)] for t in _flat(values) if id(t) in self.info]
        return max(found, key=lambda r: (r.whole, r.size)) if found else None

    def attach(self) -> None:
        for m in self.names:
            self.handles.append(m.register_forward_pre_hook(self._pre))
            self.handles.append(m.register_forward_hook(self._post))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()

    def _pre(self, module, args) -> None:
        if module in self.counted:
            self.depth += 1

    def _post(self, module, args, output) -> None:
        if module not in self.counted:
            return
        self.depth -= 1
        if self.depth:
            return
        rf = self.get(args)
        out = _flat(output)
        if rf is None or not out:
            return
        new = self._through(module, rf, args, out[0])
        for t in out:
            self.set(t, new)
        if new is not rf:
            self.rows.append(self._row(module, new, out[0]))

    def _through(self, module: nn.Module, rf: RF, args, out: torch.Tensor) -> RF:
        if rf.whole:
            return rf
        if counting.is_attention(module):
            return RF(self.input_side, rf.jump, rf.start, whole=True)
        if isinstance(module, (nn.Linear, nn.Bilinear)):
            x = _flat(args)[0]
            if x.dim() <= 2:  # on a flattened map: every unit sees the whole input
                return RF(self.input_side, rf.jump, rf.start, whole=True)
            return rf  # per position (tokens): like a 1x1 convolution
        if isinstance(module, counting._ADAPTIVE_POOLS):
            x = _flat(args)[0]
            side_in, side_out = x.shape[-1], out.shape[-1]
            if side_in == side_out:
                return rf
            if side_out == 1:  # a global pool: each output averages every position, a whole-input view
                return RF(self.input_side, rf.jump * side_in, rf.start + (side_in - 1) / 2 * rf.jump, whole=True)
            k, s = math.ceil(side_in / side_out), side_in // side_out  # the windows are at most this big
            return RF(rf.size + (k - 1) * rf.jump, rf.jump * s, rf.start + (k - 1) / 2 * rf.jump)
        if isinstance(module, (nn.modules.conv._ConvNd, *counting._POOLS)):
            k = _pair(module.kernel_size)[0]
            s = _pair(module.stride if module.stride is not None else module.kernel_size)[0]
            p = _pair(getattr(module, "padding", 0))[0] if not isinstance(module.padding, str) else (k - 1) // 2
            d = _pair(getattr(module, "dilation", 1))[0]
            if k == 1 and s == 1:
                return rf
            x = _flat(args)[0]
            if isinstance(module, counting._POOLS) and x.dim() == 4 and out.shape[-2:] == (1, 1) and k >= x.shape[-1]:
                # a fixed-size pool over the whole last map (GoogLeNet's 7x7 average pool at 224): a global pool
                return RF(self.input_side, rf.jump * k, rf.start + ((k - 1) / 2 - 0) * rf.jump, whole=True)
            span = (k - 1) * d
            return RF(rf.size + span * rf.jump, rf.jump * s, rf.start + (span / 2 - p) * rf.jump)
        return rf

    def _row(self, module: nn.Module, rf: RF, out: torch.Tensor) -> dict:
        k = getattr(module, "kernel_size", None)
        stride = getattr(module, "stride", None)
        pad = getattr(module, "padding", None)
        return {
            "name": self.names[module],
            "type": type(module).__name__,
            "kernel": _pair(k)[0] if k is not None else None,
            "stride": _pair(stride)[0] if stride not in (None, ()) else None,
            "padding": _pair(pad)[0] if isinstance(pad, (int, tuple)) else pad,
            "output_size": "x".join(map(str, out.shape[2:])) if out.dim() > 2 else "x".join(map(str, out.shape[1:])),
            "receptive_field": "whole input" if rf.whole else _num(rf.size),
            "jump": _num(rf.jump),
            "start": _num(rf.start),
        }

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.depth:
            return out
        rf = self.get([args, list((kwargs or {}).values())])
        if rf is not None:
            for t in _flat(out):
                if id(t) not in self.info:
                    self.set(t, rf)
        return out


def _flat(values) -> list[torch.Tensor]:
    if isinstance(values, torch.Tensor):
        return [values]
    if isinstance(values, (tuple, list)):
        return [t for v in values for t in _flat(v)]
    return []


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def receptive_fields(model: nn.Module, input_size: int, in_chans: int = 3) -> list[dict]:
    """One row per layer that changes the receptive field (convolutions, pooling, FC, attention), in call order.

    Size r, jump j and start s follow r' = r + (k-1)*d*j, j' = j*stride, s' = s + ((k-1)*d/2 - pad)*j.
    Where paths join (residual sums, Inception's concatenation) the largest field of the inputs is kept.
    """
    tracer = _RFTracer(model, input_size)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    tracer.attach()
    try:
        with torch.no_grad():
            x = torch.zeros(1, in_chans, input_size, input_size, device="meta")
            tracer.set(x, RF(1, 1, 0.5))
            swap = {
                k: torch.empty_like(v, device="meta")
                for k, v in [*model.named_parameters(), *model.named_buffers()]
                if v.device.type != "meta"
            }
            with tracer:
                torch.func.functional_call(model, swap, (x,), strict=False, tie_weights=True)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"cannot run the model on a {input_size}x{input_size} input: {err}") from None
    finally:
        tracer.detach()
        for m, mode in modes.items():
            m.training = mode
    return tracer.rows

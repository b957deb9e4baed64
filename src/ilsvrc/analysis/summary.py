"""Per-layer table of any nn.Module, built with forward hooks: shapes, activations, parameters, MACs.

One row per call of every leaf module (pooling, activations, normalisation included), plus rows for
attention modules (counted as one layer with their own rules), for tensors that a model's own
`forward` makes between layers (residual sums, concatenations: "functional" rows), and for
parameters a non-leaf module owns itself (ViT's class token and position embedding). By default the
model runs on the meta device through `torch.func.functional_call`: nothing is allocated, no
arithmetic is done, and the model passed in is left as it was.

"Activations" are output elements (the lecture's "memory" column). Totals count only tensors that
take new memory: an in-place ReLU, a view, an eval-mode dropout or an adaptive pool that is the
identity at this input size is listed but not added again.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ilsvrc.analysis import counting
from ilsvrc.errors import UserError


@dataclass
class LayerRow:
    """One call of one layer. Counts are for the whole batch."""

    name: str  # module path ("features.0"); functional rows add the op: "layer1.0 (add)"
    type: str  # class name, or the aten op for functional rows
    kind: str  # conv, fc, attention, pool, norm, act, dropout, identity, functional, params, other
    output_shape: list[int]
    activations: int  # elements of the output
    params: int
    params_no_bias: int
    macs: int
    other_ops: int = 0
    new_memory: bool = True  # False: in-place, a view, or a no-op here; not added to the totals again
    note: str = ""
    call: int = 1  # the n-th call of a module used several times (shared)


@dataclass
class Summary:
    """The table and its totals; `to_dict()` is the JSON contract of DESIGN.md (plus extra keys)."""

    model: str
    input_shape: list[int]  # (N, C, H, W)
    dtype_bytes: int
    layers: list[LayerRow]
    totals: dict[str, int]
    measured: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self, *, no_bias: bool = False) -> dict:
        layers = []
        for r in self.layers:
            d = asdict(r)
            if no_bias:
                d["params"] = r.params_no_bias
            layers.append(d)
        totals = dict(self.totals)
        if no_bias:
            totals["params"] = totals["params_no_bias"]
        out = {"model": self.model, "input_shape": self.input_shape, "layers": layers, "totals": totals}
        if self.measured is not None:
            out["measured"] = self.measured
        return out

    def __str__(self) -> str:
        """The per-layer table with totals, as `ilsvrc summary` prints it (`repr` keeps the raw fields)."""
        from ilsvrc.analysis.report import format_summary

        return format_summary(self, "table")

    def _repr_markdown_(self) -> str:  # notebooks show the table, not the dataclass fields
        from ilsvrc.analysis.report import format_summary

        return format_summary(self, "markdown")

    def __repr__(self) -> str:
        n = len(self.layers)
        return f"Summary(model={self.model!r}, input_shape={self.input_shape}, {n} layers, totals={self.totals})"


def _input_shape(model: nn.Module, input_size, batch_size: int, in_chans: int | None) -> list[int]:
    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    if isinstance(input_size, int):
        hw = [input_size, input_size]
    else:
        size = list(input_size)
        if len(size) == 3:  # (C, H, W)
            in_chans, hw = size[0], size[1:]
        elif len(size) == 2:
            hw = size
        else:
            raise UserError(f"input size must be N, (H, W) or (C, H, W), got {input_size!r}")
    if any(s < 1 for s in hw):
        raise UserError(f"input size must be positive, got {input_size!r}")
    if in_chans is None:
        first = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
        in_chans = first.in_channels if first is not None else 3
    return [batch_size, in_chans, *hw]


def _tensors(values) -> list[torch.Tensor]:
    if isinstance(values, torch.Tensor):
        return [values]
    if isinstance(values, (tuple, list)):
        return [t for v in values for t in _tensors(v)]
    if isinstance(values, dict):
        return [t for v in values.values() for t in _tensors(v)]
    return []


def _base(t: torch.Tensor) -> torch.Tensor:
    return t._base if t._is_view() and t._base is not None else t


def _is_bias(param_name: str) -> bool:
    return param_name.rsplit(".", 1)[-1].endswith("bias")


class _Recorder(TorchDispatchMode):
    """Hooks on every module plus a dispatch mode that sees the tensors a model's own forward makes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = {m: n for n, m in model.named_modules()}
        # Parameters per module, read from the real model (functional_call swaps in meta copies).
        self.own_params = {m: list(m.named_parameters(recurse=False)) for m in self.names}
        self.counted = {m for m in self.names if not list(m.children()) or counting.has_rule(m)}
        self.rows: list[LayerRow] = []
        self.stack: list[nn.Module] = []
        self.calls: dict[nn.Module, int] = {}
        self.used_params: dict[int, tuple[int, bool]] = {}  # id of a parameter (tied ones count once)
        self.inside_counted = 0
        self.handles: list = []
        self.row_index: dict[nn.Module, int] = {}
        self.outputs: dict[int, str] = {}  # id of a recorded output's base tensor -> the row that made it
        self.keep: list[torch.Tensor] = []

    # -- module hooks ------------------------------------------------------------------------------
    def attach(self) -> None:
        for m in self.names:
            self.handles.append(m.register_forward_pre_hook(self._pre, prepend=True))
            self.handles.append(m.register_forward_hook(self._post, always_call=True))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()

    def _pre(self, module: nn.Module, args) -> None:
        self.stack.append(module)
        self.calls[module] = self.calls.get(module, 0) + 1
        if module in self.counted:
            self.inside_counted += 1
            self.row_index[module] = len(self.rows)  # an attention row goes before its out_proj row
        elif self.own_params[module]:  # parameters used directly by a non-leaf forward (ViT's class token)
            params = self._use(module, self.own_params[module])
            self.rows.append(
                LayerRow(
                    name=self.names[module] or "(model)",
                    type=type(module).__name__,
                    kind="params",
                    output_shape=[],
                    activations=0,
                    params=params[0],
                    params_no_bias=params[1],
                    macs=0,
                    new_memory=False,
                    note="parameters used by this module's own forward",
                    call=self.calls[module],
                )
            )

    def _use(self, module: nn.Module, named: list[tuple[str, nn.Parameter]]) -> tuple[int, int]:
        total = no_bias = 0
        for pname, p in named:
            self.used_params[id(p)] = (p.numel(), _is_bias(pname))
            total += p.numel()
            no_bias += 0 if _is_bias(pname) else p.numel()
        return total, no_bias

    def _post(self, module: nn.Module, args, output) -> None:
        self.stack.pop()
        if module not in self.counted:
            return
        self.inside_counted -= 1
        named = list(self.own_params[module])
        out_proj_called = False
        if counting.is_attention(module):
            out_proj = getattr(module, "out_proj", None)
            out_proj_called = out_proj is not None and self.calls.get(out_proj, 0) > 0
            if out_proj is not None and not out_proj_called:  # nn.MultiheadAttention uses out_proj's weights itself
                named += [(f"out_proj.{n}", p) for n, p in out_proj.named_parameters()]
        params, params_no_bias = self._use(module, named)
        cost = counting.count(module, args, output, out_proj_called=out_proj_called)
        outs = _tensors(output)
        first = outs[0] if outs else None
        note = cost.note
        if first is None:
            new = False
        elif cost.activations is not None:  # attention: q, k, v and the context it makes itself
            new = True
        else:
            base = _base(first)
            inputs = {id(_base(t)) for t in _tensors(args)}
            new = not note and id(base) not in inputs and id(base) not in self.outputs
            if id(base) in inputs:
                note = note or ("in-place" if id(first) in inputs else "view of its input")
            elif id(base) in self.outputs:
                note = note or "output of " + self.outputs[id(base)]
        for t in outs:
            self.outputs.setdefault(id(_base(t)), self.names[module])
            self.keep.append(t)  # ids stay unique while the recorder lives
        self.rows.insert(
            self.row_index.pop(module),
            LayerRow(
                name=self.names[module],
                type=type(module).__name__,
                kind=cost.kind,
                output_shape=list(first.shape) if first is not None else [],
                activations=cost.activations if cost.activations is not None else sum(t.numel() for t in outs),
                params=params,
                params_no_bias=params_no_bias,
                macs=cost.macs,
                other_ops=cost.other_ops,
                new_memory=new,
                note=note,
                call=self.calls[module],
            ),
        )

    # -- dispatch mode: tensors made between layers --------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.inside_counted or not self.stack or func.is_view or func._schema.is_mutable:
            return out
        outs = [t for t in _tensors(out) if isinstance(t, torch.Tensor)]
        if not outs or func.overloadpacket in (torch.ops.aten.detach, torch.ops.aten.lift_fresh):
            return out
        owner = self.stack[-1]
        op = func.overloadpacket.__name__
        for t in outs:
            self.outputs.setdefault(id(_base(t)), f"{self.names[owner] or '(model)'} ({op})")
            self.keep.append(t)
        self.rows.append(
            LayerRow(
                name=f"{self.names[owner] or '(model)'} ({op})",
                type=op,
                kind="functional",
                output_shape=list(outs[0].shape),
                activations=sum(t.numel() for t in outs),
                params=0,
                params_no_bias=0,
                macs=0,
                note="made by the forward of " + type(owner).__name__,
            )
        )
        return out


def summarize(
    model: nn.Module,
    input_size: int | tuple[int, ...] = 224,
    batch_size: int = 1,
    *,
    in_chans: int | None = None,
    train: bool = False,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "meta",
    optimizer_states: int = 1,
    measure: bool = False,
    name: str | None = None,
) -> Summary:
    """The per-layer table of `model` for a (batch_size, C, H, W) input.

    `input_size` is N (square), (H, W) or (C, H, W); C defaults to the first convolution's input
    channels. Runs in eval mode unless `train` (GoogLeNet then returns its auxiliary logits too).
    `device="meta"` (the default) counts without allocating; pass "cpu"/"cuda" to run for real.
    `optimizer_states` is the number of parameter-sized buffers the optimiser keeps (SGD with
    momentum 1, Adam 2) for the training-memory estimate. `measure=True` also runs one real training
    step on CPU (or CUDA, where the model is) and records its peak memory, see `measure_training_step`.
    """
    shape = _input_shape(model, input_size, batch_size, in_chans)
    modes = {m: m.training for m in model.modules()}
    model.train(train)
    recorder = _Recorder(model)
    recorder.attach()
    try:
        with torch.no_grad():
            x = torch.zeros(shape, dtype=dtype, device=device)
            swap = {
                k: torch.empty_like(v, device=device)
                for k, v in itertools.chain(model.named_parameters(), model.named_buffers())
                if v.device != torch.device(device)
            }
            with recorder:
                if swap:
                    torch.func.functional_call(model, swap, (x,), strict=False, tie_weights=True)
                else:
                    model(x)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"cannot run {name or type(model).__name__} on input {tuple(shape)}: {err}") from None
    finally:
        recorder.detach()
        for m, mode in modes.items():
            m.training = mode
    rows = recorder.rows
    element = torch.empty((), dtype=dtype).element_size()
    saved = saved_for_backward_bytes(model, shape, dtype=dtype)
    totals = _totals(model, rows, shape, element, recorder.used_params, optimizer_states, saved)
    summary = Summary(
        model=name or getattr(model, "model_name", type(model).__name__),
        input_shape=shape,
        dtype_bytes=element,
        layers=rows,
        totals=totals,
    )
    if measure:
        from ilsvrc.analysis.memory import measure_training_step

        summary.measured = measure_training_step(model, shape, optimizer_states=optimizer_states, dtype=dtype)
    return summary


def _totals(
    model: nn.Module,
    rows: list[LayerRow],
    shape: list[int],
    element: int,
    used: dict[int, tuple[int, bool]],
    optimizer_states: int,
    saved: int | None,
) -> dict[str, int]:
    all_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = sum(n for n, _ in used.values())
    params_no_bias = sum(n for n, bias in used.values() if not bias)
    inputs = 1
    for s in shape:
        inputs *= s
    activations = inputs + sum(r.activations for r in rows if r.new_memory)
    forward_bytes = activations * element
    kept = forward_bytes if saved is None else saved
    return {
        "params": params,
        "params_no_bias": params_no_bias,
        "params_unused": all_params - params,  # e.g. GoogLeNet's auxiliary heads in eval mode
        "activations": activations,
        "activations_without_input": activations - inputs,
        "macs": sum(r.macs for r in rows),
        "other_ops": sum(r.other_ops for r in rows),
        "forward_bytes": forward_bytes,
        # What autograd keeps for backward in a training-mode forward (every layer output when that
        # could not be run), counted on the meta device.
        "saved_for_backward_bytes": kept,
        # + weights, gradients and optimiser state of every trainable parameter (GoogLeNet's aux heads too);
        # the transient gradient buffers of the backward pass are not included.
        "training_bytes_estimate": kept + (all_params + trainable * (1 + optimizer_states)) * element,
    }


def saved_for_backward_bytes(model: nn.Module, shape: list[int], *, dtype: torch.dtype = torch.float32) -> int | None:
    """Bytes of the tensors autograd saves for backward in one training-mode forward, parameters excluded.

    Counted on the meta device with `saved_tensors_hooks`, each storage once (an in-place ReLU's output
    and the conv output it overwrote are one tensor). Includes what a layer keeps besides its output:
    max-pool indices (int64), dropout masks, batch-norm statistics. Batch 1 is counted as half of batch 2
    (batch norm refuses one value per channel in training). None when the forward cannot run on meta.
    """
    batch = max(shape[0], 2)
    modes = {m: m.training for m in model.modules()}
    swap = {
        k: torch.empty_like(v, device="meta").requires_grad_(v.requires_grad and v.is_floating_point())
        for k, v in itertools.chain(model.named_parameters(), model.named_buffers())
    }
    params = {id(t) for t in swap.values()}
    kept: dict[int, tuple[torch.Tensor, int]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = _base(t)
        if id(base) not in params:
            kept[id(base)] = (base, base.numel() * base.element_size())
        return t

    try:
        model.train()
        x = torch.zeros([batch, *shape[1:]], dtype=dtype, device="meta")
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            torch.func.functional_call(model, swap, (x,), strict=False, tie_weights=True)
    except (ValueError, RuntimeError, NotImplementedError):
        return None
    finally:
        for m, mode in modes.items():
            m.training = mode
    total = sum(n for _, n in kept.values())
    return total * shape[0] // batch

"""From a model's `summarize()` rows to what a paper draws: boxes, blocks (branches, shortcuts) and stages.

Nothing here knows a model by name. A *block* is a module whose own forward joins tensors (a residual
`add`, an Inception `cat`: the summary's functional rows), or, in nets without joins, a non-container
module repeated as siblings (the blocks of a plain net). Consecutive blocks of one class and one
output size form a *stage*, drawn once with "x N". Normalisation, activations and dropout are folded
into the box before them ("+ BN, ReLU"), so every box is one layer that computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ilsvrc.analysis import counting
from ilsvrc.analysis.summary import LayerRow, Summary

SHORTCUT_NAMES = ("downsample", "shortcut", "skip")  # child names that lie on a block's shortcut path
JOINS = ("add", "cat")
_ABBREV = {"BatchNorm2d": "BN", "BatchNorm1d": "BN", "LayerNorm": "LN", "LocalResponseNorm": "LRN"}


@dataclass
class Box:
    """One computing layer with the cheap layers folded into it."""

    label: str  # "11x11 conv /4, 96"
    kind: str  # counting kinds: conv, pool, fc, attention, norm, act, other, params, join
    output_shape: list[int]  # without the batch dimension
    params: int = 0
    macs: int = 0
    extras: list[str] = field(default_factory=list)  # folded layers, in order: ["ReLU", "LRN"]
    groups: int = 1  # a grouped convolution (AlexNet's towers)
    channels: int = 0  # output channels (conv, pool) or units (fc)

    def add(self, row: LayerRow, extra: str) -> None:
        self.params += row.params
        self.macs += row.macs
        if extra and (not self.extras or self.extras[-1] != extra):
            self.extras.append(extra)


@dataclass
class Residual:
    """A path with a shortcut around it that ends in a sum; an empty shortcut is the identity."""

    path: list[Box]
    shortcut: list[Box]
    after: list[str] = field(default_factory=list)  # layers applied to the sum (ResNet's last ReLU)


@dataclass
class Block:
    name: str  # module path, "layer1.0"
    type: str  # class name, "Bottleneck"
    output_shape: list[int]
    params: int
    macs: int
    branches: list[list[Box]] = field(default_factory=list)  # parallel paths joined by a concatenation
    parts: list[Box | Residual] = field(default_factory=list)  # a sequence when there are no branches


@dataclass
class Stage:
    blocks: list[Block]

    @property
    def first(self) -> Block:
        return self.blocks[0]

    @property
    def params(self) -> int:
        return sum(b.params for b in self.blocks)

    @property
    def macs(self) -> int:
        return sum(b.macs for b in self.blocks)


@dataclass
class Architecture:
    name: str
    input_shape: list[int]  # (C, H, W)
    units: list[Box | Stage]
    towers: int  # >1: the net is drawn in that many towers until its first FC layer (grouped convolutions)
    params: int
    macs: int


def shape_text(shape: list[int]) -> str:
    """HxWxC for a (C, H, W) map, tokens x width for (T, D), units for (D,)."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)[:2]


def _module(model: nn.Module, name: str) -> nn.Module | None:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def _label(row: LayerRow, module: nn.Module | None) -> str:
    """The paper-style label of a computing layer."""
    out = row.output_shape[1:]
    if row.kind == counting.CONV and module is not None:
        kh, kw = _pair(module.kernel_size)
        s = _pair(module.stride)[0]
        return f"{kh}x{kw} conv{f' /{s}' if s > 1 else ''}, {out[0]}"
    if row.kind == counting.POOL:
        kind = "max" if "Max" in row.type else "avg"
        if "Adaptive" in row.type:
            return f"global {kind} pool" if out[-2:] == [1, 1] else f"adaptive {kind} pool"
        k = _pair(getattr(module, "kernel_size", 0))[0]
        stride = getattr(module, "stride", None)
        s = _pair(stride if stride is not None else k)[0]
        return f"{k}x{k} {kind} pool{f' /{s}' if s > 1 else ''}"
    if row.kind == counting.FC:
        return f"FC {out[-1]}" if len(out) == 1 else f"linear {out[-1]}"
    if row.kind == counting.ATTENTION:
        heads = getattr(module, "num_heads", None)
        return f"self-attention{f', {heads} heads' if heads else ''}"
    return _ABBREV.get(row.type, row.type)


def _extra(row: LayerRow) -> str:
    if row.kind == counting.DROPOUT:
        return "dropout"
    if row.kind == counting.IDENTITY or (row.kind == counting.POOL and not row.new_memory):
        return ""
    if row.kind == "functional":  # an op of a forward between layers: only joins and gates are shown
        return row.type if row.type in (*JOINS, "mul") else ""
    return _ABBREV.get(row.type, row.type)


def _is_cheap(row: LayerRow) -> bool:
    """Folded into the previous box: normalisation, activations, dropout, no-ops, ops between layers."""
    if row.kind in (counting.NORM, counting.ACT, counting.DROPOUT, counting.IDENTITY, "functional", "params"):
        return True
    return row.kind == counting.POOL and not row.new_memory  # an adaptive pool that is the identity here


def _box(row: LayerRow, model: nn.Module) -> Box:
    module = _module(model, row.name)
    out = row.output_shape[1:]
    return Box(
        label=_label(row, module),
        kind=row.kind,
        output_shape=out,
        params=row.params,
        macs=row.macs,
        groups=getattr(module, "groups", 1) if row.kind == counting.CONV else 1,
        channels=out[0] if len(out) == 3 else (out[-1] if out else 0),
    )


def boxes(rows: list[LayerRow], model: nn.Module) -> list[Box]:
    """Rows in call order -> boxes; cheap rows join the box before them (or start one when first).

    A module's own parameters (ViT's class token, position embedding) are named on the join that uses
    them ("+ class_token" for the cat), with their parameter counts.
    """
    out: list[Box] = []
    owned: list[tuple[str, LayerRow]] = []  # (parameter name, its row) waiting for the op that uses it
    for row in rows:
        if row.kind == "params":
            module = _module(model, row.name if row.name != "(model)" else "")
            names = [n for n, _ in module.named_parameters(recurse=False)] if module is not None else ["params"]
            owned += [(n, row if k == 0 else _no_cost(row)) for k, n in enumerate(names)]
            continue
        if not _is_cheap(row):
            out.append(_box(row, model))
            continue
        extra = _extra(row)
        if row.type in JOINS and owned:
            pname, prow = owned.pop(0)
            extra = "+ " + pname
            if out:
                out[-1].add(prow, "")
        if out:
            out[-1].add(row, extra)
        elif extra:
            out.append(_box(row, model))
    for pname, prow in owned:
        if out:
            out[-1].add(prow, "+ " + pname)
    return out


def _no_cost(row: LayerRow) -> LayerRow:
    return LayerRow(row.name, row.type, row.kind, [], 0, 0, 0, 0)


def _owner(row: LayerRow) -> str | None:
    """The module whose forward made a functional row: 'layer1.0 (add)' -> 'layer1.0'."""
    if row.kind != "functional" or not row.name.endswith(")"):
        return None
    owner = row.name.rsplit(" (", 1)[0]
    return None if owner == "(model)" else owner


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".") or name.startswith(prefix + " (")


def find_blocks(summary: Summary, model: nn.Module) -> list[str]:
    """Module paths of the blocks, see the module docstring."""
    joins = {o for r in summary.layers if r.type in JOINS and (o := _owner(r))}
    joins = {j for j in joins if not any(o != j and _inside(o, j) for o in joins)}  # innermost joins
    repeated = set()
    for name, m in model.named_modules():
        if isinstance(m, (nn.Sequential, nn.ModuleList)):
            kinds = [type(c) for c in m.children()]
            for child_name, child in m.named_children():
                if list(child.children()) and kinds.count(type(child)) > 1 and not isinstance(child, nn.Sequential):
                    repeated.add(f"{name}.{child_name}" if name else child_name)
    repeated = {r for r in repeated if not any(_inside(r, j) or _inside(j, r) for j in joins)}
    repeated = {r for r in repeated if not any(o != r and _inside(r, o) for o in repeated)}  # outermost
    return sorted(joins | repeated)


def _child(name: str, prefix: str) -> str:
    """The child of `prefix` that row `name` lies under: ("layer1.0.downsample.0", "layer1.0") -> "downsample"."""
    rest = name[len(prefix) + 1 :]
    return rest.split(".", 1)[0].split(" ", 1)[0]


def _collapse(rows: list[LayerRow], prefix: str, model: nn.Module) -> list[LayerRow | Box]:
    """Rows of a sub-module that joins tensors itself (squeeze-excitation's gate) become one box."""
    inner = {o for r in rows if (o := _owner(r)) and o != prefix}
    out: list[LayerRow | Box] = []
    for row in rows:
        owner = next((o for o in inner if _inside(row.name, o)), None)
        if owner is None:
            out.append(row)
            continue
        last = out[-1] if out else None
        if isinstance(last, Box) and last.label == type(_module(model, owner)).__name__:
            last.add(row, "")
            last.output_shape = row.output_shape[1:]
        else:
            out.append(Box(type(_module(model, owner)).__name__, "other", row.output_shape[1:], row.params, row.macs))
    return out


def _sequence(items: list[LayerRow | Box], model: nn.Module) -> list[Box]:
    """Rows and already-collapsed boxes, in order, as boxes."""
    out: list[Box] = []
    pending: list[LayerRow] = []
    for item in [*items, None]:
        if isinstance(item, LayerRow):
            pending.append(item)
            continue
        if pending:
            out += boxes(pending, model)
            pending = []
        if item is not None:
            out.append(item)
    return out


def _block(name: str, rows: list[LayerRow], model: nn.Module) -> Block:
    module = _module(model, name)
    last = rows[-1]
    block = Block(
        name=name,
        type=type(module).__name__ if module is not None else "block",
        output_shape=last.output_shape[1:],
        params=sum(r.params for r in rows),
        macs=sum(r.macs for r in rows),
    )
    if any(r.type == "cat" and _owner(r) == name for r in rows):
        by_child: dict[str, list[LayerRow]] = {}
        for r in rows:
            if _owner(r) != name:
                by_child.setdefault(_child(r.name, name), []).append(r)
        block.branches = [_sequence(_collapse(rs, name, model), model) for rs in by_child.values()]
        return block
    path: list[LayerRow | Box] = []
    shortcut: list[LayerRow] = []
    items = _collapse(rows, name, model)
    last_add = max((k for k, r in enumerate(items) if isinstance(r, LayerRow) and r.type == "add"), default=-1)
    for k, r in enumerate(items):
        if isinstance(r, LayerRow) and r.type == "add" and _owner(r) == name:
            block.parts.append(Residual(_sequence(path, model), boxes(shortcut, model)))
            path, shortcut = [], []
        elif isinstance(r, LayerRow) and _child(r.name, name) in SHORTCUT_NAMES:
            shortcut.append(r)
        elif isinstance(r, LayerRow) and k > last_add >= 0 and not path and _is_cheap(r):
            last_part = block.parts[-1]
            if isinstance(last_part, Residual):
                last_part.after.append(_extra(r))
        else:
            path.append(r)
    block.parts += _sequence(path, model)
    return block


def architecture(summary: Summary, model: nn.Module) -> Architecture:
    """The drawing's content, from the summary of `model` (the same module, any device)."""
    blocks = find_blocks(summary, model)
    units: list[Box | Stage] = []
    pending: list[LayerRow] = []
    rows = summary.layers
    i = 0
    while i < len(rows):
        owner = next((b for b in blocks if _inside(rows[i].name, b)), None)
        if owner is None:
            pending.append(rows[i])
            i += 1
            continue
        j = i
        while j < len(rows) and _inside(rows[j].name, owner):
            j += 1
        units += boxes(pending, model)
        pending = []
        block = _block(owner, rows[i:j], model)
        prev = units[-1] if units else None
        same = isinstance(prev, Stage) and prev.first.type == block.type
        if same and prev.blocks[-1].output_shape[1:] == block.output_shape[1:]:
            prev.blocks.append(block)
        else:
            units.append(Stage([block]))
        i = j
    units += boxes(pending, model)
    towers = max((getattr(m, "groups", 1) for m in model.modules() if isinstance(m, nn.Conv2d)), default=1)
    return Architecture(
        name=summary.model,
        input_shape=summary.input_shape[1:],
        units=units,
        towers=towers,
        params=summary.totals["params"],
        macs=summary.totals["macs"],
    )

"""Draw an `Architecture` top to bottom with matplotlib: boxes, branches, shortcuts, stages "x N", towers.

Coordinates are inches (y grows downwards from 0), so text sizes in points stay legible whatever the
depth of the net: the figure is as tall as its content.
"""

from __future__ import annotations

from pathlib import Path

from ilsvrc.errors import UserError
from ilsvrc.safety import write_error
from ilsvrc.viz.structure import Architecture, Block, Box, Residual, Stage, shape_text

WIDTH = 7.2  # figure width, inches
CENTER = WIDTH / 2
BOX_W = 4.4  # a box of the main column
BOX_H = 0.44
GAP = 0.2  # vertical space between boxes, where the arrow goes
PAD = 0.14  # inside a stage frame
HEADER = 0.42  # a stage's two header lines
COLORS = {
    "conv": "#cfe2f3",
    "pool": "#f4cccc",
    "fc": "#d9ead3",
    "attention": "#e1d5e7",
    "norm": "#eeeeee",
    "act": "#eeeeee",
    "input": "#fff2cc",
    "other": "#fce5cd",
}
EDGE = "#555555"


def si(n: float) -> str:
    """1234567 -> '1.23M'; plain below a thousand."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def _title(box: Box, label: str | None = None) -> str:
    label = box.label if label is None else label
    if not box.extras:
        return label
    joined = ", ".join(box.extras)
    return f"{label} {joined}" if joined.startswith("+") else f"{label} + {joined}"


def _costs(box: Box, shape: bool = True) -> str:
    parts = [shape_text(box.output_shape)] if shape and box.output_shape else []
    if box.params:
        parts.append(f"{si(box.params)} params")
    if box.macs:
        parts.append(f"{si(box.macs)} MACs")
    return " · ".join(parts)


class _Canvas:
    """Draws in inches; `y` is the top edge of what comes next."""

    def __init__(self, ax) -> None:
        self.ax = ax

    def box(self, x: float, y: float, w: float, title: str, lines: str, kind: str, small: bool = False) -> None:
        from matplotlib.patches import FancyBboxPatch

        patch = FancyBboxPatch(
            (x, -(y + BOX_H)),
            w,
            BOX_H,
            boxstyle="round,pad=0,rounding_size=0.06",
            facecolor=COLORS.get(kind, COLORS["other"]),
            edgecolor=EDGE,
            linewidth=0.7,
        )
        self.ax.add_patch(patch)
        size = 6.4 if small else 7.6
        cx = x + w / 2
        self.ax.text(cx, -(y + 0.15), title, ha="center", va="center", fontsize=size, weight="bold")
        self.ax.text(cx, -(y + 0.32), lines, ha="center", va="center", fontsize=size - 0.9 - 0.5 * small, color="#333")

    def arrow(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.ax.annotate(
            "",
            xy=(x1, -y1),
            xytext=(x0, -y0),
            arrowprops={"arrowstyle": "-|>", "lw": 0.7, "color": EDGE, "shrinkA": 0, "shrinkB": 0},
        )

    def line(self, xs: list[float], ys: list[float], **style) -> None:
        self.ax.plot(xs, [-y for y in ys], color=style.pop("color", EDGE), lw=style.pop("lw", 0.7), **style)

    def text(self, x: float, y: float, s: str, **style) -> None:
        self.ax.text(x, -y, s, **{"fontsize": 7, "va": "center", **style})

    def plus(self, x: float, y: float) -> None:
        from matplotlib.patches import Circle

        self.ax.add_patch(Circle((x, -y), 0.09, facecolor="white", edgecolor=EDGE, lw=0.8, zorder=3))
        self.ax.text(x, -y, "+", ha="center", va="center", fontsize=9, zorder=4)


# -- heights (must agree with the drawing functions below) ---------------------------------------------


def _column_height(boxes: list[Box]) -> float:
    return len(boxes) * (BOX_H + GAP)


def _residual_height(part: Residual) -> float:
    return GAP + max(_column_height(part.path) - GAP, _column_height(part.shortcut)) + 0.21 + 0.05


def _block_height(block: Block) -> float:
    if block.branches:
        return GAP + max(_column_height(b) for b in block.branches) - GAP + BOX_H * 0.6
    return sum(_residual_height(p) if isinstance(p, Residual) else BOX_H + GAP for p in block.parts)


def _unit_height(unit: Box | Stage) -> float:
    if isinstance(unit, Stage):
        return HEADER + _block_height(unit.first) + PAD + GAP
    return BOX_H + GAP


# -- drawing -----------------------------------------------------------------------------------------


def _column(c: _Canvas, boxes: list[Box], x: float, y: float, w: float, small: bool) -> float:
    """Boxes stacked from y with arrows between them; returns the bottom of the last box."""
    for k, b in enumerate(boxes):
        if k:
            c.arrow(x + w / 2, y - GAP, x + w / 2, y)
        c.box(x, y, w, _title(b), _costs(b), b.kind, small)
        y += BOX_H + GAP
    return y - GAP


def _branches(c: _Canvas, block: Block, x: float, y: float, w: float) -> float:
    n = len(block.branches)
    gap = 0.08
    col_w = (w - (n - 1) * gap) / n
    top = y + GAP
    bottom = top + max(_column_height(b) for b in block.branches) - GAP
    join_y = bottom + BOX_H * 0.35
    for k, branch in enumerate(block.branches):
        cx = x + k * (col_w + gap) + col_w / 2
        c.line([CENTER, cx], [y, top - 0.02])
        end = _column(c, branch, cx - col_w / 2, top, col_w, small=True)
        c.line([cx, cx], [end, join_y - 0.09])
        c.line([cx, CENTER], [join_y - 0.09, join_y - 0.09])
    c.text(CENTER, join_y, f"concatenate -> {shape_text(block.output_shape)}", ha="center", fontsize=6.8)
    return join_y + BOX_H * 0.25


def _residual(c: _Canvas, part: Residual, x: float, y: float, w: float) -> float:
    path_w = w * 0.62
    px = CENTER - path_w / 2 - w * 0.1
    top = y + GAP
    end = _column(c, part.path, px, top, path_w, small=False)
    c.arrow(px + path_w / 2, y, px + path_w / 2, top)
    sum_y = max(end, top + _column_height(part.shortcut)) + 0.12
    sx = px + path_w + (x + w - px - path_w) / 2  # the shortcut's column
    c.line([px + path_w / 2, sx, sx], [y + GAP / 2, y + GAP / 2, top], ls="--" if not part.shortcut else "-")
    if part.shortcut:
        sw = x + w - px - path_w - 0.12
        sc_end = _column(c, part.shortcut, sx - sw / 2, top, sw, small=True)
    else:
        sc_end = top
        c.text(sx + 0.05, (top + sum_y) / 2, "identity", fontsize=6.3, rotation=90, ha="left")
    c.line([sx, sx, px + path_w / 2 + 0.09], [sc_end, sum_y, sum_y], ls="--" if not part.shortcut else "-")
    c.line([px + path_w / 2, px + path_w / 2], [end, sum_y - 0.09])
    c.plus(px + path_w / 2, sum_y)
    if part.after:
        c.text(px + path_w / 2 + 0.15, sum_y + 0.02, "then " + ", ".join(a for a in part.after if a), fontsize=6.5)
    return sum_y + 0.09


def _block(c: _Canvas, block: Block, x: float, y: float, w: float) -> float:
    if block.branches:
        return _branches(c, block, x, y, w)
    for part in block.parts:
        if isinstance(part, Residual):
            y = _residual(c, part, x, y, w) + 0.05
        else:
            c.arrow(CENTER, y, CENTER, y + GAP)
            c.box(CENTER - BOX_W / 2 + 0.2, y + GAP, BOX_W - 0.4, _title(part), _costs(part), part.kind)
            y += GAP + BOX_H
    return y


def _shortcuts(block: Block) -> list[bool]:
    """Per residual of the block: does its shortcut compute something (a projection, padding)?"""
    return [bool(p.shortcut) for p in block.parts if isinstance(p, Residual)]


def _stage(c: _Canvas, stage: Stage, y: float) -> float:
    from matplotlib.patches import FancyBboxPatch

    first, last, n = stage.first, stage.blocks[-1], len(stage.blocks)
    height = HEADER + _block_height(first) + PAD
    x, w = 0.25, WIDTH - 0.5
    c.ax.add_patch(
        FancyBboxPatch(
            (x, -(y + height)),
            w,
            height,
            boxstyle="round,pad=0,rounding_size=0.1",
            facecolor="#f7f7fb",
            edgecolor="#8888aa",
            lw=0.9,
        )
    )
    names = first.name if n == 1 else f"{first.name} ... {last.name}"
    count = f"  x {n}" if n > 1 else ""
    c.text(x + 0.12, y + 0.14, f"{first.type}{count}   ({names})", weight="bold", fontsize=8)
    outs = list(dict.fromkeys(shape_text(b.output_shape) for b in stage.blocks))  # distinct, in order
    shown = f" (all {n}); the first is drawn" if n > 1 else ""
    if n > 1 and _shortcuts(first) != _shortcuts(stage.blocks[1]) and not any(_shortcuts(stage.blocks[1])):
        shown += ", the others have identity shortcuts"
    line = f"out {', '.join(outs)} · {si(stage.params)} params · {si(stage.macs)} MACs{shown}"
    c.text(x + 0.12, y + 0.32, line, fontsize=6.8, color="#333333")
    c.arrow(CENTER, y - GAP, CENTER, y)
    _block(c, first, x + PAD, y + HEADER, w - 2 * PAD)
    return y + height


def _tower_boxes(c: _Canvas, box: Box, y: float, towers: int, prev_split: bool) -> None:
    """A layer of a two-tower net: one half-box per tower; crossing arrows where the layer sees both halves."""
    gap = 0.3
    w = (BOX_W - gap) / towers
    xs = [CENTER - BOX_W / 2 + k * (w + gap) for k in range(towers)]
    part = box.channels // towers
    label = box.label.rsplit(", ", 1)[0] + f", {part}" if box.kind == "conv" else box.label
    title = _title(box, label)
    shape = box.output_shape
    lines = shape_text([part, *shape[1:]]) if len(shape) == 3 else ""
    if box.params:
        lines += f" · {si(box.params / towers)} params · {si(box.macs / towers)} MACs"
    crossing = box.kind == "conv" and box.groups == 1
    for k, x in enumerate(xs):
        c.box(x, y, w, title, lines, box.kind, small=True)
        sources = range(towers) if (crossing or not prev_split) else [k]
        for s in sources:
            x0 = xs[s] + w / 2 if prev_split else CENTER
            c.arrow(x0, y - GAP, x + w / 2, y)


def draw(arch: Architecture, path: str | Path, *, note: str = "", dpi: int = 150) -> Path:
    """Render `arch` to `path` (.png or .svg; PNG at `dpi`); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise UserError(f"{path}: the diagram is written as .png or .svg")
    head = 0.75 + (0.2 if arch.towers > 1 else 0)
    height = head + BOX_H + GAP + sum(_unit_height(u) for u in arch.units) + 0.2
    fig = plt.figure(figsize=(WIDTH, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(-height, 0)
    ax.axis("off")
    c = _Canvas(ax)
    side = arch.input_shape[1]
    c.text(CENTER, 0.22, arch.name, ha="center", fontsize=12, weight="bold")
    sub = f"{arch.params:,} params · {arch.macs / 1e9:.3f} GMACs per image at {side}x{side}"
    c.text(CENTER, 0.45, sub + (f" · {note}" if note else ""), ha="center", fontsize=7.5, color="#333333")
    if arch.towers > 1:
        c.text(
            CENTER,
            0.65,
            f"{arch.towers} towers (groups={arch.towers}): a grouped layer sees only its own tower's half; "
            "crossing arrows: it sees both",
            ha="center",
            fontsize=6.8,
            color="#7a3b00",
        )
    y = head
    c.box(CENTER - 1.2, y, 2.4, "input", shape_text(arch.input_shape), "input")
    y += BOX_H + GAP
    split = False
    for unit in arch.units:
        if isinstance(unit, Stage):
            y = _stage(c, unit, y) + GAP
            continue
        in_towers = arch.towers > 1 and unit.kind in ("conv", "pool", "norm") and (split or unit.kind == "conv")
        if in_towers:
            _tower_boxes(c, unit, y, arch.towers, split)
        else:
            if split:
                gap = 0.3
                w = (BOX_W - gap) / arch.towers
                for k in range(arch.towers):
                    c.arrow(CENTER - BOX_W / 2 + k * (w + gap) + w / 2, y - GAP, CENTER, y)
            else:
                c.arrow(CENTER, y - GAP, CENTER, y)
            c.box(CENTER - BOX_W / 2, y, BOX_W, _title(unit), _costs(unit), unit.kind)
        split = in_towers
        y += BOX_H + GAP
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi if path.suffix.lower() == ".png" else 72)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        plt.close(fig)
    return path

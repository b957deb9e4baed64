"""Views of a `Summary`: every layer, or the lecture's VGG-style table (CONV/POOL/FC rows only)."""

from __future__ import annotations

import json
import math

from ilsvrc.analysis import counting
from ilsvrc.analysis.render import render
from ilsvrc.analysis.summary import Summary

VIEWS = ("layers", "lecture")

# The VGG-16 table as popular copies print it (CS231n notes, "VGGNet in detail"), and why its total is wrong.
SLIP_NOTE = (
    "Note: copies of this table print 'TOTAL memory: 24M * 4 bytes ~= 93MB / image'; the rows above add up to "
    "{total:,} values ({mb:.1f} MB), not 24M: an arithmetic slip (cs231n.github.io issue #88)."
)


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.1f} MB, {nbytes / 2**20:,.1f} MiB"


def _shape(shape: list[int]) -> str:
    return "x".join(str(s) for s in shape)


def layer_rows(summary: Summary, *, no_bias: bool = False, marked: bool = True) -> list[dict]:
    """One dict per row; `marked` writes activations not added to the totals in parentheses."""
    rows = []
    for r in summary.layers:
        name = r.name if r.call == 1 else f"{r.name} #{r.call}"
        rows.append(
            {
                "name": name,
                "type": r.type,
                "output_shape": _shape(r.output_shape),
                "activations": r.activations if r.new_memory or not marked else f"({r.activations:,})",
                "params": r.params_no_bias if no_bias else r.params,
                "macs": r.macs,
                "other_ops": r.other_ops,
                "note": r.note,
                **({} if marked else {"new_memory": r.new_memory}),
            }
        )
    return rows


def totals_lines(summary: Summary, *, no_bias: bool = False) -> list[str]:
    t = summary.totals
    n, element = summary.input_shape[0], summary.dtype_bytes
    params = f"{t['params_no_bias']:,} without biases ({t['params']:,} with)" if no_bias else f"{t['params']:,}"
    lines = [
        f"input {_shape(summary.input_shape)}, {element}-byte elements; counts are for the whole batch of {n}",
        f"params: {params}" + (f"; {t['params_unused']:,} more not used by this forward" if t["params_unused"] else ""),
        f"activations: {t['activations']:,} with the input, {t['activations_without_input']:,} without "
        "(parenthesised rows are in-place, views or no-ops and are not added again)",
        f"MACs: {t['macs']:,} ({t['macs'] / n / 1e9:.3f} GMACs per image; FLOPs = 2 x MACs); "
        f"other ops (pooling, normalisation, activations): {t['other_ops']:,}",
        f"forward memory: {t['forward_bytes']:,} bytes ({_mb(t['forward_bytes'])})",
        f"training memory estimate: {t['training_bytes_estimate']:,} bytes ({_mb(t['training_bytes_estimate'])}) "
        f"= {t['saved_for_backward_bytes']:,} bytes autograd saves for backward + weights + gradients + "
        "SGD momentum",
    ]
    if summary.measured:
        m = summary.measured
        lines.append(
            f"measured peak of one training step: {m['peak_bytes']:,} bytes ({_mb(m['peak_bytes'])}), "
            f"{m['method']}; estimate / measured = {t['training_bytes_estimate'] / max(m['peak_bytes'], 1):.2f}"
        )
    return lines


# -- the lecture's view ------------------------------------------------------------------------------


def lecture_rows(summary: Summary, kernels: dict[str, tuple[int, ...]], *, no_bias: bool = True) -> list[dict]:
    """INPUT, then one row per convolution, pooling and fully connected layer, as in the lecture's table.

    `kernels` maps a layer name to its kernel size (convolutions) or pooling window, for the labels.
    """
    batch, chans, *hw = summary.input_shape
    rows = [
        {
            "layer": "INPUT",
            "shape": f"[{'x'.join(map(str, [*hw, chans]))}]",
            "memory": math.prod(summary.input_shape),
            "memory_formula": "*".join(map(str, [*hw, chans])),
            "weights": 0,
            "weights_formula": "",
        }
    ]
    prev = [chans, *hw]
    for r in summary.layers:
        if r.kind not in (counting.CONV, counting.POOL, counting.FC) or not r.new_memory:
            continue
        out = r.output_shape[1:]
        weights = r.params_no_bias if no_bias else r.params
        k = kernels.get(r.name, ())
        if r.kind == counting.CONV:
            c, *spatial = out
            label = f"CONV{k[0] if k and len(set(k)) == 1 else 'x'.join(map(str, k))}-{c}"
            fan_in = r.params_no_bias // c
            kk = "*".join(map(str, k))
            weights_formula = f"({kk}*{fan_in // max(math.prod(k), 1)})*{c}"
            shape = [*spatial, c]
        elif r.kind == counting.POOL:
            label = f"POOL{k[0] if k and len(set(k)) == 1 else ''}"
            shape = [*out[1:], out[0]]
            weights_formula = ""
        else:
            label = "FC"
            units = out[-1]
            shape = [1, 1, units] if len(out) == 1 else out  # tokens x units for a per-token linear layer
            fan_in = r.params_no_bias // units
            src = [*prev[1:], prev[0]] if math.prod(prev) == fan_in else [fan_in]
            weights_formula = "*".join(map(str, [*src, units]))
        if r.params != r.params_no_bias and not no_bias:
            weights_formula += f" + {r.params - r.params_no_bias:,} biases"
        rows.append(
            {
                "layer": label,
                "shape": f"[{'x'.join(map(str, shape))}]",
                "memory": r.activations // batch,
                "memory_formula": "*".join(map(str, shape)) if r.kind != counting.FC else "",
                "weights": weights,
                "weights_formula": weights_formula,
            }
        )
        prev = out
    return rows


def lecture_totals(rows: list[dict], summary: Summary, *, no_bias: bool = True) -> list[str]:
    memory = sum(r["memory"] for r in rows)
    weights = sum(r["weights"] for r in rows)
    nbytes = memory * summary.dtype_bytes
    t = summary.totals
    bias_note = f" (not counting biases; {t['params']:,} with)" if no_bias else " (with biases)"
    lines = [
        f"TOTAL memory: {memory:,} values * {summary.dtype_bytes} bytes = {nbytes:,} bytes ({_mb(nbytes)}) "
        "/ image (forward only; about x2 for backward)",
        f"TOTAL params: {weights:,}{bias_note}",
    ]
    if weights != (t["params_no_bias"] if no_bias else t["params"]):
        lines.append("(other layers, e.g. normalisation, hold the remaining parameters: see the full table)")
    if summary.model.startswith("vgg16") and summary.input_shape[1:] == [3, 224, 224]:
        lines.append(SLIP_NOTE.format(total=memory, mb=nbytes / 1e6))
        lines.append("(The lecture note's '589.824' for the second CONV3-256 is 589,824 with a mistyped separator.)")
    return lines


def format_summary(
    summary: Summary,
    fmt: str,
    *,
    view: str = "layers",
    no_bias: bool = False,
    kernels: dict[str, tuple[int, ...]] | None = None,
) -> str:
    """The text for `ilsvrc summary`; JSON always carries the DESIGN.md contract (+ "lecture" rows)."""
    if view == "lecture":
        rows = lecture_rows(summary, kernels or {}, no_bias=no_bias)
        if fmt == "json":
            return json.dumps({**summary.to_dict(no_bias=no_bias), "lecture": rows}, indent=2)
        cols = [("layer", "layer"), ("shape", "shape"), ("memory", "memory"), ("weights", "weights")]
        if fmt == "table":
            cols = [("layer", "layer"), ("shape", "shape"), ("memory_formula", ""), ("memory", "memory")]
            cols += [("weights_formula", ""), ("weights", "weights")]
        title = f"{summary.model}: the lecture's table (CONV, POOL and FC layers)"
        return render(cols, rows, fmt, title=title, notes=lecture_totals(rows, summary, no_bias=no_bias))
    if fmt == "json":
        return json.dumps(summary.to_dict(no_bias=no_bias), indent=2)
    cols = [
        ("name", "layer"),
        ("type", "type"),
        ("output_shape", "output"),
        ("activations", "activations"),
        ("params", "params (no bias)" if no_bias else "params"),
        ("macs", "MACs"),
        ("other_ops", "other ops"),
        ("note", "note"),
    ]
    title = f"{summary.model}: every layer"
    notes = totals_lines(summary, no_bias=no_bias)
    if fmt == "csv":
        cols.insert(4, ("new_memory", "new_memory"))
    rows = layer_rows(summary, no_bias=no_bias, marked=fmt != "csv")
    return render(cols, rows, fmt, title=title, notes=notes)


def kernel_sizes(model) -> dict[str, tuple[int, ...]]:
    """Kernel (or pooling window) size per module name, for the lecture labels."""
    out = {}
    for name, m in model.named_modules():
        k = getattr(m, "kernel_size", None)
        if k is None:
            continue
        out[name] = tuple(k) if isinstance(k, (tuple, list)) else (k, k)
    return out

"""`ilsvrc explain inception|filters|receptive-field`: the lecture's cost arguments, computed."""

from __future__ import annotations

import argparse

FORMATS = ["table", "markdown", "csv", "json"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("explain", help="the cost arguments: Inception module, small filters, receptive fields")
    sub = p.add_subparsers(dest="topic", metavar="TOPIC", required=True, parser_class=type(p))

    inc = sub.add_parser(
        "inception",
        help="multiply-adds and weights of a naive and a 1x1-bottleneck Inception module",
        description="Per-branch cost of the naive Inception module (Fig. 2a) and the one with 1x1 reductions "
        "(Fig. 2b). Defaults: the lecture's 28x28x256 input.",
    )
    inc.add_argument("--input", default="28x28x256", metavar="HxWxC", help="input map (default 28x28x256)")
    inc.add_argument("--naive", default="128,192,96", metavar="N1,N3,N5", help="1x1, 3x3, 5x5 output channels")
    inc.add_argument(
        "--bottleneck",
        default="128,64,192,64,96,64",
        metavar="LIST",
        help="Table 1 order: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj (default 128,64,192,64,96,64)",
    )
    inc.add_argument("--format", choices=FORMATS, default="table")
    inc.set_defaults(func=run_inception)

    fil = sub.add_parser(
        "filters",
        help="stacks of 3x3 convolutions against one 5x5 or 7x7: weights, MACs, receptive field, non-linearities",
    )
    fil.add_argument("--channels", type=int, default=1, metavar="C", help="input = output channels (default 1)")
    fil.add_argument("--size", type=int, default=56, metavar="N", help="map side for the MACs (default 56)")
    fil.add_argument("--format", choices=FORMATS, default="table")
    fil.set_defaults(func=run_filters)

    rf = sub.add_parser(
        "receptive-field",
        help="per-layer receptive field, jump and start of a model",
        description="Receptive field size r, jump j (input pixels between neighbouring units) and start s "
        "(centre of the first unit's field) after every convolution, pooling, FC and attention layer. Where "
        "paths join (residual sums, concatenations) the largest field is kept (the max path).",
    )
    rf.add_argument("model", help="a registered model name")
    rf.add_argument("--input-size", type=int, default=None, metavar="N")
    rf.add_argument("--format", choices=FORMATS, default="table")
    rf.set_defaults(func=run_receptive_field)


def _ints(text: str, what: str) -> list[int]:
    from ilsvrc.errors import UserError

    try:
        values = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} must be integers separated by commas or 'x', got {text!r}") from None
    return values


def run_inception(args: argparse.Namespace) -> int:
    import json

    from ilsvrc.analysis.explain import inception_report
    from ilsvrc.analysis.render import render
    from ilsvrc.errors import UserError

    size = _ints(args.input, "--input")
    if len(size) != 3:
        raise UserError(f"--input must be HxWxC, got {args.input!r}")
    report = inception_report(*size, _ints(args.naive, "--naive"), _ints(args.bottleneck, "--bottleneck"))
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    h, w, c = size
    cols = [("branch", "branch"), ("layer", "layer"), ("formula", "MACs: HxWxC_out x k x k x C_in")]
    cols += [("macs", "MACs"), ("weights", "weights")]
    modules = (("naive", "Naive Inception module"), ("bottleneck", "Inception module with 1x1 bottlenecks"))
    tables = {}
    for key, _ in modules:
        t = report[key]["totals"]
        total = {"branch": "total", "layer": f"output {h}x{w}x{t['output_depth']}", **t}
        tables[key] = [{"module": key, **r} for r in [*report[key]["layers"], total]]
    if args.format == "csv":  # one table, a column says which module
        print(render([("module", "module"), *cols], tables["naive"] + tables["bottleneck"], "csv"))
        return 0
    parts = [render(cols, tables[key], args.format, title=f"{title} on {h}x{w}x{c}") for key, title in modules]
    print("\n\n".join(parts))
    print()
    print("\n".join(report["notes"]))
    return 0


def run_filters(args: argparse.Namespace) -> int:
    import json

    from ilsvrc.analysis.explain import filter_stacks
    from ilsvrc.analysis.render import render

    rows = filter_stacks(args.channels, args.size)
    if args.format == "json":
        print(json.dumps({"channels": args.channels, "size": args.size, "rows": rows}, indent=2))
        return 0
    c = args.channels
    cols = [
        ("filters", "filters"),
        ("same_as", "field of"),
        ("weights_formula", "weights per channel pair"),
        ("weights", f"weights (C={c})"),
        ("macs", f"MACs on {args.size}x{args.size}"),
        ("receptive_field", "receptive field"),
        ("nonlinearities", "non-linearities"),
    ]
    notes = [
        "Stacked 3x3 layers see the same field as one larger filter with fewer weights and more non-linearities:",
        "two 3x3 = 18C^2 vs 25C^2 for one 5x5 (28% fewer); three 3x3 = 27C^2 vs 49C^2 for one 7x7 (45% fewer).",
        "Same padding, stride 1, C input and C output channels per layer; biases (C per layer) not counted.",
    ]
    print(render(cols, rows, args.format, title="Small filters (VGG, section 2.3)", notes=notes))
    return 0


def run_receptive_field(args: argparse.Namespace) -> int:
    import json

    import torch

    from ilsvrc.analysis.explain import receptive_fields
    from ilsvrc.analysis.render import render
    from ilsvrc.models import create_model, get_card

    card = get_card(args.model)
    size = args.input_size or card.input_size
    with torch.device("meta"):
        model = create_model(args.model)
    rows = receptive_fields(model, size)
    if args.format == "json":
        print(json.dumps({"model": args.model, "input_size": size, "layers": rows}, indent=2))
        return 0
    cols = [(k, k.replace("_", " ")) for k in rows[0]] if rows else [("name", "name")]
    notes = [
        "r' = r + (k-1)*j, j' = j*stride, s' = s + ((k-1)/2 - pad)*j, in input pixels (pixel centres at i + 0.5).",
        "Where paths join (residual sums, concatenations) the largest field of the inputs is kept.",
    ]
    notes.extend(headline(rows, size))
    print(render(cols, rows, args.format, title=f"{args.model}: receptive field per layer", notes=notes))
    return 0


def headline(rows: list[dict], size: int) -> list[str]:
    """The field of the last local layer: what the first whole-input layer (a global pool, an FC on the flattened
    map, attention) combines. Fields only grow along a path and joins keep the largest, so it is the largest local
    field before that layer (ResNet-50: 483 px at layer4.2.conv2, not the global pool's whole input)."""
    first_whole = next((i for i, r in enumerate(rows) if r["receptive_field"] == "whole input"), len(rows))
    local = [r for r in rows[:first_whole] if r["receptive_field"] != "whole input"]
    if not local:
        return []
    last = max(reversed(local), key=lambda r: r["receptive_field"])
    line = (
        f"Largest local receptive field: {last['receptive_field']} px, reached at {last['name']} (input {size}x{size}"
    )
    line += (
        "; a field larger than the input reaches into the zero padding)." if last["receptive_field"] > size else ")."
    )
    if first_whole < len(rows):
        whole = rows[first_whole]
        line += f" From {whole['name']} ({whole['type']}) on, every unit sees the whole input."
    return [line]

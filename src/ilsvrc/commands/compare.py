"""`ilsvrc compare MODEL...`: year, depth, params, MACs, activation memory, published errors, CPU images/s."""

from __future__ import annotations

import argparse

COLUMNS = [
    ("model", "model"),
    ("year", "year"),
    ("depth", "depth (paper)"),
    ("weight_layers", "weight layers (counted)"),
    ("params", "params"),
    ("gmacs", "GMACs"),
    ("activation_mb", "activations (MB)"),
    ("paper_top1", "paper top-1 err %"),
    ("paper_top5", "paper top-5 err %"),
    ("tv_top1", "torchvision top-1 err %"),
    ("tv_top5", "torchvision top-5 err %"),
    ("images_per_s", "CPU images/s"),
    ("speed_spread", "spread"),
]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare models: year, depth, params, MACs, activation memory, published error, CPU images/s",
        description="Counted costs (batch 1, fp32, eval), published top-1/top-5 errors (the paper's own protocol, "
        "and torchvision's weights at one 224 crop), and measured CPU inference speed.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--input-size", type=int, default=None, metavar="N", help="default: each model's card")
    p.add_argument("--seconds", type=float, default=2.0, help="time per model for images/s; 0 skips (default 2)")
    p.add_argument("--batch-size", type=int, default=2, metavar="N", help="batch for the speed loop (default 2)")
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="N",
        help="timed rounds per model (default 3): images/s is their median, 'spread' half their range",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for the speed loop (default: torch's); 1 is steadiest when other work shares the cores",
    )
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--png", metavar="FILE", help="also write a chart: top-1 error vs GMACs, bubble area = params")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ilsvrc.analysis.compare import compare_row, machine, write_chart
    from ilsvrc.analysis.render import render
    from ilsvrc.errors import UserError
    from ilsvrc.models import get_card

    for name in args.models:
        get_card(name)  # unknown names fail before any work
    if args.batch_size < 1 or args.repeats < 1 or args.seconds < 0 or (args.threads is not None and args.threads < 1):
        raise UserError("--batch-size, --repeats and --threads must be >= 1, --seconds >= 0")
    from ilsvrc.safety import check_output_dir

    for flag, target in (("--png", args.png), ("--json", args.json)):
        if target:  # a folder that cannot be written: one line before minutes of timing
            from pathlib import Path

            if Path(target).is_dir():
                raise UserError(f"{flag} {target} is a folder; give a file name")
            check_output_dir(Path(target).parent)
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    import torch

    from ilsvrc.analysis.compare import busy_note

    busy = busy_note() if args.seconds > 0 else ""

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or threads)
    try:
        rows = [
            compare_row(
                n, args.input_size, speed_seconds=args.seconds, batch_size=args.batch_size, repeats=args.repeats
            )
            for n in args.models
        ]
        where = machine()  # with the thread count the speeds were measured at
    finally:
        torch.set_num_threads(threads)
    speed = (
        f"images/s: eval, batch {args.batch_size}, median of {args.repeats} rounds (each its fastest batch) in "
        f"{args.seconds:g} s per model; spread = half the range of the rounds; on {where}"
    )
    notes = [
        "params, GMACs and activations are counted (batch 1, fp32; activations include the input); "
        "errors are published single-model numbers:",
        *[f"  {r['model']}: paper {r['paper_protocol']}" for r in rows if r["paper_protocol"]],
        *[f"  {r['model']}: {r['tv_note']}" for r in rows if r["tv_note"]],
        "  torchvision: its IMAGENET1K_V1 weights, one 224 px centre crop.",
        speed if args.seconds > 0 else "images/s not measured (--seconds 0)",
        *([f"WARNING: {busy}"] if busy else []),
    ]
    doc = {"rows": rows, "notes": notes, "machine": where}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    if args.png:
        write_chart(rows, args.png)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(render(COLUMNS, rows, args.format, title="ILSVRC nets compared", notes=notes))
    return 0

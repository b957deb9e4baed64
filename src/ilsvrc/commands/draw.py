"""`ilsvrc draw MODEL`: the architecture as the papers draw it, made from the model's own summary rows."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "draw",
        help="architecture diagram (PNG or SVG): stages, branches, shortcuts, shapes, params, MACs",
        description="One box per layer with its output shape (HxWxC), kernel/stride, parameters and multiply-adds; "
        "Inception modules and residual blocks drawn once with their branches or shortcuts, then 'x N'; "
        "grouped convolutions (AlexNet's two GPUs) as towers. Built from 'ilsvrc summary' rows.",
    )
    p.add_argument("model", help="a registered model name (see 'ilsvrc models')")
    p.add_argument("--input-size", type=int, default=None, metavar="N", help="square input side (default: the card's)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--png", metavar="FILE", help="write a PNG (default: MODEL.png)")
    out.add_argument("--svg", metavar="FILE", help="write an SVG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.viz.inspect import draw_model

    path = args.svg or args.png or f"{args.model}.png"
    print(draw_model(args.model, path, input_size=args.input_size))
    return 0

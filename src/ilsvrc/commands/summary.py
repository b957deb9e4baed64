"""`ilsvrc summary MODEL`: every layer's output shape, activations, parameters and multiply-adds."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary",
        help="per-layer table: output shapes, activations, parameters, MACs, memory",
        description="One row per layer call (pooling, activations, normalisation included), with totals. "
        "'--view lecture' prints only the CONV/POOL/FC rows, as in the lecture's VGG-16 table.",
    )
    p.add_argument("model", help="a registered model name (see 'ilsvrc models')")
    p.add_argument("--input-size", type=int, default=None, metavar="N", help="square input side (default: the card's)")
    p.add_argument("--batch-size", type=int, default=1, metavar="N")
    p.add_argument("--in-chans", type=int, default=3, metavar="C", help="input channels (default 3)")
    p.add_argument("--no-bias", action="store_true", help="count weights without biases, as the lecture's table does")
    p.add_argument("--train", action="store_true", help="summarise in training mode (default: eval)")
    p.add_argument(
        "--measure", action="store_true", help="also run one real training step on CPU and measure its peak memory"
    )
    p.add_argument("--view", choices=["layers", "lecture"], default="layers")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ilsvrc.analysis import summarize
    from ilsvrc.analysis.report import format_summary, kernel_sizes
    from ilsvrc.errors import UserError
    from ilsvrc.models import create_model, get_card

    card = get_card(args.model)
    size = card.input_size if args.input_size is None else args.input_size
    if size < card.min_input_size:
        raise UserError(f"{args.model} needs an input of at least {card.min_input_size}x{card.min_input_size}")
    if args.measure:
        torch.manual_seed(0)
        model = create_model(args.model, in_chans=args.in_chans)
    else:
        with torch.device("meta"):  # counting needs shapes only: no weights are allocated or initialised
            model = create_model(args.model, in_chans=args.in_chans)
    summary = summarize(
        model,
        (args.in_chans, size, size),
        args.batch_size,
        train=args.train,
        measure=args.measure,
        name=args.model,
    )
    print(format_summary(summary, args.format, view=args.view, no_bias=args.no_bias, kernels=kernel_sizes(model)))
    return 0

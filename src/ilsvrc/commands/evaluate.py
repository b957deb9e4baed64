"""`ilsvrc evaluate`: top-1/top-5 error of checkpoints (1, 2 or 10 crops), and of their ensemble."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="top-1/top-5 error of checkpoints and of their ensemble")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint files or run directories")
    p.add_argument("--data", help="data source (default: the bundled Fashion-MNIST)")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument(
        "--crops",
        type=int,
        default=1,
        choices=[1, 2, 10],
        help="1 centre crop, 2 (centre and its mirror) or 10 crops (corners, centre and their mirrors; "
        "AlexNet/GoogLeNet/ResNet)",
    )
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.evaluate import evaluate_checkpoints

    if args.batch_size < 1:
        from ilsvrc.errors import UserError

        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    res = evaluate_checkpoints(args.checkpoints, args.data, args.split, args.crops, args.batch_size, args.device)
    if args.format == "json":
        print(json.dumps(res, indent=2))
        return 0
    rows = res["members"] + ([res["ensemble"]] if res["ensemble"] else [])
    width = max(len(r["checkpoint"]) for r in rows)
    print(f"{res['split']} set, {res['count']} images, {res['crops']} crop(s) per image")
    print(f"{'checkpoint':<{width}}  {'model':<12} {'top-1 err':>9} {'top-5 err':>9} {'loss':>7}")
    for r in rows:
        print(
            f"{r['checkpoint']:<{width}}  {r['model']:<12} {100 * r['top1_error']:>8.2f}% "
            f"{100 * r['top5_error']:>8.2f}% {r['loss']:>7.4f}"
        )
    return 0

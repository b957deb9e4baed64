"""`ilsvrc predict`: top-5 class names with probabilities for image files."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="top-5 classes with probabilities for image files")
    p.add_argument(
        "checkpoint", metavar="CKPT", help="checkpoint, run directory, ONNX export, or a model name (published weights)"
    )
    p.add_argument("--weights", metavar="SOURCE", help="for a model name: 'torchvision' (default) or 'torchvision:TAG'")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.predict import predict

    results = predict(args.checkpoint, args.images, top=args.top, weights=args.weights)
    if args.format == "json":
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(r["image"])
        for name, p in r["top"]:
            print(f"  {100 * p:6.2f}%  {name}")
    return 0

"""`ilsvrc bench`: performance suites that print a table and write JSON."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="measure training throughput and MFU on this machine")
    p.add_argument(
        "--suite",
        choices=["mfu"],
        default="mfu",
        help="mfu: training FLOP/s (6 x MACs per image) over the measured fp32 GEMM ceiling",
    )
    p.add_argument("--models", nargs="+", help="models to measure (default: resnet50 vgg16)")
    p.add_argument("--input-size", type=int, help="input side in pixels (default: each model's)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=3, help="timed steps per model (median reported)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--json", help="write the results to this JSON file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ilsvrc.bench.mfu import run_mfu
    from ilsvrc.errors import UserError
    from ilsvrc.models import get_card

    for name in args.models or []:
        get_card(name)  # unknown names fail before minutes of measuring
    if args.batch_size < 1 or args.steps < 1:
        raise UserError("--batch-size and --steps must be >= 1")
    results = run_mfu(
        args.models, args.input_size, args.batch_size, args.steps, args.device, compile=args.compile, amp=args.amp
    )
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")
    return 0

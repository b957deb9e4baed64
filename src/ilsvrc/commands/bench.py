"""`ilsvrc bench`: performance suites that print a table and write JSON."""

from __future__ import annotations

import argparse

SUITES = {
    "models": "end-to-end training images/s: ilsvrc's engine vs a plain torchvision loop (needs --cifar/--data)",
    "data": "input-pipeline images/s: packed data + batched augmentation vs torchvision's (needs --data)",
    "mfu": "training FLOP/s (6 x MACs per image) over the measured fp32 GEMM ceiling",
    "inference": "eval images/s of our models vs torchvision's builders of the same networks",
    "memory": "peak memory of one training step: measured vs the analysis estimate",
    "e2e": "whole-process wall time of 'ilsvrc train' (default flags and --precision fp32) vs the plain loop "
    "script benchmarks/plain_loop.py, alternating runs (needs --cifar and/or --data with train/ and val/)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure training throughput, MFU, inference speed and memory on this machine",
        description="; ".join(f"{k}: {v}" for k, v in SUITES.items()),
    )
    p.add_argument("--suite", choices=list(SUITES), default="mfu")
    p.add_argument("--models", nargs="+", help="models to measure (mfu, inference, models: each suite has defaults)")
    p.add_argument("--data", help="an ImageFolder of JPEGs (the class folders) for the models and data suites")
    p.add_argument("--cifar", help="CIFAR-10 python batches folder for the models suite's 32-px case")
    p.add_argument("--input-size", type=int, help="input side in pixels (mfu; default: each model's)")
    p.add_argument("--batch-size", type=int, default=16, help="mfu and inference batch (default 16)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per model (mfu, inference; median reported)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs per case (models, e2e; median)")
    p.add_argument("--images", type=int, default=10_000, help="e2e: CIFAR training images (test: a tenth)")
    p.add_argument("--per-class", type=int, help="e2e: copy at most N images per class of --data (quick checks)")
    p.add_argument("--epochs", type=float, default=1.0, help="e2e: epochs per training process")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (mfu; models: the engine's side)")
    p.add_argument("--json", help="write the results to this JSON file")
    p.set_defaults(func=run)


def _check_folder(path: str | None, flag: str) -> None:
    from pathlib import Path

    from ilsvrc.errors import UserError

    if path is not None and not Path(path).is_dir():
        raise UserError(f"{flag} {path}: no such folder")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ilsvrc.errors import UserError
    from ilsvrc.models import get_card

    for name in args.models or []:
        get_card(name)  # unknown names fail before minutes of measuring
    if args.batch_size < 1 or args.steps < 1 or args.repeats < 1:
        raise UserError("--batch-size, --steps and --repeats must be >= 1")
    _check_folder(args.data, "--data")
    _check_folder(args.cifar, "--cifar")
    if args.suite != "e2e":  # in-process suites: both sides of a comparison run with the engine's allocator setting
        from ilsvrc.train.allocator import keep_freed_memory

        keep_freed_memory()
    if args.suite == "mfu":
        from ilsvrc.bench.mfu import run_mfu

        results = run_mfu(
            args.models, args.input_size, args.batch_size, args.steps, args.device, compile=args.compile, amp=args.amp
        )
    elif args.suite == "models":
        from ilsvrc.bench.models import DEFAULT_CASES, run_models

        if args.data is None and args.cifar is None:
            raise UserError("--suite models trains on real images: give --cifar DIR and/or --data IMAGEFOLDER")
        cases = [c for c in DEFAULT_CASES if not args.models or c.model in args.models]
        results = run_models(
            cases,
            cifar=args.cifar,
            folder=args.data,
            repeats=args.repeats,
            compile=args.compile,
            amp=args.amp,
            device=args.device,
        )
    elif args.suite == "e2e":
        from ilsvrc.bench.e2e import run_e2e

        if args.images < 10 or args.epochs <= 0 or (args.per_class is not None and args.per_class < 1):
            raise UserError("--images must be >= 10, --epochs > 0 and --per-class >= 1")
        results = run_e2e(
            args.cifar,
            args.data,
            pairs=args.repeats,
            cifar_images=args.images,
            cifar_test=max(1, args.images // 10),
            folder_per_class=args.per_class,
            epochs=args.epochs,
        )
        for row in results["rows"]:
            m, x = row["median_wall_s"], row["speedup"]
            print(
                f"{row['case']}: plain {m['plain']:.1f} s, ilsvrc {m['ilsvrc']:.1f} s ({x['ilsvrc']:.2f}x), "
                f"ilsvrc --precision fp32 {m['ilsvrc-fp32']:.1f} s ({x['ilsvrc-fp32']:.2f}x)"
            )
    elif args.suite == "data":
        from ilsvrc.bench.data import run_data

        if args.data is None:
            raise UserError("--suite data decodes real JPEGs: give --data IMAGEFOLDER (class folders of images)")
        size = args.input_size or 64
        results = run_data(args.data, size=size, batch=64 if size >= 128 else 256)  # 64 at ImageNet sizes
    elif args.suite == "inference":
        from ilsvrc.bench.inference import run_inference

        results = run_inference(args.models, args.batch_size, args.steps, device=args.device)
    else:
        from ilsvrc.bench.memory import run_memory

        results = run_memory()
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")
    return 0

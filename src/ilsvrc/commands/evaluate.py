"""`ilsvrc evaluate`: top-1/top-5 error of checkpoints (1, 2 or 10 crops), and of their ensemble."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="top-1/top-5 error of checkpoints and of their ensemble")
    p.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CKPT",
        help="checkpoint files or run directories, or model names with --weights",
    )
    p.add_argument("--weights", metavar="SOURCE", help="for model names: 'torchvision' (published ImageNet weights)")
    p.add_argument(
        "--data",
        help="data source (default: the data recorded in the run's config; the bundled Fashion-MNIST when the run "
        "used it)",
    )
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument(
        "--crops",
        type=int,
        default=1,
        choices=[1, 2, 10],
        help="1 centre crop, 2 (centre and its mirror) or 10 crops (corners, centre and their mirrors; "
        "AlexNet/GoogLeNet/ResNet)",
    )
    p.add_argument(
        "--tta",
        default="none",
        choices=["none", "mirror", "translate"],
        help="test-time augmentation with averaged logits (needs --crops 1): 'mirror' (image and its flip) or "
        "'translate' (also both shifted 1 pixel up-left and down-right; the cifar-fast recipe's)",
    )
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.evaluate import evaluate_checkpoints

    if args.batch_size < 1:
        from ilsvrc.errors import UserError

        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    with _progress_bar(enabled=not args.quiet) as progress:
        res = evaluate_checkpoints(
            args.checkpoints,
            args.data,
            args.split,
            args.crops,
            args.batch_size,
            args.device,
            progress=progress,
            weights=args.weights,
            tta=args.tta,
        )
    if args.format == "json":
        print(json.dumps(res, indent=2))
        return 0
    rows = res["members"] + ([res["ensemble"]] if res["ensemble"] else [])
    width = max(len(r["checkpoint"]) for r in rows)
    origin = "" if args.data else " (recorded in the run's config; --data overrides)"
    views = f"{res['crops']} crop(s) per image" + (f", {res['tta']} test-time views" if res["tta"] != "none" else "")
    print(f"{res['split']} set of {res['data']}{origin}: {res['count']} images, {views}")
    print(f"{'checkpoint':<{width}}  {'model':<12} {'top-1 err':>9} {'top-5 err':>9} {'loss':>7}")
    for r in rows:
        print(
            f"{r['checkpoint']:<{width}}  {r['model']:<12} {100 * r['top1_error']:>8.2f}% "
            f"{100 * r['top5_error']:>8.2f}% {r['loss']:>7.4f}"
        )
    return 0


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr (a terminal only: logs get no redraws); yields the callback or None."""
    import sys

    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TextColumn("images"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("evaluate", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update

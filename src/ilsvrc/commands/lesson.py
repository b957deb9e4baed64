"""`ilsvrc lesson MODEL|CKPT --out DIR`: an offline HTML page per model (card, diagram, tables, pictures)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lesson",
        help="offline HTML lesson per model or checkpoint, and an index of the zoo",
        description="A page per SOURCE (a model name or a checkpoint / run directory) in DIR, with its pictures in "
        "DIR/img and no network access needed; DIR/index.html lists the zoo and links every page in DIR. "
        "A checkpoint's page adds its curves, filters, feature maps, Grad-CAM and occlusion on validation images.",
    )
    p.add_argument("sources", nargs="*", metavar="MODEL|CKPT")
    p.add_argument("--all", action="store_true", help="a page for every registered model (slow: minutes)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--data", default=None, help="validation images for a checkpoint (default: the data it trained on)")
    p.add_argument("--images", type=int, default=3, metavar="N", help="validation images with Grad-CAM (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.errors import UserError
    from ilsvrc.models import list_models
    from ilsvrc.viz.lesson import write_index, write_lesson

    sources = list(args.sources) + (list_models() if args.all else [])
    if not sources:
        raise UserError("name a model or checkpoint, or pass --all")
    if args.images < 1:
        raise UserError(f"--images must be >= 1, got {args.images}")
    for source in sources:
        print(write_lesson(source, args.out, data=args.data, images=args.images))
    print(write_index(args.out))
    return 0

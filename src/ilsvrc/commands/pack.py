"""`ilsvrc pack`: decode a data set once into the packed, memory-mapped format."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pack",
        help="decode a data set once into uint8 arrays (memory-mapped at training time)",
        description="Decode SRC (ImageFolder tree, ILSVRC2012 layout, CIFAR batches, IDX files) once: shorter side to "
        "--size, centre crop, stored as uint8 NHWC arrays with labels, class names and meta.json in OUT. "
        "An interrupted pack resumes when rerun; unreadable files are skipped and listed in OUT/skipped.txt.",
    )
    p.add_argument(
        "src", help="the data set: a folder (or a name with --download: cifar10, cifar100, mnist, fashion-mnist)"
    )
    p.add_argument("out", help="output folder (created)")
    p.add_argument(
        "--size", type=int, default=None, help="pixels; default: keep fixed-size sources, 64 for image trees"
    )
    p.add_argument(
        "--split",
        choices=["train", "val", "test", "all"],
        default=None,
        help="default: every split SRC has (a tree with train/ and val/, CIFAR, MNIST: both, into OUT/train and "
        "OUT/val, which 'ilsvrc train --data OUT' reads); one split: that split alone into OUT",
    )
    p.add_argument(
        "--payload",
        choices=["raw", "jpeg"],
        default="raw",
        help="raw: decoded uint8 squares (fastest, S*S*3 bytes an image); jpeg: JPEG bytes with the shorter side "
        "<= --size (default 256) in shards, for ImageNet-scale trees (about 30 KB an image)",
    )
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of --payload jpeg (1-95, default 90)")
    p.add_argument("--workers", type=int, default=None, help="decoding threads (default: one per core, at most 8)")
    p.add_argument("--download", metavar="DIR", default=None, help="download SRC (a data set name) into DIR first")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.data import fetch, pack
    from ilsvrc.errors import UserError
    from ilsvrc.safety import check_output_dir, write_error

    if args.size is not None and args.size < 1:
        raise UserError(f"--size must be positive, got {args.size}")
    check_output_dir(args.out)
    src = fetch(args.src, args.download) if args.download else args.src
    split = args.split
    if split is None:
        from ilsvrc.data.sources import list_splits

        found = list_splits(src)
        split = "all" if len(found) > 1 else found[0]
    try:
        if args.payload == "jpeg":
            from ilsvrc.data.packing import pack_jpeg_tree

            metas = pack_jpeg_tree(src, args.out, size=args.size or 256, quality=args.quality, split=split,
                                   workers=args.workers, progress=not args.quiet)  # fmt: skip
            for meta in metas if isinstance(metas, list) else [metas]:
                mb = sum(s["bytes"] for s in meta["shards"]) / 1e6
                sys.stderr.write(f"packed {meta['count']} {meta['split']} images as JPEG (shorter side <= "
                                 f"{meta['max_side']}, quality {meta['quality']}): {mb:.1f} MB\n")  # fmt: skip
            print(args.out)
            return 0
        metas = pack(src, args.out, size=args.size, split=split, workers=args.workers, progress=not args.quiet)
    except OSError as err:  # a full disk or an I/O error mid-pack: rerunning resumes from the last whole chunk
        raise write_error(err.filename or args.out, err) from None
    if isinstance(metas, list) and args.split is None:  # said after the work: an error stays one line
        sys.stderr.write(f"packed every split SRC has into {args.out}/<split> (--split picks one):\n")
    for meta in metas if isinstance(metas, list) else [metas]:
        skipped = len(meta["skipped"])
        note = f", {skipped} unreadable files skipped (see skipped.txt)" if skipped else ""
        sys.stderr.write(
            f"packed {meta['count']} {meta['split']} images, {meta['size']}x{meta['size']}x{meta['channels']}, "
            f"{len(meta['classes'])} classes{note}\n"
        )
    print(args.out)
    return 0

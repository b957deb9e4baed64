"""`ilsvrc show filters|features|cam`: what a checkpoint (or a randomly initialised model) computes, as pictures."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "show",
        help="pictures of a net: first-layer filters, feature maps, Grad-CAM and occlusion",
        description="SOURCE is a checkpoint, a run directory, or a model name (then the weights are random and "
        "the picture says so). Writes a PNG (or .jpg/.svg) and prints its path.",
    )
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    f = sub.add_parser("filters", help="the first layer's kernels as a grid (AlexNet Fig. 3)")
    f.add_argument("source", metavar="CKPT|MODEL")
    f.add_argument("--out", default=None, metavar="FILE", help="default: filters.png")
    f.set_defaults(func=run)
    for name, help_ in (
        ("features", "activation maps at the end of each stage for one image"),
        ("cam", "Grad-CAM of the top classes and ZFNet's occlusion map for one image"),
    ):
        q = sub.add_parser(name, help=help_)
        q.add_argument("source", metavar="CKPT|MODEL")
        q.add_argument("image", metavar="IMAGE")
        q.add_argument("--out", default=None, metavar="FILE", help=f"default: {name}.png")
        if name == "cam":
            q.add_argument("--label", default=None, help="the true class (name or index) for the occlusion map")
            q.add_argument("--top", type=int, default=3, help="classes to explain (default 3)")
        q.set_defaults(func=run)
    for q in sub.choices.values():
        q.add_argument("--input-size", type=int, default=None, metavar="N", help="for MODEL: square input side")


def _label(value: str | None, classes: list[str]) -> int | None:
    from ilsvrc.errors import UserError

    if value is None:
        return None
    if value in classes:
        return classes.index(value)
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    raise UserError(f"--label {value!r} is neither a class name nor an index below {len(classes)}")


def run(args: argparse.Namespace) -> int:
    from ilsvrc.errors import UserError
    from ilsvrc.viz.inspect import load_subject, read_image

    subject = load_subject(args.source, args.input_size)
    out = args.out or f"{args.what}.png"
    if args.what == "filters":
        from ilsvrc.viz.pictures import show_filters

        print(show_filters(subject, out))
        return 0
    image = read_image(subject, args.image)
    if args.what == "features":
        from ilsvrc.viz.pictures import show_features

        print(show_features(subject, image, out))
        return 0
    from ilsvrc.viz.cam import show_cam

    if args.top < 1:
        raise UserError(f"--top must be >= 1, got {args.top}")
    print(show_cam(subject, image, out, label=_label(args.label, subject.classes), top=args.top))
    return 0

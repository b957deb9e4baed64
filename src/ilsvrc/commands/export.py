"""`ilsvrc export`: a checkpoint as ONNX (checked with onnxruntime), TorchScript or safetensors."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to onnx, torchscript or safetensors")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file or run directory")
    p.add_argument("--to", required=True, choices=["onnx", "torchscript", "safetensors"])
    p.add_argument(
        "--out",
        help="output file (default: next to the checkpoint, named after the model: MODEL.onnx, MODEL.ts.pt, "
        "MODEL.safetensors); written to a temporary file and renamed, so a failed export keeps an earlier file",
    )
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from ilsvrc.export import export

    debug = getattr(args, "debug", False) and "ILSVRC_DEBUG" not in os.environ
    if debug:  # the exporter's own long report, instead of its first line
        os.environ["ILSVRC_DEBUG"] = "1"
    try:
        res = export(args.checkpoint, args.to, args.out, check=not args.no_check)
    finally:
        if debug:
            del os.environ["ILSVRC_DEBUG"]
    extra = f" (onnxruntime matches PyTorch: max |diff| {res['max_abs_diff']:.2e})" if "max_abs_diff" in res else ""
    print(f"wrote {res['path']}{extra}")
    meta = res["metadata"]
    print(
        f"  inside: {meta['num_classes']} class names, input {meta['input_layout']} {meta['in_chans']}x"
        f"{meta['input_size']}x{meta['input_size']} as {meta['input_range']}, mean/std, model {meta['model']}"
        + (f"; 'ilsvrc predict {res['path']} IMAGE' runs it alone" if args.to == "onnx" else "")
    )
    return 0

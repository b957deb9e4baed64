"""Training-pipeline throughput: torchvision's per-image pipeline vs ilsvrc's packed data + batched augmentation.

    python benchmarks/data.py --data ../shared/data/imagenette224/train --size 64 --json benchmarks/results/data_64.json

The same measurement as `ilsvrc bench --suite data`; see `ilsvrc.bench.data` for what each side does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="an ImageFolder tree (class folders of JPEGs)")
    ap.add_argument("--size", type=int, default=64, help="training crop size in pixels (also the packed size)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2, help="torchvision DataLoader workers (its reference default)")
    ap.add_argument("--epochs", type=int, default=2, help="torchvision epochs to time")
    ap.add_argument("--seconds", type=float, default=15.0, help="how long to time the ilsvrc pipeline")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    from ilsvrc.bench.data import run_data

    result = run_data(args.data, args.size, args.batch_size, args.workers, args.epochs, args.seconds)
    result["command"] = "python benchmarks/data.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

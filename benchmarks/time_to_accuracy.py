"""Time and FLOPs to a CIFAR-10 test accuracy with the toolkit's fastest recipe (`cifar-fast` + `speedrun_cifar`).

    python benchmarks/time_to_accuracy.py --cifar ../shared/data/cifar10/cifar-10-batches-py \
        --target 0.90 --epochs 8 --widths 32 64 128 --json benchmarks/results/tta_90.json

Runs `ilsvrc.train.train` once, evaluating (with mirror test-time augmentation) after every epoch, and reports
the first epoch whose test accuracy reaches --target: wall time since the command started (data loading,
training and every evaluation included), training FLOPs (6 x MACs per training image) and the accuracy curve.
Writes the JSON, and a PNG of test accuracy against wall time next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar", required=True, help="CIFAR-10 python batches folder")
    ap.add_argument("--target", type=float, default=0.90, help="test accuracy to reach (fraction)")
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--widths", type=int, nargs=3, default=[64, 256, 256], help="speedrun_cifar's three widths")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=None, help="peak lr (default: the recipe's)")
    ap.add_argument("--warmup-epochs", type=float, default=None, help="default: the recipe's (2)")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/time-to-accuracy")
    ap.add_argument("--json", default=None, help="write the result here (and a PNG beside it)")
    args = ap.parse_args(argv)
    t_start = time.monotonic()

    from ilsvrc.bench.machine import describe
    from ilsvrc.train import TrainConfig, train

    cfg = TrainConfig(
        model="speedrun_cifar",
        data=args.cifar,
        recipe="cifar-fast",
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_epochs=args.warmup_epochs,
        model_options={"widths": list(args.widths)},
        channels_last=True,
        precision="bf16" if args.amp else "fp32",
        workers_threads=args.threads,
        overwrite=True,  # a rerun replaces the previous measurement's run folder
        seed=args.seed,
        out=args.out,
        tensorboard=False,
    )
    setup_s = time.monotonic() - t_start  # imports before train(); the history's wall_s counts from train()
    result = train(cfg)
    macs = result.summary["macs"]
    curve = []
    for h in result.history:
        if h.get("val_top1_error") is None:
            continue
        curve.append(
            {
                "epoch": h["epoch"],
                "test_accuracy": 1 - h["val_top1_error"],
                "wall_s": setup_s + h["wall_s"],
                "train_flops": 6 * macs * h["step"] * result.config.batch_size,
            }
        )
    reached = next((c for c in curve if c["test_accuracy"] >= args.target), None)
    out = {
        "benchmark": "time_to_accuracy",
        "target": args.target,
        "reached": reached is not None,
        "time_to_target_s": reached["wall_s"] if reached else None,
        "flops_to_target": reached["train_flops"] if reached else None,
        "final_test_accuracy": curve[-1]["test_accuracy"] if curve else None,
        "total_wall_s": time.monotonic() - t_start,
        "model": "speedrun_cifar",
        "widths": list(args.widths),
        "macs_per_image": macs,
        "recipe": "cifar-fast",
        "config": result.config.to_dict(),
        "images_per_s": result.summary["images_per_s"],
        "test_images": result.summary["val_images"],
        "eval": "mirror test-time augmentation (2 views)",
        "curve": curve,
        "machine": describe(),
        "command": "python benchmarks/time_to_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    status = (
        f"reached {100 * args.target:.0f}% at epoch {reached['epoch']} after {reached['wall_s']:.0f} s "
        f"({reached['train_flops'] / 1e12:.1f} TFLOP)"
        if reached
        else f"did not reach {100 * args.target:.0f}% (final {100 * out['final_test_accuracy']:.2f}%)"
    )
    print(f"{status}; total {out['total_wall_s']:.0f} s, {out['images_per_s']:.0f} training images/s")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        plot(out, path.with_suffix(".png"))
        print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    minutes = [c["wall_s"] / 60 for c in result["curve"]]
    ax.plot(minutes, [100 * c["test_accuracy"] for c in result["curve"]], "o-", label="speedrun_cifar, cifar-fast")
    for target, limit in ((90, 10), (94, 60)):
        ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.axvline(limit, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("wall time (minutes, 2-core CPU)" if result["machine"]["gpu"] is None else "wall time (minutes)")
    ax.set_ylabel("CIFAR-10 test accuracy (%)")
    ax.set_ylim(max(0, min(100 * c["test_accuracy"] for c in result["curve"]) - 5), 100)
    ax.set_title(f"widths {tuple(result['widths'])}, {result['config']['epochs']} epochs")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())

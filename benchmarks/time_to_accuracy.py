"""Time and FLOPs to CIFAR-10 test accuracies with the toolkit's fastest recipes (`cifar-fast`/`cifar-muon`).

    python benchmarks/time_to_accuracy.py --cifar ../shared/data/cifar10/cifar-10-batches-py \
        --targets 0.90 0.93 0.94 --seeds 3 --json benchmarks/results/tta.json [--ablate lookahead ...]

Trains once per seed with `ilsvrc.train.train`, evaluating (with the recipe's test-time views) after every
`--eval-every` epochs, and reports for each target the first evaluation at or above it: wall time since the
command started (imports and data loading, counted once and added to every seed, then that seed's whole
`train()`: set-up, training and every evaluation), training FLOPs (6 x MACs per training image) and images/s;
then the mean and spread over seeds. `--ablate PIECE` (repeatable) takes one airbench piece out of the recipe,
so that runs with and without it can be compared at a fixed time (`--at-seconds`). Writes the JSON, and a PNG
of test accuracy against wall time (one line per seed) next to it.

`--holdout N` is for choosing a recipe (widths, epochs, a piece) without reading the test images: the last N images
of a fixed permutation of the training set (the same for every seed and run) are held out, the net trains on the
rest and every "test accuracy" in the output is read on the held-out images instead; the JSON and the plot say so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# What each --ablate removes from cifar-fast: the TrainConfig values of the run without that piece.
ABLATIONS: dict[str, dict[str, Any]] = {
    "lookahead": {"lookahead_every": 0},
    "alternate-flip": {"flip": "random"},
    "tta": {"tta": "none"},  # no test-time views at all
    "translate-tta": {"tta": "mirror"},  # mirror views only (the recipe before issue 17)
    "batch1024": {"batch_size": 512},  # lr follows the batch (lr_batch=1024)
    "whiten-bias-freeze": {"whiten_bias_epochs": 0},
    "triangle": {"schedule": "linear", "warmup_epochs": 2.0},  # the old warm-up + linear decay
    "label-smoothing": {"label_smoothing": 0.0},
    "reflect-pad": {"pad_mode": "zero"},  # black borders on the 2-pixel translations
    "muon": {"optimizer": "sgd"},  # cifar-muon's filters stepped by the recipe's SGD instead
}


def _override(text: str) -> tuple[str, Any]:
    """'pad=4' -> ('pad', 4); a VALUE that is not JSON ('reflect') stays a string."""
    from dataclasses import fields

    from ilsvrc.train import TrainConfig

    name, sep, raw = text.partition("=")
    known = {f.name for f in fields(TrainConfig)}
    if not sep or name not in known:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FIELD=VALUE with FIELD a TrainConfig field")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar", required=True, help="CIFAR-10 python batches folder")
    ap.add_argument("--targets", type=float, nargs="+", default=[0.90, 0.93, 0.94], help="test accuracies (fractions)")
    ap.add_argument("--target", type=float, default=None, help="one target (the older spelling of --targets)")
    ap.add_argument("--seeds", type=int, default=1, help="runs, with seeds --seed, --seed + 1, ...")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--recipe",
        default="cifar-fast",
        choices=("cifar-fast", "cifar-muon"),
        help="cifar-fast (airbench94's SGD) or cifar-muon (its Muon variant)",
    )
    ap.add_argument("--epochs", type=float, default=None, help="default: the recipe's (10)")
    ap.add_argument("--widths", type=int, nargs=3, default=[64, 256, 256], help="speedrun_cifar's three widths")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the recipe's (1024)")
    ap.add_argument("--lr", type=float, default=None, help="peak lr per --lr-batch images (default: the recipe's)")
    ap.add_argument("--warmup-epochs", type=float, default=None, help="default: the recipe's (none: triangle)")
    ap.add_argument("--ablate", action="append", default=[], choices=sorted(ABLATIONS), help="remove a piece")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        type=_override,
        help="any other TrainConfig field, e.g. --set pad=4 (applied after --ablate; VALUE read as JSON if it parses)",
    )
    ap.add_argument("--at-seconds", type=float, nargs="*", default=[], help="also report accuracy at these times")
    ap.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs (and at the end)")
    ap.add_argument(
        "--precision",
        default=None,
        choices=["auto", "fp32", "bf16", "fp16"],
        help="default auto (the engine's: bf16 where the hardware has it)",
    )
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (--precision bf16)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--device", default=None, choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--train-subset", type=int, default=None, help="first N images of a seeded permutation (smoke)")
    ap.add_argument("--val-subset", type=int, default=None, help="first N test images (smoke runs only)")
    ap.add_argument(
        "--holdout",
        type=int,
        default=None,
        metavar="N",
        help="hold N training images out and evaluate on them, not on the test set (for choosing a recipe)",
    )
    ap.add_argument("--out", default="runs/time-to-accuracy", help="run folders go to OUT/seedN")
    ap.add_argument("--json", default=None, help="write the result here (and a PNG beside it)")
    return ap


def _config(args: argparse.Namespace, seed: int) -> Any:
    from ilsvrc.train import TrainConfig

    values = dict(
        model="speedrun_cifar",
        data=args.cifar,
        recipe=args.recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_epochs=args.warmup_epochs,
        eval_every=args.eval_every,
        model_options={"widths": list(args.widths)},
        channels_last="on",
        precision=args.precision or ("bf16" if args.amp else "auto"),
        compile=args.compile,
        device=args.device,
        workers_threads=args.threads,
        train_subset=args.train_subset,
        overwrite=True,  # a rerun replaces the previous measurement's run folder
        seed=seed,
        out=str(Path(args.out) / f"seed{seed}"),
        tensorboard=False,
    )
    for piece in args.ablate:
        values.update(ABLATIONS[piece])
    values.update(dict(args.set))
    return TrainConfig(**values)


def _low_res_costs(cfg: Any, steps_per_epoch: int) -> tuple[int, int]:
    """(multiply-adds per image at --low-res, how many steps train at it): (0, 0) without --low-res.

    The steps are counted by the engine's own rule (`low_res_steps`)."""
    if not cfg.low_res:
        return 0, 0
    from ilsvrc.models.costs import model_costs
    from ilsvrc.train.setup import low_res_steps

    low = model_costs(cfg.model, cfg.low_res, num_classes=10, **cfg.model_options)["macs"]
    return low, low_res_steps(cfg, steps_per_epoch)


def train_flops(steps: int, batch: int, macs: int, low_macs: int = 0, low_steps: int = 0) -> int:
    """FLOPs of `steps` training steps of `batch` images: forward + backward ~ 3 x the forward's 2 FLOPs per
    multiply-add; the first `low_steps` steps (--low-res) cost `low_macs` per image instead of `macs`."""
    return 6 * batch * (macs * steps + (low_macs - macs) * min(steps, low_steps))


def _run_seed(args: argparse.Namespace, seed: int, data: tuple, prep_s: float) -> dict[str, Any]:
    """One training run: its accuracy curve (times from the command's start) and the first point per target."""
    from ilsvrc.train import train

    result = train(_config(args, seed), *data)
    macs, batch = result.summary["macs"], result.config.batch_size
    low_macs, low_steps = _low_res_costs(result.config, round(result.summary["steps"] / result.summary["epochs"]))
    curve = [
        {
            "epoch": h["epoch"],
            "step": h["step"],
            "test_accuracy": 1 - h["val_top1_error"],
            "wall_s": prep_s + h["wall_s"],
            "train_flops": train_flops(h["step"], batch, macs, low_macs, low_steps),
            "images_per_s": h["images_per_s"],  # training throughput of the epoch that ended here
        }
        for h in result.history
        if h.get("val_top1_error") is not None
    ]
    reached = {str(t): next((c for c in curve if c["test_accuracy"] >= t), None) for t in args.targets}
    at = {str(s): max((c["test_accuracy"] for c in curve if c["wall_s"] <= s), default=None) for s in args.at_seconds}
    return {
        "seed": seed,
        "curve": curve,
        "reached": reached,
        "accuracy_at_s": at,
        "final_test_accuracy": curve[-1]["test_accuracy"] if curve else None,
        "images_per_s": result.summary["images_per_s"],
        "wall_s": prep_s + result.summary["wall_s"],
        "macs_per_image": macs,
        "config": result.config.to_dict(),
    }


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"n": len(values), "mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values)}


def _summary(args: argparse.Namespace, runs: list[dict]) -> dict[str, Any]:
    """Per target: how many seeds reached it, and the spread of their times, FLOPs and epochs."""
    per_target = {}
    for t in map(str, args.targets):
        hits = [r["reached"][t] for r in runs if r["reached"][t] is not None]
        per_target[t] = {
            "reached": len(hits),
            "of": len(runs),
            "time_s": _spread([h["wall_s"] for h in hits]),
            "train_flops": _spread([h["train_flops"] for h in hits]),
            "epoch": _spread([float(h["epoch"]) for h in hits]),
            "images_per_s": _spread([h["images_per_s"] for h in hits]),
        }
    at = {
        s: _spread([r["accuracy_at_s"][s] for r in runs if r["accuracy_at_s"][s] is not None])
        for s in runs[0]["accuracy_at_s"]
    }
    return {
        "targets": per_target,
        "final_test_accuracy": _spread(
            [r["final_test_accuracy"] for r in runs if r["final_test_accuracy"] is not None]
        ),
        "images_per_s": _spread([r["images_per_s"] for r in runs]),
        "accuracy_at_s": at,
    }


def main(argv: list[str] | None = None) -> int:
    t_start = time.monotonic()  # the clock every reported time starts from
    args = _parser().parse_args(argv)
    if args.target is not None:
        args.targets = [args.target]
    if args.seeds < 1:
        args.seeds = 1

    from ilsvrc.bench.machine import describe
    from ilsvrc.data import load_dataset

    train_set, val_set = load_dataset(args.cifar, "train"), load_dataset(args.cifar, "val")
    if args.holdout is not None:  # --holdout 0 is refused, not read as 'no holdout'
        train_set, val_set = hold_out(train_set, args.holdout)
    if args.val_subset:
        import torch

        val_set = val_set.subset(torch.arange(min(args.val_subset, len(val_set))))
    prep_s = time.monotonic() - t_start  # imports and data loading, once for all seeds
    runs = [_run_seed(args, args.seed + k, (train_set, val_set), prep_s) for k in range(args.seeds)]
    out = {
        "benchmark": "time_to_accuracy",
        "targets": args.targets,
        "seeds": [r["seed"] for r in runs],
        "ablate": args.ablate,
        "removed": {p: ABLATIONS[p] for p in args.ablate},
        "overrides": dict(args.set),
        "summary": _summary(args, runs),
        "model": "speedrun_cifar",
        "widths": list(args.widths),
        "recipe": args.recipe,
        "test_images": len(val_set),
        # what every accuracy here was read on: the test set, or training images held out from training
        "evaluated_on": f"{len(val_set)} held-out training images" if args.holdout is not None else "test set",
        "data": data_label(Path(args.cifar)),
        "tta": runs[0]["config"]["tta"],
        "prep_s": prep_s,
        "total_wall_s": time.monotonic() - t_start,
        "runs": runs,
        "machine": describe(),
        "command": "python benchmarks/time_to_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    _say(out)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        plot(out, path.with_suffix(".png"))
        print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


def hold_out(train_set: Any, n: int) -> tuple[Any, Any]:
    """(the training set without N images, those N images): the last N of a permutation fixed by seed 0, so every
    seed and every compared recipe holds out the same images and none of them is ever trained on."""
    import torch

    if not 0 < n < len(train_set):
        raise SystemExit(f"--holdout {n}: must be between 1 and {len(train_set) - 1} (the training set's size - 1)")
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(0))
    return train_set.subset(order[:-n]), train_set.subset(order[-n:])


def _say(out: dict) -> None:
    s = out["summary"]
    for t, row in s["targets"].items():
        time_s, flops = row["time_s"], row["train_flops"]
        line = f"{100 * float(t):g}%: reached by {row['reached']}/{row['of']} seeds"
        if row["reached"]:
            line += (
                f" after {time_s['mean']:.0f} s (+- {time_s['std']:.0f}, {time_s['min']:.0f}-{time_s['max']:.0f}), "
                f"{flops['mean'] / 1e12:.1f} TFLOP"
            )
        print(line)
    final = s["final_test_accuracy"]
    if final["n"]:
        print(
            f"final accuracy on the {out['evaluated_on']} {100 * final['mean']:.2f}% "
            f"(+- {100 * final['std']:.2f}); "
            f"{s['images_per_s']['mean']:.0f} training images/s; total {out['total_wall_s']:.0f} s"
        )


def plot(result: dict, path: Path) -> None:
    """Test accuracy against wall time, one line per seed, the targets as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    lowest = 100.0
    for run in result["runs"]:
        acc = [100 * c["test_accuracy"] for c in run["curve"]]
        ax.plot([c["wall_s"] / 60 for c in run["curve"]], acc, "o-", ms=3, label=f"seed {run['seed']}")
        lowest = min([lowest, *acc])
    names = "targets " + ", ".join(f"{100 * t:g}" for t in result["targets"]) + "%"
    for k, target in enumerate(result["targets"]):
        ax.axhline(100 * target, color="grey", lw=0.8, ls="--", label=names if k == 0 else None)
    gpu = result["machine"].get("gpu")
    ax.set_xlabel("wall time since the command started (minutes" + (")" if gpu else ", CPU)"))
    held_out = result.get("evaluated_on", "test set") != "test set"
    ax.set_ylabel("accuracy on held-out training images (%)" if held_out else "CIFAR-10 test accuracy (%)")
    ax.set_ylim(max(0.0, lowest - 5), 100)
    removed = f", without {', '.join(result['ablate'])}" if result["ablate"] else ""
    removed += "".join(f", {k}={v}" for k, v in result.get("overrides", {}).items())
    m = result["machine"]
    level = f" ({m['cpu_capability']})" if m.get("cpu_capability") and not m.get("gpu") else ""
    where = f"{m.get('gpu') or m.get('cpu')}{level}, {m.get('threads')} threads, {m.get('date', '')}"
    ax.set_title(
        f"speedrun_cifar {tuple(result['widths'])}, {result.get('recipe', 'cifar-fast')}{removed}\n{where}\n"
        f"{result['test_images']:,} CIFAR-10 {'training images held out' if held_out else 'test images'} "
        f"({result.get('data', 'JPEG-q75 copy')})",
        fontsize=8,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def data_label(cifar: Path) -> str:
    """Which copy of CIFAR-10 a run read: ../shared's JPEG-q75 copy, or one benchmarks/jpeg_quality.py re-encoded."""
    try:
        quality = json.loads((cifar / "reencode.json").read_text())["quality"]
    except (OSError, ValueError, KeyError, TypeError):
        return "JPEG-q75 copy"
    return f"JPEG-q75 copy re-encoded at q{quality}"


if __name__ == "__main__":
    raise SystemExit(main())

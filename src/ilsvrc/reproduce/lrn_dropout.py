"""AlexNet, sections 3.3 and 4.2: local response normalisation and dropout, each at equal budget."""

from __future__ import annotations

from pathlib import Path

from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Setup, mean_std
from ilsvrc.reproduce.report import plot_curves

VARIANTS = {  # label -> cifar_convnet options
    "no LRN": {"lrn": False},
    "LRN": {"lrn": True},
    "FC, no dropout": {"hidden": 256, "dropout": 0.0},
    "FC + dropout 0.5": {"hidden": 256, "dropout": 0.5},
}


def run(ctx) -> dict:
    lr = ctx.setup.extra["lr"]
    runs = {}
    for label, options in VARIANTS.items():
        recs = [
            ctx.fit("cifar_convnet", seed=s, lr=lr, augment="none", model_options=options, label=label)
            for s in range(ctx.setup.seeds)
        ]
        runs[label] = {
            "val_error": [r.summary["val_top1_error"] for r in recs],
            "train_error": [r.curve("train_top1_error")[-1] for r in recs],
            "val_curve": recs[0].curve("val_top1_error"),
            "train_curve": recs[0].curve("train_top1_error"),
        }
    table = [
        {
            "variant": k,
            "val error": mean_std(v["val_error"])["mean"],
            "val error std": mean_std(v["val_error"])["std"],
            "train error": mean_std(v["train_error"])["mean"],
            "gap (val - train)": mean_std(v["val_error"])["mean"] - mean_std(v["train_error"])["mean"],
        }
        for k, v in runs.items()
    ]
    return {"runs": runs, "table": table}


def _gain(runs: dict, without: str, with_: str) -> list[float]:
    return [a - b for a, b in zip(runs[without]["val_error"], runs[with_]["val_error"], strict=True)]


def decide(m: dict) -> tuple[str, str]:
    runs = m["runs"]
    lrn = _gain(runs, "no LRN", "LRN")
    gap = {
        k: mean_std(runs[k]["val_error"])["mean"] - mean_std(runs[k]["train_error"])["mean"]
        for k in ("FC, no dropout", "FC + dropout 0.5")
    }
    lrn_ok, lrn_bad = all(g >= 0.005 for g in lrn), all(g <= 0 for g in lrn)
    drop_ok = gap["FC + dropout 0.5"] < gap["FC, no dropout"]
    text = (
        f"LRN lowers validation error by {100 * mean_std(lrn)['mean']:.2f} points (paper: 2); dropout "
        f"{'narrows' if drop_ok else 'does not narrow'} the train/val gap ({100 * gap['FC, no dropout']:.1f} -> "
        f"{100 * gap['FC + dropout 0.5']:.1f} points)"
    )
    if lrn_ok and drop_ok:
        return REPRODUCED, text
    if lrn_bad and not drop_ok:
        return NOT_REPRODUCED, text
    return INCONCLUSIVE, text


def plot(m: dict, out: Path) -> list[str]:
    runs = m["runs"]
    return [
        plot_curves(
            out / "lrn.png",
            "LRN: validation error (seed 0)",
            {k: runs[k]["val_curve"] for k in ("no LRN", "LRN")},
            "validation error (%)",
        ),
        plot_curves(
            out / "dropout.png",
            "Dropout: train (solid) vs validation (dashed) error",
            {f"{k} train": runs[k]["train_curve"] for k in ("FC, no dropout", "FC + dropout 0.5")}
            | {f"{k} val": runs[k]["val_curve"] for k in ("FC, no dropout", "FC + dropout 0.5")},
            "error (%)",
        ),
    ]


CLAIM = Claim(
    name="lrn",
    paper="Krizhevsky, Sutskever & Hinton 2012 (AlexNet), sections 3.3 (LRN) and 4.2 (dropout)",
    statement="Response normalisation reduces the test error of a four-layer CIFAR-10 net from 13% to 11%; "
    "dropout substantially reduces overfitting (at the cost of roughly doubling the iterations to converge).",
    paper_numbers={
        "CIFAR-10 test error without / with LRN": "13% / 11%",
        "ImageNet top-1/top-5 gain from LRN": "1.4 / 1.2 points",
    },
    rule="At equal budget and lr: LRN holds if validation error with LRN is lower by >= 0.5 points in every seed; "
    "dropout holds if the FC net with dropout 0.5 has a smaller (val - train) error gap than without. Reproduced "
    "if both hold; not reproduced if LRN is never better and dropout does not narrow the gap; inconclusive otherwise.",
    setups={
        "tiny": Setup(train_images=128, val_images=64, epochs=1, batch_size=32, extra={"lr": 0.01}),
        "small": Setup(train_images=5_000, val_images=2_500, epochs=5, batch_size=128, extra={"lr": 0.02}),
        "medium": Setup(train_images=None, val_images=None, epochs=30, seeds=3, extra={"lr": 0.02}),
        "paper": Setup(train_images=None, val_images=None, epochs=100, seeds=5, extra={"lr": 0.01}),
    },
    run=run,
    decide=decide,
    plot=plot,
)

"""ResNet, Fig. 6 and Table 6: deeper plain nets train worse (degradation); residual nets do not."""

from __future__ import annotations

from pathlib import Path

from ilsvrc.reproduce.claim import Claim, Setup, mean_std
from ilsvrc.reproduce.report import plot_curves
from ilsvrc.reproduce.stats import Comparison, combine, difference, quality_floor

FLOOR = 0.35  # the shallow residual net's validation error must be below this, or the nets did not learn
PAPER_WIDTHS = [16, 32, 64]  # channels of the three stages of the paper's CIFAR nets


def stage_widths(extra: dict) -> list[int]:
    """The channels of the three stages a setup trains at: the paper's 16/32/64 unless it names narrower ones
    (the claim is about depth, so a CPU budget buys optimizer steps with width). Each stage doubles the last."""
    widths = list(extra.get("stage_widths", PAPER_WIDTHS))
    if len(widths) != 3 or widths != [widths[0], 2 * widths[0], 4 * widths[0]]:
        raise ValueError(f"stage_widths must be three doubling widths such as [8, 16, 32], got {widths}")
    return widths


def run(ctx) -> dict:
    depths = ctx.setup.extra["depths"]
    warmup = ctx.setup.extra.get("warmup_epochs", 1.0)
    widths = stage_widths(ctx.setup.extra)
    options = {"width": widths[0]}  # the builder's first-stage channels; the later stages double it
    runs = {}
    for kind in ("plain", "resnet"):
        for depth in depths:
            name = f"{kind}{depth}"
            # the paper's CIFAR recipe (lr 0.1, momentum 0.9, wd 1e-4, pad-crop-flip), cosine-shortened to the
            # budget, with a short linear warm-up for every net (half an epoch at small and medium): the paper warms
            # ResNet-110 up at 0.01; at a few hundred steps the 56-layer nets otherwise diverge at lr 0.1
            recs = [
                ctx.fit(
                    name, seed=s, lr=0.1, weight_decay=1e-4, warmup_epochs=warmup, model_options=options, label=name
                )
                for s in range(ctx.setup.seeds)
            ]
            runs[name] = {
                "train_error": [r.curve("train_top1_error")[-1] for r in recs],
                "val_error": [r.summary["val_top1_error"] for r in recs],
                "train_curve": recs[0].curve("train_top1_error"),
                "val_curve": recs[0].curve("val_top1_error"),
            }
    table = [
        {
            "net": k,
            "final train error": mean_std(v["train_error"])["mean"],
            "train error std": mean_std(v["train_error"])["std"],
            "val error": mean_std(v["val_error"])["mean"],
        }
        for k, v in runs.items()
    ]
    shallow, deep = depths[0], depths[-1]
    gap = {
        kind: mean_std(runs[f"{kind}{deep}"]["train_error"])["mean"]
        - mean_std(runs[f"{kind}{shallow}"]["train_error"])["mean"]
        for kind in ("plain", "resnet")
    }
    return {
        "runs": runs,
        "table": table,
        "depths": depths,
        "stage_widths": widths,
        "plain_gap": gap["plain"],
        "resnet_gap": gap["resnet"],
    }


def comparisons(m: dict) -> list[Comparison]:
    s, d = m["depths"][0], m["depths"][-1]
    runs = m["runs"]

    def train_error(net: str) -> list[float]:
        return runs[net]["train_error"]

    plain_gap = [a - b for a, b in zip(train_error(f"plain{d}"), train_error(f"plain{s}"), strict=True)]
    residual_gap = [a - b for a, b in zip(train_error(f"resnet{d}"), train_error(f"resnet{s}"), strict=True)]
    plain = difference(train_error(f"plain{d}"), train_error(f"plain{s}"))
    shortcut = difference(plain_gap, residual_gap)
    return [
        Comparison(f"plain-{d}", f"plain-{s}", plain, +1, 0.01, "final training error"),
        Comparison("plain depth gap", "residual depth gap", shortcut, +1, 0.01, "(deep - shallow training error)"),
    ]


def decide(m: dict) -> tuple[str, str]:
    shallow = f"resnet{m['depths'][0]}"
    return combine(comparisons(m), quality_floor({shallow: m["runs"][shallow]["val_error"]}, FLOOR))


def plot(m: dict, out: Path) -> list[str]:
    runs = m["runs"]
    # the curves are the first seed's; every net at the same stage widths (the paper's 16/32/64 unless narrowed)
    seeds = len(next(iter(runs.values()))["train_error"])
    widths = "/".join(str(w) for w in m.get("stage_widths", PAPER_WIDTHS))
    which = f"seed 0 of {seeds}, stage widths {widths} channels"
    return [
        plot_curves(
            out / "train_error.png",
            f"Training error (Fig. 6): plain (dashed) vs residual\n{which}",
            {k: v["train_curve"] for k, v in runs.items()},
            "training error (%)",
        ),
        plot_curves(
            out / "val_error.png",
            f"Validation error: plain (dashed) vs residual\n{which}",
            {k: v["val_curve"] for k, v in runs.items()},
            "validation error (%)",
        ),
    ]


CLAIM = Claim(
    name="degradation",
    paper="He, Zhang, Ren & Sun 2016 (ResNet), section 4.2, Fig. 6 and Table 6",
    statement="On CIFAR-10 the deeper plain nets have higher training error (the degradation problem: not "
    "overfitting, an optimisation difficulty); with identity shortcuts the deeper nets train better.",
    paper_numbers={
        "ResNet-20 / -56 test error": "8.75% / 6.97%",
        "plain nets (Fig. 6)": "training error grows with depth; plain-110 above 60%",
    },
    rule="All nets: SGD lr 0.1 after a linear warm-up from 0 (warmup_epochs in the scale line; 1 epoch if unset), "
    "momentum 0.9, wd 1e-4, cosine decay, equal epochs. "
    "Over seeds (95% t-intervals, paired by seed): the deep minus the shallow plain net's final training error "
    "must exclude zero on the positive side with a mean of at least +1 point, and the plain nets' depth gap minus "
    "the residual nets' must too (shortcuts remove the degradation). Reproduced if both hold; not reproduced if "
    "either lies on the negative side; inconclusive otherwise, and inconclusive (undertrained) if the shallow "
    "residual net's validation error is above 35%.",
    setups={
        "tiny": Setup(
            train_images=128,
            val_images=64,
            epochs=1,
            batch_size=32,
            extra={"depths": [20, 32], "stage_widths": [4, 8, 16]},
        ),
        # 56-layer nets step at ~420 images/s on the 2-core CPU, so 3 seeds of 4 nets afford ~36k images each
        "small": Setup(
            train_images=12_000,
            val_images=2_000,
            epochs=3,
            seeds=3,
            extra={"depths": [20, 56], "warmup_epochs": 0.5},
        ),
        "medium": Setup(
            train_images=35_000,
            val_images=2_000,
            epochs=3,
            seeds=3,
            extra={"depths": [20, 56], "warmup_epochs": 0.5},
        ),
        # Fig. 6 itself is CIFAR-10: plain and residual nets of 20-110 layers, 164 epochs (64k iterations)
        "paper": Setup(
            train_images=None, val_images=None, epochs=164, seeds=5, extra={"depths": [20, 32, 44, 56, 110]}
        ),
    },
    run=run,
    decide=decide,
    plot=plot,
    compare=comparisons,
)

"""GoogLeNet, section 4 and Fig. 2: 1x1 reductions make Inception modules affordable."""

from __future__ import annotations

from pathlib import Path

from ilsvrc.models.costs import model_costs
from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Setup, mean_std
from ilsvrc.reproduce.report import plot_bars

VARIANTS = {"naive": {"bottleneck": False}, "1x1 bottleneck": {"bottleneck": True}}


def run(ctx) -> dict:
    lr = ctx.setup.extra["lr"]
    runs = {}
    for label, options in VARIANTS.items():
        recs = [
            ctx.fit("inception_net", seed=s, lr=lr, model_options=options, label=label.replace(" ", "-"))
            for s in range(ctx.setup.seeds)
        ]
        ips = mean_std([r.summary["images_per_s"] for r in recs])["mean"]
        runs[label] = {
            **model_costs("inception_net", ctx.image_size, in_chans=ctx.in_chans, **options),
            "val_error": [r.summary["val_top1_error"] for r in recs],
            "images_per_s": ips,
            "ms_per_step": 1000 * ctx.setup.batch_size / ips,
        }
    table = [
        {
            "module": k,
            "params": v["params"],
            "MACs": v["macs"],
            "ms per step": v["ms_per_step"],
            "val error": mean_std(v["val_error"])["mean"],
            "val error std": mean_std(v["val_error"])["std"],
        }
        for k, v in runs.items()
    ]
    naive, bott = runs["naive"], runs["1x1 bottleneck"]
    return {
        "runs": runs,
        "table": table,
        "mac_ratio": naive["macs"] / bott["macs"],
        "time_ratio": naive["ms_per_step"] / bott["ms_per_step"],
        "error_difference": mean_std(bott["val_error"])["mean"] - mean_std(naive["val_error"])["mean"],
    }


def decide(m: dict) -> tuple[str, str]:
    text = (
        f"the bottleneck net needs {m['mac_ratio']:.1f}x fewer MACs and steps {m['time_ratio']:.1f}x faster; "
        f"its validation error is {100 * m['error_difference']:+.2f} points vs the naive net"
    )
    if m["mac_ratio"] >= 2 and m["time_ratio"] >= 1.5 and m["error_difference"] <= 0.02:
        return REPRODUCED, text
    if m["mac_ratio"] < 1.2 or m["error_difference"] > 0.05:
        return NOT_REPRODUCED, text
    return INCONCLUSIVE, text


def plot(m: dict, out: Path) -> list[str]:
    runs = m["runs"]
    labels = list(runs)
    return [
        plot_bars(
            out / "cost.png",
            "Inception module: multiply-adds per image",
            labels,
            [runs[k]["macs"] / 1e6 for k in labels],
            None,
            "MACs (millions)",
        ),
        plot_bars(
            out / "error.png",
            "Inception module: validation error at equal epochs",
            labels,
            [100 * mean_std(runs[k]["val_error"])["mean"] for k in labels],
            [100 * mean_std(runs[k]["val_error"])["std"] for k in labels],
            "validation error (%)",
        ),
    ]


CLAIM = Claim(
    name="bottleneck",
    paper="Szegedy et al. 2015 (GoogLeNet), section 4 and Fig. 2",
    statement="1x1 convolutions used as dimension reductions before the expensive 3x3 and 5x5 convolutions "
    "(and after pooling) remove computational bottlenecks, allowing depth and width to grow without a blow-up in "
    "computation, at no loss of quality.",
    paper_numbers={
        "naive module on 28x28x256 (CS231n)": "854M multiplies",
        "with 1x1 reductions": "271M multiplies (3.1x fewer)",
        "whole net": "1.5G multiply-adds",
    },
    rule="Reproduced if the bottleneck net needs >= 2x fewer MACs, steps >= 1.5x faster, and its validation error "
    "is at most 2 points above the naive net's; not reproduced if it saves < 1.2x MACs or loses > 5 points; "
    "inconclusive otherwise.",
    setups={
        "tiny": Setup(train_images=128, val_images=64, epochs=1, batch_size=32, extra={"lr": 0.02}),
        "small": Setup(train_images=4_000, val_images=2_000, epochs=3, batch_size=128, extra={"lr": 0.02}),
        "medium": Setup(train_images=None, val_images=None, epochs=30, seeds=3, extra={"lr": 0.02}),
        "paper": Setup(train_images=None, val_images=None, epochs=60, seeds=5, extra={"lr": 0.02}),
    },
    run=run,
    decide=decide,
    plot=plot,
)

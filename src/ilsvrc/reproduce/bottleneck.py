"""GoogLeNet, section 4 and Fig. 2: 1x1 reductions make Inception modules affordable."""

from __future__ import annotations

from pathlib import Path

from ilsvrc.models.costs import model_costs
from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Setup, mean_std
from ilsvrc.reproduce.report import plot_bars

VARIANTS = {"naive": {"bottleneck": False}, "1x1 bottleneck": {"bottleneck": True}}


def run(ctx) -> dict:
    lr, epochs = ctx.setup.extra["lr"], ctx.setup.epochs
    costs = {k: model_costs("inception_net", ctx.image_size, in_chans=ctx.in_chans, **o) for k, o in VARIANTS.items()}
    mac_ratio = costs["naive"]["macs"] / costs["1x1 bottleneck"]["macs"]
    # equal epochs, and equal training compute: the bottleneck net gets as many more epochs as it saves MACs
    plan = {
        "naive": ("naive", epochs),
        "1x1 bottleneck": ("1x1 bottleneck", epochs),
        "1x1 bottleneck, equal MACs": ("1x1 bottleneck", max(epochs, round(epochs * mac_ratio))),
    }
    runs = {}
    for label, (variant, n_epochs) in plan.items():
        recs = [
            ctx.fit(
                "inception_net",
                seed=s,
                lr=lr,
                epochs=n_epochs,
                model_options=VARIANTS[variant],
                label=label.replace(" ", "-").replace(",", ""),
            )
            for s in range(ctx.setup.seeds)
        ]
        ips = mean_std([r.summary["images_per_s"] for r in recs])["mean"]
        runs[label] = {
            **costs[variant],
            "epochs": n_epochs,
            "val_error": [r.summary["val_top1_error"] for r in recs],
            "images_per_s": ips,
            "ms_per_step": 1000 * ctx.setup.batch_size / ips,
            "training_macs": costs[variant]["macs"] * 3 * n_epochs * len(ctx.train_set),
        }
    table = [
        {
            "run": k,
            "params": v["params"],
            "MACs per image": v["macs"],
            "epochs": v["epochs"],
            "training MACs": v["training_macs"],
            "ms per step": v["ms_per_step"],
            "val error": mean_std(v["val_error"])["mean"],
            "val error std": mean_std(v["val_error"])["std"],
        }
        for k, v in runs.items()
    ]
    err = {k: mean_std(v["val_error"])["mean"] for k, v in runs.items()}
    return {
        "runs": runs,
        "table": table,
        "mac_ratio": mac_ratio,
        "time_ratio": runs["naive"]["ms_per_step"] / runs["1x1 bottleneck"]["ms_per_step"],
        "error_difference_equal_epochs": err["1x1 bottleneck"] - err["naive"],
        "error_difference": err["1x1 bottleneck, equal MACs"] - err["naive"],
    }


def decide(m: dict) -> tuple[str, str]:
    text = (
        f"the bottleneck net needs {m['mac_ratio']:.1f}x fewer MACs per image and steps {m['time_ratio']:.1f}x "
        f"faster; for the same training multiply-adds its validation error is {100 * m['error_difference']:+.2f} "
        f"points vs the naive net ({100 * m['error_difference_equal_epochs']:+.2f} at equal epochs)"
    )
    if m["mac_ratio"] >= 2 and m["error_difference"] <= 0:
        return REPRODUCED, text
    if m["mac_ratio"] < 1.2 or m["error_difference"] > 0.02:
        return NOT_REPRODUCED, text
    return INCONCLUSIVE, text


def plot(m: dict, out: Path) -> list[str]:
    runs = m["runs"]
    labels = list(runs)
    return [
        plot_bars(
            out / "cost.png",
            "Inception nets: multiply-adds per image",
            labels[:2],
            [runs[k]["macs"] / 1e6 for k in labels[:2]],
            None,
            "MACs (millions)",
        ),
        plot_bars(
            out / "error.png",
            "Validation error: equal epochs, and equal training MACs",
            [k.replace(", ", "\n") for k in labels],
            [100 * mean_std(runs[k]["val_error"])["mean"] for k in labels],
            [100 * mean_std(runs[k]["val_error"])["std"] for k in labels],
            "validation error (%)",
        ),
    ]


CLAIM = Claim(
    name="bottleneck",
    paper="Szegedy et al. 2015 (GoogLeNet), section 4 and Fig. 2",
    statement="1x1 convolutions used as dimension reductions before the expensive 3x3 and 5x5 convolutions "
    "remove computational bottlenecks, so the number of units can grow without an uncontrolled blow-up in "
    "computation: for a fixed compute budget the bottleneck module is the better use of it.",
    paper_numbers={
        "naive module on 28x28x256 (CS231n)": "854M multiplies",
        "with 1x1 reductions": "271M multiplies (3.1x fewer)",
        "whole net": "1.5G multiply-adds",
    },
    rule="Train the naive net for E epochs and the bottleneck net for E x (MAC ratio) epochs, i.e. the same "
    "training multiply-adds. Reproduced if the bottleneck net needs >= 2x fewer MACs per image and its validation "
    "error at equal compute is no higher than the naive net's; not reproduced if it saves < 1.2x MACs or is more "
    "than 2 points worse at equal compute; inconclusive otherwise. (Equal-epoch errors are reported too.)",
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

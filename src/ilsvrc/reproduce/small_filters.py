"""VGG, section 2.3 and Table 3: stacks of 3x3 filters beat single large filters; depth helps."""

from __future__ import annotations

from pathlib import Path

from ilsvrc.models.costs import model_costs
from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Setup, mean_std
from ilsvrc.reproduce.report import plot_bars

FILTER_VARIANTS = {  # label -> filter_stack_net options
    "2x 3x3 (RF 5)": {"receptive_field": 5, "stack": True},
    "1x 5x5 (RF 5)": {"receptive_field": 5, "stack": False},
    "3x 3x3 (RF 7)": {"receptive_field": 7, "stack": True},
    "1x 7x7 (RF 7)": {"receptive_field": 7, "stack": False},
}
DEPTH_VARIANTS = {"VGG A (11 layers)": {"config": "A"}, "VGG D (16 layers)": {"config": "D"}}


def run(ctx) -> dict:
    lr = ctx.setup.extra["lr"]
    runs = {}
    for model, variants in (("filter_stack_net", FILTER_VARIANTS), ("vgg_small", DEPTH_VARIANTS)):
        for label, options in variants.items():
            recs = [ctx.fit(model, seed=s, lr=lr, model_options=options, label=label) for s in range(ctx.setup.seeds)]
            runs[label] = {
                "model": model,
                "options": options,
                **model_costs(model, ctx.image_size, in_chans=ctx.in_chans, **options),
                "val_error": [r.summary["val_top1_error"] for r in recs],
                "images_per_s": mean_std([r.summary["images_per_s"] for r in recs])["mean"],
            }
    table = [
        {
            "variant": k,
            "params": v["params"],
            "MACs": v["macs"],
            "val error": mean_std(v["val_error"])["mean"],
            "val error std": mean_std(v["val_error"])["std"],
            "train images/s": v["images_per_s"],
        }
        for k, v in runs.items()
    ]
    return {"runs": runs, "table": table}


def _err(runs: dict, k: str) -> float:
    return mean_std(runs[k]["val_error"])["mean"]


def decide(m: dict) -> tuple[str, str]:
    runs = m["runs"]
    pairs = [("2x 3x3 (RF 5)", "1x 5x5 (RF 5)"), ("3x 3x3 (RF 7)", "1x 7x7 (RF 7)")]
    cheaper = all(runs[s]["params"] < runs[b]["params"] for s, b in pairs)
    better = [_err(runs, b) - _err(runs, s) for s, b in pairs]  # > 0: the 3x3 stack wins
    deeper = _err(runs, "VGG A (11 layers)") - _err(runs, "VGG D (16 layers)")
    text = (
        f"3x3 stacks have {'fewer' if cheaper else 'more'} weights; their validation error is lower by "
        f"{100 * better[0]:.2f} (RF 5) and {100 * better[1]:.2f} (RF 7) points; D vs A: {100 * deeper:.2f} points"
    )
    if cheaper and all(b >= 0.0 for b in better) and deeper > 0:
        return REPRODUCED, text
    if not cheaper or (all(b < -0.01 for b in better) and deeper < 0):
        return NOT_REPRODUCED, text
    return INCONCLUSIVE, text


def plot(m: dict, out: Path) -> list[str]:
    runs = m["runs"]
    labels = list(runs)
    return [
        plot_bars(
            out / "error.png",
            "Validation error: 3x3 stacks vs large filters, and depth",
            [k.replace(" (", "\n(") for k in labels],
            [100 * _err(runs, k) for k in labels],
            [100 * mean_std(runs[k]["val_error"])["std"] for k in labels],
            "validation error (%)",
        ),
        plot_bars(
            out / "params.png",
            "Weights per variant",
            [k.replace(" (", "\n(") for k in labels],
            [runs[k]["params"] / 1e3 for k in labels],
            None,
            "parameters (thousands)",
        ),
    ]


CLAIM = Claim(
    name="small-filters",
    paper="Simonyan & Zisserman 2015 (VGG), section 2.3 and Table 3",
    statement="A stack of two 3x3 conv layers has a 5x5 receptive field, three have 7x7, with fewer weights "
    "(18C^2 vs 25C^2, 27C^2 vs 49C^2) and more non-linearities, which makes the decision function more "
    "discriminative; error decreases with depth (A 11 layers -> D 16 layers).",
    paper_numbers={
        "weights per channel pair": "18 vs 25 (RF 5), 27 vs 49 (RF 7)",
        "top-1 val error A / D (S=256)": "29.6% / 27.0%",
        "B with 5x5 pairs replaced by single 5x5 (section 4.1)": "top-1 7% higher than B",
    },
    rule="Reproduced if the 3x3 stacks have fewer weights AND their mean validation error is no higher than the "
    "single large filter's for both receptive fields AND VGG D beats VGG A; not reproduced if stacks cost more, or "
    "they lose by > 1 point for both fields while D also loses to A; inconclusive otherwise.",
    setups={
        "tiny": Setup(train_images=128, val_images=64, epochs=1, batch_size=32, extra={"lr": 0.05}),
        "small": Setup(train_images=4_000, val_images=2_000, epochs=4, batch_size=128, extra={"lr": 0.05}),
        "medium": Setup(train_images=None, val_images=None, epochs=30, seeds=3, extra={"lr": 0.05}),
        "paper": Setup(train_images=None, val_images=None, epochs=74, seeds=5, extra={"lr": 0.05}),
    },
    run=run,
    decide=decide,
    plot=plot,
)

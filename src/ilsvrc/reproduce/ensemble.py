"""AlexNet, GoogLeNet and VGG: averaging independently trained nets beats the best single net."""

from __future__ import annotations

from pathlib import Path

import torch

from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Setup
from ilsvrc.reproduce.report import plot_bars


def run(ctx) -> dict:
    extra = ctx.setup.extra
    members = []
    for seed in range(extra["members"]):
        rec = ctx.fit(
            extra["model"],
            seed=seed,
            lr=extra["lr"],
            weight_decay=extra.get("weight_decay", 5e-4),
            label=f"member{seed}",
        )
        members.append(ctx.probabilities(rec.model))
    errors = [ctx.error(p) for p in members]
    curve = [ctx.error(torch.stack(members[:k]).mean(0)) for k in range(1, len(members) + 1)]
    table = [{"models averaged": k, "val error": e, "best single": min(errors[:k])} for k, e in enumerate(curve, 1)]
    return {
        "member_errors": errors,
        "ensemble_errors": curve,
        "best_single": min(errors),
        "ensemble": curve[-1],
        "model": extra["model"],
        "table": table,
    }


def decide(m: dict) -> tuple[str, str]:
    gain = m["best_single"] - m["ensemble"]
    text = (
        f"{len(m['member_errors'])} averaged {m['model']} nets: {100 * m['ensemble']:.2f}% vs the best single "
        f"net's {100 * m['best_single']:.2f}% validation error ({100 * gain:+.2f} points)"
    )
    if gain >= 0.005:
        return REPRODUCED, text
    if gain <= 0:
        return NOT_REPRODUCED, text
    return INCONCLUSIVE, text


def plot(m: dict, out: Path) -> list[str]:
    n = len(m["ensemble_errors"])
    labels = [f"net {i}" for i in range(n)] + [f"ensemble of {k}" for k in range(2, n + 1)]
    values = [100 * e for e in m["member_errors"]] + [100 * e for e in m["ensemble_errors"][1:]]
    return [
        plot_bars(out / "ensemble.png", "Single nets vs averaged softmax", labels, values, None, "validation error (%)")
    ]


CLAIM = Claim(
    name="ensemble",
    paper="Krizhevsky et al. 2012 (Table 2), Szegedy et al. 2015 (Table 3), Simonyan & Zisserman 2015 (Table 6)",
    statement="Averaging the predictions of several independently trained networks lowers the error below that "
    "of the best single network.",
    paper_numbers={
        "AlexNet top-5 val, 1 vs 5 CNNs": "18.2% vs 16.4%",
        "GoogLeNet top-5, 1 vs 7 nets (1 crop)": "10.07% vs 8.09%",
        "VGG top-5 val, D+E ensemble": "7.1% (best single 7.5%)",
    },
    rule="Average the softmax outputs of N nets trained from different seeds. Reproduced if the ensemble's "
    "validation error is >= 0.5 points below the best member's; not reproduced if it is not below it at all; "
    "inconclusive otherwise.",
    setups={
        "tiny": Setup(
            train_images=256,
            val_images=128,
            epochs=1,
            batch_size=64,
            extra={"model": "cifar_convnet", "members": 2, "lr": 0.02},
        ),
        "small": Setup(
            train_images=5_000,
            val_images=2_500,
            epochs=5,
            batch_size=128,
            extra={"model": "cifar_convnet", "members": 3, "lr": 0.02},
        ),
        "medium": Setup(
            train_images=None,
            val_images=None,
            epochs=30,
            extra={"model": "resnet20", "members": 5, "lr": 0.1, "weight_decay": 1e-4},
        ),
        "paper": Setup(
            train_images=None,
            val_images=None,
            epochs=164,
            extra={"model": "resnet56", "members": 7, "lr": 0.1, "weight_decay": 1e-4},
        ),
    },
    run=run,
    decide=decide,
    plot=plot,
)

"""ViT, section 4.2 and Fig. 3/4: without large-scale pre-training, convolutions win on small data."""

from __future__ import annotations

from pathlib import Path

import torch

from ilsvrc.models.costs import model_costs
from ilsvrc.reproduce.claim import Claim, Setup, mean_std
from ilsvrc.reproduce.report import new_axes, save_figure
from ilsvrc.reproduce.stats import Comparison, combine, difference, quality_floor, t_interval

FLOOR = 0.60  # ResNet's validation error on the largest subset must be below this, or nothing learned

# (CNN, ViT) -> lr on CIFAR-10 (SGD momentum 0.9, cosine); on ImageNet each trains with its recipe (lr None)
CIFAR_MODELS = {"resnet20": 0.1, "vit_tiny": 0.05}
IMAGENET_MODELS = {"resnet50": None, "vit_b16": None}  # the paper's ResNet baseline size and ViT-B/16


def run(ctx) -> dict:
    sizes = ctx.setup.extra["sizes"]
    images_seen = ctx.setup.extra["images_seen"]  # equal images per run: the smaller sets get more epochs
    # training error beside validation error: a net behind on both is learning slower, not overfitting
    models = IMAGENET_MODELS if ctx.imagenet else CIFAR_MODELS
    runs: dict[str, dict] = {m: {"sizes": sizes, "val_error": [], "train_error": [], "epochs": []} for m in models}
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(ctx.train_set), generator=g)
    for n in sizes:
        subset = ctx.train_set.subset(order[:n])
        epochs = ctx.setup.subset_epochs(n)
        for model, lr in models.items():
            recs = [
                ctx.fit(model, seed=s, lr=lr, epochs=epochs, train_set=subset, label=f"n{n}", eval_every=epochs)
                for s in range(ctx.setup.seeds)
            ]
            runs[model]["val_error"].append([r.summary["val_top1_error"] for r in recs])
            runs[model]["train_error"].append([r.curve("train_top1_error")[-1] for r in recs])
            runs[model]["epochs"].append(epochs)
            runs[model]["input_size"] = int(recs[0].summary["input_size"])  # the side it trained at
    for model in models:
        runs[model].update(model_costs(model, runs[model]["input_size"], in_chans=ctx.in_chans))
    cnn, vit = models
    table = [
        {
            "training images": n,
            "epochs": runs[cnn]["epochs"][i],
            "images seen": ctx.setup.images_trained(n, runs[cnn]["epochs"][i]),
            f"{cnn} val error": mean_std(runs[cnn]["val_error"][i])["mean"],
            f"{vit} val error": mean_std(runs[vit]["val_error"][i])["mean"],
            f"{cnn} train error": mean_std(runs[cnn]["train_error"][i])["mean"],
            f"{vit} train error": mean_std(runs[vit]["train_error"][i])["mean"],
        }
        for i, n in enumerate(sizes)
    ]
    return {"runs": runs, "table": table, "images_seen": images_seen}


def _nets(m: dict) -> tuple[str, str]:
    """(CNN, ViT) as stored: resnet20 and vit_tiny on CIFAR-10, resnet50 and vit_b16 on ImageNet."""
    cnn, vit = m["runs"]
    return cnn, vit


def comparisons(m: dict) -> list[Comparison]:
    runs = m["runs"]
    cnn, vit = _nets(m)
    sizes, res, vit = runs[cnn]["sizes"], runs[cnn]["val_error"], runs[vit]["val_error"]
    return [
        Comparison(f"ViT ({n:,} images)", "ResNet", difference(v, r), +1, 0.02 if i == 0 else 0.0)
        for i, (n, r, v) in enumerate(zip(sizes, res, vit, strict=True))
    ]


def decide(m: dict) -> tuple[str, str]:
    """Decided on the smallest subset only; the larger ones are reported (the gap should shrink with data)."""
    runs = m["runs"]
    cnn = _nets(m)[0]
    largest = f"{cnn} at {runs[cnn]['sizes'][-1]:,}"
    smallest, *others = comparisons(m)
    verdict, reason = combine([smallest], quality_floor({largest: runs[cnn]["val_error"][-1]}, FLOOR))
    more = "; ".join(f"{c.a} minus {c.b}: {c.diff.points()}" for c in others)
    return verdict, reason + (f" (larger subsets, not decided on: {more})" if more else "")


def plot(m: dict, out: Path) -> list[str]:
    fig, ax = new_axes()
    for model, style in zip(_nets(m), ("-o", "--s"), strict=True):
        r = m["runs"][model]
        spans = [t_interval(v) for v in r["val_error"]]  # each mean over seeds, whiskers its 95% t-interval
        means = [100 * i.mean for i in spans]
        whiskers = [[100 * (i.mean - i.low) for i in spans], [100 * (i.high - i.mean) for i in spans]]
        ax.errorbar(
            r["sizes"],
            means,
            yerr=whiskers if all(i.n > 1 for i in spans) else None,  # one seed: no interval to draw
            fmt=style,
            capsize=3,
            label=f"{model} ({r['macs'] / 1e6:.0f}M MACs, {r['params'] / 1e6:.2f}M params)",
        )
    sizes = m["runs"][_nets(m)[0]]["sizes"]
    ax.axhline(100 * FLOOR, color="grey", linestyle=":", label=f"quality floor (ResNet, {sizes[-1]:,} images)")
    ax.set(
        xscale="log",
        xlabel="training images (log scale)",
        ylabel="validation error (%)",
        title=f"ViT vs ResNet as data grows ({m['images_seen']:,} images seen per run)\n"
        "mean over seeds, whiskers: 95% t-interval",
    )
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [save_figure(fig, out / "data_scaling.png")]


CLAIM = Claim(
    name="vit-data",
    paper="Dosovitskiy et al. 2021 (ViT), sections 3.1 and 4.2, Fig. 3 and 4",
    statement="Transformers lack the inductive biases of CNNs (translation equivariance, locality) and do not "
    "generalise well when trained on insufficient data; with large data (14M-300M images) they win.",
    paper_numbers={
        "ViT-B/16 trained on ImageNet-1k only": "77.9% top-1 (below ResNets of similar cost)",
        "pre-trained on JFT-300M": "ViT-H/14 88.55% top-1",
    },
    rule="Train a ResNet and a ViT (resnet20 and vit_tiny on CIFAR-10, resnet50 and vit_b16 on ImageNet) on growing "
    "subsets of the training set with the same number of images seen "
    "per run, over seeds. On the smallest subset, ViT minus ResNet validation error with a 95% t-interval (paired "
    "by seed): reproduced if it excludes zero on the positive side with a mean of at least +2 points; not "
    "reproduced if it lies on the negative side; inconclusive otherwise, and inconclusive (undertrained) if "
    "ResNet's error on the largest subset is above 60%.",
    setups={
        "tiny": Setup(
            train_images=256, val_images=128, epochs=1, batch_size=64, extra={"sizes": [64, 128], "images_seen": 128}
        ),
        # 10,000 images seen left ResNet at 67% on the larger subset (below the floor). Sized on training error,
        # not on validation: in the medium run ResNet on 5,000 images was at 63% training error after 4 epochs
        # and 56% after 6 (of 8), so 5 full epochs should end near 56%, under the 60% floor. vit_tiny steps at
        # ~200 images/s on the Xeon (bf16), ~95 on the AVX2 EPYC: ~15 minutes there, 34 measured here (2026-12-07)
        "small": Setup(
            train_images=20_000,
            val_images=2_000,
            epochs=1,
            seeds=3,
            extra={"sizes": [1_000, 5_000], "images_seen": 25_000},
        ),
        # vit_tiny steps at ~175 images/s on the Xeon, ~95 on the AVX2 EPYC (7 min a run; the claim 78 min). Every size
        # divides images_seen, so each gets whole epochs (4,000 and 16,000 gave 2.5 epochs, rounded to 2)
        "medium": Setup(
            train_images=None,
            val_images=2_000,
            epochs=1,
            seeds=3,
            extra={"sizes": [1_000, 5_000, 20_000], "images_seen": 40_000},
        ),
        # ImageNet-1k, where the paper's ViT-B/16 trained alone falls behind ResNets (Fig. 3): 10%, 50% and all
        # of it, each run seeing 90 epochs of the whole set (900 / 180 / 90 epochs), ResNet-50 against ViT-B/16
        # with their recipes; 18 runs of 115M images each, a GPU cluster's work (`--device cuda`)
        "paper": Setup(
            train_images=None,
            val_images=None,
            epochs=1,
            batch_size=256,
            seeds=3,
            dataset="imagenet",
            extra={"sizes": [128_000, 640_000, 1_280_000], "images_seen": 115_200_000},
        ),
    },
    run=run,
    decide=decide,
    plot=plot,
    compare=comparisons,
)

"""Side-by-side comparison of registered models: cost (counted), error (published), speed (measured here).

Params, MACs and activation memory come from `summarize` on the meta device (batch 1); the errors
from `ilsvrc.analysis.facts`; images/s from a short timed eval loop on this machine's CPU.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch

from ilsvrc.analysis import counting
from ilsvrc.analysis.facts import published
from ilsvrc.analysis.summary import summarize


def measure_speed(
    model: torch.nn.Module, size: int, *, batch_size: int = 2, seconds: float = 2.0, repeats: int = 3
) -> dict[str, float]:
    """Eval-mode CPU inference images/s: `repeats` timed rounds of `seconds / repeats` each, after a warm-up batch.

    Each round's figure is its fastest batch (other work sharing the cores only ever slows a batch down, so the
    minimum is the steadiest estimate); returns {"median", "min", "max"} over the rounds, images/s, so the spread
    shows how much the machine's load moved the number. At least 2 batches are timed per round.
    """
    model.eval()
    x = torch.randn(batch_size, 3, size, size)
    rounds: list[float] = []
    with torch.inference_mode():
        model(x)
        for _ in range(max(1, repeats)):
            times: list[float] = []
            start = time.perf_counter()
            while len(times) < 2 or time.perf_counter() - start < seconds / max(1, repeats):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
            rounds.append(batch_size / min(times))
    return {"median": statistics.median(rounds), "min": min(rounds), "max": max(rounds)}


def spread(speed: dict[str, float]) -> float:
    """(max - min) / median of the rounds, a fraction: 0.05 is a 5% spread."""
    return (speed["max"] - speed["min"]) / speed["median"] if speed["median"] > 0 else 0.0


def busy_note(load: float | None = None, cores: int | None = None) -> str:
    """A warning when other work shares the cores (1-minute load average at least the core count), else ""."""
    if load is None:
        if not hasattr(os, "getloadavg"):
            return ""
        load = os.getloadavg()[0]
    cores = cores or os.cpu_count() or 1
    if load < cores * 0.75:
        return ""
    return (
        f"the machine is busy: load average {load:.1f} on {cores} cores before timing, so images/s are low and noisy "
        "(see the spread); rerun on a quiet machine, or with --threads 1, for numbers to compare"
    )


def compare_row(
    name: str, input_size: int | None = None, *, speed_seconds: float = 2.0, batch_size: int = 2, repeats: int = 3
) -> dict:
    """One row: the card's facts, the counted costs and published errors; images/s (median of `repeats` rounds,
    with min/max and the spread) unless speed_seconds is 0."""
    from ilsvrc.models import create_model, get_card

    card = get_card(name)
    size = input_size or card.input_size
    with torch.device("meta"):
        meta = create_model(name)
    s = summarize(meta, size, name=name)
    facts = published(name)
    layers = sum(1 for r in s.layers if r.kind in (counting.CONV, counting.FC, counting.ATTENTION))
    row = {
        "model": name,
        "year": card.year,
        "input_size": size,
        "depth": facts.depth if facts else None,
        "weight_layers": layers,
        "params": s.totals["params"],
        "macs": s.totals["macs"],
        "gmacs": round(s.totals["macs"] / 1e9, 3),
        "activations": s.totals["activations"],
        "activation_mb": round(s.totals["forward_bytes"] / 1e6, 1),
        "paper_top1": facts.paper_top1 if facts else None,
        "paper_top5": facts.paper_top5 if facts else None,
        "paper_protocol": facts.paper_protocol if facts else "",
        "tv_top1": facts.tv_top1 if facts else None,
        "tv_top5": facts.tv_top5 if facts else None,
        "tv_note": facts.tv_note if facts else "",
        "tv_variant": bool(facts and facts.tv_variant),
        "images_per_s": None,
        "images_per_s_min": None,
        "images_per_s_max": None,
        "speed_spread": None,
    }
    if speed_seconds > 0:
        torch.manual_seed(0)
        model = create_model(name)
        speed = measure_speed(model, size, batch_size=batch_size, seconds=speed_seconds, repeats=repeats)
        row["images_per_s"] = round(speed["median"], 2)
        row["images_per_s_min"], row["images_per_s_max"] = round(speed["min"], 2), round(speed["max"], 2)
        row["speed_spread"] = f"±{50 * spread(speed):.0f}%"
    return row


def machine() -> str:
    """Where images/s were measured; the load average says whether other work shared the cores."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    cores = os.cpu_count()
    threads = f"{torch.get_num_threads()} thread" + ("s" if torch.get_num_threads() > 1 else "")
    return f"{platform.machine()}, {cores} cores, {threads}{load}, torch {torch.__version__}"


def chart_error(row: dict) -> tuple[float | None, str]:
    """The top-1 error to plot: the paper's own, else torchvision's weights (single 224 crop)."""
    if row["paper_top1"] is not None:
        return row["paper_top1"], "paper"
    if row["tv_top1"] is not None:
        return row["tv_top1"], "torchvision"
    return None, ""


def write_chart(rows: list[dict], path: str) -> None:
    """Top-1 error against GMACs (log scale), bubble area proportional to parameters, every bubble labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    points = [(r, *chart_error(r)) for r in rows]
    points = [(r, err, src) for r, err, src in points if err is not None]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    scale = 12.0  # marker area in pt^2 per million parameters
    colours = {"paper": "#1f77b4", "torchvision": "#ff7f0e"}
    for r, err, src in points:
        ax.scatter(
            r["gmacs"], err, s=r["params"] / 1e6 * scale, alpha=0.45, color=colours[src], edgecolor="black", zorder=3
        )
    for r, err, src in points:
        radius_pt = (r["params"] / 1e6 * scale) ** 0.5 / 2
        label = f"{r['model']}\n{r['params'] / 1e6:.1f} M params"
        if src == "torchvision" and r.get("tv_variant"):
            label += "\n(error of torchvision's variant)"
        ax.annotate(
            label,
            (r["gmacs"], err),
            xytext=(radius_pt + 4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            zorder=4,
        )
    ax.set_xscale("log")
    xs = [r["gmacs"] for r, _, _ in points] or [1]
    ys = [e for _, e, _ in points] or [20]
    ax.set_xlim(min(xs) / 1.6, max(xs) * 3.0)
    ax.set_ylim(min(ys) - 4, max(ys) + 4)
    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if min(xs) / 1.6 <= t <= max(xs) * 3.0]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("multiply-adds per image (GMACs, log scale)")
    ax.set_ylabel("ImageNet top-1 error (%)")
    ax.set_title("ILSVRC classification nets: error vs compute (bubble area ∝ parameters)")
    ax.grid(True, alpha=0.3, zorder=0)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colours["paper"], alpha=0.6, label="paper's single-model error"),
        Line2D([], [], marker="o", linestyle="", color=colours["torchvision"], alpha=0.6, label="torchvision weights"),
    ]
    first = ax.legend(handles=handles, loc="upper right", fontsize=9, title="error from", title_fontsize=9)
    ax.add_artist(first)
    sizes = [
        Line2D([], [], marker="o", linestyle="", color="grey", alpha=0.4, markersize=(m * scale) ** 0.5, label=f"{m} M")
        for m in (10, 50, 100)
    ]
    ax.legend(
        handles=sizes,
        loc="lower left",
        fontsize=9,
        title="bubble area: parameters",
        title_fontsize=9,
        labelspacing=2.4,
        borderpad=1.0,
        handletextpad=1.5,
    )
    fig.text(
        0.01,
        0.01,
        "Paper errors use each paper's protocol (AlexNet 10 patches, VGG dense single scale, ResNet 10 crops);\n"
        "torchvision's: one 224 px centre crop. GMACs counted by ilsvrc at each net's input size, batch 1.",
        fontsize=7.5,
        color="dimgrey",
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path)
    plt.close(fig)

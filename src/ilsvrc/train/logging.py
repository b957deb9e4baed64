"""Run output: progress (rich bar on a TTY, plain lines otherwise), metrics.jsonl, TensorBoard, curves.png,
report.md and summary.json. Only rank 0 creates a RunLog."""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any


class Progress:
    """A rich progress bar over optimizer steps when stderr is a TTY, else a log line every few seconds."""

    def __init__(self, total_steps: int, start_step: int, enabled: bool, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.total = total_steps
        self.bar = None
        self.last_line = 0.0
        if enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import Progress as Bar

            console = Console(file=self.stream)
            self.bar = Bar(*_columns(console.width), console=console, transient=False)
            self.task = self.bar.add_task("train", total=total_steps, completed=start_step, info="")
            self.bar.start()

    def update(self, step: int, info: dict[str, Any]) -> None:
        text = _fmt(info)
        if self.bar is not None:
            self.bar.update(self.task, completed=step, info=text)
            return
        now = time.monotonic()
        if now - self.last_line >= 10 or step == self.total:
            self.last_line = now
            self.write(f"step {step}/{self.total} {text}")

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, highlight=False, markup=False)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _columns(width: int) -> list:
    """Bar columns that fit `width` terminal columns: the step count and the numbers first, then the clocks.

    The numbers take about 45 columns, the step count 11, the clocks 8 each; the bar gets what is left."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    clocks = [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()] if width >= 110 else []
    clocks = clocks or ([TimeRemainingColumn()] if width >= 90 else [])
    rest = 5 + 11 + 47 + 9 * len(clocks) + 2 * (3 + len(clocks))  # label, M/N, numbers, clocks, gaps
    bar = BarColumn(bar_width=max(5, min(40, width - rest)))
    return [TextColumn("[bold]train"), bar, MofNCompleteColumn(), TextColumn("{task.fields[info]}"), *clocks]


def _fmt(info: dict[str, Any]) -> str:
    parts = []
    for key, value in info.items():
        if isinstance(value, float):
            if key == "lr":
                value = f"{value:.3g}"
            elif key == "img/s":  # a rate: a few significant digits, never four decimals
                value = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            else:  # loss and error fractions
                value = f"{value:.4f}" if abs(value) < 100 else f"{value:.0f}"
        parts.append(f"{key} {value}")
    return "  ".join(parts)


class RunLog:
    """metrics.jsonl (one JSON object per line: step records and epoch records) and optional TensorBoard."""

    def __init__(self, out: Path, tensorboard: bool) -> None:
        self.out = out
        self.file = open(out / "metrics.jsonl", "a")  # noqa: SIM115 - kept open for the run
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except Exception:  # tensorboard not installed
                self.tb = None

    def record(self, kind: str, step: int, values: dict[str, Any]) -> None:
        self.file.write(json.dumps({"kind": kind, "step": step, **values}) + "\n")
        self.file.flush()
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    self.tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def plot_curves(history: list[dict[str, Any]], path: Path, title: str) -> bool:
    """Loss and top-1/top-5 error, train and val, per epoch, as one PNG; False (nothing drawn) for one epoch.

    A curve needs two points: a one-epoch run skips the plot and its matplotlib import (about a second of a
    short run). matplotlib's Figure is used without pyplot: no GUI backend is loaded and no global state kept.
    """
    if len(history) < 2:
        return False
    from matplotlib.figure import Figure

    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(11, 4.2), dpi=110)
    ax_loss, ax_err = fig.subplots(1, 2)
    ax_loss.plot(ep, [h["train_loss"] for h in history], "o-", label="train", ms=3)
    val = [(h["epoch"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    if val:
        ax_loss.plot(*zip(*val, strict=True), "s-", label="val", ms=3)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_err.plot(ep, [100 * h["train_top1_error"] for h in history], "o-", label="train top-1", ms=3)
    for key, style, label in [("val_top1_error", "s-", "val top-1"), ("val_top5_error", "^--", "val top-5")]:
        pts = [(h["epoch"], 100 * h[key]) for h in history if h.get(key) is not None]
        if pts:
            ax_err.plot(*zip(*pts, strict=True), style, label=label, ms=3)
    ax_err.set(xlabel="epoch", ylabel="error (%)", title="error")
    drops = [b["epoch"] for a, b in itertools.pairwise(history) if b["lr"] < 0.5 * a["lr"]]  # /10 steps, plateaus
    for ax in (ax_loss, ax_err):
        for i, e in enumerate(drops):
            ax.axvline(e, color="grey", ls=":", lw=1, label="lr drop" if i == 0 else None)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    return True


def write_report(
    out: Path, summary: dict[str, Any], history: list[dict[str, Any]], config: dict[str, Any], recipe_paper: str
) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"# {config['model']} trained with the `{config['recipe']}` recipe",
        "",
        f"Recipe: {recipe_paper}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| validation top-1 error | {_pct(summary['val_top1_error'])} |",
        f"| validation top-5 error | {_pct(summary['val_top5_error'])} |",
        f"| final train loss | {summary['train_loss']:.4f} |",
        f"| epochs / optimizer steps | {summary['epochs']:.2f} / {summary['steps']} |",
        f"| wall time | {summary['wall_s']:.0f} s |",
        f"| training throughput | {summary['images_per_s']:.0f} images/s |",
        f"| data | {summary.get('data') or 'bundled Fashion-MNIST'} ({summary.get('train_images')} train / "
        f"{summary.get('val_images')} val images) |",
        f"| device | {summary.get('device')} x {summary.get('world_size', 1)} |",
        f"| parameters | {summary.get('params', 0):,} |",
        "",
        *(["![curves](curves.png)", ""] if (out / "curves.png").is_file() else []),
        "## Per epoch",
        "",
        "| epoch | lr | train loss | train top-1 | val loss | val top-1 | val top-5 | images/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h in history:
        lines.append(
            f"| {h['epoch']} | {h['lr']:.4g} | {h['train_loss']:.4f} | {_pct(h['train_top1_error'])} | "
            f"{_num(h.get('val_loss'))} | {_pct(h.get('val_top1_error'))} | {_pct(h.get('val_top5_error'))} | "
            f"{h['images_per_s']:.0f} |"
        )
    lines += ["", "## Resolved config", "", "```yaml"]
    import yaml

    lines += [yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    (out / "report.md").write_text("\n".join(lines))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"

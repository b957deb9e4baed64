"""Writes a claim's results.json and report.md next to its PNG plots."""

from __future__ import annotations

import json
import math
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from ilsvrc.bench.machine import cpu_capability, cpu_name
from ilsvrc.reproduce.claim import Claim, Setup


def environment() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": cpu_name(),
        "cpu_capability": cpu_capability(),  # AVX2 vs AVX512: the same model name can be 2x apart in speed
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _machine(env: dict) -> str:
    """'Intel(R) Xeon(R) Processor (2 threads)', with the kernel level where recorded: '(AVX2, 2 threads)'."""
    level = f"{env['cpu_capability']}, " if env.get("cpu_capability") else ""
    return f"{env['processor']} ({level}{env['threads']} threads)"


_MINIATURE = "a miniature of the paper's experiment, not its run"
_SCALE = {"paper": "the paper's own scale", "tiny": "a plumbing check, nothing learns"}


def write_report(
    out: Path,
    claim: Claim,
    budget: str,
    setup: Setup,
    data: str,
    measured: dict,
    verdict: str,
    reason: str,
    plots: list[str],
    wall_s: float,
    command: str,
    env: dict | None = None,
) -> dict:
    """Write out/results.json and out/report.md; returns the results dict. `env`: the run's machine and date
    (default: this process's, for a report written as its run ends)."""
    results = {
        "claim": claim.name,
        "paper": claim.paper,
        "statement": claim.statement,
        "paper_numbers": claim.paper_numbers,
        "rule": claim.rule,
        "budget": budget,
        "setup": {"description": setup.describe(), "data": data, **setup.__dict__},
        "measured": measured,
        "verdict": verdict,
        "reason": reason,
        "plots": plots,
        "wall_s": round(wall_s, 1),
        "command": command,
        "environment": env or environment(),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    lines = [
        f"# {claim.name}: {verdict}",
        "",
        f"**Paper.** {claim.paper}",
        "",
        f"**Claim.** {claim.statement}",
        "",
        "**Paper's numbers.** " + "; ".join(f"{k}: {v}" for k, v in claim.paper_numbers.items()),
        "",
        f"**Verdict rule ({_rule_origin(measured)}).** {claim.rule}",
        "",
        f"**Scale ({budget} budget; {_SCALE.get(budget, _MINIATURE)}).** {setup.describe()}; data: {data}.",
        "",
        f"**Command.** `{command}`",
        "",
        "**Nets and engine path.** " + ("; ".join(measured.get("engine", [])) or "not recorded"),
        "",
        f"**Verdict: {verdict}.** {reason}",
        "",
        "## Measured",
        "",
        *_table(measured.get("table", [])),
        "",
        *[f"![{p}]({p})" for p in plots],
        "",
        f"Run time {wall_s / 60:.1f} min on {_machine(results['environment'])}, "
        f"torch {results['environment']['torch']}, {results['environment']['date']}{_resumed(measured)}.",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return results


def _rule_origin(measured: dict) -> str:
    """When the rule the verdict was read by was fixed: before the run, or later (a re-read report)."""
    again = measured.get("rejudged")
    if not again:
        return "fixed before the run"
    return (
        f"revised after the run; the verdict re-read from the stored measurements on {again['date']}, the rule "
        "the run was first judged by is in results.json"
    )


def _resumed(measured: dict) -> str:
    """How a run that was stopped and continued (--resume) came together, for the run-time line."""
    r = measured.get("resumed")
    if not r:
        return ""
    return (
        f" ({r['nets']} of {r['of']} nets were trained, or begun, by an earlier start and resumed from their"
        f" checkpoints; their {r['earlier_min']} min of training are counted)"
    )


def _table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for r in rows:
        out.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def command_line() -> str:
    args = sys.argv[1:]
    return "ilsvrc " + " ".join(args) if args else "ilsvrc reproduce"


def new_axes(figsize: tuple[float, float] = (6, 4)):
    """A figure and its axes on the file-only Agg backend (reports are written on headless machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, dpi=100)


def save_figure(fig, path: Path) -> str:
    """Lay out, write and close `fig`; returns the file name the report links to."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def plot_curves(
    path: Path,
    title: str,
    series: dict[str, list[float]],
    ylabel: str,
    xlabel: str = "epoch",
    hline: float | None = None,
) -> str:
    """One line per series (label -> values per epoch); returns the file name."""
    fig, ax = new_axes()
    for label, values in series.items():
        style = "--" if any(w in label for w in ("plain", "tanh", "naive", "single", "vit", " val")) else "-"
        ax.plot(range(1, len(values) + 1), [100 * v for v in values], style, label=label, linewidth=1.8)
    if hline is not None:
        ax.axhline(100 * hline, color="grey", linewidth=0.8, linestyle=":")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_bars(
    path: Path, title: str, labels: list[str], values: list[float], errors: list[float] | None, ylabel: str
) -> str:
    fig, ax = new_axes()
    bars = ax.bar(labels, values, yerr=errors, capsize=4, color="#4C72B0")
    for bar, v, e in zip(bars, values, errors or [0.0] * len(values), strict=True):
        # above the error bar's cap, not on it: the label is unreadable where the whisker crosses it
        top = bar.get_height() + (e if math.isfinite(e) else 0.0)  # NaN with one seed: no spread to draw
        ax.annotate(
            f"{v:.1f}" if abs(v) < 100 else f"{v:,.0f}",
            (bar.get_x() + bar.get_width() / 2, top),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_differences(path: Path, title: str, comparisons: list, verdict: str | None = None) -> str:
    """Each compared difference (stats.Comparison) as its mean and 95% interval, on a scale where it shows.

    The verdict is decided on these intervals, so the plot shows them, not the two bars they come from: the
    zero line, the side the paper predicts (shaded) and the rule's minimum effect (dotted). `verdict`, the
    claim's overall one, goes under the title: a difference labelled "reproduced" still decides nothing when
    the quality floor failed.
    """
    fig, ax = new_axes((8, 1.6 + 0.75 * len(comparisons)))
    finite = [v for c in comparisons for v in (c.diff.low, c.diff.high, c.diff.mean) if abs(v) != float("inf")]
    reach = 100 * max([abs(v) for v in finite] + [c.min_effect for c in comparisons] + [0.01]) * 1.3
    for y, c in enumerate(comparisons):
        low, high = (100 * c.diff.low, 100 * c.diff.high) if abs(c.diff.low) != float("inf") else (-reach, reach)
        colour = {"reproduced": "#2a7d2a", "not reproduced": "#b03030"}.get(c.verdict, "#555555")
        ax.plot([low, high], [y, y], color=colour, linewidth=3, solid_capstyle="butt")
        ax.plot(100 * c.diff.mean, y, "o", color=colour)
        if c.min_effect > 0:
            ax.plot([100 * c.predicted_sign * c.min_effect] * 2, [y - 0.3, y + 0.3], ":", color="black")
        at = min(max(100 * c.diff.mean, -0.55 * reach), 0.55 * reach)  # keep the label inside the axes
        ax.annotate(f"{100 * c.diff.mean:+.2f} (on its own: {c.verdict})", (at, y + 0.22), ha="center", fontsize=8)
    side = (0, reach) if comparisons and comparisons[0].predicted_sign > 0 else (-reach, 0)
    ax.axvspan(*side, color="#2a7d2a", alpha=0.06, label="the side the paper predicts")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(comparisons)), [f"{c.a} minus {c.b}\n{c.quantity}" for c in comparisons], fontsize=8)
    ax.set(
        xlabel="difference (points), mean and 95% interval",
        xlim=(-reach, reach),
        ylim=(-0.6, len(comparisons) - 0.4),
    )
    ax.set_title(title if verdict is None else f"{title}\nverdict of the claim: {verdict}", fontsize=9)
    ax.invert_yaxis()  # the first comparison on top
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def write_verdict_table(results_root: Path) -> str:
    """Write results_root/README.md with the verdict table; returns the table."""
    table = verdict_table(results_root)
    (results_root / "README.md").write_text(
        f"# Reproductions\n\nWritten by `ilsvrc reproduce --table {results_root}` from each claim's results.json.\n\n"
        + table
    )
    return table


def verdict_table(results_root: Path) -> str:
    """Markdown table of every results.json under `results_root`: one folder per claim, or per claim and
    budget (CLAIM/BUDGET/results.json, as benchmarks/reproduce_all.sh writes them)."""
    # run times are read beside the machine: the 2-core VMs seen so far differ up to 7x in training speed
    columns = ["claim", "paper", "verdict", "why", "budget", "run time", "machine"]
    rows = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    order = {"tiny": 0, "small": 1, "medium": 2, "paper": 3}
    found = [*results_root.glob("*/results.json"), *results_root.glob("*/*/results.json")]
    results = sorted(
        ((json.loads(p.read_text()), p) for p in found), key=lambda rp: (rp[0]["claim"], order.get(rp[0]["budget"], 9))
    )
    for r, path in results:
        link = f"[{r['claim']}]({path.parent.relative_to(results_root).as_posix()}/report.md)"
        rows.append(
            f"| {link} | {r['paper'].split(')')[0]}) | **{r['verdict']}** | {r['reason']} | {r['budget']} | "
            f"{r['wall_s'] / 60:.1f} min | {_machine(r['environment'])} |"
        )
    return "\n".join(rows) + "\n"

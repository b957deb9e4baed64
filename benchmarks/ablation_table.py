"""The speed-run ablation table: test accuracy at a fixed wall time with each piece removed.

    python benchmarks/ablation_table.py --at-seconds 600 benchmarks/results/ablate_*.json > table.md

Each input is a `time_to_accuracy.py` JSON (the full recipe has `"ablate": []`, the others one removed piece).
For every run, the accuracy at T seconds is the last evaluation at or before T (time from the command's start);
the table gives its mean and spread over seeds, the difference from the full recipe's mean, in points, and the
mean difference over the seeds both ran (paired: the same seed trains from the same weights on the same batches),
so a piece that helps shows a negative difference when it is removed. Each row also shows how its runs ended
(final accuracy, wall time, images/s), since an arm that is slower per epoch may finish after T.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def accuracy_at(run: dict, seconds: float) -> float | None:
    """The run's test accuracy (fraction) at the last evaluation finished by `seconds`, else None."""
    done = [c["test_accuracy"] for c in run["curve"] if c["wall_s"] <= seconds]
    return done[-1] if done else None


def evaluated_on(result: dict) -> str:
    """The images a result's accuracies were read on: "test set", or "N held-out training images" (--holdout);
    results written before --holdout existed were all read on the test set."""
    return result.get("evaluated_on", "test set")


def recipe_of(result: dict) -> str:
    """The recipe a result trained with; results written before --recipe existed were all cifar-fast."""
    return result.get("recipe", "cifar-fast")


def _name(result: dict) -> str:
    return f"full {recipe_of(result)}" if not result["ablate"] else "without " + ", ".join(result["ablate"])


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample sd of `values` (None where there are too few)."""
    mean = statistics.fmean(values) if values else None
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def rows(results: list[dict], seconds: float) -> list[dict]:
    """One row per result: name, seeds, mean/sd accuracy at `seconds` (points), the difference from the full
    recipe, and how the runs ended (final accuracy in points, wall seconds, training images/s; means over seeds),
    so an arm that finished after `seconds` still shows what it reached and how late."""
    out = []
    for r in results:
        runs = r["runs"]
        accs = [100 * a for a in (accuracy_at(run, seconds) for run in runs) if a is not None]
        mean, std = _mean_sd(accs)
        finals = [100 * run["final_test_accuracy"] for run in runs if run.get("final_test_accuracy") is not None]
        walls = [run["wall_s"] for run in runs if "wall_s" in run]
        speeds = [run["images_per_s"] for run in runs if "images_per_s" in run]
        out.append(
            {
                "name": _name(r),
                "full": not r["ablate"],
                "seeds": len(runs),
                "evaluated": len(accs),
                "mean": mean,
                "std": std,
                "final": _mean_sd(finals)[0],
                "wall_s": _mean_sd(walls)[0],
                "images_per_s": _mean_sd(speeds)[0],
            }
        )
    full = next((row["mean"] for row in out if row["full"]), None)
    full_by_seed = next((_by_seed(r, seconds) for r in results if not r["ablate"]), {})
    for row, r in zip(out, results, strict=True):
        row["minus_full"] = None if full is None or row["mean"] is None else row["mean"] - full
        pairs = [acc - full_by_seed[seed] for seed, acc in _by_seed(r, seconds).items() if seed in full_by_seed]
        row["minus_full_paired"], row["paired"] = _mean_sd(pairs)[0], len(pairs)
    return out


def _by_seed(result: dict, seconds: float) -> dict[int, float]:
    """{seed: accuracy at `seconds` in points} for the runs that record their seed and had an evaluation by then.
    The same seed draws the same initial weights and batches, so an arm that changes only evaluation (tta) trains
    the very net the full recipe trained: the difference on the same seeds is then exact."""
    pairs = ((run.get("seed"), accuracy_at(run, seconds)) for run in result["runs"])
    return {seed: 100 * acc for seed, acc in pairs if seed is not None and acc is not None}


def _cell(value: float | None, fmt: str) -> str:
    return "" if value is None else fmt.format(value)


def markdown(results: list[dict], seconds: float) -> str:
    # every result read on the same images (main checks): the test set, or the same held-out training images
    where = "test" if evaluated_on(results[0]) == "test set" else "held-out"
    head = (
        f"| recipe | seeds | {where} accuracy at {seconds:.0f} s | minus the full recipe | the same, on the same "
        "seeds | final accuracy | wall time | images/s |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows(results, seconds):
        if row["mean"] is None:
            acc = "no evaluation by then"
        else:
            acc = f"{row['mean']:.2f}%" + (f" +- {row['std']:.2f}" if row["std"] is not None else "")
        diff = "(reference)" if row["full"] else _cell(row["minus_full"], "{:+.2f} points")
        paired = _cell(row["minus_full_paired"], "{:+.2f} points") + (f" (n={row['paired']})" if row["paired"] else "")
        diff += " | " + ("(reference)" if row["full"] else paired)
        ended = f"{_cell(row['final'], '{:.2f}%')} | {_cell(row['wall_s'], '{:.0f} s')} | "
        lines.append(
            f"| {row['name']} | {row['evaluated']}/{row['seeds']} | {acc} | {diff} | {ended}"
            f"{_cell(row['images_per_s'], '{:.0f}')} |"
        )
    return head + "\n".join(lines) + "\n"


def plot(results: list[dict], seconds: float, path: Path) -> None:
    """Each removed piece's difference from the full recipe at `seconds` (points; on the same seeds where the runs
    record them, else from the full recipe's mean), beside the band of +-2 sd of the full recipe's seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = rows(results, seconds)
    full = next(row for row in table if row["full"])
    arms = [row for row in table if not row["full"] and row["mean"] is not None]
    arms.sort(key=lambda row: _diff(row))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(arms) + 1.6))
    if full["std"] is not None:
        ax.axvspan(
            -2 * full["std"], 2 * full["std"], color="0.88", label=f"+-2 sd of the full recipe's {full['seeds']} seeds"
        )
        ax.legend(loc="lower right", fontsize=8)
    diffs = [_diff(row) for row in arms]
    ax.barh(range(len(arms)), diffs, color=["tab:red" if d < 0 else "tab:blue" for d in diffs])
    ax.set_yticks(range(len(arms)), [row["name"] for row in arms])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"accuracy at {seconds:.0f} s minus the full recipe's (points)")
    seeds = max((row["seeds"] for row in arms), default=0)
    ax.set_title(
        f"{full['name']} ({_cell(full['mean'], '{:.2f}%')} with every piece): each piece removed, {seeds} seed(s) "
        "each\n"
        "below 0: the piece helps; paired with the full recipe on the same seeds",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _diff(row: dict) -> float:
    return row["minus_full_paired"] if row["minus_full_paired"] is not None else row["minus_full"]


def read_results(paths: list[str]) -> list[dict] | None:
    """The time_to_accuracy.py JSONs at `paths`; None (after one error line on stderr) if one cannot be read."""
    try:
        return [json.loads(Path(p).read_text()) for p in paths]
    except (OSError, ValueError) as e:
        print(f"error: cannot read a result file: {e}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="time_to_accuracy.py JSON files")
    ap.add_argument("--at-seconds", type=float, required=True, help="the fixed wall time the table compares at")
    ap.add_argument("--png", default=None, help="also draw each piece's difference from the full recipe here")
    args = ap.parse_args(argv)
    results = read_results(args.results)
    if results is None:
        return 2
    if not any(not r.get("ablate") for r in results):
        print("error: no result without ablations (the full recipe) among the inputs", file=sys.stderr)
        return 2
    for values, differ in (
        (
            {recipe_of(r) for r in results},
            "trained different recipes ({}); an ablation removes one piece from one recipe",
        ),
        (
            {evaluated_on(r) for r in results},
            "were evaluated on different images ({}); compare runs read on the same set",
        ),
    ):
        if len(values) > 1:
            print(f"error: the results {differ.format(' and '.join(sorted(values)))}", file=sys.stderr)
            return 2
    sys.stdout.write(markdown(results, args.at_seconds))
    if args.png:
        plot(results, args.at_seconds, Path(args.png))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The CIFAR-10 speed-record table: each run's seeds, machine, time, FLOPs and accuracy, and whether a goal is met.

    python benchmarks/record_table.py benchmarks/results/record_*.json --goal 0.90:600 --goal 0.935:1800

Each input is a `time_to_accuracy.py` JSON. A goal ACC:SECONDS is met by a result when the *mean over its seeds*
of the test accuracy at SECONDS (the last evaluation finished by then, wall time from the command's start) is
at least ACC, which is how issue 17 states its targets ("90% mean test accuracy in <= 10 minutes"). A seed with
no evaluation by then counts as not met: the result cannot claim the goal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_table import accuracy_at, evaluated_on, read_results  # a sibling script, not a package


def parse_goal(text: str) -> tuple[float, float]:
    """'0.90:600' -> (0.90, 600.0): a test accuracy (fraction) to hold by a wall time (seconds)."""
    acc, sep, seconds = text.partition(":")
    try:
        goal = float(acc), float(seconds)
    except ValueError:
        goal = None
    if not sep or goal is None or not 0 < goal[0] < 1 or goal[1] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ACCURACY:SECONDS, e.g. 0.90:600")
    return goal


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = f" +- {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.2f}{std}"


def goal_result(result: dict, accuracy: float, seconds: float) -> dict:
    """Mean accuracy at `seconds` over the result's seeds (points; None if a seed had no evaluation yet)."""
    at = [accuracy_at(run, seconds) for run in result["runs"]]
    mean = 100 * statistics.fmean(at) if at and None not in at else None
    return {"mean": mean, "seeds": len(at), "met": mean is not None and mean >= 100 * accuracy}


def describe_run(result: dict) -> str:
    """'widths 64-256-256, 10 epochs, pad=4': what distinguishes this run from plain cifar-fast."""
    config = result["runs"][0]["config"]
    parts = ["widths " + "-".join(map(str, result["widths"])), f"{config['epochs']:g} epochs"]
    if result.get("recipe", "cifar-fast") != "cifar-fast":  # the record's recipe unless named
        parts.insert(0, result["recipe"])
    parts += [f"{k}={v}" for k, v in result.get("overrides", {}).items()]
    parts += [f"without {p}" for p in result.get("ablate", [])]
    return ", ".join(parts)


def _machine(result: dict) -> str:
    m = result.get("machine", {})
    level = f" ({m['cpu_capability']})" if m.get("cpu_capability") else ""
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    return f"{m.get('cpu', '?')}{level}{gpu}, {m.get('date', '?')}"


def markdown(results: list[dict], goals: list[tuple[float, float]]) -> str:
    """One row per result; one column per goal with the mean accuracy at its time and met / not met."""
    goal_heads = [f"mean accuracy at {s:.0f} s (goal {100 * a:g}%)" for a, s in goals]
    head = ["run", "machine, date", "seeds", "images/s", "final test accuracy, %", "wall s", "training FLOPs"]
    lines = ["| " + " | ".join(head + goal_heads) + " |", "|" + "---|" * (len(head) + len(goals))]
    for r in results:
        runs = r["runs"]
        flops = statistics.fmean(run["curve"][-1]["train_flops"] for run in runs if run["curve"])
        cells = [
            describe_run(r),
            _machine(r),
            str(len(runs)),
            f"{statistics.fmean(run['images_per_s'] for run in runs):.0f}",
            _mean_std([100 * run["final_test_accuracy"] for run in runs if run["final_test_accuracy"] is not None]),
            f"{statistics.fmean(run['wall_s'] for run in runs):,.0f}",
            f"{flops:.1e}",
        ]
        for acc, seconds in goals:
            g = goal_result(r, acc, seconds)
            mean = "no evaluation by then" if g["mean"] is None else f"{g['mean']:.2f}%"
            cells.append(f"{mean}: {'**met**' if g['met'] else 'not met'}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="time_to_accuracy.py JSON files")
    ap.add_argument("--goal", type=parse_goal, action="append", default=[], metavar="ACC:SECONDS")
    args = ap.parse_args(argv)
    results = read_results(args.results)
    if results is None:
        return 2
    bad = [p for p, r in zip(args.results, results, strict=True) if not isinstance(r, dict) or not r.get("runs")]
    if bad:
        print(f"error: {bad[0]} holds no time_to_accuracy runs", file=sys.stderr)
        return 2
    held = [p for p, r in zip(args.results, results, strict=True) if evaluated_on(r) != "test set"]
    if held:  # a --holdout run chose a recipe; a record is read on the test set only
        print(
            f"error: {held[0]} was evaluated on held-out training images, not the test set; a record needs a run "
            "without --holdout",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(markdown(results, args.goal or [(0.90, 600.0), (0.935, 1800.0)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

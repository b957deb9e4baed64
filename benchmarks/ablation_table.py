"""The cifar-fast ablation table: test accuracy at a fixed wall time with each piece removed.

    python benchmarks/ablation_table.py --at-seconds 600 benchmarks/results/ablate_*.json > table.md

Each input is a `time_to_accuracy.py` JSON (the full recipe has `"ablate": []`, the others one removed piece).
For every run, the accuracy at T seconds is the last evaluation at or before T (time from the command's start);
the table gives its mean and spread over seeds, and the difference from the full recipe's mean, in points,
so a piece that helps shows a negative difference when it is removed.
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


def _name(result: dict) -> str:
    return "full cifar-fast" if not result["ablate"] else "without " + ", ".join(result["ablate"])


def rows(results: list[dict], seconds: float) -> list[dict]:
    """One row per result: name, seeds, mean/std accuracy at `seconds` (points), difference from the full recipe."""
    out = []
    for r in results:
        accs = [a for a in (accuracy_at(run, seconds) for run in r["runs"]) if a is not None]
        mean = 100 * statistics.fmean(accs) if accs else None
        std = 100 * statistics.stdev(accs) if len(accs) > 1 else None
        out.append({"name": _name(r), "seeds": len(r["runs"]), "evaluated": len(accs), "mean": mean, "std": std})
    full = next((row["mean"] for row, r in zip(out, results, strict=True) if not r["ablate"]), None)
    for row in out:
        row["minus_full"] = None if full is None or row["mean"] is None else row["mean"] - full
    return out


def markdown(results: list[dict], seconds: float) -> str:
    # every result read on the same images (main checks): the test set, or the same held-out training images
    where = "test" if evaluated_on(results[0]) == "test set" else "held-out"
    head = f"| recipe | seeds | {where} accuracy at {seconds:.0f} s | minus the full recipe |\n|---|---|---|---|\n"
    lines = []
    for row in rows(results, seconds):
        if row["mean"] is None:
            acc = "no evaluation by then"
        else:
            acc = f"{row['mean']:.2f}%" + (f" +- {row['std']:.2f}" if row["std"] is not None else "")
        diff = "" if row["minus_full"] is None else f"{row['minus_full']:+.2f} points"
        if row["name"] == "full cifar-fast":
            diff = "(reference)"
        lines.append(f"| {row['name']} | {row['evaluated']}/{row['seeds']} | {acc} | {diff} |")
    return head + "\n".join(lines) + "\n"


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
    args = ap.parse_args(argv)
    results = read_results(args.results)
    if results is None:
        return 2
    if not any(not r.get("ablate") for r in results):
        print("error: no result without ablations (the full recipe) among the inputs", file=sys.stderr)
        return 2
    sets = {evaluated_on(r) for r in results}
    if len(sets) > 1:
        print(
            f"error: the results were evaluated on different images ({' and '.join(sorted(sets))}); compare "
            "runs read on the same set",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(markdown(results, args.at_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The main job, measured: `ilsvrc train` with no arguments, run as a user runs it, timed end to end.

Runs the command in a subprocess (in a temporary working directory, so the run lands in its runs/), reads the
summary.json it wrote, and writes benchmarks/results/train_default.json with the wall time (process start to
exit, data loading and report included), validation accuracy and the machine it ran on.

    python benchmarks/train_default.py [--repeat N] [-- extra ilsvrc train arguments]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_once(extra: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ilsvrc", "train", "--no-progress", *extra]
        t0 = time.monotonic()
        try:
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"ilsvrc train took longer than {timeout} s (killed)") from None
        wall = time.monotonic() - t0
        if done.returncode != 0:
            raise SystemExit(f"ilsvrc train failed ({done.returncode}):\n{done.stderr[-2000:]}")
        (summary_path,) = Path(tmp, "runs").glob("*/summary.json")
        summary = json.loads(summary_path.read_text())
    return {
        "wall_s_process": round(wall, 1),
        "wall_s_train": round(summary["wall_s"], 1),
        "val_accuracy": round(1 - summary["val_top1_error"], 4),
        "val_top1_error": round(summary["val_top1_error"], 4),
        "val_top5_error": round(summary["val_top5_error"], 4),
        "images_per_s": round(summary["images_per_s"], 1),
        "epochs": summary["epochs"],
        "steps": summary["steps"],
        "model": summary["model"],
        "recipe": summary["recipe"],
        "stdout_tail": done.stdout.strip().splitlines()[-3:],
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "train_default.json"))
    parser.add_argument("--timeout", type=float, default=1800, help="kill a run after this many seconds")
    parser.add_argument("extra", nargs="*", help="extra arguments for ilsvrc train (after --)")
    args = parser.parse_args()
    import torch

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    runs = [run_once(args.extra, args.timeout) for _ in range(args.repeat)]
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {
        "command": "ilsvrc train " + " ".join(args.extra),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_before": load_before,  # other processes on the machine slow the run down
            "load_average_after": load,
        },
        "limits": {"wall_s": 300, "val_accuracy": 0.85},
        "runs": runs,
        "pass": all(r["wall_s_process"] < 300 and r["val_accuracy"] >= 0.85 for r in runs),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'run':>3} {'wall s':>7} {'val acc':>8} {'top-5 err':>9} {'img/s':>7}")
    for i, r in enumerate(runs):
        print(
            f"{i:>3} {r['wall_s_process']:>7.1f} {100 * r['val_accuracy']:>7.2f}% {100 * r['val_top5_error']:>8.2f}% "
            f"{r['images_per_s']:>7.0f}"
        )
    print(f"{'PASS' if result['pass'] else 'FAIL'} (limits: < 300 s, >= 85% val accuracy); wrote {args.out}")


if __name__ == "__main__":
    main()

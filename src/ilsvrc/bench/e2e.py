"""The e2e suite: whole processes timed as a user feels them, `ilsvrc train` against the plain PyTorch loop.

Each arm is a fresh process on the same data for the same epochs, so start-up, imports, data loading,
training, evaluation and writing the run's files all count. Arms run alternately (pair i runs them in a
rotated order, so a slow minute of a shared machine does not fall on one arm only), after one untimed warm-up
each (disk caches; ilsvrc's decoded-image cache). The result is the median wall time per arm over `pairs`
rounds and the plain loop's median over each ilsvrc arm's: > 1 means ilsvrc is faster.

Cases: resnet20 on the first `cifar_images` CIFAR-10 training and `cifar_test` test images (written to a
temporary CIFAR-batch folder), and resnet18 on an ImageFolder with train/ and val/ (Imagenette) at the model's
224-px input (`ilsvrc train` decodes photo folders at 224 / 0.875 = 256 and trains at 224; the plain loop
resizes to 224).
"""

from __future__ import annotations

import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ilsvrc.bench.machine import describe
from ilsvrc.errors import UserError
from ilsvrc.models import get_card

PLAIN_LOOP = Path(__file__).resolve().parents[3] / "benchmarks" / "plain_loop.py"
ARMS = {"ilsvrc": [], "ilsvrc-fp32": ["--precision", "fp32"]}


def write_cifar_subset(source: str | Path, dest: Path, train: int, test: int) -> Path:
    """The first `train` training and `test` test images of a CIFAR-10 batches folder, as a batches folder."""
    from ilsvrc.data import load_dataset

    dest.mkdir(parents=True, exist_ok=True)
    for split, n, name in (("train", train, "data_batch_1"), ("val", test, "test_batch")):
        ds = load_dataset(str(source), split)
        if n > len(ds):
            raise UserError(f"{source} holds {len(ds)} {split} images; fewer than the {n} asked for")
        images = np.asarray(ds.images[:n]).transpose(0, 3, 1, 2).reshape(n, -1)  # CIFAR's planar rows
        batch = {"batch_label": name, "data": images, "labels": [int(v) for v in ds.labels[:n]]}
        (dest / name).write_bytes(pickle.dumps(batch, protocol=2))
        classes = list(ds.classes)
    (dest / "batches.meta").write_bytes(pickle.dumps({"label_names": classes}, protocol=2))
    return dest


def write_folder_subset(source: str | Path, dest: Path, per_class: int) -> Path:
    """At most `per_class` images of each class of source/train and source/val, copied (for quick checks)."""
    for split in ("train", "val"):
        for cls in sorted(p for p in (Path(source) / split).iterdir() if p.is_dir()):
            (dest / split / cls.name).mkdir(parents=True, exist_ok=True)
            for f in sorted(cls.iterdir())[:per_class]:
                shutil.copyfile(f, dest / split / cls.name / f.name)
    return dest


def _commands(model: str, data: Path, epochs: float, out: Path, size: int) -> dict[str, list[str]]:
    train = [sys.executable, "-m", "ilsvrc", "train", model, "--data", str(data), "--epochs", str(epochs)]
    train += ["--recipe", "quick", "--no-progress", "--overwrite", "--out"]  # quick: the recipe plain_loop.py does
    cmds = {arm: [*train, str(out / arm), *extra] for arm, extra in ARMS.items()}
    cmds["plain"] = [sys.executable, str(PLAIN_LOOP), model, "--data", str(data), "--epochs", str(epochs)]
    cmds["plain"] += ["--size", str(size)]  # the input side `ilsvrc train` picks for this data: the same work
    return cmds


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"benchmark process failed ({' '.join(cmd[1:4])} ...): {tail[0]}")
    return wall


def time_case(
    name: str,
    model: str,
    data: Path,
    epochs: float,
    pairs: int,
    scratch: Path,
    log: Callable[[str], None],
    size: int,
) -> dict[str, Any]:
    """Median wall seconds per arm over `pairs` alternating rounds, and plain / ilsvrc ratios."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmds = _commands(model, data, epochs, scratch / name, size)
    order = list(cmds)
    for arm in order:  # warm-up: page cache, ilsvrc's decoded-image cache, compiled native kernels
        _time(cmds[arm], env)
    walls: dict[str, list[float]] = {arm: [] for arm in order}
    for i in range(pairs):
        rotated = order[i % len(order) :] + order[: i % len(order)]
        for arm in rotated:
            walls[arm].append(_time(cmds[arm], env))
            log(f"{name} round {i + 1}/{pairs}: {arm} {walls[arm][-1]:.1f} s (load {os.getloadavg()[0]:.2f})")
    median = {arm: statistics.median(w) for arm, w in walls.items()}
    return {
        "case": name,
        "model": model,
        "epochs": epochs,
        "wall_s": walls,
        "median_wall_s": median,
        "speedup": {arm: median["plain"] / median[arm] for arm in ARMS},
        # as a reader would type them: the scratch folder as <tmp>, the script relative to the checkout
        "commands": {
            arm: " ".join(c[1:]).replace(str(scratch), "<tmp>").replace(str(PLAIN_LOOP.parents[1]) + "/", "")
            for arm, c in cmds.items()
        },
    }


def run_e2e(
    cifar: str | None,
    folder: str | None,
    pairs: int = 3,
    cifar_images: int = 10_000,
    cifar_test: int = 1_000,
    folder_per_class: int | None = None,
    epochs: float = 1.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The e2e cases for the data given (CIFAR batches folder and/or an ImageFolder with train/ and val/)."""
    if not PLAIN_LOOP.is_file():
        raise UserError(f"the plain loop script {PLAIN_LOOP} is missing; run the e2e suite from a source checkout")
    if cifar is None and folder is None:
        raise UserError("--suite e2e trains on real images: give --cifar DIR and/or --data IMAGEFOLDER")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ilsvrc-e2e-") as tmp:
        scratch = Path(tmp)
        if cifar is not None:
            data = write_cifar_subset(cifar, scratch / "cifar", cifar_images, cifar_test)
            rows.append(time_case("resnet20-cifar", "resnet20", data, epochs, pairs, scratch, log, size=32))
        if folder is not None:
            data = Path(folder)
            if folder_per_class is not None:
                data = write_folder_subset(folder, scratch / "folder", folder_per_class)
            # ilsvrc trains resnet18 on photos at its card's 224 px (decoded at 256); so does the plain loop
            side = get_card("resnet18").input_size
            rows.append(time_case("resnet18-folder", "resnet18", data, epochs, pairs, scratch, log, size=side))
    return {
        "suite": "e2e",
        "machine": describe(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "settings": {
            "pairs": pairs,
            "cifar_images": cifar_images,
            "cifar_test": cifar_test,
            "folder_per_class": folder_per_class,
            "epochs": epochs,
        },
        "rows": rows,
    }

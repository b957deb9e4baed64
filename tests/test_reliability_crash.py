"""Crash safety with real SIGKILLs: a checkpoint write, a training run and `ilsvrc pack` killed at random moments.

The promises: the previous checkpoint stays loadable; a run killed several times and resumed each time ends
with exactly the weights of an unbroken run (bitwise, on CPU); a rerun of an interrupted pack writes the same
arrays as a pack that was never interrupted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ilsvrc.train import checkpoint as ckpt_io

ENV = {**os.environ, "ILSVRC_NO_CACHE": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def spawn(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], env=ENV, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


WRITER = textwrap.dedent(
    """
    import sys, torch
    from ilsvrc.train import checkpoint as ckpt_io
    path = sys.argv[1]
    for i in range(1, 10**6):
        # ~16 MB per checkpoint, every value equal to i: a torn write would show mixed values or fail to load
        ckpt_io.save_atomic({"format": ckpt_io.FORMAT, "format_version": ckpt_io.FORMAT_VERSION, "step": i,
                             "config": {"model": "none"}, "num_classes": 1, "in_chans": 1, "classes": ["x"],
                             "input_size": 32, "mean": [0.5], "std": [0.25],
                             "model": {"w": torch.full((4_000_000,), float(i)), "fc.bias": torch.zeros(1)}}, path)
    """
)


def test_sigkill_during_checkpoint_writes_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "last.pt"
    rng = random.Random(0)
    last_step = 0
    for _ in range(3):
        proc = spawn("-c", WRITER, str(path))
        try:
            wait_for(lambda: path.exists() and path.stat().st_mtime_ns > 0)
            time.sleep(rng.uniform(0.05, 0.6))  # somewhere inside a later write
        finally:
            kill(proc)
        ckpt = ckpt_io.load(path)
        w = ckpt["model"]["w"]
        assert ckpt["step"] >= 1 and bool((w == float(ckpt["step"])).all()), "a torn checkpoint was loaded"
        last_step = ckpt["step"]
    assert last_step >= 1


def image_folder(root: Path, per_class: int, size: int = 10, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", max(2, per_class // 4))):
        for ci, cls in enumerate(("a", "b", "c")):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8) + np.uint8(60 * ci)
                Image.fromarray(img).save(d / f"{i}.png")
    return root


def train_args(data: Path, out: Path) -> list[str]:
    return [
        "-m", "ilsvrc", "train", "resnet20", "--data", str(data), "--out", str(out), "--max-steps", "8",
        "--batch-size", "6", "--checkpoint-every", "1", "--seed", "3", "--threads", "1", "--no-progress",
    ]  # fmt: skip


def test_run_killed_twice_at_random_steps_and_resumed_matches_an_unbroken_run(tmp_path):  # ~20 s: 4 processes
    data = image_folder(tmp_path / "data", per_class=8)
    straight = spawn(*train_args(data, tmp_path / "straight"))
    assert straight.wait(timeout=300) == 0, straight.stderr.read()

    out = tmp_path / "killed"
    last = out / "checkpoints" / "last.pt"
    rng = random.Random(1)
    kills = 0
    for _attempt in range(8):
        resume = ["--resume"] if last.exists() else []
        proc = spawn(*train_args(data, out), *resume)
        if kills < 2:
            before = last.stat().st_mtime_ns if last.exists() else 0
            try:
                # wait for one or two new checkpoints, then kill at a random moment (maybe mid-write)
                for _ in range(rng.randint(1, 2)):
                    seen = before
                    wait_for(
                        lambda s=seen, p=proc: p.poll() is not None or (last.exists() and last.stat().st_mtime_ns != s)
                    )
                    before = last.stat().st_mtime_ns if last.exists() else 0
                time.sleep(rng.uniform(0.0, 0.15))
            finally:
                kill(proc)
            if proc.returncode == -signal.SIGKILL:
                kills += 1
                continue
        rc = proc.wait(timeout=300)
        assert rc == 0, proc.stderr.read()
        break
    assert kills == 2, "the run finished before it could be killed twice"
    a = ckpt_io.load(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = ckpt_io.load(last)
    assert a["step"] == b["step"] == 8
    assert not list(last.parent.glob(".last.pt.tmp*")), "temporary files of killed writes were left behind"
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), f"{key} differs after kill-and-resume"


def test_rerun_of_a_killed_pack_writes_the_same_output(tmp_path):
    src = image_folder(tmp_path / "src", per_class=200, size=16) / "train"
    clean = spawn("-m", "ilsvrc", "pack", str(src), str(tmp_path / "clean"), "--size", "8", "--quiet")
    assert clean.wait(timeout=300) == 0, clean.stderr.read()

    out = tmp_path / "out"
    rng = random.Random(2)
    for _ in range(2):
        proc = spawn("-m", "ilsvrc", "pack", str(src), str(out), "--size", "8", "--quiet")
        wait_for(lambda p=proc: p.poll() is not None or out.exists())  # the pack has started writing
        time.sleep(rng.uniform(0.0, 0.5))
        kill(proc)
    rerun = spawn("-m", "ilsvrc", "pack", str(src), str(out), "--size", "8", "--quiet")
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
    for name in ("images.npy", "labels.npy"):
        assert np.array_equal(np.load(out / name), np.load(tmp_path / "clean" / name)), name
    meta_a, meta_b = (json.loads((d / "meta.json").read_text()) for d in (out, tmp_path / "clean"))
    for key in ("count", "classes", "mean", "std", "skipped"):
        assert meta_a[key] == meta_b[key], key


@pytest.mark.parametrize("n", [3])
def test_kill_helpers_really_kill(n):  # guards the tests above against a no-op kill
    procs = [spawn("-c", "import time; time.sleep(60)") for _ in range(n)]
    for p in procs:
        kill(p)
    assert all(p.returncode == -signal.SIGKILL for p in procs)

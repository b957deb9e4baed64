"""Real write failures and two processes on one folder, not injected OSErrors.

- A real full disk: a 1 MiB tmpfs mounted by the test (needs root; skipped otherwise). torch.save reports a full
  disk as a RuntimeError and a memmap over a sparse file dies with SIGBUS; both must end in one line, exit 1,
  with the previous file intact.
- `ulimit -f` (RLIMIT_FSIZE in a child; Python ignores SIGXFSZ, so writes fail with EFBIG).
- Two processes writing checkpoints to one path, and a second `pack` into a folder another process holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# ILSVRC_TEST_SRC: run the children on another checkout, to show these tests catch its faults
ENV = {**os.environ, "PYTHONPATH": os.environ.get("ILSVRC_TEST_SRC", str(REPO / "src")), "OMP_NUM_THREADS": "1"}

SAVE = textwrap.dedent(
    """
    import sys, torch
    from ilsvrc.errors import RunError
    from ilsvrc.train import checkpoint as ckpt_io

    def ckpt(n, value):
        return {"format": ckpt_io.FORMAT, "format_version": ckpt_io.FORMAT_VERSION, "config": {"model": "x"},
                "num_classes": 1, "in_chans": 1, "classes": ["x"], "input_size": 32, "mean": [0.5], "std": [0.25],
                "model": {"w": torch.full((n,), value), "fc.bias": torch.zeros(1)}}

    path = sys.argv[1]
    ckpt_io.save_atomic(ckpt(1000, 1.0), path)  # fits
    try:
        ckpt_io.save_atomic(ckpt(4_000_000, 2.0), path)  # 16 MB: does not
        print("saved")
    except RunError as err:
        print("RunError:", err)
    print("previous:", float(ckpt_io.load(path)["model"]["w"][0]))
    """
)

PACK = textwrap.dedent(
    """
    import sys
    from ilsvrc.cli import main
    sys.exit(main(["pack", sys.argv[1], sys.argv[2], "--size", "64", "--quiet"]))
    """
)


def tree(root: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(n // 2):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MiB file system (tmpfs), mounted for the test and unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_checkpoint_on_a_full_disk_is_one_line_and_keeps_the_previous_file(tiny_disk):
    proc = subprocess.run([sys.executable, "-c", SAVE, str(tiny_disk / "last.pt")], env=ENV, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("RunError: cannot write") and "disk is full" in lines[0], lines
    assert lines[1] == "previous: 1.0"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["last.pt"]  # no temporary file left filling the disk


def test_pack_on_a_full_disk_is_one_line_not_sigbus(tiny_disk, tmp_path):
    src = tree(tmp_path / "tree")  # 60 images at 64 px = 737 kB of pixels, plus the compacted copy: > 1 MiB
    (tiny_disk / "filler").write_bytes(bytes(400_000))
    proc = subprocess.run([sys.executable, "-c", PACK, str(src), str(tiny_disk / "out")], env=ENV,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # -7 would be SIGBUS
    assert len(lines) == 1 and "disk is full" in lines[0] and "Traceback" not in proc.stderr, lines
    assert not (tiny_disk / "out" / "meta.json").exists()  # never marked complete


def test_checkpoint_past_a_file_size_limit_is_one_line_and_keeps_the_previous_file(tmp_path):
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))

    proc = subprocess.run([sys.executable, "-c", SAVE, str(tmp_path / "last.pt")], env=ENV, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("RunError: cannot write") and "size limit" in lines[0], lines
    assert lines[1] == "previous: 1.0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


WRITER = textwrap.dedent(
    """
    import sys, torch
    from ilsvrc.train import checkpoint as ckpt_io
    path, value = sys.argv[1], float(sys.argv[2])
    for i in range(150):
        ckpt_io.save_atomic({"format": ckpt_io.FORMAT, "format_version": ckpt_io.FORMAT_VERSION, "step": i,
                             "config": {"model": "x"}, "num_classes": 1, "in_chans": 1, "classes": ["x"],
                             "input_size": 32, "mean": [0.5], "std": [0.25],
                             "model": {"w": torch.full((20_000,), value), "fc.bias": torch.zeros(1)}}, path)
    """
)


def test_two_processes_saving_to_one_path_never_break_each_other(tmp_path):
    """Before: each deleted the other's temporary file (one fixed name pattern), so one crashed mid-save."""
    path = tmp_path / "last.pt"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(v)], env=ENV, stderr=subprocess.PIPE, text=True)
        for v in (1.0, 2.0)
    ]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    from ilsvrc.train import checkpoint as ckpt_io

    w = ckpt_io.load(path)["model"]["w"]
    assert float(w[0]) in (1.0, 2.0) and bool((w == w[0]).all())  # one writer's file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_a_second_pack_into_a_folder_another_process_holds_is_refused(tmp_path):
    from ilsvrc.locks import folder_lock

    src, out = tree(tmp_path / "tree", 4), tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ilsvrc.locks import folder_lock\n"
         "with folder_lock(sys.argv[1], 'pack folder'):\n    print('held', flush=True); time.sleep(60)", str(out)],
        env=ENV, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = subprocess.run([sys.executable, "-c", PACK, str(src), str(out)], env=ENV, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert f"pid {holder.pid}" in lines[0] and "in use" in lines[0]
    assert not (out / "images.npy").exists()
    with folder_lock(out, "pack folder"):  # the holder died: the lock went with it
        pass

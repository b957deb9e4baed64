"""The hostile files of the reliability table again, run through the CLI in a child process whose address space is
capped 2 GiB above what its imports use (RLIMIT_AS) and with a timeout: a reader that tries to allocate what a
small file claims, or that blocks on a FIFO, fails here even if it would pass on a machine with memory to spare.

One child runs many commands in-process (importing torch costs seconds; the cases cost milliseconds), and reports
each command's exit status and stderr as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hostile_inputs as H

REPO = Path(__file__).resolve().parents[1]
BUDGET = 2 << 30  # bytes of address space above the child's baseline after imports

CHILD = textwrap.dedent(
    """
    import contextlib, io, json, resource, signal, sys
    import ilsvrc.cli, numpy, PIL.Image, torch, torchvision  # the baseline: everything a command imports
    from ilsvrc.cli import main

    def vm_size():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    limit = vm_size() + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def hang(signum, frame):
        raise TimeoutError("hung")
    signal.signal(signal.SIGALRM, hang)
    try:  # the limit is real: what the hostile files claim cannot be allocated here
        import numpy as np
        np.ones(3 << 30, dtype=np.uint8)
        results = [["probe", "allocated 3 GiB", ""]]
    except MemoryError:
        results = [["probe", "refused", ""]]
    for args in json.loads(sys.argv[2]):
        err = io.StringIO()
        signal.alarm(20)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = main(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # MemoryError, TimeoutError: what this test exists to catch
            rc = f"{type(e).__name__}: {e}"
        finally:
            signal.alarm(0)
        results.append([args, rc, err.getvalue()])
    print(json.dumps(results))
    """
)


def run_limited(commands: list[list[str]], env: dict) -> list[tuple[list[str], object, str]]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(BUDGET), json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> tuple[list[list[str]], dict]:
    """Hostile inputs, each paired with the command that reads it (evaluate a valid checkpoint on bad data,
    or use a bad checkpoint)."""
    t = tmp_path_factory.mktemp("limits")
    src = os.environ.get("ILSVRC_TEST_SRC", str(REPO / "src"))  # another checkout, to show a test catches it
    env = {**os.environ, "PYTHONPATH": src, "ILSVRC_CACHE": str(t / "cache"), "OMP_NUM_THREADS": "1"}
    ckpt = _tiny_checkpoint(t / "good.pt")
    good_data = H.cifar(t / "c0")
    ev = lambda data: ["evaluate", str(ckpt), "--data", str(data), "--split", "train"]  # noqa: E731
    cmds = [
        ev(H.cifar_nested(t / "c1")),
        ev(H.cifar_symlink(t / "c2", "/dev/zero")),
        ev(H.cifar_fifo(t / "c3")),
        ev(H.cifar_huge_reconstruct(t / "c4")),
        ev(H.idx_folder(t / "i1", H.gzip_bomb(H.idx_header(3, 6, 6) + bytes(108)), gz=True)),
        ev(H.idx_folder(t / "i2", H.gzip_bomb(H.idx_header(60000, 28, 28), gigabytes=1), gz=True)),
        ev(H.idx_folder(t / "i3", H.idx_header(2**31 - 1, 2**31 - 1, 2**31 - 1))),
        ev("/dev/null"),
        ["predict", str(ckpt), str(H.png(t / "g16.png", 11000, 11000, depth=16, color=0, rows=True))],
        ["predict", str(ckpt), str(H.png(t / "bomb.png", 100_000, 100_000))],
        ["pack", str(H.cifar_nested(t / "p1")), str(t / "p1-out"), "--quiet"],
        ["pack", str(H.cifar_symlink(t / "p2", "/dev/zero")), str(t / "p2-out"), "--quiet"],
        ["train", "resnet20", "--data", str(t / "i1"), "--max-steps", "1", "--out", str(t / "run1"), "--no-progress"],
        ["train", "resnet20", "--data", str(t / "c3"), "--max-steps", "1", "--out", str(t / "run2"), "--no-progress"],
    ]
    for name, edit, seal in (
        ("stride0", H.stride_zero, False),
        ("laughs", lambda k: k.__setitem__("history", [{"x": H.self_referencing_list(40, 2)}]), True),
        ("deep", lambda k: k.__setitem__("history", H.nested(5000)), True),
        ("wide", lambda k: k.__setitem__("num_classes", 10**8), True),
    ):
        bad = H.edited_checkpoint(ckpt, t / f"{name}.pt", edit, seal)
        cmds.append(["evaluate", str(bad), "--data", str(good_data)])
    from ilsvrc.data import pack

    for name, edit in (
        ("packed", lambda folder: H.packed_meta_edit(folder, lambda m: H.deep_json())),
        ("packed2", lambda folder: H.npy_claiming(folder / "labels.npy", (10**12,))),
    ):
        pack(good_data, t / name, progress=False)
        edit(t / name)
        cmds.append(ev(t / name))
    return cmds, env


def _tiny_checkpoint(path: Path) -> Path:
    """A valid checkpoint of a 3-class resnet20 for 32x32 RGB input (CIFAR-shaped), written the library's way."""
    from ilsvrc.models import create_model
    from ilsvrc.train import checkpoint as ckpt_io

    model = create_model("resnet20", num_classes=3, in_chans=3)
    ckpt_io.save_atomic(
        {
            "format": ckpt_io.FORMAT,
            "format_version": ckpt_io.FORMAT_VERSION,
            "config": {"model": "resnet20"},
            "num_classes": 3,
            "in_chans": 3,
            "classes": list(H.CLASSES),
            "input_size": 32,
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
            "model": model.state_dict(),
            "ema": None,
        },
        path,
    )
    return path


def test_hostile_files_end_in_one_line_under_a_memory_limit_and_a_timeout(fixtures):
    commands, env = fixtures
    sane = ["evaluate", commands[0][1], "--data", str(Path(commands[0][3]).parent / "c0"), "--split", "train"]
    (probe, *results) = run_limited([sane, *commands], env)
    assert probe[1] == "refused", "the child could allocate 3 GiB: the limit is not in force"
    assert results[0][1] == 0, f"the valid checkpoint on valid data failed: {results[0][2][-500:]}"  # no dull pass
    assert len(results) == len(commands) + 1
    for args, rc, stderr in results[1:]:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert rc == 2, f"{args}: exit {rc}, stderr {stderr[-500:]!r}"
        assert len(lines) == 1 and "Traceback" not in stderr, f"{args}: {lines}"

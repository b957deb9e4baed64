"""The README's code runs: every ```python block (in one fresh interpreter, in order) and every `ilsvrc` line of
the ```bash blocks (in order, from a scratch copy of the checkout's layout), minutes-long ones with tiny flags.

A line that cannot run here is listed in SKIP with the reason; a line that would take minutes gets the flags
in TINY. A new README line runs as written unless it is added to one of them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ilsvrc.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ILSVRC_SHARED_DATA", REPO.parent / "shared" / "data"))  # as in conftest.py

README = (REPO / "README.md").read_text()

# command prefix -> why it is not run by this test
SKIP = {
    "pip install": "set-up; ../shared/tools/fresh-check runs it in a fresh environment",
    "python -m pytest": "the test suite itself",
    "torchrun": "several processes; tests/test_train.py runs torchrun",
    "ilsvrc train --config my.yaml": "needs the reader's own YAML file",
    "ilsvrc train --out runs/r20 --resume": "continues a stopped run; tests/test_train.py stops and resumes runs",
    "ilsvrc evaluate runs/a runs/b": "placeholders for two earlier runs; tests/test_evaluate.py scores ensembles",
    "ilsvrc train resnet20 --data ../shared/data/cifar10": "35 minutes (--budget 0.1 is 6,400 steps)",
    "ilsvrc bench": "a benchmark: minutes, and meaningless on a shared machine",
    "ilsvrc lesson alexnet vgg16 googlenet resnet50 vit_b16 runs/cifar10": "rewrites docs/lessons from a 12-minute run",
}
# command prefix (a trailing "$": the whole command) -> (text, replacement) pairs or flags to append, for seconds
TINY: dict[str, list[str] | list[tuple[str, str]]] = {
    "ilsvrc train$": ["--max-steps", "3", "--out", "runs/main-job"],
    "ilsvrc train --out runs/fmnist": ["--max-steps", "3"],
    "ilsvrc train resnet18 --data runs/inet64": ["--max-steps", "1", "--batch-size", "8"],
    "ilsvrc evaluate runs/fmnist --crops 10": [("--crops 10", "--crops 2")],
    "ilsvrc compare": ["--seconds", "0"],
}


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def shell_commands() -> list[str]:
    """Each command of the bash blocks, comments removed, continuation lines joined, duplicates once."""
    commands: list[str] = []
    for block in code_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#") and command not in commands:
                commands.append(command)
    return commands


def _matches(command: str, key: str) -> bool:
    return command == key[:-1] if key.endswith("$") else command.startswith(key)


def _prepared(command: str) -> list[str] | None:
    """argv after `ilsvrc` with TINY applied; None for a SKIP line."""
    if any(command.startswith(prefix) for prefix in SKIP):
        return None
    for key, change in TINY.items():
        if _matches(command, key):
            for item in change:
                if isinstance(item, tuple):
                    command = command.replace(*item)
                else:
                    command += f" {shlex.quote(item)}"
    return shlex.split(command)[1:]


def test_every_shell_line_is_run_skipped_with_a_reason_or_shrunk():
    commands = shell_commands()
    assert any(c.startswith("ilsvrc export") for c in commands) and any(c.startswith("ilsvrc pack") for c in commands)
    unknown = [c for c in commands if not c.startswith("ilsvrc") and _prepared(c) is not None]
    assert not unknown, f"README lines this test does not know how to run: {unknown}"
    for key in [*SKIP, *TINY]:  # stale entries would hide a changed README line
        assert any(_matches(c, key) for c in commands), f"no README line matches {key!r}"


@pytest.mark.usefixtures("one_torch_thread")
def test_readme_shell_lines_run_in_order(tmp_path, monkeypatch, capsys):
    from PIL import Image

    repo = tmp_path / "checkout"
    repo.mkdir()
    if SHARED_DATA.is_dir():  # ../shared/data from the scratch checkout, as from a real one
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "data").symlink_to(SHARED_DATA)
    Image.new("RGB", (40, 30), (200, 120, 40)).save(repo / "photo.jpg")  # the reader's photo
    monkeypatch.chdir(repo)
    monkeypatch.setenv("ILSVRC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    ran, skipped = [], []
    missing_outputs: set[str] = set()
    for command in shell_commands():
        argv = _prepared(command)
        if argv is None:
            continue
        needs_skipped_output = any(out in command.split() for out in missing_outputs)
        if needs_skipped_output or ("../shared/data" in command and not SHARED_DATA.is_dir()):
            skipped.append(command)  # and what it would have written is missing for the lines after it
            missing_outputs.update(t for t in command.split() if t.startswith("runs/"))
            continue
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, f"README line failed: {command}\n{out.err[-2000:]}"
        ran.append(command)
    assert Path("runs/fmnist/resnet20.onnx").is_file() and Path("runs/main-job/config.yaml").is_file()
    assert len(ran) >= 10, ran
    if SHARED_DATA.is_dir():
        assert Path("runs/inet64/train/meta.json").is_file() and Path("runs/inet64/val/meta.json").is_file()


def test_readme_python_blocks_run_in_a_fresh_interpreter(tmp_path):
    code = "\n".join(code_blocks("python"))
    assert "ilsvrc.models.load_torchvision" in code and "print(table)" in code
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LayerRow(" not in proc.stdout and "MACs" in proc.stdout  # print(table) shows the table

"""folder_lock: a second process is refused with one line naming the folder and the holder; death releases it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ilsvrc.errors import UserError
from ilsvrc.locks import folder_lock

HOLD = textwrap.dedent(
    """
    import sys, time
    from ilsvrc.locks import folder_lock
    with folder_lock(sys.argv[1], "run folder"):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_second_process_is_refused_and_a_killed_holder_releases(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as err, folder_lock(tmp_path, "run folder"):
            pass
        message = str(err.value)
        assert str(tmp_path) in message and f"pid {holder.pid}" in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path, "run folder") as folder:  # SIGKILL left no stale lock
        assert folder == tmp_path
        assert (tmp_path / ".ilsvrc.lock").read_text() == str(os.getpid())


def test_lock_is_released_after_the_block_and_creates_the_folder(tmp_path):
    target = tmp_path / "new" / "run"
    with folder_lock(target):
        assert target.is_dir()
    with folder_lock(target):
        pass


def test_a_folder_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot use pack folder"), folder_lock(blocker / "sub", "pack folder"):
        pass

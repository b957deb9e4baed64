"""One process at a time per output folder (a run's `--out`, a pack's OUT).

Two `ilsvrc train` runs, or two `ilsvrc pack` runs, writing into one folder would interleave their files and
delete each other's temporary files. `folder_lock` takes an exclusive, non-blocking `flock` on a `.ilsvrc.lock`
file inside the folder; the kernel drops it when the process dies (even on SIGKILL), so a crashed run never
leaves a stale lock behind. The file records the holder's pid so that the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ilsvrc.errors import UserError

LOCK_NAME = ".ilsvrc.lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "folder") -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (created if missing) for the duration of the block.

    `what` names the folder's role in the one-line refusal ("run folder", "pack folder"). Raises UserError at
    once (never waits) when another live process holds the lock.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"cannot use {what} {folder}: {err.strerror or err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise UserError(
                f"{what} {folder} is in use by another ilsvrc process (pid {holder}); "
                "wait for it to finish or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the flock

"""Checkpoints: written atomically, read with `torch.load(weights_only=True)` only.

Everything in a checkpoint is a tensor or a plain container of str/int/float/bool/None, so loading
never runs pickled code. A checkpoint holds what an exact resume needs (model, optimiser, scaler,
EMA, every RNG, the loader position, step and epoch, the history that drives plateau schedules) plus
what evaluation and export need (config, class names, data statistics, the analysis fingerprint).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ilsvrc.errors import UserError
from ilsvrc.safety import checksum, describe_load_failure, write_error

FORMAT = "ilsvrc-checkpoint"
FORMAT_VERSION = 1


def save_atomic(obj: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same directory, fsync it, then rename over `path`.

    A checkpoint (a dict with the checkpoint format) gets a content checksum. A failed write (a full disk) is a
    one-line RunError and leaves the previous file at `path` untouched.
    """
    path = Path(path)
    if obj.get("format") == FORMAT:
        obj = {**{k: v for k, v in obj.items() if k != "checksum"}, "checksum": checksum(_content(obj))}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    for stale in path.parent.glob(f".{path.name}.tmp*"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by `ilsvrc train`, loaded safely (weights_only=True)."""
    path = Path(path)
    if path.is_dir():  # a run directory: its best checkpoint, else its last
        for name in ("best.pt", "last.pt"):
            if (path / "checkpoints" / name).is_file():
                path = path / "checkpoints" / name
                break
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise UserError(describe_load_failure(path, err)) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not an ilsvrc checkpoint")
    version = ckpt.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{path} was written by a newer ilsvrc (format {version})")
    missing = [k for k in ("config", "model", "num_classes", "in_chans", "classes") if k not in ckpt]
    if missing or not isinstance(ckpt["config"], dict) or "model" not in ckpt["config"]:
        raise UserError(f"{path} is an incomplete ilsvrc checkpoint (missing {', '.join(missing) or 'config.model'})")
    if "checksum" in ckpt and ckpt["checksum"] != checksum(_content(ckpt)):
        raise UserError(f"{path}: checksum mismatch; the file was corrupted or edited after it was written")
    return ckpt


def _content(ckpt: dict[str, Any]) -> dict[str, Any]:
    """What the checksum covers: everything but the checksum itself."""
    return {k: v for k, v in ckpt.items() if k != "checksum"}


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states as tensors and lists."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(_plain, np_state[2:])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x

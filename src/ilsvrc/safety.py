"""Safety checks shared by the loaders and writers: one-line reasons for bad checkpoints, a content checksum,
state_dict mismatches named by key and shape, output folders checked before a run spends time, full disks.

Nothing here imports a model or the training engine; `train.checkpoint`, `evaluate` and the engine call in.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import RunError, UserError


def checksum(obj: Any) -> str:
    """SHA-256 over a checkpoint's content (keys, plain values, tensor dtypes, shapes and bytes), hex.

    It hashes the values, not the file bytes, so the checksum can be stored inside the file it covers.
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, Mapping):
        h.update(b"D%d" % len(obj))
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(b"L%d" % len(obj))
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
    else:  # str, int, bool, None (and anything else by its repr)
        h.update(f"{type(obj).__name__}:{obj!r}".encode())
        h.update(b"\0")


_GLOBAL = re.compile(r"(?:GLOBAL|global|callable) ([\w.]+)")


def describe_load_failure(path: str | Path, err: BaseException) -> str:
    """Why `torch.load(path, weights_only=True)` failed, as one line that names the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as os_err:
        return f"cannot read checkpoint {path}: {os_err.strerror or os_err}"
    if size == 0:
        return f"cannot load checkpoint {path}: the file is empty (0 bytes)"
    text = str(err)
    if "Weights only load failed" in text or "weights_only" in text:
        m = _GLOBAL.search(text)
        what = f" ({m.group(1)})" if m else ""
        return (
            f"refusing to load checkpoint {path}: it holds Python objects{what} that could run code when unpickled; "
            "only tensors and plain values are allowed"
        )
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        return f"cannot load checkpoint {path}: the file is truncated or corrupt ({_first_line(err)})"
    return f"cannot load checkpoint {path}: not a PyTorch checkpoint file ({_first_line(err)})"


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def load_state_dict_checked(module: torch.nn.Module, state: Mapping[str, Any], source: str | Path) -> None:
    """`module.load_state_dict(state)` with a one-line UserError naming the first mismatching keys and shapes."""
    want = module.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in want.items()
        if k in state and isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)
    ]
    parts = []
    if shapes:
        shown = "; ".join(f"{k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in shapes[:3])
        more = f" (+{len(shapes) - 3} more)" if len(shapes) > 3 else ""
        parts.append(f"shape mismatch {shown}{more}")
    if missing:
        parts.append(f"missing keys {missing[:3]}" + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""))
    if unexpected:
        extra = f" (+{len(unexpected) - 3} more)" if len(unexpected) > 3 else ""
        parts.append(f"unexpected keys {unexpected[:3]}{extra}")
    if parts:
        name = getattr(module, "model_name", type(module).__name__)
        raise UserError(f"{source} does not fit {name}: {'; '.join(parts)}")
    module.load_state_dict(state)


def check_output_dir(path: str | Path) -> Path:
    """Prove a file can be written in `path` (creating it if needed, then removing what this check created);
    a UserError with the reason if not: a parent that is a regular file, a read-only file system, no permission."""
    path = Path(path)
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"cannot write to {path}: {parent} is a file, not a folder")
        if parent.exists():
            break
    created = [d for d in [path, *path.parents] if not d.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write to {path}: {err.strerror or err}") from None
    finally:
        for d in created:  # deepest first: leave no empty folders behind a check
            try:
                d.rmdir()
            except OSError:
                break
    return path


def write_error(path: str | Path, err: OSError) -> RunError:
    """A one-line RunError for a failed write (disk full, quota, I/O error) that names the file."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return RunError(
            f"cannot write {path}: the disk is full ({err.strerror or 'no space left'}); earlier files are intact"
        )
    return RunError(f"cannot write {path}: {err.strerror or err}")


def check_fields(cls: type, data: object, what: str = "config") -> None:
    """UserError unless `data` is a mapping of `cls`'s dataclass fields, each of its annotated type.

    Values come from YAML files and checkpoints: an int where a list belongs, a string where a number belongs,
    infinities and NaNs are all named here, not found as a TypeError deep inside a run.
    """
    import dataclasses
    import math
    import types
    import typing

    if not isinstance(data, Mapping):
        raise UserError(f"{what} must be a mapping of field names to values, got {type(data).__name__}")
    bad_keys = sorted(repr(k) for k in data if not isinstance(k, str))
    if bad_keys:
        raise UserError(f"{what} keys must be strings, got {', '.join(bad_keys[:3])}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"unknown {what} keys: {', '.join(map(repr, unknown))}")

    def fits(value: object, tp: object) -> bool:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is typing.Any:
            return True
        if tp is type(None):
            return value is None
        if origin in (typing.Union, types.UnionType):
            return any(fits(value, a) for a in args)
        if tp is bool:
            return isinstance(value, bool)
        if tp is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if tp is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if tp is str:
            return isinstance(value, str)
        if origin is dict:
            return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
        if origin is tuple:
            if not isinstance(value, (list, tuple)):
                return False
            if len(args) == 2 and args[1] is Ellipsis:
                return all(fits(v, args[0]) for v in value)
            return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args, strict=True))
        return True  # a type this check does not know: leave it to the class

    for name, value in data.items():
        tp = hints.get(name, typing.Any)
        if not fits(value, tp):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            kind = str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")
            raise UserError(f"{what}: {name} must be {kind}, got {shown}")

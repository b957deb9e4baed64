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

    It hashes the values, not the file bytes, so the checksum can be stored inside the file it covers. The walk is
    iterative (5,000-deep nesting is no recursion error) and hashes a container met again (pickle keeps shared
    references) as a back-reference, so a "billion laughs" list costs its file size, not 10^10 visits.
    Call `check_tensors` first: it bounds every tensor's element count by its storage.
    """
    h = hashlib.sha256()
    seen: dict[int, int] = {}  # id(container) -> order of its first visit
    keep: list[Any] = []  # holds visited containers so their ids stay unique during the walk
    stack: list[Any] = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (Mapping, list, tuple)):
            if id(item) in seen:
                h.update(b"R%d" % seen[id(item)])
                continue
            seen[id(item)] = len(seen)
            keep.append(item)
        stack.extend(reversed(_feed(h, item)))
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> list[Any]:
    """Hash obj's own header and return the children to hash next, in order (the checksum's byte layout)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return []
    if isinstance(obj, Mapping):
        h.update(b"D%d" % len(obj))
        children: list[Any] = []
        for k in sorted(obj, key=repr):
            children += [k, obj[k]]
        return children
    if isinstance(obj, (list, tuple)):
        h.update(b"L%d" % len(obj))
        return list(obj)
    if isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
        return []
    # str, int, bool, None (and anything else by its repr)
    try:
        text = repr(obj)
    except ValueError:  # an int past Python's 4,300-digit str limit: hash its hex digits instead
        text = f"0x{obj:x}"
    h.update(f"{type(obj).__name__}:{text}".encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    return []


MAX_NODES = 20_000_000  # containers and values one checkpoint may hold; a real one has a few thousand


def iter_values(obj: Any, where: str | Path) -> Any:
    """Every value inside obj (containers included), each container once, iteratively; UserError past MAX_NODES."""
    seen: set[int] = set()
    keep: list[Any] = []
    stack = [obj]
    count = 0
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise UserError(f"{where}: holds more than {MAX_NODES:,} values; not a checkpoint ilsvrc wrote")
        yield item
        if isinstance(item, (Mapping, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            keep.append(item)
            stack.extend(list(item.keys()) + list(item.values()) if isinstance(item, Mapping) else item)


def check_tensors(obj: Any, where: str | Path) -> None:
    """UserError if a tensor anywhere in obj claims more elements than its storage holds (a stride-0 or
    overlapping view: 4 bytes on disk that `.contiguous()` would blow up to 2^30 elements), before anything
    touches the tensor's data."""
    for item in iter_values(obj, where):
        if not isinstance(item, torch.Tensor):
            continue
        if item.layout != torch.strided or item.is_quantized:
            raise UserError(f"{where}: holds a {item.layout} tensor; ilsvrc checkpoints hold dense tensors only")
        if item.numel() == 0:
            continue
        span = item.storage_offset() + sum((n - 1) * s for n, s in zip(item.shape, item.stride(), strict=True)) + 1
        stored = item.untyped_storage().nbytes() // item.element_size()
        if item.numel() > stored or span > stored or min(item.stride(), default=1) < 1:
            raise UserError(
                f"{where}: a tensor of shape {list(item.shape)} claims {item.numel():,} elements but its storage "
                f"holds {stored:,}; the file was crafted or corrupted"
            )


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
        if m:
            return (
                f"refusing to load checkpoint {path}: it holds Python objects ({m.group(1)}) that could run code when "
                "unpickled; only tensors and plain values are allowed"
            )
        reason = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, re.S)
        why = " ".join(reason.group(1).split())[:120] if reason else "content it does not know"
        return (
            f"refusing to load checkpoint {path}: the safe loader (weights_only) does not accept it ({why}); "
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
    if err.errno == errno.EFBIG:
        return RunError(f"cannot write {path}: the file size limit was reached (ulimit -f); earlier files are intact")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return RunError(
            f"cannot write {path}: the disk is full ({err.strerror or 'no space left'}); earlier files are intact"
        )
    return RunError(f"cannot write {path}: {err.strerror or err}")


def save_error(path: str | Path, err: BaseException) -> RunError:
    """A one-line RunError for a failed `torch.save`: its zip writer reports a full disk as a RuntimeError
    ("file write failed", "unexpected pos"), not an OSError, so the free space decides what to call it."""
    if isinstance(err, OSError):
        return write_error(path, err)
    try:
        st = os.statvfs(Path(path).parent)
        full = st.f_bavail * st.f_frsize < (1 << 20)  # under 1 MiB left: the disk was the reason
    except OSError:
        full = False
    if full:
        return RunError(f"cannot write {path}: the disk is full; earlier files are intact")
    return RunError(
        f"cannot write {path}: {_first_line(err)} (disk full or a file size limit?); earlier files are intact"
    )


def regular_file(path: str | Path, what: str = "file", max_bytes: int | None = None) -> int:
    """The size of `path` in bytes; UserError unless it is a regular file (symlinks followed) no larger than
    max_bytes. Checked before opening: a FIFO would block open() forever and /dev/zero never ends."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror or err}") from None
    import stat

    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device"
        kind = kind if not stat.S_ISSOCK(st.st_mode) else "a socket"
        raise UserError(f"{path}: {what} must be a regular file, not {kind}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UserError(f"{path}: {what} is {st.st_size:,} bytes, more than the {max_bytes:,} this format can hold")
    return st.st_size


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

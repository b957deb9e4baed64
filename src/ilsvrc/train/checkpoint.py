"""Checkpoints: written atomically, read with `torch.load(weights_only=True)` only.

Everything in a checkpoint is a tensor or a plain container of str/int/float/bool/None, so loading
never runs pickled code. A checkpoint holds what an exact resume needs (model, optimiser, scaler,
EMA, every RNG, the loader position, step and epoch, the history that drives plateau schedules) plus
what evaluation and export need (config, class names, data statistics, the analysis fingerprint).
"""

from __future__ import annotations

import math
import os
import random
import secrets
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ilsvrc.errors import UserError
from ilsvrc.safety import check_tensors, checksum, describe_load_failure, regular_file, save_error

FORMAT = "ilsvrc-checkpoint"
FORMAT_VERSION = 1


def save_atomic(obj: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same directory, fsync it, then rename over `path`.

    A checkpoint (a dict with the checkpoint format) gets a content checksum. A failed write (a full disk, a file
    size limit) is a one-line RunError and leaves the previous file at `path` untouched. The temporary name is
    unique to this process and call, and only temporaries whose writer has died are cleaned up, so two processes
    writing into one folder never delete each other's files.
    """
    path = Path(path)
    if obj.get("format") == FORMAT:
        obj = {**{k: v for k, v in obj.items() if k != "checksum"}, "checksum": checksum(_content(obj))}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{secrets.token_hex(4)}")
    _remove_stale_temps(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch's zip writer reports a full disk as a RuntimeError
        raise save_error(path, err) from None
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


def _remove_stale_temps(path: Path) -> None:
    """Delete `.NAME.tmp<pid>-<tag>` files left by processes killed mid-write; a live writer's file stays."""
    for stale in path.parent.glob(f".{path.name}.tmp*"):
        pid_text = stale.name[len(f".{path.name}.tmp") :].split("-")[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by `ilsvrc train`, loaded safely (weights_only=True) and validated field by field.

    Order matters: every tensor's size is bounded by its storage before the checksum touches it, the checksum
    is required and checked, then each field's type and range (see `validate`), so callers can build a model
    from `num_classes`/`in_chans` and index `classes` without further checks.
    """
    path = Path(path)
    if path.is_dir():  # a run directory: its best checkpoint, else its last
        for name in ("best.pt", "last.pt"):
            if (path / "checkpoints" / name).is_file():
                path = path / "checkpoints" / name
                break
    if path.is_dir():
        raise UserError(f"no checkpoint in {path} (looked for checkpoints/best.pt and checkpoints/last.pt)")
    if not path.exists():
        raise UserError(f"checkpoint not found: {path}")
    regular_file(path, "checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about sparse tensors: a second line; they are refused below
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise UserError(describe_load_failure(path, err)) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not an ilsvrc checkpoint")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{path}: format_version {_brief(version)} is not one ilsvrc writes (expected 1)")
    if version > FORMAT_VERSION:
        raise UserError(f"{path} was written by a newer ilsvrc (format {version})")
    required = ("config", "model", "num_classes", "in_chans", "classes", "input_size", "mean", "std", "checksum")
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise UserError(f"{path} is an incomplete ilsvrc checkpoint (missing {', '.join(missing)})")
    check_tensors(ckpt, path)
    if not isinstance(ckpt["checksum"], str) or ckpt["checksum"] != checksum(_content(ckpt)):
        raise UserError(f"{path}: checksum mismatch; the file was corrupted or edited after it was written")
    validate(ckpt, path)
    return ckpt


MAX_CLASSES = 100_000  # ImageNet-21k has 21,841; a classifier this wide is already gigabytes
MAX_CHANNELS = 64
MAX_SIDE = 1024  # pixels: the largest ImageNet recipes train at ~600; an eval batch at 8192 px would need 80 GB


def validate(ckpt: dict[str, Any], path: str | Path) -> None:
    """UserError naming the first field of a loaded checkpoint that has the wrong type or an impossible value.

    Callers build a model from num_classes and in_chans: those are bounded and cross-checked against the stored
    weights here, so a tampered `num_classes` of 10^8 is refused before any model is built.
    """
    cfg = ckpt["config"]
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), str):
        raise UserError(f"{path}: config must be a mapping with a model name")
    options = cfg.get("model_options", {})
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise UserError(f"{path}: config.model_options must be a mapping of option names to values")
    deep = sorted(
        k for k, v in options.items() if not (_scalar(v) or (isinstance(v, (list, tuple)) and all(map(_scalar, v))))
    )
    if deep:  # model options are numbers, names and flat lists; a nested value would recurse in YAML on resume
        raise UserError(f"{path}: config.model_options {deep[0]!r} must be a number, a name or a flat list")
    reserved = sorted({"num_classes", "in_chans"} & set(options))
    if reserved:
        raise UserError(f"{path}: config.model_options may not set {', '.join(reserved)} (fields of their own)")
    n = _int_field(ckpt, "num_classes", 1, MAX_CLASSES, path)
    chans = _int_field(ckpt, "in_chans", 1, MAX_CHANNELS, path)
    size = _int_field(ckpt, "input_size", 1, MAX_SIDE, path)
    if ckpt.get("eval_resize") is not None:  # resize-then-crop: at least the crop, at most twice it
        _int_field(ckpt, "eval_resize", size, min(MAX_SIDE, 2 * size), path)
    classes = ckpt["classes"]
    if not isinstance(classes, list) or len(classes) != n:
        raise UserError(f"{path}: classes must be a list of {n} names (num_classes), got {_brief(classes)}")
    odd = next((i for i, c in enumerate(classes) if not isinstance(c, str)), None)
    if odd is not None:
        raise UserError(f"{path}: classes must be names; entry {odd} is {_brief(classes[odd])}")
    for key in ("mean", "std"):
        v = ckpt[key]
        lo, hi = STAT_RANGE[key]
        if not (isinstance(v, list) and len(v) == chans and all(_finite(x) and lo <= x <= hi for x in v)):
            got = "[" + ", ".join(map(_brief, v)) + "]" if isinstance(v, list) and len(v) == chans else _brief(v)
            raise UserError(
                f"{path}: {key} must be {chans} numbers in [{lo:g}, {hi:g}] (one per channel, pixels scaled to "
                f"[0, 1]), got {got}"
            )
    for key in ("model", "ema"):
        if key == "ema" and ckpt.get("ema") is None:
            continue
        _check_weights(ckpt[key], key, n, path)
    history = ckpt.get("history", [])
    if not isinstance(history, list) or not all(_flat_record(h) for h in history):
        raise UserError(f"{path}: history must be a list of flat records (name -> number)")
    if "rng" in ckpt:
        validate_resume(ckpt, path)


def _flat_record(h: object) -> bool:
    return isinstance(h, dict) and all(isinstance(k, str) and not isinstance(v, (list, dict)) for k, v in h.items())


def _brief(v: object) -> str:
    """A short description of a value for an error line. Never repr() a container: a shared-reference list
    would print 2^40 elements."""
    if isinstance(v, (list, tuple, dict)):
        items = list(v.items()) if isinstance(v, dict) else list(v)
        flat = len(items) <= 4 and all(_scalar(x) or (isinstance(x, tuple) and all(map(_scalar, x))) for x in items)
        if flat:  # small and flat: safe to show
            text = repr(v)
            return text if len(text) <= 60 else text[:57] + "..."
        return f"a {type(v).__name__} of {len(v)} entries"
    if isinstance(v, torch.Tensor):
        return f"a tensor of shape {list(v.shape)}"
    try:
        text = repr(v)
    except ValueError:  # an int of more than 4,300 digits
        return f"an integer of about {int(v.bit_length() * 0.30103)} digits"
    return text if len(text) <= 40 else text[:37] + "..."


# Per-channel statistics of pixels in [0, 1]: a std of 1e-300 would not divide by zero but would still turn every
# logit into inf and the error rate into "nan%".
STAT_RANGE = {"mean": (0.0, 1.0), "std": (1e-6, 1.0)}  # 1e-6: the floor pixel_stats gives a constant channel


def _int_field(ckpt: dict[str, Any], key: str, lo: int, hi: int, path: str | Path) -> int:
    v = ckpt.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise UserError(f"{path}: {key} must be an integer in [{lo}, {hi}], got {_brief(v)}")
    return v


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_weights(weights: object, key: str, num_classes: int, path: str | Path) -> None:
    if not isinstance(weights, dict) or not weights:
        raise UserError(f"{path}: {key} must be a non-empty state_dict (names to tensors)")
    bad = [k for k, v in weights.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{path}: {key} entry {_brief(bad[0])} is not a named tensor")
    if not any(v.dim() >= 1 and v.shape[0] == num_classes for v in weights.values()):
        raise UserError(f"{path}: num_classes is {num_classes} but no weight in {key} has {num_classes} outputs")
    for name, v in weights.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise UserError(
                f"{path}: {key} weight {name} holds NaN or infinite values (the run diverged); use an earlier "
                "checkpoint or retrain with a lower learning rate"
            )


RESUME_TYPES: dict[str, tuple[type, ...]] = {
    "step": (int,),
    "epoch": (int, float),
    "ema_updates": (int,),
    "best_top1": (int, float),
    "wall_s": (int, float),
    "train_time_s": (int, float),
    "images_seen": (int,),
    "optimizer": (dict,),
    "loader": (dict,),
    "history": (list,),
    "epoch_acc": (torch.Tensor,),
}


def validate_resume(ckpt: dict[str, Any], path: str | Path) -> None:
    """UserError unless the fields an exact resume reads (RNG states, loader position, counters, history) have
    the types `ilsvrc train` wrote: an emptied `rng` or a string step is named here, not met as a traceback."""
    for key, types in RESUME_TYPES.items():
        v = ckpt.get(key)
        if not isinstance(v, types) or isinstance(v, bool):
            raise UserError(f"{path}: {key} must be {' or '.join(t.__name__ for t in types)}, got {_brief(v)}")
    rngs = ckpt["rng"]
    if not isinstance(rngs, list) or not rngs or not all(_rng_ok(r) for r in rngs):
        raise UserError(f"{path}: rng must be a list of saved random-generator states, got {_brief(rngs)}")
    scaler = ckpt.get("scaler")
    if scaler is not None and not (isinstance(scaler, dict) and all(map(_scalar, scaler.values()))):
        raise UserError(f"{path}: scaler must be a GradScaler state (names to numbers), got {_brief(scaler)}")
    if not _optimizer_ok(ckpt["optimizer"]):
        raise UserError(f"{path}: optimizer must be an optimizer state_dict (per-parameter tensors and numbers)")
    loader = ckpt["loader"]
    if not all(isinstance(loader.get(k), int) and loader[k] >= 0 for k in ("epoch", "batch")):
        raise UserError(f"{path}: loader must hold a non-negative epoch and batch, got {_brief(loader)}")
    if ckpt["epoch_acc"].shape != (3,) or not ckpt["epoch_acc"].is_floating_point():
        raise UserError(f"{path}: epoch_acc must be 3 floats, got {list(ckpt['epoch_acc'].shape)}")


def _scalar(v: object) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _optimizer_ok(opt: dict) -> bool:
    """torch.optim's state_dict shape: {"state": {index: {name: tensor or number}}, "param_groups": [{name: number,
    string, None, or a flat list/tuple of numbers}]}. Anything deeper would only recurse inside load_state_dict."""
    state, groups = opt.get("state"), opt.get("param_groups")
    if not isinstance(state, dict) or not isinstance(groups, list):
        return False
    per_param = all(
        isinstance(k, int)
        and isinstance(v, dict)
        and all(isinstance(x, torch.Tensor) or _scalar(x) for x in v.values())
        for k, v in state.items()
    )
    return per_param and all(
        isinstance(g, dict)
        and all(_scalar(v) or (isinstance(v, (list, tuple)) and all(_scalar(x) for x in v)) for v in g.values())
        for g in groups
    )


def _rng_ok(r: object) -> bool:
    """One rank's {"global": {"torch", "numpy", "python"}, "augment"} as rng_state() and the engine write it."""
    if not isinstance(r, dict) or not isinstance(r.get("global"), dict) or not _byte_tensor(r.get("augment")):
        return False
    g = r["global"]
    numpy_ok = (
        isinstance(g.get("numpy"), list)
        and len(g["numpy"]) == 5
        and isinstance(g["numpy"][0], str)
        and isinstance(g["numpy"][1], torch.Tensor)
        and g["numpy"][1].shape == (624,)
        and all(isinstance(x, (int, float)) for x in g["numpy"][2:])
    )
    py = g.get("python")
    python_ok = (
        isinstance(py, list)
        and len(py) == 3
        and isinstance(py[1], list)
        and len(py[1]) == 625
        and all(isinstance(x, int) for x in py[1])
    )
    return _byte_tensor(g.get("torch")) and numpy_ok and python_ok


def _byte_tensor(t: object) -> bool:
    return isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.dim() == 1 and t.numel() > 0


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

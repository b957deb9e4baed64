"""Setting up a run: device, run folder, resume checks, data and loaders, the network and its precision.

`prepare_run` returns the run's constants (`Run`) and its state (`RunState`, fresh or loaded from last.pt).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ilsvrc.errors import UserError
from ilsvrc.train import checkpoint as ckpt_io
from ilsvrc.train import distributed
from ilsvrc.train.allocator import keep_freed_memory
from ilsvrc.train.config import TrainConfig, save_yaml
from ilsvrc.train.logging import Progress, RunLog
from ilsvrc.train.optim import Schedule, build_optimizer, length_fit
from ilsvrc.train.precision import Precision, choose_channels_last, choose_precision
from ilsvrc.train.spec import ModelSpec, from_module
from ilsvrc.train.state import EMA, Lookahead, RunState

# Fields that control how a run is executed, not what it computes: a resumed run takes these from the
# caller and everything else from the checkpoint.
RUN_CONTROL = (
    "out",
    "resume",
    "overwrite",
    "stop_at_step",
    "progress",
    "tensorboard",
    "log_every",
    "device",
    "workers_threads",
    "checkpoint_every",
)
# What a run writes into its folder; a fresh run refuses a folder that holds any of them (unless overwrite).
RUN_FILES = ("config.yaml", "metrics.jsonl", "checkpoints", "tensorboard", "curves.png", "report.md", "summary.json")


def low_res_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """How many steps, from the first, train at --low-res (0 without it): those with index < low_res_epochs x
    steps per epoch. The FLOPs count of benchmarks/time_to_accuracy.py reads the same rule."""
    return math.ceil(cfg.low_res_epochs * steps_per_epoch) if cfg.low_res else 0


@dataclass
class Run:
    """The constants of one run, and the few per-process values the loop updates (timers, the current lr)."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    dist: distributed.Dist
    train_set: Any
    val_set: Any
    loader: Any
    val_loader: Any
    steps_per_epoch: int
    total_steps: int
    schedule: Schedule
    augment: nn.Module
    flips: Any  # data.views.AlternatingFlip for --flip alternate, else None (TrainAugment draws its own)
    eval_tf: nn.Module
    precision: Precision
    channels_last: bool
    channels_last_reason: str
    ddp: nn.Module  # the DDP wrapper (or the network itself in one process)
    forward: nn.Module  # what the loop calls: ddp, compiled when --compile
    progress: Progress
    log: RunLog | None
    t_start: float
    lr: float = 0.0
    nonfinite: torch.Tensor | None = None
    seg_start: float = field(default_factory=time.monotonic)
    seg_images: int = 0
    last_info: dict[str, Any] = field(default_factory=dict)
    step_times: list[float] = field(default_factory=list)
    interrupt: Exception | None = None
    stopped: bool = False
    warned: bool = False  # the at-chance warning is said once
    loss_mark: tuple[float, float] = (0.0, 0.0)  # (loss sum, count) of the epoch at the last log point
    input_side: int = 0  # the side the net trains and evaluates at (TrainAugment's out_size outside --low-res)
    strikes: int = 0  # log points in a row with a loss far above chance

    def say(self, line: str) -> None:
        if self.dist.is_main:
            self.progress.write(line)

    def wall_s(self, state: RunState) -> float:
        return state.wall_before + time.monotonic() - self.t_start

    def train_side(self, step: int) -> int:
        """The side of the training crops at `step`: --low-res for its first epochs, else the input side."""
        return self.cfg.low_res if step < low_res_steps(self.cfg, self.steps_per_epoch) else self.input_side

    def schedule_facts(self) -> dict[str, Any]:
        return {"kind": self.schedule.kind, "total_steps": self.total_steps}

    def choices(self) -> dict[str, Any]:
        """The speed choices made for this run, as summary.json records them."""
        return {
            "device": self.device.type,
            "precision": self.precision.name,
            "precision_reason": self.precision.reason,
            "channels_last": self.channels_last,
            "channels_last_reason": self.channels_last_reason,
            "threads": torch.get_num_threads(),
            "allocator": keep_freed_memory(),
        }


# ------------------------------------------------------------------------------------------------ folder, device


def default_out(model: str) -> str:
    """runs/MODEL-TIMESTAMP, with a suffix when two runs start in the same second."""
    base = Path("runs") / f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return str(path)


def claim_run_folder(out: Path, overwrite: bool) -> None:
    """Refuse a folder holding an earlier run; with `overwrite`, delete that run's files first (lock held)."""
    present = [name for name in RUN_FILES if (out / name).exists()]
    if not present:
        return
    if not overwrite:
        raise UserError(
            f"{out} already holds a run ({', '.join(present)}); continue it with --resume, choose another --out, "
            "or pass --overwrite to replace it"
        )
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def select_device(cfg: TrainConfig) -> torch.device:
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA device is available")
    return device


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------------ resume


def check_resumable(out: Path) -> None:
    last = out / "checkpoints" / "last.pt"
    if not last.is_file():
        raise UserError(f"nothing to resume: {last} does not exist")


def load_for_resume(cfg: TrainConfig, out: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """(the saved config with the caller's run-control fields, the checkpoint); a changed field is refused."""
    check_resumable(out)
    last = out / "checkpoints" / "last.pt"
    ckpt = ckpt_io.load(last)
    saved = TrainConfig.from_dict(ckpt["config"]).resolve()  # resolve: fields added since it was saved
    for f in saved.__dataclass_fields__:
        if f in RUN_CONTROL or f == "amp":
            continue
        mine, theirs = getattr(cfg, f), getattr(saved, f)
        if f in ("precision", "channels_last") and mine == "auto":
            continue  # auto on resume: what the run chose
        if mine != theirs:
            raise UserError(_changed(f, mine, theirs, out))
    return saved.replace(**{k: getattr(cfg, k) for k in RUN_CONTROL}), ckpt


def _changed(name: str, mine: Any, theirs: Any, out: Path) -> str:
    what = {"model_options": "model", "data": "data source"}.get(name, name)
    flag = "--" + ("threads" if name == "workers_threads" else name.replace("_", "-"))
    return (
        f"--resume: {flag} {mine!r} differs from {theirs!r} in the run in {out} (a changed {what}); a resumed run "
        "continues its saved config exactly: drop the flag, or start a new run (another --out, or --overwrite)"
    )


def _check_same_data(ckpt: dict[str, Any], current: dict[str, Any], out: Path) -> None:
    saved = ckpt.get("data_fingerprint")
    if not isinstance(saved, dict):
        return  # written before data fingerprints
    for key, value in current.items():
        if key in saved and saved[key] != value:
            raise UserError(
                f"--resume: the data changed since the run in {out} started ({key}: "
                f"{_short(saved[key])} then, {_short(value)} now); resume with the same data"
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------------------ data


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def decode_side(cfg: TrainConfig, spec: ModelSpec) -> int | None:
    """The side a photo folder / ImageNet tree is decoded to: --image-size, else the crop side / crop_pct.

    None (the data layer's default) for a network with no preferred input size and no --input-size.
    """
    crop = cfg.input_size or spec.input_size
    return cfg.image_size or (round(crop / spec.crop_pct) if crop else None)


def _load_data(cfg: TrainConfig, spec: ModelSpec, train_set: Any, val_set: Any) -> tuple[Any, Any]:
    from ilsvrc.data import detect_format, load_dataset

    # fixed-size sources (CIFAR, IDX, packs) keep their own size; photos are decoded at the model's resolution
    photos = (
        cfg.data is not None
        and (train_set is None or val_set is None)
        and detect_format(cfg.data)
        in (
            "imagefolder",
            "imagenet",
        )
    )
    size = decode_side(cfg, spec) if photos else None
    if train_set is None:
        train_set = load_dataset(cfg.data, "train", size=size)
    if val_set is None:
        val_set = load_dataset(cfg.data, "val", size=size)
    side = decode_side(cfg, spec)  # a JPEG pack is decoded at the model's side, as a photo folder is
    train_set, val_set = (ds.with_side(side) if hasattr(ds, "with_side") else ds for ds in (train_set, val_set))
    if cfg.train_subset is not None and cfg.train_subset < len(train_set):
        perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(cfg.seed))
        train_set = train_set.subset(perm[: cfg.train_subset])
    return train_set, val_set


def _data_fingerprint(train_set: Any, val_set: Any) -> dict[str, Any]:
    """What must not change under a resumed run: sizes, image shape, classes and statistics of the data."""
    return {
        "train_images": len(train_set),
        "val_images": len(val_set),
        "image_shape": list(train_set.images.shape[1:]),
        "classes": list(train_set.classes),
        "mean": [float(m) for m in train_set.mean],
        "std": [float(s) for s in train_set.std],
    }


def _resolve_sizes(cfg: TrainConfig, spec: ModelSpec, side: int) -> tuple[int, int | None, str]:
    """(input size, eval resize or None, augment kind) from the config, the model spec and the data's side."""
    preferred = spec.input_size or side
    size = cfg.input_size or (preferred if side >= preferred else max(side, spec.min_input_size))
    if size < spec.min_input_size:
        raise UserError(
            f"input size {size} is too small for {spec.name}; its strides need at least {spec.min_input_size}"
        )
    augment = cfg.augment
    if augment == "random-resized-crop" and side < 64:
        augment = "pad-crop-flip"  # 8%-area crops destroy tiny images; CIFAR-style augmentation instead
    small = augment in ("pad-crop-flip", "center", "none") and side == size
    return size, (None if small else round(size / spec.crop_pct)), augment  # eval: resize, centre crop


def _jpeg_crops(cfg: TrainConfig, sets: tuple[Any, Any], size: int, kind: str, device: torch.device) -> tuple:
    """(train set, val set, the kind TrainAugment runs) for JPEG packs (jpeg_dataset.py), which decode on `device`.

    With random-resized-crop the crops and flips are taken from each whole stored image while decoding (not from
    the centre square a raw pack stores), so TrainAugment only normalises ("none"); other kinds augment the
    decoded squares as they do a raw pack's.
    """
    import dataclasses

    train_set, val_set = (dataclasses.replace(ds, device=device) if hasattr(ds, "read_batch") else ds for ds in sets)
    if not hasattr(train_set, "read_batch") or kind != "random-resized-crop":
        return train_set, val_set, kind
    # random flips are drawn with the crops; --flip alternate is applied by the engine in TrainAugment's pass
    crop = {"size": size, "scale": tuple(cfg.scale), "ratio": tuple(cfg.ratio), "flip": cfg.flip == "random"}
    return dataclasses.replace(train_set, train_crop=crop), val_set, "none"


def _loaders(cfg: TrainConfig, dist: distributed.Dist, train_set: Any, val_set: Any) -> tuple[Any, Any, int, int]:
    """(train loader, val loader, steps per epoch, total steps): per-rank batches, split into micro-batches later."""
    from ilsvrc.data import BatchLoader

    if cfg.batch_size % (dist.world_size * cfg.grad_accum):
        raise UserError(
            f"batch size {cfg.batch_size} must be divisible by processes x grad_accum = "
            f"{dist.world_size} x {cfg.grad_accum}"
        )
    rank_batch = cfg.batch_size // dist.world_size
    loader = BatchLoader(
        train_set, rank_batch, shuffle=True, seed=cfg.seed, drop_last=True, rank=dist.rank, world_size=dist.world_size
    )
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise UserError(f"batch size {cfg.batch_size} is larger than the training set ({len(train_set)} images)")
    views = cfg.eval_crops * {"mirror": 2, "translate": 6}.get(cfg.tta, 1)  # forward passes per test image
    eval_batch = max(rank_batch, 64) if views == 1 else max(8, rank_batch // views)
    val_loader = BatchLoader(val_set, eval_batch, shuffle=False, rank=dist.rank, world_size=dist.world_size)
    if cfg.max_steps is not None:
        total_steps = max(1, round(cfg.max_steps * cfg.budget)) if cfg.max_steps > 0 else 0
    else:
        total_steps = max(1, round(cfg.epochs * cfg.budget * steps_per_epoch))
    return loader, val_loader, steps_per_epoch, total_steps


def _transforms(cfg: TrainConfig, train_set: Any, size: int, eval_resize: int | None, augment_kind: str) -> tuple:
    from ilsvrc.data import EvalTransform, TrainAugment, TTAViews

    mean, std = tuple(train_set.mean), tuple(train_set.std)
    meta = getattr(train_set, "meta", {}) or {}
    if cfg.cutout > size:
        raise UserError(f"--cutout {cfg.cutout} is larger than the {size}-pixel training crops; choose <= {size}")
    if cfg.low_res >= size:
        raise UserError(f"--low-res {cfg.low_res} is not smaller than the {size}-pixel training crops; choose < {size}")
    if cfg.low_res and cfg.cutout > cfg.low_res:
        raise UserError(f"--cutout {cfg.cutout} is larger than the --low-res {cfg.low_res} crops; choose <= it")
    augment = TrainAugment(
        augment_kind,
        size,
        mean,
        std,
        pad=cfg.pad,
        pad_mode=cfg.pad_mode,
        scale=tuple(cfg.scale),
        ratio=tuple(cfg.ratio),
        jitter=tuple(cfg.jitter),
        flip=cfg.flip == "random",  # 'alternate': the engine passes each batch's flips (data.views)
        pca_std=cfg.pca_std if "pca_eigval" in meta else 0.0,
        pca_eigval=meta.get("pca_eigval"),
        pca_eigvec=meta.get("pca_eigvec"),
        cutout=cfg.cutout,
    )
    eval_tf = EvalTransform(size, mean, std, crops=cfg.eval_crops, resize=eval_resize)
    if cfg.tta != "none":
        eval_tf = TTAViews(eval_tf, cfg.tta)
    return augment, eval_tf, EvalTransform(size, mean, std, resize=eval_resize)


# ------------------------------------------------------------------------------------------------ network


def _init_from_data(model: nn.Module, train_set: Any, transform: Any, device: torch.device) -> None:
    """Data-dependent initialisation (e.g. a whitening first layer) from the first training images.

    The same images on every rank and no random numbers drawn, so DDP ranks agree and resume stays exact.
    """
    side = train_set.images.shape[1]
    n = min(len(train_set), max(64, 5_000_000 // (side * side)))  # about 5,000 CIFAR-sized images at most
    model.init_from_data(transform(torch.as_tensor(train_set.images[:n]).to(device)))


def _fingerprint(spec: ModelSpec, model: nn.Module, num_classes: int, in_chans: int, size: int) -> dict[str, Any]:
    """Analysis fingerprint: parameters and multiply-adds per image (models.costs, on the meta device)."""
    fp: dict[str, Any] = {"params": sum(p.numel() for p in model.parameters()), "macs": None, "input_size": size}
    if spec.count is not None:
        # counting is best effort; a model the meta device cannot run keeps macs=None
        with contextlib.suppress(Exception):
            fp.update(spec.count(num_classes, in_chans, size))
    return fp


def _spec(cfg: TrainConfig, model: nn.Module | ModelSpec | None) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, nn.Module):
        return from_module(model, getattr(model, "model_name", type(model).__name__))
    raise TypeError("the engine needs a network: an nn.Module or a ModelSpec (ilsvrc.train.train builds one)")


def _wrap(raw: nn.Module, cfg: TrainConfig, dist: distributed.Dist, device: torch.device) -> tuple[nn.Module, ...]:
    ddp: nn.Module = raw
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp = DDP(raw, device_ids=[device.index] if device.type == "cuda" else None)
    return ddp, (torch.compile(ddp) if cfg.compile else ddp)


def _network(
    cfg: TrainConfig,
    spec: ModelSpec,
    train_set: Any,
    device: torch.device,
    fresh: bool,
    sizes: tuple[int, int | None, Any],
    data_fp: dict[str, Any],
) -> tuple[TrainConfig, nn.Module, Precision, tuple[bool, str], dict[str, Any]]:
    """(config with the concrete precision/format, network, precision, (channels_last, why), checkpoint facts)."""
    size, eval_resize, init_tf = sizes
    num_classes, in_chans = len(train_set.classes), train_set.images.shape[-1]
    torch.manual_seed(cfg.seed)  # same initial weights on every rank and every run with this seed
    raw = spec.build(num_classes, in_chans).to(device)
    if fresh and hasattr(raw, "init_from_data"):
        _init_from_data(raw, train_set, init_tf, device)
    precision = choose_precision(cfg.precision, device)
    channels_last, cl_reason = choose_channels_last(cfg.channels_last, raw, device)
    cfg = cfg.replace(precision=precision.name, channels_last="on" if channels_last else "off")
    if channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    facts = {
        "config": cfg.to_dict(),
        "classes": list(train_set.classes),
        "mean": list(train_set.mean),
        "std": list(train_set.std),
        "in_chans": in_chans,
        "num_classes": num_classes,
        "input_size": size,
        "eval_resize": eval_resize,
        "fingerprint": _fingerprint(spec, raw, num_classes, in_chans, size),
        "data_fingerprint": data_fp,
        "precision": precision.name,
        "precision_reason": precision.reason,
        "channels_last": channels_last,
        "channels_last_reason": cl_reason,
    }
    return cfg, raw, precision, (channels_last, cl_reason), facts


# ------------------------------------------------------------------------------------------------ the whole set-up


def prepare_run(
    cfg: TrainConfig,
    out: Path,
    device: torch.device,
    dist: distributed.Dist,
    train_set: Any,
    val_set: Any,
    model: nn.Module | ModelSpec | None,
    resume: dict[str, Any] | None,
    t_start: float,
) -> tuple[Run, RunState]:
    """Data, network, optimizer and logs for `cfg`; the state from `resume` (a last.pt) when given."""
    keep_freed_memory()  # before the data and the first step allocate: see allocator.py
    torch.set_num_threads(cfg.workers_threads or _cores())
    _seed_everything(cfg.seed)
    spec = _spec(cfg, model)
    train_set, val_set = _load_data(cfg, spec, train_set, val_set)
    data_fp = _data_fingerprint(train_set, val_set)
    if resume is not None:
        _check_same_data(resume, data_fp, out)
    side = train_set.images.shape[1]
    size, eval_resize, augment_kind = _resolve_sizes(cfg, spec, side)
    train_set, val_set, tf_kind = _jpeg_crops(cfg, (train_set, val_set), size, augment_kind, device)
    loader, val_loader, steps_per_epoch, total_steps = _loaders(cfg, dist, train_set, val_set)
    augment, eval_tf, init_tf = (t.to(device) for t in _transforms(cfg, train_set, size, eval_resize, tf_kind))
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17 + dist.rank)

    cfg, raw, precision, (channels_last, cl_reason), facts = _network(
        cfg, spec, train_set, device, resume is None, (size, eval_resize, init_tf), data_fp
    )
    if resume is not None:  # the saved config holds the concrete choices; the reasons are those of the first start
        precision = replace(precision, reason=resume.get("precision_reason", "as the run began"))
        cl_reason = resume.get("channels_last_reason", "as the run began")
        facts |= {"precision_reason": precision.reason, "channels_last_reason": cl_reason}
    state = _fresh_state(cfg, raw, loader, gen, facts, precision, total_steps, device)
    if resume is not None:
        state.load_state_dict(resume, dist, out / "checkpoints" / "last.pt")
    else:
        loader.set_epoch(0)
    ddp, forward = _wrap(raw, cfg, dist, device)
    log = None
    if dist.is_main:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        save_yaml(cfg, out / "config.yaml")
        log = RunLog(out, cfg.tensorboard)
    run = Run(
        cfg=cfg,
        out=out,
        device=device,
        dist=dist,
        train_set=train_set,
        val_set=val_set,
        loader=loader,
        val_loader=val_loader,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        schedule=Schedule.from_config(cfg, total_steps, steps_per_epoch, length_fit(cfg, total_steps, steps_per_epoch)),
        augment=augment,
        flips=_flips(cfg, train_set),
        eval_tf=eval_tf,
        precision=precision,
        channels_last=channels_last,
        channels_last_reason=cl_reason,
        ddp=ddp,
        forward=forward,
        progress=Progress(total_steps, state.step, cfg.progress and dist.is_main),
        log=log,
        t_start=t_start,
        nonfinite=torch.zeros((), dtype=torch.bool, device=device),
        input_side=size,
    )
    run.lr = run.schedule.lr_at(state.step, state.val_errors)
    run.say(
        _first_line(run, spec, state, size, side, augment_kind)
        if resume is None
        else f"resuming {out} at step {state.step}/{total_steps} ({_speed_words(run)})"
    )
    return run, state


def _fresh_state(
    cfg: TrainConfig,
    raw: nn.Module,
    loader: Any,
    gen: torch.Generator,
    facts: dict[str, Any],
    precision: Precision,
    total_steps: int,
    device: torch.device,
) -> RunState:
    """The state at step 0: optimizer, averaged copy (EMA or lookahead), grad scaler, zeroed epoch sums."""
    lookahead = Lookahead(raw, cfg.lookahead_every, cfg.lookahead_decay, total_steps) if cfg.lookahead_every else None
    return RunState(
        model=raw,
        optimizer=build_optimizer(raw, cfg, device),
        loader=loader,
        augment_gen=gen,
        facts=facts,
        ema=EMA(raw, cfg.ema) if cfg.ema > 0 else None,
        lookahead=lookahead,
        scaler=precision.scaler(),
        epoch_acc=torch.zeros(3, device=device),
    )


def _flips(cfg: TrainConfig, train_set: Any) -> Any:
    from ilsvrc.data import AlternatingFlip

    return AlternatingFlip(len(train_set), cfg.seed) if cfg.flip == "alternate" and cfg.augment != "none" else None


def _speed_words(run: Run) -> str:
    c = run.choices()
    return (
        f"{c['precision']} ({c['precision_reason']}), channels_last {'on' if c['channels_last'] else 'off'} "
        f"({c['channels_last_reason']}), {c['threads']} threads"
    )


def _first_line(run: Run, spec: ModelSpec, state: RunState, size: int, side: int, augment_kind: str) -> str:
    cfg = run.cfg
    low = f", the first {cfg.low_res_epochs:g} epochs at {cfg.low_res}px" if cfg.low_res else ""
    return (
        f"training {spec.name} ({state.facts['fingerprint']['params']:,} params) with the '{cfg.recipe}' recipe on "
        f"{len(run.train_set)} images ({state.facts['num_classes']} classes, {side}px -> {size}px{low}, "
        f"{augment_kind}), "
        f"{run.total_steps} steps of {cfg.batch_size} on {run.device.type} x {run.dist.world_size}; "
        f"{_speed_words(run)}; saving to {run.out}"
    )

"""The training loop: one loop for CPU and CUDA, one process or many (torchrun), that knows no model.

Per optimizer step: a uint8 batch from the loader -> device -> batched augmentation (own generator) ->
forward (autocast optional) -> loss (+ weighted auxiliary losses when the model returns several outputs)
-> backward over `grad_accum` micro-batches -> optimizer step -> EMA. Loss and accuracy accumulate on the
device and are read once per log interval, so no step waits for the host.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc.errors import RunError, UserError
from ilsvrc.safety import check_output_dir, load_state_dict_checked
from ilsvrc.train import checkpoint as ckpt_io
from ilsvrc.train import distributed
from ilsvrc.train.config import RECIPES, TrainConfig, save_yaml
from ilsvrc.train.logging import Progress, RunLog, plot_curves, write_report
from ilsvrc.train.optim import Schedule, build_optimizer, set_lr

# Fields that control how a run is executed, not what it computes: a resumed run takes these from the
# caller and everything else from the checkpoint.
RUN_CONTROL = ("out", "resume", "stop_at_step", "progress", "tensorboard", "log_every", "device", "workers_threads")


class Interrupted(RunError):
    """SIGINT/SIGTERM arrived: a checkpoint was saved; the CLI exits 128 + signal number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


@dataclass
class TrainResult:
    summary: dict[str, Any]
    """val_top1_error, val_top5_error (fractions), train_loss, images_per_s, wall_s, epochs, steps, out, ..."""
    history: list[dict[str, Any]]
    """One dict per epoch: epoch, train_loss, train_top1_error, val_*, lr, images_per_s, wall_s."""
    model: nn.Module
    """The trained network (the EMA/Polyak weights when EMA is on), in eval mode."""
    config: TrainConfig = field(repr=False, default=None)  # type: ignore[assignment]
    out: Path | None = None
    step_times: list[float] = field(repr=False, default_factory=list)
    """time.monotonic() after each optimizer step of this process (host time: on CUDA it runs ahead of the GPU)."""


class EMA:
    """Exponential moving average (Polyak averaging) of parameters; buffers are copied from the model.

    The decay warms up as min(decay, (1 + n) / (10 + n)) so short runs are not dominated by the initial weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params = list(self.module.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)


class _StopFlag:
    """SIGINT/SIGTERM set a flag that the loop reads between steps (main thread only)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _split_outputs(out: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, auxiliary logits): models such as GoogLeNet return (main, aux1, aux2) in train mode."""
    if isinstance(out, (tuple, list)):
        return out[0], [o for o in out[1:] if o is not None]
    return out, []


def _fingerprint(cfg: TrainConfig, model: nn.Module, num_classes: int, in_chans: int, size: int) -> dict[str, Any]:
    """Analysis fingerprint: parameter count and multiply-adds per image (counted on the meta device)."""
    from ilsvrc.models import create_model
    from ilsvrc.models.costs import inference_params

    fp: dict[str, Any] = {"params": inference_params(model), "macs": None, "input_size": size}
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"):
            meta = create_model(cfg.model, num_classes=num_classes, in_chans=in_chans, **cfg.model_options).eval()
            counter = FlopCounterMode(display=False)
            with counter:
                meta(torch.empty(1, in_chans, size, size))
        fp["macs"] = int(counter.get_total_flops() // 2)
    except Exception:  # counting is best effort; a model the meta device cannot run keeps macs=None
        pass
    return fp


def _resolve_sizes(cfg: TrainConfig, side: int) -> tuple[int, int | None, str]:
    """(input size, eval resize or None, augment kind) from the config, the model card and the data's side."""
    from ilsvrc.models import get_card

    card = get_card(cfg.model)
    size = cfg.input_size or (card.input_size if side >= card.input_size else max(side, card.min_input_size))
    if size < card.min_input_size:
        raise UserError(
            f"input size {size} is too small for {cfg.model}; its strides need at least {card.min_input_size}"
        )
    augment = cfg.augment
    if augment == "random-resized-crop" and side < 64:
        augment = "pad-crop-flip"  # 8%-area crops destroy tiny images; CIFAR-style augmentation instead
    small = augment in ("pad-crop-flip", "center", "none") and side == size
    return size, (None if small else round(size * 256 / 224)), augment


def _init_from_data(model: nn.Module, train_set: Any, transform: Any, device: torch.device) -> None:
    """Data-dependent initialisation (e.g. a whitening first layer) from the first training images.

    The same images on every rank and no random numbers drawn, so DDP ranks agree and resume stays exact.
    """
    side = train_set.images.shape[1]
    n = min(len(train_set), max(64, 5_000_000 // (side * side)))  # about 5,000 CIFAR-sized images at most
    model.init_from_data(transform(torch.as_tensor(train_set.images[:n]).to(device)))


def _batch_sums(logp: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[nll sum, top-1 correct, top-5 correct, count] for one batch of log-probabilities, on the device."""
    k = min(5, logp.shape[1])
    top = logp.topk(k, dim=1).indices
    hit = top == labels[:, None]
    return torch.stack(
        [
            F.nll_loss(logp.float(), labels, reduction="sum"),
            hit[:, 0].sum().float(),
            hit.any(1).sum().float(),
            torch.full((), float(labels.numel()), device=logp.device),  # a fill kernel: no host copy
        ]
    )


def class_log_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Log of the softmax averaged over crops: x is (B, C, H, W) or (B, K, C, H, W) for K crops."""
    if x.dim() == 5:
        b, k = x.shape[:2]
        probs = model(x.flatten(0, 1)).float().softmax(-1).view(b, k, -1).mean(1)
        return probs.clamp_min(1e-12).log()
    return model(x).float().log_softmax(-1)


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    loader: Any,
    transform: Any,
    device: torch.device,
    dist: distributed.Dist | None = None,
    autocast: Any = contextlib.nullcontext,
    channels_last: bool = False,
) -> dict[str, float]:
    """Loss and top-1/top-5 error over a (sharded) loader; counts are summed over ranks, so no padding bias."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, device=device)
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)  # from the start, every time
    for images, labels in loader:
        x = transform(images.to(device, non_blocking=True))
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            logp = class_log_probs(model, x)
        sums += _batch_sums(logp, labels.to(device, non_blocking=True))
    distributed.all_sum(sums, dist or distributed.Dist())
    model.train(was_training)
    loss, c1, c5, n = sums.tolist()
    n = max(n, 1.0)
    return {"loss": loss / n, "top1_error": 1 - c1 / n, "top5_error": 1 - c5 / n, "count": int(n)}


def _default_out(model: str) -> str:
    return str(Path("runs") / f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


def train(
    config: TrainConfig,
    train_set: Any | None = None,
    val_set: Any | None = None,
    model_options: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `config.model` on `config.data` (or the given ArrayDatasets) following `config.recipe`.

    Returns the summary, per-epoch history and the trained model. Writes config.yaml, metrics.jsonl,
    checkpoints/{last,best}.pt, curves.png, report.md and summary.json into `config.out` (rank 0 only).
    """
    t_start = time.monotonic()
    cfg = config.resolve()
    if model_options:
        cfg = cfg.replace(model_options={**cfg.model_options, **model_options})
    if cfg.out is None:
        cfg = cfg.replace(out=_default_out(cfg.model))
    out = Path(cfg.out)
    check_output_dir(out)  # a path under a file, a read-only disk: say so before loading any data
    resume_state = None
    if cfg.resume:
        last = out / "checkpoints" / "last.pt"
        if not last.is_file():
            raise UserError(f"nothing to resume: {last} does not exist")
        resume_state = ckpt_io.load(last)
        saved = TrainConfig.from_dict(resume_state["config"]).resolve()  # fields added since it was saved
        cfg = saved.replace(**{k: getattr(cfg, k) for k in RUN_CONTROL})

    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA device is available")
    dist = distributed.setup(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if cfg.workers_threads:
        torch.set_num_threads(cfg.workers_threads)
    try:
        return _run(cfg, out, device, dist, train_set, val_set, resume_state, t_start)
    finally:
        distributed.teardown(dist)


def _run(
    cfg: TrainConfig,
    out: Path,
    device: torch.device,
    dist: distributed.Dist,
    train_set: Any,
    val_set: Any,
    resume_state: dict | None,
    t_start: float,
) -> TrainResult:
    from ilsvrc.data import BatchLoader, EvalTransform, TrainAugment, load_dataset
    from ilsvrc.models import create_model

    _seed_everything(cfg.seed)
    if train_set is None:
        train_set = load_dataset(cfg.data, "train")
    if val_set is None:
        val_set = load_dataset(cfg.data, "val")
    if cfg.train_subset is not None and cfg.train_subset < len(train_set):
        perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(cfg.seed))
        train_set = train_set.subset(perm[: cfg.train_subset])
    classes = list(train_set.classes)
    num_classes = len(classes)
    _, side, _, in_chans = train_set.images.shape
    size, eval_resize, augment_kind = _resolve_sizes(cfg, side)

    # ----- data: per-rank batches, split further into grad_accum micro-batches inside the step
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
    eval_batch = max(rank_batch, 64) if cfg.eval_crops == 1 else max(8, rank_batch // cfg.eval_crops)
    val_loader = BatchLoader(val_set, eval_batch, shuffle=False, rank=dist.rank, world_size=dist.world_size)
    if cfg.max_steps is not None:
        total_steps = max(1, round(cfg.max_steps * cfg.budget)) if cfg.max_steps > 0 else 0
    else:
        total_steps = max(1, round(cfg.epochs * cfg.budget * steps_per_epoch))
    schedule = Schedule.from_config(cfg, total_steps, steps_per_epoch)

    mean, std = tuple(train_set.mean), tuple(train_set.std)
    meta = getattr(train_set, "meta", {}) or {}
    augment = TrainAugment(
        augment_kind,
        size,
        mean,
        std,
        pad=cfg.pad,
        scale=tuple(cfg.scale),
        ratio=tuple(cfg.ratio),
        jitter=tuple(cfg.jitter),
        flip=cfg.flip,
        pca_std=cfg.pca_std if "pca_eigval" in meta else 0.0,
        pca_eigval=meta.get("pca_eigval"),
        pca_eigvec=meta.get("pca_eigvec"),
    ).to(device)
    eval_tf = EvalTransform(size, mean, std, crops=cfg.eval_crops, resize=eval_resize).to(device)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17 + dist.rank)

    # ----- model, EMA, optimizer, precision
    torch.manual_seed(cfg.seed)  # same initial weights on every rank and every run with this seed
    raw = create_model(cfg.model, num_classes=num_classes, in_chans=in_chans, **cfg.model_options).to(device)
    if resume_state is None and hasattr(raw, "init_from_data"):
        _init_from_data(raw, train_set, EvalTransform(size, mean, std, resize=eval_resize).to(device), device)
    if cfg.channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    fingerprint = _fingerprint(cfg, raw, num_classes, in_chans, size)
    ema = EMA(raw, cfg.ema) if cfg.ema > 0 else None
    optimizer = build_optimizer(raw, cfg, device)
    amp_dtype = None
    if cfg.amp:
        bf16_ok = device.type == "cpu" or torch.cuda.is_bf16_supported()
        amp_dtype = torch.bfloat16 if bf16_ok else torch.float16
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    def autocast() -> Any:
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=amp_dtype)

    model: nn.Module = raw
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(raw, device_ids=[device.index] if device.type == "cuda" else None)
    forward = torch.compile(model) if cfg.compile else model

    # ----- state (fresh or resumed)
    step, history, best_top1, wall_before, train_time, images_seen = 0, [], math.inf, 0.0, 0.0, 0
    epoch_acc = torch.zeros(3, device=device)  # [loss sum, top-1 correct, count] since the epoch began
    if resume_state is not None:
        load_state_dict_checked(raw, resume_state["model"], out / "checkpoints" / "last.pt")
        optimizer.load_state_dict(resume_state["optimizer"])
        if ema is not None:
            ema.module.load_state_dict(resume_state["ema"])
            ema.updates = int(resume_state["ema_updates"])
        if scaler is not None and resume_state.get("scaler"):
            scaler.load_state_dict(resume_state["scaler"])
        rngs = resume_state["rng"]
        mine = rngs[dist.rank] if dist.rank < len(rngs) else rngs[0]
        ckpt_io.set_rng_state(mine["global"])
        gen.set_state(mine["augment"])
        loader.load_state_dict(resume_state["loader"])
        step, history = int(resume_state["step"]), list(resume_state["history"])
        best_top1 = float(resume_state["best_top1"])
        wall_before, train_time = float(resume_state["wall_s"]), float(resume_state["train_time_s"])
        images_seen = int(resume_state["images_seen"])
        epoch_acc = resume_state["epoch_acc"].to(device)
    else:
        loader.set_epoch(0)

    log = None
    if dist.is_main:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        save_yaml(cfg, out / "config.yaml")
        log = RunLog(out, cfg.tensorboard)
    progress = Progress(total_steps, step, cfg.progress and dist.is_main)

    def say(line: str) -> None:
        if dist.is_main:
            progress.write(line)

    if resume_state is None:
        say(
            f"training {cfg.model} ({fingerprint['params']:,} params) with the '{cfg.recipe}' recipe on "
            f"{len(train_set)} images ({num_classes} classes, {side}px -> {size}px, {augment_kind}), "
            f"{total_steps} steps of {cfg.batch_size} on {device.type} x {dist.world_size}; saving to {out}"
        )
    else:
        say(f"resuming {out} at step {step}/{total_steps}")

    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    val_errors = [h["val_top1_error"] for h in history if h.get("val_top1_error") is not None]

    def state(epoch_float: float) -> dict[str, Any]:
        rng = {"global": ckpt_io.rng_state(), "augment": gen.get_state()}
        rngs = [rng]
        if dist.enabled:
            rngs = [None] * dist.world_size
            torch.distributed.all_gather_object(rngs, rng)
        return {
            "format": ckpt_io.FORMAT,
            "format_version": ckpt_io.FORMAT_VERSION,
            "step": step,
            "epoch": epoch_float,
            "config": cfg.to_dict(),
            "classes": classes,
            "mean": list(mean),
            "std": list(std),
            "in_chans": in_chans,
            "num_classes": num_classes,
            "input_size": size,
            "eval_resize": eval_resize,
            "model": raw.state_dict(),
            "ema": ema.module.state_dict() if ema is not None else None,
            "ema_updates": ema.updates if ema is not None else 0,
            "optimizer": optimizer.state_dict(),
            "schedule": {"kind": schedule.kind, "total_steps": total_steps, "val_errors": list(val_errors)},
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": rngs,
            "loader": loader.state_dict(),
            "epoch_acc": epoch_acc.detach().cpu(),
            "history": history,
            "best_top1": best_top1,
            "wall_s": wall_before + time.monotonic() - t_start,
            "train_time_s": train_time,
            "images_seen": images_seen,
            "fingerprint": fingerprint,
        }

    def check_finite() -> None:
        bad = distributed.all_sum(nonfinite.float().reshape(1), dist)  # collective: every rank stops together
        if bool(bad.item()):
            raise RunError(
                f"loss became NaN or infinite before step {step}; stopped. The last good checkpoint is "
                f"{out / 'checkpoints' / 'last.pt'} (try a lower --lr)"
            )

    def save(name: str, epoch_float: float) -> None:
        check_finite()
        st = state(epoch_float)  # collective in DDP: every rank calls it
        if dist.is_main:
            ckpt_io.save_atomic(st, out / "checkpoints" / name)

    def sync_buffers() -> None:
        # DDP leaves each rank with its own BatchNorm running statistics; evaluate and save rank 0's.
        if dist.enabled:
            for module in (raw, ema.module if ema is not None else None):
                if module is not None:
                    for b in module.buffers():
                        torch.distributed.broadcast(b, 0)

    eval_model = ema.module if ema is not None else raw
    lr = schedule.lr_at(step, val_errors)
    seg_start, seg_images = time.monotonic(), 0  # throughput of the current epoch segment
    step_times: list[float] = []
    interrupt: Interrupted | None = None
    last_info: dict[str, Any] = {}
    stopped = False

    with _StopFlag() as stop:
        model.train()
        while step < total_steps:
            for images, labels in loader:
                images = images.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                x = augment(images, gen)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = schedule.lr_at(step, val_errors)
                set_lr(optimizer, lr)
                for i, (xb, yb) in enumerate(zip(x.chunk(cfg.grad_accum), labels.chunk(cfg.grad_accum), strict=True)):
                    last_micro = i == cfg.grad_accum - 1
                    sync = model.no_sync() if dist.enabled and not last_micro else contextlib.nullcontext()
                    with sync:
                        with autocast():
                            main, aux = _split_outputs(forward(xb))
                            main_loss = F.cross_entropy(main.float(), yb, label_smoothing=cfg.label_smoothing)
                            loss = main_loss
                            for a in aux:
                                loss = loss + cfg.aux_weight * F.cross_entropy(
                                    a.float(), yb, label_smoothing=cfg.label_smoothing
                                )
                        scaled = loss / cfg.grad_accum
                        (scaler.scale(scaled) if scaler is not None else scaled).backward()
                    with torch.no_grad():
                        n = yb.numel()
                        epoch_acc += torch.stack(
                            [
                                main_loss.detach() * n,
                                (main.argmax(1) == yb).sum().float(),
                                torch.full((), float(n), device=device),
                            ]
                        )
                        nonfinite |= ~torch.isfinite(loss.detach())
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update(raw)
                step += 1
                step_times.append(time.monotonic())
                seg_images += labels.numel() * dist.world_size
                images_seen += labels.numel() * dist.world_size

                epoch_end = step % steps_per_epoch == 0 or step == total_steps
                if dist.is_main and progress.bar is not None and step % cfg.log_every:
                    progress.update(step, last_info)
                if step % cfg.log_every == 0 or epoch_end:
                    check_finite()
                    acc = distributed.all_sum(epoch_acc.clone(), dist).tolist()
                    elapsed = time.monotonic() - seg_start
                    info = {
                        "loss": acc[0] / max(acc[2], 1),
                        "err": 1 - acc[1] / max(acc[2], 1),
                        "lr": lr,
                        "img/s": (seg_images / elapsed) if elapsed > 0 else 0.0,
                    }
                    last_info = info
                    if dist.is_main:
                        progress.update(step, info)
                        log.record("step", step, {"epoch": step / steps_per_epoch, **info})
                if epoch_end:
                    seg_time = time.monotonic() - seg_start
                    train_time += seg_time
                    acc = distributed.all_sum(epoch_acc.clone(), dist).tolist()
                    epoch_float = step / steps_per_epoch
                    epoch_index = math.ceil(epoch_float - 1e-9)
                    record: dict[str, Any] = {
                        "epoch": epoch_index if step % steps_per_epoch == 0 else round(epoch_float, 3),
                        "step": step,
                        "train_loss": acc[0] / max(acc[2], 1),
                        "train_top1_error": 1 - acc[1] / max(acc[2], 1),
                        "val_loss": None,
                        "val_top1_error": None,
                        "val_top5_error": None,
                        "lr": lr,
                        "images_per_s": seg_images / seg_time if seg_time > 0 else 0.0,
                    }
                    if epoch_index % cfg.eval_every == 0 or step == total_steps:
                        sync_buffers()
                        val = evaluate_model(eval_model, val_loader, eval_tf, device, dist, autocast, cfg.channels_last)
                        record.update(
                            val_loss=val["loss"], val_top1_error=val["top1_error"], val_top5_error=val["top5_error"]
                        )
                        val_errors.append(val["top1_error"])
                    record["wall_s"] = wall_before + time.monotonic() - t_start
                    history.append(record)
                    epoch_acc.zero_()
                    is_best = record["val_top1_error"] is not None and record["val_top1_error"] < best_top1
                    if is_best:
                        best_top1 = record["val_top1_error"]
                    if dist.is_main:
                        log.record("epoch", step, record)
                        v = record["val_top1_error"]
                        say(
                            f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, train top-1 err "
                            f"{100 * record['train_top1_error']:.2f}%"
                            + (
                                f", val top-1/top-5 err {100 * v:.2f}%/{100 * record['val_top5_error']:.2f}%"
                                if v is not None
                                else ""
                            )
                            + f", lr {lr:.3g}, {record['images_per_s']:.0f} img/s"
                        )
                    sync_buffers()
                    save("last.pt", epoch_float)
                    if is_best:
                        save("best.pt", epoch_float)
                    seg_start, seg_images = time.monotonic(), 0
                elif cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    sync_buffers()
                    save("last.pt", step / steps_per_epoch)

                # ----- stop requests: a signal, or the configured stop step
                requested = stop.signum is not None
                if dist.enabled:
                    requested = distributed.any_flag(requested, dist, device) if step % cfg.log_every == 0 else False
                if requested or (cfg.stop_at_step is not None and step == cfg.stop_at_step and step < total_steps):
                    if not epoch_end:
                        train_time += time.monotonic() - seg_start
                        sync_buffers()
                        save("last.pt", step / steps_per_epoch)
                    if requested:
                        signum = stop.signum or signal.SIGTERM
                        name = signal.Signals(signum).name
                        interrupt = Interrupted(
                            f"stopped by {name} at step {step}/{total_steps}; checkpoint saved to "
                            f"{out / 'checkpoints' / 'last.pt'} (continue with --resume --out {out})",
                            signum,
                        )
                    stopped = True
                    break
                if step >= total_steps:
                    break
            if stopped:
                break
            loader.set_epoch(step // steps_per_epoch)
    progress.close()

    last = history[-1] if history else {}
    summary = {
        "model": cfg.model,
        "recipe": cfg.recipe,
        "val_top1_error": last.get("val_top1_error"),
        "val_top5_error": last.get("val_top5_error"),
        "val_loss": last.get("val_loss"),
        "best_val_top1_error": None if math.isinf(best_top1) else best_top1,
        "train_loss": last.get("train_loss"),
        "images_per_s": images_seen / train_time if train_time > 0 else 0.0,
        "wall_s": wall_before + time.monotonic() - t_start,
        "epochs": step / steps_per_epoch,
        "steps": step,
        "total_steps": total_steps,
        "finished": step >= total_steps,
        "out": str(out),
        "data": cfg.data,
        "train_images": len(train_set),
        "val_images": len(val_set),
        "device": device.type,
        "world_size": dist.world_size,
        "params": fingerprint["params"],
        "macs": fingerprint["macs"],
    }
    if dist.is_main:
        log.close()
        if history and not stopped:
            plot_curves(history, out / "curves.png", f"{cfg.model}, recipe '{cfg.recipe}'")
            write_report(out, summary, history, cfg.to_dict(), RECIPES[cfg.recipe].paper)
    if interrupt is not None:
        raise interrupt
    eval_model.eval()
    return TrainResult(summary=summary, history=history, model=eval_model, config=cfg, out=out, step_times=step_times)

"""The training loop: one loop for CPU and CUDA, one process or many (torchrun), that knows no model.

`train()` reads as setup -> epochs -> finish. Per optimizer step (`train_step`): a uint8 batch from the
loader -> device -> batched augmentation (own generator) -> forward (autocast per `--precision`) -> loss
(+ weighted auxiliary losses when the model returns several outputs) -> backward over `grad_accum`
micro-batches -> optimizer step -> EMA or lookahead. Loss and accuracy accumulate on the device and are read
once per log interval, so no step waits for the host. Everything a checkpoint holds lives in `RunState`
(train/state.py); the constant parts of a run (data, loaders, schedule, precision, logs) in `Run` (train/setup.py).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc import metrics
from ilsvrc.errors import RunError
from ilsvrc.locks import folder_lock
from ilsvrc.safety import check_output_dir
from ilsvrc.train import checkpoint as ckpt_io
from ilsvrc.train import distributed
from ilsvrc.train.config import RECIPES, TrainConfig
from ilsvrc.train.logging import plot_curves, write_report
from ilsvrc.train.optim import set_lr
from ilsvrc.train.setup import (
    Run,
    check_resumable,
    claim_run_folder,
    default_out,
    load_for_resume,
    prepare_run,
    select_device,
)
from ilsvrc.train.spec import ModelSpec
from ilsvrc.train.state import RunState

class_log_probs = metrics.class_log_probs  # kept importable from here


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


# ------------------------------------------------------------------------------------------------ entry point


def train(
    config: TrainConfig,
    train_set: Any | None = None,
    val_set: Any | None = None,
    model_options: dict[str, Any] | None = None,
    model: nn.Module | ModelSpec | None = None,
) -> TrainResult:
    """Train on `config.data` (or the given ArrayDatasets) following `config.recipe`.

    `model`: a built network or a `ModelSpec` (required: `ilsvrc.train.train` makes the spec of `config.model`
    from the registry; this module never looks a model up). Writes config.yaml, metrics.jsonl,
    checkpoints/{last,best}.pt, curves.png, report.md and summary.json into `config.out` (rank 0 only).
    """
    t_start = time.monotonic()
    cfg = config.resolve()
    if model_options:
        cfg = cfg.replace(model_options={**cfg.model_options, **model_options})
    cfg = cfg.replace(out=cfg.out or default_out(cfg.model))
    out = Path(cfg.out)
    check_output_dir(out)  # a path under a file, a read-only disk: say so before loading any data
    if cfg.resume:
        check_resumable(out)  # before the lock creates the folder
    device = select_device(cfg)
    dist = distributed.setup(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    try:
        with folder_lock(out, "run folder") if dist.is_main else contextlib.nullcontext():
            resume = None
            if cfg.resume:
                cfg, resume = load_for_resume(cfg, out)
            elif dist.is_main:
                claim_run_folder(out, cfg.overwrite)
            run, state = prepare_run(cfg, out, device, dist, train_set, val_set, model, resume, t_start)
            with _StopFlag() as stop:
                run.forward.train()
                while state.step < run.total_steps and not reached_target(run.cfg, state.history):
                    if train_one_epoch(run, state, stop):
                        break
            result = _finish(run, state)
        distributed.barrier(dist)  # no rank tears gloo down while another is still in a collective (SIGABRT)
        return result
    finally:
        distributed.teardown(dist)


# ------------------------------------------------------------------------------------------------ one step


def _split_outputs(out: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, auxiliary logits): models such as GoogLeNet return (main, aux1, aux2) in train mode."""
    if isinstance(out, (tuple, list)):
        return out[0], [o for o in out[1:] if o is not None]
    return out, []


def train_step(run: Run, state: RunState, images: torch.Tensor, labels: torch.Tensor) -> None:
    """One optimizer step over `grad_accum` micro-batches; sums stay on the device."""
    cfg = run.cfg
    images = images.to(run.device, non_blocking=True)
    labels = labels.to(run.device, non_blocking=True)
    run.augment.out_size = run.train_side(state.step)  # a function of the step, so resume needs no state for it
    if run.flips is not None:  # --flip alternate: this batch's images, flipped by (image, epoch)
        x = run.augment(images, state.augment_gen, mirror=run.flips(run.loader.last_indices, run.loader.epoch))
    else:
        x = run.augment(images, state.augment_gen)
    if run.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    run.lr = run.schedule.lr_at(state.step, state.val_errors)
    early = run.schedule.early_until
    set_lr(state.optimizer, run.lr, frozen_early=early is not None and state.step >= early)
    for i, (xb, yb) in enumerate(zip(x.chunk(cfg.grad_accum), labels.chunk(cfg.grad_accum), strict=True)):
        last_micro = i == cfg.grad_accum - 1
        sync = run.ddp.no_sync() if run.dist.enabled and not last_micro else contextlib.nullcontext()
        with sync:
            with run.precision.autocast():
                main, aux = _split_outputs(run.forward(xb))
                main_loss = F.cross_entropy(main.float(), yb, label_smoothing=cfg.label_smoothing)
                loss = main_loss
                for a in aux:
                    loss = loss + cfg.aux_weight * F.cross_entropy(a.float(), yb, label_smoothing=cfg.label_smoothing)
            scaled = loss / cfg.grad_accum
            (state.scaler.scale(scaled) if state.scaler is not None else scaled).backward()
        with torch.no_grad():
            n = yb.numel()
            count = torch.full((), float(n), device=run.device)
            state.epoch_acc += torch.stack([main_loss.detach() * n, (main.argmax(1) == yb).sum().float(), count])
            run.nonfinite |= ~torch.isfinite(loss.detach())
    if state.scaler is not None:
        state.scaler.step(state.optimizer)
        state.scaler.update()
    else:
        state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    if state.ema is not None:
        state.ema.update(state.model)
    state.step += 1
    if state.lookahead is not None:
        state.lookahead.update(state.model, state.step)
    run.step_times.append(time.monotonic())
    seen = labels.numel() * run.dist.world_size
    run.seg_images += seen
    state.images_seen += seen


# ------------------------------------------------------------------------------------------------ one epoch


def train_one_epoch(run: Run, state: RunState, stop: _StopFlag) -> bool:
    """The rest of the current epoch; True when the run stops early (a signal or `stop_at_step`)."""
    cfg = run.cfg
    for images, labels in run.loader:
        train_step(run, state, images, labels)
        epoch_end = state.step % run.steps_per_epoch == 0 or state.step == run.total_steps
        _log_step(run, state, epoch_end)
        if epoch_end:
            _end_epoch(run, state)
        elif cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
            _save(run, state)
        if _stop_requested(run, state, stop, epoch_end):
            return True
        if state.step >= run.total_steps:
            break
    run.loader.set_epoch(state.step // run.steps_per_epoch)
    return False


def _log_step(run: Run, state: RunState, epoch_end: bool) -> None:
    step = state.step
    if run.dist.is_main and run.progress.bar is not None and step % run.cfg.log_every:
        run.progress.update(step, run.last_info)
    if step % run.cfg.log_every and not epoch_end:
        return
    _check_finite(run, state)
    acc = distributed.all_sum(state.epoch_acc.clone(), run.dist).tolist()
    elapsed = time.monotonic() - run.seg_start
    run.last_info = {
        "loss": acc[0] / max(acc[2], 1),
        "err": 1 - acc[1] / max(acc[2], 1),
        "lr": run.lr,
        "img/s": (run.seg_images / elapsed) if elapsed > 0 else 0.0,
    }
    if run.dist.is_main:
        run.progress.update(step, run.last_info)
        run.log.record("step", step, {"epoch": step / run.steps_per_epoch, **run.last_info})
    _check_divergence(run, state, acc[0], acc[2])


def _chance_loss(run: Run) -> float:
    return math.log(max(2, len(run.train_set.classes)))


def _check_divergence(run: Run, state: RunState, loss_sum: float, count: float) -> None:
    """Stop a run whose loss, past warm-up, stays far above chance (ln classes): it is not going to learn.

    The loss is the mean over the steps since the last log point (not the epoch's running mean, which lags a
    net that blew up and recovered), and it must be too high at two log points in a row. A finite loss of 133
    with 10 classes (AlexNet at 'quick's lr 0.2) passes the NaN guard; this names the cause. Every rank sees
    the same summed loss, so all stop together."""
    last_sum, last_count = run.loss_mark
    run.loss_mark = (loss_sum, count)
    if count <= last_count:
        return
    loss = (loss_sum - last_sum) / (count - last_count)
    chance = _chance_loss(run)
    limit = 3 * chance + 1  # 3x chance (+1 so 2-class runs get headroom); a learning net stays below ln C
    past_warmup = state.step > max(run.schedule.warmup, 10)
    run.strikes = run.strikes + 1 if past_warmup and loss > limit else 0
    if run.strikes < 2:
        return
    cfg = run.cfg
    raise RunError(
        f"training diverged: train loss {loss:.1f} at step {state.step} stays far above chance "
        f"(ln {len(run.train_set.classes)} classes = {chance:.2f}); lr {run.lr:.3g} of the '{cfg.recipe}' recipe "
        f"is likely too high for {cfg.model}: try --lr {run.lr / 10:.3g} or another --recipe"
    )


def _end_epoch(run: Run, state: RunState) -> None:
    """Close an epoch (or the run's last partial one): record, evaluate when due, log, checkpoint."""
    seg_time = time.monotonic() - run.seg_start
    state.train_time += seg_time
    acc = distributed.all_sum(state.epoch_acc.clone(), run.dist).tolist()
    epoch_float = state.step / run.steps_per_epoch
    epoch_index = math.ceil(epoch_float - 1e-9)
    record: dict[str, Any] = {
        "epoch": epoch_index if state.step % run.steps_per_epoch == 0 else round(epoch_float, 3),
        "step": state.step,
        "train_loss": acc[0] / max(acc[2], 1),
        "train_top1_error": 1 - acc[1] / max(acc[2], 1),
        "val_loss": None,
        "val_top1_error": None,
        "val_top5_error": None,
        "lr": run.lr,
        "images_per_s": run.seg_images / seg_time if seg_time > 0 else 0.0,
    }
    reached = reached_target(run.cfg, [record])
    if epoch_index % run.cfg.eval_every == 0 or state.step == run.total_steps or reached:
        _sync_buffers(run, state)
        val = evaluate(
            state.eval_model,
            run.val_loader,
            run.eval_tf,
            run.device,
            run.dist,
            run.precision.autocast,
            run.channels_last,
        )
        record.update(val_loss=val["loss"], val_top1_error=val["top1_error"], val_top5_error=val["top5_error"])
        state.val_errors.append(val["top1_error"])
    record["wall_s"] = run.wall_s(state)
    state.history.append(record)
    state.epoch_acc.zero_()
    run.loss_mark = (0.0, 0.0)  # the divergence check's interval starts again with the epoch sums
    is_best = record["val_top1_error"] is not None and record["val_top1_error"] < state.best_top1
    if is_best:
        state.best_top1 = record["val_top1_error"]
    if run.dist.is_main:
        run.log.record("epoch", state.step, record)
        run.say(_epoch_line(record))
        _warn_at_chance(run, state, record)
        if reached and state.step < run.total_steps:
            run.say(
                f"training error {100 * record['train_top1_error']:.2f}% <= {100 * run.cfg.stop_at_train_error:g}% "
                f"after epoch {epoch_index}: the run ends here (--stop-at-train-error)"
            )
    _save(run, state, best=is_best)
    run.seg_start, run.seg_images = time.monotonic(), 0


def reached_target(cfg: TrainConfig, history: list[dict[str, Any]]) -> bool:
    """--stop-at-train-error: the last record closes a whole epoch whose training top-1 error is at or below it.

    Read from the history, so a resumed run that had reached its target trains no further steps."""
    target = cfg.stop_at_train_error
    if target is None or not history:
        return False
    last = history[-1]
    return isinstance(last["epoch"], int) and last["train_top1_error"] <= target


def _warn_at_chance(run: Run, state: RunState, record: dict[str, Any]) -> None:
    """One warning line when, from the second epoch past warm-up, training accuracy is still at chance."""
    classes = len(run.train_set.classes)
    at_chance = 1 - record["train_top1_error"] < 1.2 / classes
    if len(state.history) >= 2 and state.step > run.schedule.warmup and at_chance and not run.warned:
        run.warned = True
        run.say(
            f"warning: train accuracy {100 * (1 - record['train_top1_error']):.1f}% is at chance "
            f"({100 / classes:.1f}% for {classes} classes) after {record['epoch']} epochs; check the lr "
            f"({run.lr:.3g}) and the recipe ('{run.cfg.recipe}')"
        )


def _epoch_line(r: dict[str, Any]) -> str:
    v = r["val_top1_error"]
    val = f", val top-1/top-5 err {100 * v:.2f}%/{100 * r['val_top5_error']:.2f}%" if v is not None else ""
    return (
        f"epoch {r['epoch']}: train loss {r['train_loss']:.4f}, train top-1 err {100 * r['train_top1_error']:.2f}%"
        f"{val}, lr {r['lr']:.3g}, {r['images_per_s']:.0f} img/s"
    )


def _stop_requested(run: Run, state: RunState, stop: _StopFlag, epoch_end: bool) -> bool:
    """A signal (agreed over all ranks) or the configured stop step: save last.pt and say so."""
    cfg, step = run.cfg, state.step
    requested = stop.signum is not None
    if run.dist.enabled:
        requested = distributed.any_flag(requested, run.dist, run.device) if step % cfg.log_every == 0 else False
    at_stop_step = cfg.stop_at_step is not None and step == cfg.stop_at_step and step < run.total_steps
    if not (requested or at_stop_step):
        return False
    if not epoch_end:
        state.train_time += time.monotonic() - run.seg_start
        _save(run, state)
    if requested:
        signum = stop.signum or signal.SIGTERM
        run.interrupt = Interrupted(
            f"stopped by {signal.Signals(signum).name} at step {step}/{run.total_steps}; checkpoint saved to "
            f"{run.out / 'checkpoints' / 'last.pt'} (continue with --resume --out {run.out})",
            signum,
        )
    run.stopped = True
    return True


# ------------------------------------------------------------------------------------------------ checkpoints


def _check_finite(run: Run, state: RunState) -> None:
    bad = distributed.all_sum(run.nonfinite.float().reshape(1), run.dist)  # collective: every rank stops together
    if bool(bad.item()):
        raise RunError(
            f"loss became NaN or infinite before step {state.step}; stopped. The last good checkpoint is "
            f"{run.out / 'checkpoints' / 'last.pt'} (try a lower --lr)"
        )


def _sync_buffers(run: Run, state: RunState) -> None:
    """DDP leaves each rank with its own BatchNorm running statistics; evaluate and save rank 0's."""
    if run.dist.enabled:
        for module in (state.model, state.averaged):
            if module is not None:
                for b in module.buffers():
                    torch.distributed.broadcast(b, 0)


def _save(run: Run, state: RunState, best: bool = False) -> None:
    """last.pt (the full resume state; collective under DDP) and, for a new best, best.pt (weights only)."""
    _sync_buffers(run, state)
    _check_finite(run, state)
    ckpt = state.state_dict(run.dist, run.wall_s(state), state.step / run.steps_per_epoch, run.schedule_facts())
    if run.dist.is_main:
        ckpt_io.save_atomic(ckpt, run.out / "checkpoints" / "last.pt")
        if best:
            ckpt_io.save_atomic(state.weights_only(), run.out / "checkpoints" / "best.pt")


# ------------------------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate(
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
            logp = metrics.class_log_probs(model, x, getattr(transform, "view_weights", None))
        sums += metrics.batch_sums(logp, labels.to(device, non_blocking=True))
    distributed.all_sum(sums, dist or distributed.Dist())
    model.train(was_training)
    return metrics.from_sums(sums)


evaluate_model = evaluate  # the name before the split


# ------------------------------------------------------------------------------------------------ finish


def _finish(run: Run, state: RunState) -> TrainResult:
    """Summary, plots and report (rank 0); re-raise a signal stop; the trained model in eval mode."""
    run.progress.close()
    cfg, last = run.cfg, (state.history[-1] if state.history else {})
    reached = reached_target(cfg, state.history)
    summary = {
        "model": cfg.model,
        "recipe": cfg.recipe,
        "val_top1_error": last.get("val_top1_error"),
        "val_top5_error": last.get("val_top5_error"),
        "val_loss": last.get("val_loss"),
        "best_val_top1_error": None if math.isinf(state.best_top1) else state.best_top1,
        "train_loss": last.get("train_loss"),
        "final_lr": run.lr,
        "images_per_s": state.images_seen / state.train_time if state.train_time > 0 else 0.0,
        "wall_s": run.wall_s(state),
        "epochs": state.step / run.steps_per_epoch,
        "steps": state.step,
        "total_steps": run.total_steps,
        "finished": state.step >= run.total_steps or reached,
        "reached_target": reached,  # --stop-at-train-error ended it
        "out": str(run.out),
        "data": cfg.data,
        "train_images": len(run.train_set),
        "val_images": len(run.val_set),
        "stored_size": list(run.train_set.images.shape[1:3]),  # the data's side as decoded / packed (pixels)
        "input_size": state.facts["input_size"],  # the side the network trained at
        **run.choices(),
        "world_size": run.dist.world_size,
        "params": state.facts["fingerprint"]["params"],
        "macs": state.facts["fingerprint"]["macs"],
    }
    if run.dist.is_main:
        run.log.close()
        if state.history and not run.stopped:
            plot_curves(state.history, run.out / "curves.png", f"{cfg.model}, recipe '{cfg.recipe}'")
            write_report(run.out, summary, state.history, cfg.to_dict(), RECIPES[cfg.recipe].paper)
    if run.interrupt is not None:
        raise run.interrupt
    model = state.eval_model.eval()
    return TrainResult(summary, state.history, model, config=cfg, out=run.out, step_times=run.step_times)

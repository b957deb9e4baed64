"""The training engine: recipes and schedules, learning, exact resume, signals, NaN stops, torchrun DDP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ilsvrc.data.dataset import ArrayDataset
from ilsvrc.errors import RunError, UserError
from ilsvrc.train import RECIPES, TrainConfig, train
from ilsvrc.train.checkpoint import load
from ilsvrc.train.optim import Schedule, plateau_drops

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_dataset(n: int, size: int = 16, chans: int = 3, classes: int = 4, seed: int = 0) -> ArrayDataset:
    """Learnable toy images: each class is a brightness level plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    labels = labels[torch.randperm(n, generator=g)]
    noise = torch.rand(n, size, size, chans, generator=g) * 80
    images = (noise + labels.view(-1, 1, 1, 1) * (170 / max(1, classes - 1))).clamp(0, 255).to(torch.uint8)
    return ArrayDataset(images, labels, [f"c{i}" for i in range(classes)], (0.5,) * chans, (0.3,) * chans)


def tiny_config(tmp_path: Path, name: str = "run", **kw) -> TrainConfig:
    base = dict(
        model="resnet20",
        recipe="quick",
        epochs=2,
        batch_size=16,
        lr=0.05,
        out=str(tmp_path / name),
        progress=False,
        tensorboard=False,
        workers_threads=1,  # every core is the default; tests share the machine
    )
    return TrainConfig(**{**base, **kw})


# ------------------------------------------------------------------------------------------- config & schedule


def test_every_recipe_resolves_and_cites_its_paper():
    for name, recipe in RECIPES.items():
        cfg = TrainConfig(recipe=name).resolve()
        assert cfg.lr > 0 and cfg.batch_size > 0 and cfg.schedule
        assert recipe.paper
    assert set(RECIPES) >= {"alexnet", "vgg", "googlenet", "resnet-imagenet", "resnet-cifar", "modern"}
    assert TrainConfig(recipe="googlenet").resolve().aux_weight == 0.3


def test_explicit_fields_override_the_recipe():
    cfg = TrainConfig(recipe="resnet-cifar", lr=0.05, epochs=3).resolve()
    assert cfg.lr == 0.05 and cfg.weight_decay == 1e-4
    assert cfg.max_steps is None and cfg.epochs == 3  # an explicit epoch count replaces the 64k iterations


def test_resnet110_gets_the_papers_warmup_and_resnet20_does_not():
    assert TrainConfig(model="resnet110", recipe="resnet-cifar").resolve().warmup_lr == 0.01
    assert TrainConfig(model="resnet20", recipe="resnet-cifar").resolve().warmup_steps is None


def test_config_validation_is_one_line_user_errors():
    with pytest.raises(UserError, match="unknown recipe"):
        TrainConfig(recipe="nope")
    with pytest.raises(UserError, match="budget"):
        TrainConfig(budget=0)
    with pytest.raises(UserError, match="milestones"):
        TrainConfig(milestones=(32000,))


def test_budget_keeps_the_resnet_cifar_shape():
    cfg = TrainConfig(recipe="resnet-cifar", budget=0.1).resolve()
    total = round(cfg.max_steps * cfg.budget)
    s = Schedule.from_config(cfg, total, steps_per_epoch=390)
    assert total == 6400 and s.milestones == (3200, 4800)
    assert [s.lr_at(t) for t in (0, 3199, 3200, 4799, 4800, 6399)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )


def test_lr_is_a_pure_function_of_the_step():
    cfg = TrainConfig(recipe="modern", warmup_epochs=1).resolve()
    s = Schedule.from_config(cfg, total_steps=100, steps_per_epoch=10)
    lrs = [s.lr_at(t) for t in range(100)]
    assert lrs == [s.lr_at(t) for t in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(0.1) and lrs[-1] < 1e-3
    g = Schedule.from_config(TrainConfig(recipe="googlenet").resolve(), total_steps=10_000, steps_per_epoch=100)
    assert g.lr_at(799) == pytest.approx(0.01) and g.lr_at(800) == pytest.approx(0.0096)


def test_plateau_drops_are_a_function_of_the_recorded_errors():
    assert plateau_drops([0.5, 0.4, 0.3], patience=2, max_drops=3) == 0
    assert plateau_drops([0.5, 0.4, 0.41, 0.42], patience=2, max_drops=3) == 1
    assert plateau_drops([0.5] * 20, patience=2, max_drops=3) == 3
    cfg = TrainConfig(recipe="alexnet").resolve()
    s = Schedule.from_config(cfg, total_steps=1000, steps_per_epoch=10)
    assert s.lr_at(500, [0.5] * 6) == pytest.approx(0.001)


# ------------------------------------------------------------------------------------------- training


def test_overfits_a_small_batch(tmp_path):
    data = tiny_dataset(16, size=8)
    cfg = tiny_config(
        tmp_path,
        max_steps=40,
        batch_size=16,
        lr=0.02,
        schedule="constant",
        warmup_epochs=0,
        augment="none",
        label_smoothing=0.0,
        weight_decay=0.0,
        optimizer="adamw",
        momentum=0.9,
    )
    result = train(cfg, data, data)
    assert result.history[0]["train_loss"] > 1.0
    assert result.summary["train_loss"] < 0.05
    assert result.summary["val_top1_error"] == 0.0


def test_run_directory_holds_the_promised_files(tmp_path):
    result = train(tiny_config(tmp_path, epochs=2), tiny_dataset(64), tiny_dataset(21, seed=1))
    out = Path(result.summary["out"])
    for name in ("config.yaml", "metrics.jsonl", "curves.png", "report.md", "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert 0 <= summary["val_top1_error"] <= summary["val_top1_error"] + summary["val_top5_error"] <= 2
    assert summary["images_per_s"] > 0 and summary["steps"] == 8
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert set(result.history[0]) >= {
        "train_loss",
        "train_top1_error",
        "val_loss",
        "val_top1_error",
        "val_top5_error",
        "lr",
        "images_per_s",
        "wall_s",
    }
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for r in lines if r["kind"] == "epoch") == 2


def test_checkpoint_loads_with_weights_only_and_holds_the_resume_state(tmp_path):
    result = train(tiny_config(tmp_path, epochs=1, ema=0.9), tiny_dataset(32), tiny_dataset(8))
    path = Path(result.summary["out"]) / "checkpoints" / "last.pt"
    raw = torch.load(path, weights_only=True)  # no pickled code anywhere
    assert raw == raw  # loaded
    ckpt = load(path)
    for key in (
        "model",
        "optimizer",
        "ema",
        "scaler",
        "rng",
        "loader",
        "step",
        "epoch",
        "config",
        "classes",
        "format_version",
        "fingerprint",
        "schedule",
    ):
        assert key in ckpt, key
    assert ckpt["classes"] == ["c0", "c1", "c2", "c3"] and ckpt["step"] == 2
    assert ckpt["fingerprint"]["params"] == sum(p.numel() for p in result.model.parameters())
    assert ckpt["config"]["model"] == "resnet20"
    assert (Path(result.summary["out"]) / "checkpoints" / "best.pt").is_file()


def test_resume_after_a_stop_mid_epoch_is_bitwise_identical(tmp_path):
    train_set, val_set = tiny_dataset(80), tiny_dataset(20, seed=1)
    kw = dict(epochs=3, batch_size=16, ema=0.9, checkpoint_every=0)
    whole = train(tiny_config(tmp_path, "whole", **kw), train_set, val_set)
    part = train(tiny_config(tmp_path, "split", stop_at_step=7, **kw), train_set, val_set)  # 5 steps per epoch
    assert part.summary["steps"] == 7 and not part.summary["finished"]
    resumed = train(tiny_config(tmp_path, "split", resume=True, **kw), train_set, val_set)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    wa = load(tmp_path / "whole" / "checkpoints" / "last.pt")["model"]
    wb = load(tmp_path / "split" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]
    assert [h["val_top1_error"] for h in whole.history] == [h["val_top1_error"] for h in resumed.history]


def test_stop_at_train_error_ends_after_the_first_epoch_at_the_target_and_resume_adds_nothing(tmp_path):
    train_set, val_set = tiny_dataset(80), tiny_dataset(20, seed=1)
    kw = dict(model="cifar_convnet", epochs=4, batch_size=16, checkpoint_every=0, eval_every=4)
    whole = train(tiny_config(tmp_path, "whole", **kw), train_set, val_set)
    errors = [h["train_top1_error"] for h in whole.history]
    assert errors[2] < errors[0]  # the toy net learns, so a target between them is met part-way
    target = errors[2]
    first = next(i for i, e in enumerate(errors) if e <= target)  # 0-based epoch the target is first met
    assert first < 3
    part = train(tiny_config(tmp_path, "part", stop_at_train_error=target, **kw), train_set, val_set)
    s = part.summary
    assert s["steps"] == 5 * (first + 1) and s["finished"] and s["reached_target"]  # 5 steps per epoch
    assert [h["train_loss"] for h in part.history] == [h["train_loss"] for h in whole.history[: first + 1]]
    assert part.history[-1]["val_top1_error"] is not None  # evaluated where it stopped, though eval_every is 4
    resumed = train(tiny_config(tmp_path, "part", resume=True, stop_at_train_error=target, **kw), train_set, val_set)
    assert resumed.summary["steps"] == s["steps"] and len(resumed.history) == first + 1
    assert not whole.summary["reached_target"] and whole.summary["finished"]


def test_stop_at_train_error_is_a_fraction():
    for bad in (0.0, 1.0, 25.0, -0.1):
        with pytest.raises(UserError, match="stop_at_train_error is a fraction in"):
            TrainConfig(model="resnet20", stop_at_train_error=bad).resolve()


def test_grad_accumulation_and_googlenet_style_aux_outputs_train(tmp_path):
    result = train(
        tiny_config(tmp_path, epochs=1, grad_accum=2, no_wd_norm_bias=True), tiny_dataset(32), tiny_dataset(8)
    )
    assert result.summary["steps"] == 2 and result.summary["train_loss"] > 0


def test_amp_channels_last_and_ema_run_on_cpu(tmp_path):
    cfg = tiny_config(tmp_path, max_steps=2, amp=True, channels_last=True, ema=0.99)
    result = train(cfg, tiny_dataset(32), tiny_dataset(8))
    assert result.summary["steps"] == 2 and result.summary["val_top1_error"] is not None


def test_auxiliary_outputs_are_weighted_into_the_loss(tmp_path):
    # GoogLeNet returns (main, aux1, aux2) in train mode; the googlenet recipe weights the auxiliaries by 0.3
    cfg = tiny_config(
        tmp_path, model="googlenet", recipe="googlenet", max_steps=1, batch_size=4, input_size=32, eval_every=1
    )
    result = train(cfg, tiny_dataset(8, size=32), tiny_dataset(4, size=32))
    assert result.summary["steps"] == 1 and result.config.aux_weight == 0.3
    assert not result.model.training


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, epochs=3, lr=1e30, warmup_epochs=0, schedule="constant", checkpoint_every=1)
    with pytest.raises(RunError, match="NaN or infinite") as err:
        train(cfg, tiny_dataset(32), tiny_dataset(8))
    assert "\n" not in str(err.value)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    if last.exists():  # whatever was saved is finite
        assert all(torch.isfinite(v).all() for v in load(last)["model"].values() if v.is_floating_point())


def test_unknown_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown model"):
        train(tiny_config(tmp_path, model="resnet21"), tiny_dataset(32), tiny_dataset(8))


# ------------------------------------------------------------------------------------------- processes


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_sigterm_saves_a_loadable_checkpoint_and_exits_143(tmp_path):
    out = tmp_path / "sig"
    cmd = [
        sys.executable,
        "-m",
        "ilsvrc",
        "train",
        "resnet20",
        "--train-subset",
        "512",
        "--epochs",
        "50",
        "--batch-size",
        "32",
        "--out",
        str(out),
        "--log-every",
        "1",
        "--no-progress",
        "--threads",
        "1",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    ckpt = load(out / "checkpoints" / "last.pt")
    assert ckpt["step"] >= 3 and ckpt["config"]["model"] == "resnet20"


_DDP_WORKER = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from test_train import tiny_dataset
from ilsvrc.train import TrainConfig, train
torch.set_num_threads(1)
cfg = TrainConfig(model="cifar_convnet", recipe="quick", epochs=2, batch_size=16, lr=0.05, augment="none",
                  out=sys.argv[1], progress=False, tensorboard=False, label_smoothing=0.0, precision="fp32",
                  workers_threads=1)
result = train(cfg, tiny_dataset(64, size=8), tiny_dataset(37, size=8, seed=1))  # 37: uneven shards
if torch.distributed.is_initialized() or result.summary["world_size"] == 1:
    pass
import os
if int(os.environ.get("RANK", "0")) == 0:
    json.dump(result.summary, open(sys.argv[1] + ".json", "w"))
"""


def test_torchrun_two_processes_match_one_process(tmp_path):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not on PATH")
    worker = tmp_path / "worker.py"
    worker.write_text(_DDP_WORKER.format(tests=str(Path(__file__).parent)))
    results = {}
    for n in (1, 2):
        out = str(tmp_path / f"ddp{n}")
        cmd = ["torchrun", f"--nproc_per_node={n}", "--standalone", str(worker), out]
        done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        results[n] = json.loads(Path(out + ".json").read_text())
    one, two = results[1], results[2]
    assert two["world_size"] == 2 and two["val_images"] == 37
    assert two["steps"] == one["steps"] == 8
    for key in ("val_top1_error", "val_top5_error", "val_loss", "train_loss"):
        assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-5), key


def test_cli_reads_a_config_file_and_flags_override_it(tmp_path, capsys):
    from ilsvrc.cli import main

    config = tmp_path / "c.yaml"
    config.write_text("model: resnet20\nrecipe: quick\nmax_steps: 2\nbatch_size: 16\ntrain_subset: 64\nlr: 0.5\n")
    out = tmp_path / "cli"
    code = main(
        ["train", "--config", str(config), "--lr", "0.01", "--out", str(out), "--no-progress", "--threads", "1"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "validation: top-1 error" in text and str(out) in text
    saved = (out / "config.yaml").read_text()
    assert "lr: 0.01" in saved and "train_subset: 64" in saved
    assert main(["train", "--recipe", "nope"]) == 2

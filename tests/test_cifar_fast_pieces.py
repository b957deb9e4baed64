"""The airbench pieces of the cifar-fast recipe, each an engine option: lookahead, alternating flips, test-time
views, the triangle schedule, lr per batch size, the early-only whitening bias and Muon on the filters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc.data import AlternatingFlip, EvalTransform, TrainAugment, TTAViews, load_dataset
from ilsvrc.errors import UserError
from ilsvrc.metrics import class_log_probs
from ilsvrc.models import create_model
from ilsvrc.train import TrainConfig, train
from ilsvrc.train.checkpoint import load
from ilsvrc.train.optim import Schedule, build_optimizer, set_lr
from ilsvrc.train.state import Lookahead

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fashion():
    """256 training and 64 test images of the bundled Fashion-MNIST: real pixels, 28 px, one channel."""
    data = load_dataset(None, "train")
    return data.subset(torch.arange(256)), load_dataset(None, "val").subset(torch.arange(64))


def _speedrun(tmp_path, name: str, **kw) -> TrainConfig:
    base = dict(
        model="speedrun_cifar",
        recipe="cifar-fast",
        model_options={"widths": [8, 16, 16]},
        batch_size=64,
        epochs=3,
        out=str(tmp_path / name),
        progress=False,
        tensorboard=False,
        workers_threads=1,
        checkpoint_every=0,
    )
    return TrainConfig(**{**base, **kw})


# ------------------------------------------------------------------------------------------------ flips


def test_alternating_flip_mirrors_every_image_on_every_other_epoch():
    flips = AlternatingFlip(2000, seed=3)
    idx = np.arange(2000)
    first = flips(idx, 0)
    assert 0.45 < first.mean() < 0.55  # epoch 0: a fair coin per image
    for epoch in range(1, 6):
        assert np.array_equal(flips(idx, epoch), first ^ (epoch % 2 == 1))
    assert np.array_equal(AlternatingFlip(2000, seed=3)(idx, 0), first)  # seeded: the same on a resume
    assert not np.array_equal(AlternatingFlip(2000, seed=4)(idx, 0), first)
    assert np.array_equal(flips(np.array([7, 3]), 1), ~first[[7, 3]])  # looked up by dataset position


def test_train_augment_applies_the_flips_it_is_given():
    x = torch.randint(0, 255, (4, 12, 12, 3), dtype=torch.uint8)
    aug = TrainAugment("pad-crop-flip", 12, (0.5,) * 3, (0.25,) * 3, pad=0, flip=False)
    plain = aug(x, torch.Generator().manual_seed(0))
    mirror = np.array([True, False, True, False])
    out = aug(x, torch.Generator().manual_seed(0), mirror=mirror)
    assert torch.allclose(out[mirror], plain[mirror].flip(-1)) and torch.equal(out[~mirror], plain[~mirror])


def test_reflect_padding_crops_match_torch_reflect_pad():
    """pad-crop-flip with pad_mode='reflect' equals F.pad(mode='reflect') followed by the same integer crop."""
    x = torch.randint(0, 255, (64, 9, 9, 3), dtype=torch.uint8)
    aug = TrainAugment("pad-crop-flip", 9, (0.0,) * 3, (1 / 255,) * 3, pad=2, pad_mode="reflect", flip=False)
    out = aug(x, torch.Generator().manual_seed(1))  # (B, C, 9, 9), pixel values (scale 1, shift 0)
    shifts = torch.randint(0, 5, (2, 64), generator=torch.Generator().manual_seed(1)) - 2  # the windows aug drew
    padded = F.pad(x.permute(0, 3, 1, 2).float(), (2, 2, 2, 2), mode="reflect")
    for i in range(64):
        top, left = int(shifts[0, i]) + 2, int(shifts[1, i]) + 2
        assert torch.equal(out[i], padded[i, :, top : top + 9, left : left + 9]), i
    assert (shifts != 0).any(dim=0).sum() > 40  # most crops reach into the padding
    zero = TrainAugment("pad-crop-flip", 9, (0.0,) * 3, (1 / 255,) * 3, pad=2, flip=False)
    assert not torch.equal(zero(x, torch.Generator().manual_seed(1)), out)  # black borders differ
    with pytest.raises(ValueError, match="pad_mode"):
        TrainAugment("pad-crop-flip", 9, (0.0,) * 3, (1.0,) * 3, pad_mode="wrap")


def test_reflect_padded_crops_shrunk_by_low_res_are_antialiased_and_read_mirrored_pixels():
    """--low-res with reflect: the tent filter over the shifted window reads F.pad(mode='reflect')'s pixels past
    the edge, and away from the window's border it is torch's antialiased bilinear resize of the crop."""
    from ilsvrc.data.augment import resample_windows

    x = torch.randint(0, 255, (32, 12, 12, 3), dtype=torch.uint8)
    aug = TrainAugment("pad-crop-flip", 12, (0.0,) * 3, (1 / 255,) * 3, pad=2, pad_mode="reflect", flip=False)
    aug.out_size = 8  # what the engine sets during the --low-res epochs
    out = aug(x, torch.Generator().manual_seed(3))  # (B, C, 8, 8), pixel values
    shifts = torch.randint(0, 5, (2, 32), generator=torch.Generator().manual_seed(3)).double().numpy() - 2
    # the same windows over images reflect-padded by 4 beforehand: the tent (1.5 px) never leaves them
    padded = F.pad(x.permute(0, 3, 1, 2).float(), (4, 4, 4, 4), mode="reflect")
    explicit = resample_windows(
        padded.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous(),
        (shifts[0] + 4, shifts[1] + 4, np.full(32, 12.0), np.full(32, 12.0)),
        8,
        scale=np.ones(3, np.float32),
        shift=np.zeros((32, 3), np.float32),
    )
    assert torch.allclose(out, explicit, atol=1e-3)
    for i in range(32):
        top, left = int(shifts[0, i]) + 4, int(shifts[1, i]) + 4
        crop = padded[i : i + 1, :, top : top + 12, left : left + 12]
        want = F.interpolate(crop, size=(8, 8), mode="bilinear", antialias=True, align_corners=False)[0]
        assert torch.allclose(out[i, :, 1:-1, 1:-1], want[:, 1:-1, 1:-1], atol=1e-3), i


def test_cutout_blanks_one_square_per_image_inside_it_and_nothing_else():
    x = torch.randint(1, 255, (32, 12, 12, 3), dtype=torch.uint8)  # no pixel is 0: a blanked one is visible
    kw = dict(pad=2, pad_mode="reflect")
    plain = TrainAugment("pad-crop-flip", 12, (0.0,) * 3, (1 / 255,) * 3, **kw)(x, torch.Generator().manual_seed(3))
    cut = TrainAugment("pad-crop-flip", 12, (0.0,) * 3, (1 / 255,) * 3, cutout=5, **kw)
    out = cut(x, torch.Generator().manual_seed(3))  # same windows and flips: cutout draws after them
    changed = out != plain
    assert torch.equal(changed[:, :1].expand_as(changed), changed)  # all channels or none
    assert (out[changed] == 0).all()
    for i in range(32):
        rows, cols = changed[i, 0].nonzero(as_tuple=True)
        assert len(rows) == 25 and rows.max() - rows.min() == 4 and cols.max() - cols.min() == 4, i
    tops = [int(changed[i, 0].any(1).nonzero()[0]) for i in range(32)]
    assert min(tops) == 0 and max(tops) == 12 - 5 and len(set(tops)) >= 5  # top rows spread over all 8 positions
    with pytest.raises(ValueError, match="cutout"):
        TrainAugment("pad-crop-flip", 12, (0.0,) * 3, (1.0,) * 3, cutout=13)


def test_cutout_larger_than_the_crops_is_one_clear_error(tmp_path, fashion):
    cfg = TrainConfig(model="resnet20", recipe="quick", epochs=1, cutout=29, out=str(tmp_path / "r"))
    with pytest.raises(UserError, match="--cutout 29 is larger than the 28-pixel"):
        train(cfg, *fashion)


def test_the_engine_flips_each_image_on_alternate_epochs(tmp_path, fashion, monkeypatch):
    seen = []
    forward = TrainAugment.forward

    def spy(self, images, generator, mirror=None):
        seen.append(None if mirror is None else np.asarray(mirror).copy())
        return forward(self, images, generator, mirror)

    monkeypatch.setattr(TrainAugment, "forward", spy)
    train_set, val_set = fashion
    # one batch per epoch: the loader sorts a batch's indices, so mirror[i] is image i's flag in that epoch
    train(_speedrun(tmp_path, "alt", batch_size=256, epochs=4, tta="none"), train_set, val_set)
    assert len(seen) == 4 and all(m is not None for m in seen)
    assert 0.35 < seen[0].mean() < 0.65
    assert all(np.array_equal(seen[e], seen[0] ^ (e % 2 == 1)) for e in range(4))


# ------------------------------------------------------------------------------------------------ low resolution


def test_low_res_epochs_train_on_smaller_crops_then_full_size_and_resume_bit_for_bit(
    tmp_path, fashion, monkeypatch, capsys
):
    sides = []
    forward = TrainAugment.forward

    def spy(self, images, generator, mirror=None):
        out = forward(self, images, generator, mirror)
        sides.append(out.shape[-1])
        return out

    monkeypatch.setattr(TrainAugment, "forward", spy)
    train_set, val_set = fashion
    kw = dict(recipe="cifar-muon", low_res=20, low_res_epochs=1.5)  # 4 steps per epoch: steps 0-5 at 20 px
    whole = train(_speedrun(tmp_path, "whole", **kw), train_set, val_set)
    assert sides == [20] * 6 + [28] * 6
    assert "28px -> 28px, the first 1.5 epochs at 20px, pad-crop-flip" in capsys.readouterr().err
    assert whole.history[-1]["val_top1_error"] < 0.8  # evaluated at 28 px, and it learned (chance is 0.9)
    sides.clear()
    train(_speedrun(tmp_path, "split", stop_at_step=3, **kw), train_set, val_set)
    train(_speedrun(tmp_path, "split", resume=True, **kw), train_set, val_set)
    assert sides == [20] * 6 + [28] * 6  # the resumed run picks the side from the step it starts at
    a, b = (load(tmp_path / n / "checkpoints" / "last.pt") for n in ("whole", "split"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_low_res_larger_than_the_crops_is_one_clear_error(tmp_path, fashion):
    cfg = TrainConfig(model="resnet20", recipe="quick", epochs=1, low_res=30, low_res_epochs=1, out=str(tmp_path))
    with pytest.raises(UserError, match="--low-res 30 is not smaller than the 28-pixel"):
        train(cfg, *fashion)


# ------------------------------------------------------------------------------------------------ lookahead


def test_lookahead_pulls_every_k_steps_and_resets_the_trained_weights():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    la = Lookahead(net, every=5, decay=0.95, total_steps=100)
    slow0 = {k: v.clone() for k, v in la.module.state_dict().items()}
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.add_(1.0)  # the trained weights (and BN statistics) moved by 1
    assert not la.update(net, 7) and torch.equal(la.module[0].weight, slow0["0.weight"])  # not a pull step
    assert la.rate(0) == 0 and la.rate(100) == pytest.approx(0.95**5) and la.rate(50) == pytest.approx(0.95**5 / 8)
    assert la.update(net, 50)
    rate = 0.95**5 / 8
    for k, v in la.module.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, slow0[k] + (1 - rate) * 1.0), k  # slow moved (1 - rate) of the way
            assert torch.equal(net.state_dict()[k], v), k  # and the trained weights start again from it
    assert int(net[1].num_batches_tracked) == 0  # integer counters are not averaged


def test_lookahead_alternate_flip_and_early_bias_resume_bit_for_bit(tmp_path, fashion):
    train_set, val_set = fashion
    kw = dict(lookahead_every=3, whiten_bias_epochs=1, epochs=3)  # 4 steps per epoch: pulls at 3, 6, 9, 12
    whole = train(_speedrun(tmp_path, "whole", **kw), train_set, val_set)
    part = train(_speedrun(tmp_path, "split", stop_at_step=7, **kw), train_set, val_set)
    assert part.summary["steps"] == 7
    resumed = train(_speedrun(tmp_path, "split", resume=True, **kw), train_set, val_set)
    a, b = (load(tmp_path / n / "checkpoints" / "last.pt") for n in ("whole", "split"))
    for key in ("model", "ema"):  # "ema" holds the lookahead's slow weights
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert [h["val_top1_error"] for h in whole.history] == [h["val_top1_error"] for h in resumed.history]
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]
    # the result is the slow copy, which the trained weights were reset to at the last pull (step 12)
    floats = [k for k, v in a["model"].items() if v.is_floating_point()]
    assert floats and all(torch.equal(whole.model.state_dict()[k], a["model"][k]) for k in floats)


def test_a_cifar_muon_run_learns_and_resumes_bit_for_bit(tmp_path, fashion):
    train_set, val_set = fashion
    kw = dict(recipe="cifar-muon")  # Muon on the filters, 4 steps per epoch
    whole = train(_speedrun(tmp_path, "whole", **kw), train_set, val_set)
    errors = [h["train_top1_error"] for h in whole.history]
    assert errors[-1] < min(0.6, errors[0] - 0.2), errors  # chance is 0.9
    assert whole.history[-1]["val_top1_error"] < 0.7
    train(_speedrun(tmp_path, "split", stop_at_step=5, **kw), train_set, val_set)
    train(_speedrun(tmp_path, "split", resume=True, **kw), train_set, val_set)
    a, b = (load(tmp_path / n / "checkpoints" / "last.pt") for n in ("whole", "split"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizer"]["param_groups"][-1]["muon"] is True  # the filters' Muon state is in the checkpoint


# ------------------------------------------------------------------------------------------------ whitening bias


def test_the_whitening_bias_trains_only_for_its_epochs(tmp_path, fashion):
    net = create_model("speedrun_cifar", widths=(8, 16, 16))
    cfg = TrainConfig(recipe="cifar-fast", model="speedrun_cifar").resolve()
    opt = build_optimizer(net, cfg, torch.device("cpu"))
    (early,) = [g for g in opt.param_groups if g.get("early")]
    assert early["params"] == [net.whiten.bias] and early.get("lr_scale", 1.0) == 1.0  # airbench: plain lr
    (bn_biases,) = [g for g in opt.param_groups if g.get("lr_scale") == 64.0]
    assert net.groups[0][2].bias in bn_biases["params"] and early["weight_decay"] == cfg.weight_decay
    assert Schedule.from_config(cfg, total_steps=480, steps_per_epoch=48).early_until == 3 * 48
    loss = lambda: net(torch.randn(4, 3, 32, 32)).square().sum()  # noqa: E731
    for frozen in (False, True):
        before = (net.whiten.bias.clone(), net.groups[0][2].bias.clone())
        set_lr(opt, 0.1, frozen_early=frozen)
        opt.zero_grad()
        loss().backward()
        opt.step()
        assert torch.equal(net.whiten.bias, before[0]) == frozen  # stops moving once frozen
        assert not torch.equal(net.groups[0][2].bias, before[1])  # the other biases keep training


def test_speedrun_bn_momentum_is_an_option():
    net = create_model("speedrun_cifar", widths=(8, 16, 16), bn_momentum=0.2)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 6 and all(m.momentum == 0.2 for m in bns)
    assert all(m.momentum == 0.4 for m in create_model("speedrun_cifar").modules() if isinstance(m, nn.BatchNorm2d))


# ------------------------------------------------------------------------------------------------ schedule, lr


def test_triangle_schedule_and_lr_per_batch_size():
    cfg = TrainConfig(recipe="cifar-fast", model="speedrun_cifar").resolve()
    s = Schedule.from_config(cfg, total_steps=100, steps_per_epoch=10)
    assert s.lr == pytest.approx(1.5)  # batch 1024 at 1.5 per 1024
    assert (
        s.lr_at(0) == pytest.approx(0.3)
        and s.lr_at(23) == pytest.approx(1.5)
        and max(map(s.lr_at, range(100))) == s.lr_at(23)
    )
    assert s.lr_at(100) == pytest.approx(1.5 * 0.07)
    half = Schedule.from_config(cfg.replace(batch_size=512), total_steps=100, steps_per_epoch=10)
    assert half.lr == pytest.approx(0.75)  # lr scales with the batch
    assert Schedule.from_config(cfg.replace(lr_batch=0), 100, 10).lr == pytest.approx(1.5)  # 0: as given


# ------------------------------------------------------------------------------------------------ test-time views


def test_translate_views_are_the_mirrored_image_and_its_one_pixel_shifts():
    images = torch.randint(0, 255, (3, 8, 8, 3), dtype=torch.uint8)
    base = EvalTransform(8, (0.5,) * 3, (0.2,) * 3)
    views = TTAViews(base, "translate")(images)
    x = base(images)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    expected = [x, padded[..., :8, :8], padded[..., 2:, 2:]]
    assert views.shape == (3, 6, 3, 8, 8)
    for i, v in enumerate(expected):
        assert torch.equal(views[:, 2 * i], v) and torch.equal(views[:, 2 * i + 1], v.flip(-1))
    assert torch.equal(views[:, 2, :, 1:, 1:], x[..., :7, :7])  # a one-pixel shift down-right
    assert TTAViews(base, "translate").view_weights.sum() == 1 and TTAViews(base, "mirror").views == 2


def test_tta_averages_the_views_logits_with_their_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5)).eval()
    images = torch.randint(0, 255, (4, 8, 8, 3), dtype=torch.uint8)
    tta = TTAViews(EvalTransform(8, (0.5,) * 3, (0.2,) * 3), "translate")
    views = tta(images)
    with torch.no_grad():
        logits = [net(views[:, v]) for v in range(6)]
        mean = (
            0.5 * (logits[0] + logits[1]) / 2 + 0.25 * (logits[2] + logits[3]) / 2 + 0.25 * (logits[4] + logits[5]) / 2
        )
        got = class_log_probs(net, views, tta.view_weights)
    assert torch.allclose(got, mean.log_softmax(-1), atol=1e-6)


# ------------------------------------------------------------------------------------------------ flags, recipe


def test_the_flags_exist_and_cifar_fast_turns_the_pieces_on(capsys, monkeypatch):
    from ilsvrc.cli import main

    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in (
        "--lookahead-every N",
        "--lookahead-decay",
        "--flip {random,alternate,none}",
        "--tta",
        "--lr-batch",
        "--whiten-bias-epochs",
        "--triangle",
    ):
        assert flag in text, flag
    cfg = TrainConfig(model="speedrun_cifar", recipe="cifar-fast").resolve()
    assert (cfg.lookahead_every, cfg.flip, cfg.tta, cfg.batch_size, cfg.lr_batch) == (
        5,
        "alternate",
        "translate",
        1024,
        1024,
    )
    assert (cfg.whiten_bias_epochs, cfg.schedule, cfg.eval_crops) == (3, "triangle", 1)
    quick = TrainConfig().resolve()  # off everywhere else
    assert (quick.lookahead_every, quick.flip, quick.tta, quick.whiten_bias_epochs, quick.lr_batch) == (
        0,
        "random",
        "none",
        0,
        0,
    )
    assert TrainConfig(flip=False).flip == "none" and TrainConfig(flip=True).flip == "random"  # old configs


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(ema=0.99, lookahead_every=5), "choose one"),
        (dict(tta="mirror", eval_crops=10), "--eval-crops 1"),
        (dict(flip="sometimes"), "flip must be one of"),
        (dict(triangle=(0.2, 1.5, 0.1)), "peak position"),
        (dict(lookahead_every=-1), "lookahead_every"),
        (dict(low_res=24), "set both"),
        (dict(low_res_epochs=2), "set both"),
        (dict(low_res=-1, low_res_epochs=2), "low_res must be"),
    ],
)
def test_bad_piece_values_are_one_line_errors(kw, words):
    with pytest.raises(UserError, match=words) as err:
        TrainConfig(**kw).resolve()
    assert "\n" not in str(err.value)


def test_ilsvrc_evaluate_scores_a_lookahead_run_with_its_translate_views(tmp_path, fashion):
    from ilsvrc.evaluate import evaluate_checkpoints

    train_set, val_set = fashion
    result = train(_speedrun(tmp_path, "run", epochs=2, precision="fp32"), train_set, val_set)
    res = evaluate_checkpoints([tmp_path / "run"], None, dataset=val_set, tta="translate")
    assert res["tta"] == "translate"
    # the slow weights (saved as the run's averaged copy) under the same six views: the engine's last score
    assert res["members"][0]["top1_error"] == pytest.approx(result.history[-1]["val_top1_error"], abs=1.5 / 64)
    with pytest.raises(UserError, match="--crops 1"):
        evaluate_checkpoints([tmp_path / "run"], None, dataset=val_set, crops=2, tta="mirror")

"""Batched augmentation and evaluation crops: shapes, exact values where the answer is known, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from ilsvrc.data import KINDS, EvalTransform, MultiScaleEval, TrainAugment, ten_crop

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def batch(n=6, h=20, w=20, c=3, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, h, w, c), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def normalised(x: torch.Tensor) -> torch.Tensor:
    """Reference normalisation of uint8 NHWC -> float NCHW."""
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (x.permute(0, 3, 1, 2).float() / 255 - m) / s


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_normalised_float_batches_and_is_deterministic(kind):
    x = batch()
    aug = TrainAugment(kind, 16, MEAN, STD)
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    assert a.shape == (6, 3, 16, 16) and a.dtype == torch.float32 and a.is_contiguous()
    assert torch.equal(a, b)
    lo, hi = (
        normalised(torch.zeros(1, 1, 1, 3, dtype=torch.uint8)),
        normalised(torch.full((1, 1, 1, 3), 255, dtype=torch.uint8)),
    )
    assert (a >= lo - 1e-4).all() and (a <= hi + 1e-4).all()  # bilinear never leaves the pixel range
    if kind not in ("none", "center"):
        assert not torch.equal(a, aug(x, torch.Generator().manual_seed(8)))


def test_identity_settings_reproduce_the_normalised_image_exactly():
    x = batch()
    expect = normalised(x)
    no_pad = TrainAugment("pad-crop-flip", 20, MEAN, STD, pad=0, flip=False)
    assert torch.allclose(no_pad(x, torch.Generator()), expect, atol=1e-5)
    full = TrainAugment("random-resized-crop", 20, MEAN, STD, scale=(1, 1), ratio=(1, 1), flip=False)
    assert torch.allclose(full(x, torch.Generator()), expect, atol=1e-5)
    assert torch.allclose(TrainAugment("none", 20, MEAN, STD)(x, torch.Generator()), expect, atol=1e-5)


def test_pad_crop_flip_shifts_by_whole_pixels_and_pads_with_zeros():
    x = batch(n=64)
    out = TrainAugment("pad-crop-flip", 20, MEAN, STD, pad=4, flip=False)(x, torch.Generator().manual_seed(1))
    ref = normalised(x)
    zero = normalised(torch.zeros(1, 1, 1, 3, dtype=torch.uint8))[0, :, 0, 0]
    pad = torch.nn.functional.pad(ref - zero.view(1, 3, 1, 1), (4, 4, 4, 4)) + zero.view(1, 3, 1, 1)
    for i in range(64):  # each output equals some 20x20 window of the zero-padded image
        hits = [
            (t, l)
            for t in range(9)
            for l in range(9)
            if torch.allclose(out[i], pad[i, :, t : t + 20, l : l + 20], atol=1e-5)
        ]
        assert hits, f"image {i} is not a shifted window"


def test_flip_mirrors_some_images_and_leaves_the_rest():
    x = batch(n=32)
    out = TrainAugment("pad-crop-flip", 20, MEAN, STD, pad=0, flip=True)(x, torch.Generator().manual_seed(2))
    ref = normalised(x)
    flipped = [torch.allclose(out[i], ref[i].flip(-1), atol=1e-5) for i in range(32)]
    kept = [torch.allclose(out[i], ref[i], atol=1e-5) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and 5 < sum(flipped) < 27


def test_random_resized_crop_windows_follow_scale_and_ratio():
    aug = TrainAugment("random-resized-crop", 16, MEAN, STD, scale=(0.25, 0.5), ratio=(0.5, 2.0))
    top, left, h, w = aug._windows(2000, 100, 80, torch.Generator().manual_seed(0))
    area = h * w / 8000
    assert (area > 0.23).all() and (area < 0.52).all()
    assert (w / h >= 0.47).all() and (w / h <= 2.1).all()  # rounding to whole pixels, as torchvision
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 100).all() and (left + w <= 80).all()


def test_scale_jitter_crops_match_the_vgg_rule():
    aug = TrainAugment("scale-jitter", 224, MEAN, STD, jitter=(256, 512))
    top, left, h, w = aug._windows(500, 300, 400, torch.Generator().manual_seed(0))
    S = 224 * 300 / h  # implied shorter side after rescaling
    assert (S >= 255.9).all() and (S <= 512.1).all() and np.array_equal(h, w)
    assert (top + h <= 300 + 1e-9).all() and (left + w <= 400 + 1e-9).all()


def test_pca_lighting_adds_one_colour_offset_per_image():
    x = batch(n=8)
    eigval = [0.2, 0.02, 0.005]
    eigvec = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0].tolist()
    base = TrainAugment("none", 20, MEAN, STD)(x, torch.Generator())
    lit = TrainAugment("none", 20, MEAN, STD, pca_std=0.1, pca_eigval=eigval, pca_eigvec=eigvec)
    out = lit(x, torch.Generator().manual_seed(3))
    diff = (out - base) * torch.tensor(STD).view(1, 3, 1, 1)  # back to [0, 1] pixel units
    offsets = diff[:, :, 0, 0]
    assert torch.allclose(diff, offsets[:, :, None, None].expand_as(diff), atol=1e-5)  # constant per image/channel
    g = torch.Generator().manual_seed(3)
    alpha = torch.randn((8, 3), generator=g).numpy() * 0.1
    expect = (alpha * np.array(eigval)) @ np.array(eigvec).T
    assert np.allclose(offsets.numpy(), expect, atol=1e-5)


def test_greyscale_batches_work_with_one_channel_statistics():
    x = batch(c=1)
    out = TrainAugment("random-resized-crop", 12, (0.3,), (0.2,))(x, torch.Generator().manual_seed(0))
    assert out.shape == (6, 1, 12, 12)
    ev = EvalTransform(12, (0.3,), (0.2,))(x)
    assert ev.shape == (6, 1, 12, 12)


def test_ten_crop_matches_torchvision_corners_centre_and_mirrors():
    x = torch.rand(2, 3, 9, 11)
    ours = ten_crop(x, 5)
    theirs = torch.stack(TF.ten_crop(x, [5, 5]), dim=1)
    assert ours.shape == (2, 10, 3, 5, 5) and torch.equal(ours, theirs)
    assert torch.equal(ours[:, 0], x[..., :5, :5]) and torch.equal(ours[:, 3], x[..., 4:, 6:])
    assert torch.equal(ours[:, 5], x[..., :5, 6:].flip(-1))  # flipped image's top-left = mirrored top-right


def test_eval_transform_centre_crop_ten_crop_and_resize():
    x = batch(n=3, h=20, w=20)
    one = EvalTransform(16, MEAN, STD)(x)
    assert torch.allclose(one, normalised(x)[..., 2:18, 2:18], atol=1e-5)
    ten = EvalTransform(16, MEAN, STD, crops=10)(x)
    assert ten.shape == (3, 10, 3, 16, 16) and torch.allclose(ten[:, 4], one, atol=1e-6)
    resized = EvalTransform(8, MEAN, STD, resize=10)(x)
    assert resized.shape == (3, 3, 8, 8)
    views = MultiScaleEval(16, MEAN, STD, resizes=(16, 20, 24), crops=10)(x)
    assert views.shape == (3, 30, 3, 16, 16)


def test_train_augment_runs_on_the_batch_device_with_a_cpu_generator():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = batch().to(device)
    out = TrainAugment("random-resized-crop", 16, MEAN, STD)(x, torch.Generator().manual_seed(0))
    cpu = TrainAugment("random-resized-crop", 16, MEAN, STD)(x.cpu(), torch.Generator().manual_seed(0))
    assert out.device == x.device and torch.allclose(out.cpu(), cpu, atol=1e-4)


@pytest.mark.parametrize("kind", ["random-resized-crop", "pad-crop-flip", "scale-jitter", "none"])
def test_native_kernel_equals_the_pytorch_ops(kind):
    from ilsvrc.data import native

    if not native.available():
        pytest.skip("no C compiler for the native kernel")
    x = batch(n=17, h=24, w=28)
    kw = {"pca_std": 0.1, "pca_eigval": [0.2, 0.02, 0.005], "pca_eigvec": np.eye(3).tolist()}
    eager = TrainAugment(kind, 16, MEAN, STD, backend="torch", **kw)(x, torch.Generator().manual_seed(0))
    fast = TrainAugment(kind, 16, MEAN, STD, backend="native", **kw)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(eager, fast, atol=1e-4)


@pytest.mark.parametrize("size", [8, 13, 40])
def test_whole_image_resize_matches_torch_antialiased_bilinear(size):
    """Enlarging is bilinear and shrinking is antialiased, as F.interpolate(..., antialias=True) computes them."""
    x = batch(n=3, h=20, w=20)
    for backend in ("torch", "native"):
        if backend == "native" and not __import__("ilsvrc.data.native", fromlist=["x"]).available():
            continue
        ours = TrainAugment("none", size, MEAN, STD, backend=backend)(x, torch.Generator())
        ref = torch.nn.functional.interpolate(normalised(x), size=(size, size), mode="bilinear", antialias=True)
        assert torch.allclose(ours, ref, atol=2e-4), (backend, (ours - ref).abs().max())


def test_shrinking_a_fine_pattern_does_not_alias():
    stripes = (torch.arange(64) % 2 * 255).to(torch.uint8).view(1, 1, 64, 1).expand(2, 64, 64, 3).contiguous()
    out = TrainAugment("none", 16, (0.5,) * 3, (0.5,) * 3)(stripes, torch.Generator())
    # one-pixel stripes average to mid-grey (0 after normalising), not to stripes (+-1); edges renormalise a bit
    assert out[..., 1:-1].abs().max() < 1e-3 and out.abs().max() < 0.1


def test_recycled_output_buffers_never_overwrite_a_batch_still_in_use():
    aug = TrainAugment("random-resized-crop", 16, MEAN, STD)
    x, g = batch(n=4), torch.Generator().manual_seed(0)
    held = [aug(x, g) for _ in range(3)]
    view = aug(x, g)[:, 1]  # only a view of this output survives
    copies = [h.clone() for h in held] + [view.clone()]
    ptrs = set()
    for _ in range(5):
        out = aug(x, g)  # the loop variable keeps the previous batch alive during the call
        ptrs.add(out.data_ptr())
    assert all(torch.equal(a, b) for a, b in zip([*held, view], copies, strict=True))
    assert not ptrs & {h.data_ptr() for h in held}

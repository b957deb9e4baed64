"""One decode-time resampler (resample.py) behind every decoder, one augmentation resampler behind every crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ilsvrc.data import ArrayDataset, EvalTransform, TrainAugment
from ilsvrc.data.augment import random_resized_crop_boxes, resample_windows
from ilsvrc.data.decode import decode_image
from ilsvrc.data.jpeg_pack import JpegPack, pack_jpeg
from ilsvrc.data.resample import center_square, resize_shorter
from ilsvrc.data.sources import resize_dataset


def _gradient(h: int, w: int) -> np.ndarray:
    """uint8 (h, w, 3): red rises left to right, green top to bottom, blue constant."""
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    return np.stack([x, y, np.full((h, w), 90.0)], -1).round().astype(np.uint8)


def test_resize_shorter_keeps_the_aspect_ratio_and_the_picture():
    img = torch.from_numpy(_gradient(60, 90)).permute(2, 0, 1)
    assert resize_shorter(img, 60) is img  # already that size: untouched
    small = resize_shorter(img, 20)
    assert small.shape == (3, 20, 30) and small.dtype == torch.uint8
    assert torch.all(small[0, 10, 1:].int() >= small[0, 10, :-1].int())  # the red ramp survives shrinking
    assert abs(small[2].float().mean().item() - 90) < 1
    assert center_square(img[None], 24).shape == (1, 3, 24, 24)  # batches too


def test_every_decoder_resizes_with_the_same_function(tmp_path):
    pixels = _gradient(50, 70)
    Image.fromarray(pixels).save(tmp_path / "g.png")  # lossless: the file holds exactly these pixels
    chw = torch.from_numpy(pixels).permute(2, 0, 1)
    want = center_square(chw, 32).permute(1, 2, 0)
    assert torch.equal(torch.from_numpy(decode_image(tmp_path / "g.png", 32)), want)  # image trees, ilsvrc pack
    ds = ArrayDataset(torch.from_numpy(pixels)[None].contiguous(), torch.zeros(1, dtype=torch.int64), ["a"], (0.5,) * 3,
                      (0.25,) * 3)  # fmt: skip
    assert torch.equal(resize_dataset(ds, 32).images[0], want)  # fixed-size sources
    ev = EvalTransform(24, (0.0,) * 3, (1 / 255,) * 3, resize=32)  # normalisation x -> x: the pixel values
    assert torch.equal(ev(torch.from_numpy(pixels)[None]), want[4:28, 4:28].permute(2, 0, 1)[None].float())
    pack_jpeg([str(tmp_path / "g.png")], [0], ["a"], tmp_path / "pack", max_side=64)
    pack = JpegPack(tmp_path / "pack")
    (stored,) = pack.decode([0])
    assert torch.equal(pack.take([0], 32)[0], center_square(stored, 32).permute(1, 2, 0))  # JPEG packs


def test_crop_boxes_are_inception_crops_drawn_reproducibly():
    g = torch.Generator().manual_seed(0)
    top, left, h, w = random_resized_crop_boxes(500, 60, 90, g, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3))
    assert np.all(top >= 0) and np.all(left >= 0) and np.all(top + h <= 60) and np.all(left + w <= 90)
    assert np.all(h * w >= 0.2 * 60 * 90 * 0.95) and np.all(w / h <= 4 / 3 * 1.05) and np.all(w / h >= 0.75 / 1.05)
    again = random_resized_crop_boxes(500, 60, 90, torch.Generator().manual_seed(0), (0.2, 1.0), (3 / 4, 4 / 3))
    assert all(np.array_equal(a, b) for a, b in zip((top, left, h, w), again, strict=True))
    aug = TrainAugment("random-resized-crop", 16, (0.5,) * 3, (0.25,) * 3, scale=(0.2, 1.0))
    ours = aug._windows(500, 60, 90, torch.Generator().manual_seed(0))  # TrainAugment draws with the same helper
    assert all(np.array_equal(a, b) for a, b in zip(ours, again, strict=True))


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_resampling_a_whole_image_at_its_own_size_is_exact(backend):
    # so a JPEG crop followed by TrainAugment("none") (normalisation only) changes no pixel
    x = torch.from_numpy(_gradient(20, 20))[None]
    box = (np.zeros(1), np.zeros(1), np.full(1, 20.0), np.full(1, 20.0))
    out = resample_windows(x, box, 20, scale=np.ones(3), shift=np.zeros((1, 3)), backend=backend)
    assert torch.equal(out, x.permute(0, 3, 1, 2).float())
    flipped = resample_windows(x, box, 20, mirror=np.array([True]), scale=np.ones(3), shift=np.zeros((1, 3)))
    assert torch.equal(flipped, x.permute(0, 3, 1, 2).flip(-1).float())


def test_crops_of_mixed_sizes_are_the_same_batched_by_shape_or_one_by_one():
    from concurrent.futures import ThreadPoolExecutor

    from ilsvrc.data.crops import crop_images

    shapes = [(30, 40), (40, 30), (30, 40), (25, 25), (40, 30)]  # two shapes repeat: batches of 2, 2 and 1
    images = [torch.from_numpy(_gradient(h, w)).permute(2, 0, 1) for h, w in shapes]  # (3, H, W) views, as decoded
    g = torch.Generator().manual_seed(1)
    boxes = [random_resized_crop_boxes(1, h, w, g) for h, w in shapes]
    mirror = np.array([True, False, False, True, False])
    one_by_one = crop_images(images, boxes, mirror, 16, by_shape=False)
    with ThreadPoolExecutor(2) as pool:
        assert torch.equal(crop_images(images, boxes, mirror, 16, pool, by_shape=True), one_by_one)
    assert one_by_one.shape == (5, 16, 16, 3) and one_by_one.dtype == torch.uint8 and one_by_one.is_contiguous()
    # image 3 is mirrored: its red ramp (rising left to right in the source) falls across the crop
    assert one_by_one[3, 8, 0, 0] > one_by_one[3, 8, -1, 0] and one_by_one[2, 8, 0, 0] < one_by_one[2, 8, -1, 0]

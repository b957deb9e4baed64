"""One image decoder for training and prediction: bit depth, EXIF orientation, a byte budget per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import hostile_inputs as H
from ilsvrc.data.dataset import align_labels
from ilsvrc.data.decode import MAX_DECODE_BYTES, DecodeError, _check_budget, decode_image
from ilsvrc.errors import UserError
from ilsvrc.predict import load_image


def test_predict_decodes_exactly_like_training(tmp_path):
    grey16 = tmp_path / "g16.png"
    Image.fromarray(np.arange(400, dtype=np.uint16).reshape(20, 20) * 160).save(grey16)
    rotated = H.exif_rotated(tmp_path / "rot.jpg")
    for path in (grey16, rotated):
        for side in (8, 13):
            assert torch.equal(load_image(path, 3, side), torch.from_numpy(decode_image(path, side)))
    grey = load_image(grey16, 1, 8)
    assert grey.shape == (8, 8, 1) and torch.equal(grey[..., 0], torch.from_numpy(decode_image(grey16, 8)[..., 0]))


def test_16_bit_pixels_are_scaled_by_their_declared_depth_not_by_their_values(tmp_path):
    """A dark 16-bit image (every value <= 255) is dark, not read as 8-bit and made bright."""
    path = tmp_path / "dark16.png"
    Image.fromarray(np.full((6, 6), 200, dtype=np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    assert decode_image(path, 4).max() == 0  # 200 / 65535 of full scale rounds to 0 of 255
    Image.fromarray(np.full((6, 6), 0xC000, dtype=np.uint16)).save(path)
    assert (decode_image(path, 4) == 0xC0).all()


def test_exif_orientation_is_applied(tmp_path):
    x = decode_image(H.exif_rotated(tmp_path / "rot.jpg"), 8).astype(int)
    # stored 8 wide x 16 tall with red on top; displayed (rotated 90 degrees clockwise) red is on the right
    assert x[:, 4:, 0].mean() > 200 and x[:, :4, 0].mean() < 50


def test_the_budget_counts_bytes_per_pixel_so_16_bit_and_rgba_cost_more():
    side = 9500  # 90 M pixels
    _check_budget(side, side, "L")  # 1 + 4 bytes a pixel: 430 MiB, within the budget; 16-bit: 516 MiB
    for mode in ("I;16", "RGB", "RGBA", "I"):
        with pytest.raises(DecodeError, match="MiB"):
            _check_budget(side, side, mode)
    assert MAX_DECODE_BYTES == 512 << 20


def test_a_fifo_or_a_device_is_refused_without_opening_it(tmp_path):
    import os

    os.mkfifo(tmp_path / "p.png")
    for path in (tmp_path / "p.png", "/dev/zero"):
        with pytest.raises(DecodeError, match="not a regular file"):
            decode_image(path, 8)


def test_align_labels_maps_by_name_and_refuses_unknown_classes():
    labels = np.array([0, 1, 1, 0])
    assert align_labels(labels, ["b", "c"], ["a", "b", "c"], "val").tolist() == [1, 2, 2, 1]
    assert align_labels(labels, ["c", "a"], ["a", "c"], "val").tolist() == [1, 0, 0, 1]  # other order
    with pytest.raises(UserError, match=r"val: classes 'z' are not among the training split's 2 classes"):
        align_labels(labels, ["a", "z"], ["a", "b"], "val")


def test_cifar_int64_pixels_in_range_convert_exactly(tmp_path):
    from ilsvrc.data import load_dataset

    data = np.arange(3 * 3072, dtype=np.int64).reshape(3, 3072) % 256
    ds = load_dataset(H.cifar(tmp_path / "c", data=data), "train")
    assert ds.images.dtype == torch.uint8
    assert ds.images.permute(0, 3, 1, 2).reshape(3, 3072).numpy().astype(np.int64).tolist() == data.tolist()


def test_decoding_threads_share_one_byte_budget():
    """Eight threads on eight large images take turns: the bytes held at once never pass the cap."""
    import threading
    import time

    from ilsvrc.data.decode import _InFlight

    budget, peak, lock = _InFlight(10), [0], threading.Lock()

    def work() -> None:
        with budget.hold(6):
            with lock:
                peak[0] = max(peak[0], budget.used)
            time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert peak[0] == 6 and budget.used == 0

"""Resolution follows the model: photo folders are decoded at the card's input side / crop_pct."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ilsvrc.train import TrainConfig, train
from ilsvrc.train.setup import decode_side
from ilsvrc.train.spec import from_registry


def _photos(root, side=40):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (side, side + 8, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{i}.png"
                )
    return root


def test_decode_side_comes_from_the_card_or_the_flags():
    alexnet, resnet = from_registry("alexnet", {}), from_registry("resnet18", {})
    assert decode_side(TrainConfig(model="alexnet"), alexnet) == 256  # 227 crops of 256 images
    assert decode_side(TrainConfig(model="resnet18"), resnet) == 256  # 224 of 256
    assert decode_side(TrainConfig(model="resnet18", input_size=112), resnet) == 128
    assert decode_side(TrainConfig(model="resnet18", image_size=300), resnet) == 300


def test_a_photo_folder_trains_at_the_models_resolution(tmp_path):
    config = TrainConfig(model="resnet18", data=str(_photos(tmp_path / "data")), max_steps=1, batch_size=4,
                         out=str(tmp_path / "run"), progress=False, workers_threads=1)  # fmt: skip
    result = train(config)
    assert result.summary["stored_size"] == [256, 256] and result.summary["input_size"] == 224
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["stored_size"] == [256, 256] and saved["input_size"] == 224


def test_fixed_size_sources_keep_their_side(tmp_path):
    config = TrainConfig(model="resnet18", data=None, max_steps=1, batch_size=8, train_subset=16,
                         out=str(tmp_path / "run"), progress=False, workers_threads=1)  # fmt: skip
    assert train(config).summary["stored_size"] == [28, 28]  # the bundled Fashion-MNIST is not resized

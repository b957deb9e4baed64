"""Training and evaluation on a JPEG-payload pack: one epoch, exact resume, seeded crops, one-line refusals."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ilsvrc.cli import main
from ilsvrc.data import BatchLoader, load_dataset
from ilsvrc.errors import UserError
from ilsvrc.evaluate import evaluate_checkpoints
from ilsvrc.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IMAGENETTE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenette224"


def _tree(root: Path, train_per_class: int = 16, val_per_class: int = 8) -> Path:
    """train/ and val/ folders of two classes of non-square JPEGs (dark and bright noise, sizes vary)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for c, name in enumerate(("dark", "bright")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                h, w = int(rng.integers(40, 60)), int(rng.integers(60, 90))
                pixels = (rng.integers(0, 80, (h, w, 3)) + 150 * c).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.jpg", quality=92)
    return root


def _jpeg_pack(tmp_path: Path, tree: Path | None = None) -> Path:
    out = tmp_path / "pack"
    assert main(["pack", str(tree or _tree(tmp_path / "tree")), str(out), "--payload", "jpeg", "--size", "48",
                 "--quiet"]) == 0  # fmt: skip
    return out


def _config(tmp_path: Path, data: Path, name: str = "run", **kw) -> TrainConfig:
    base = dict(
        model="resnet20",
        recipe="quick",
        data=str(data),
        epochs=1,
        batch_size=8,
        input_size=32,
        image_size=64,  # decode side 64 (>= 64 keeps random-resized-crop), 32-px crops
        augment="random-resized-crop",
        out=str(tmp_path / name),
        progress=False,
        tensorboard=False,
        workers_threads=1,
        checkpoint_every=0,
    )
    return TrainConfig(**{**base, **kw})


def test_train_one_epoch_then_evaluate_a_jpeg_pack(tmp_path, capsys):
    pack = _jpeg_pack(tmp_path)
    result = train(_config(tmp_path, pack))
    assert result.summary["steps"] == 4 and result.summary["train_images"] == 32
    assert result.summary["stored_size"] == [64, 64] and result.summary["val_images"] == 16
    assert "64px -> 32px, random-resized-crop" in capsys.readouterr().err
    res = evaluate_checkpoints([tmp_path / "run"], str(pack))
    assert res["count"] == 16 and res["split"] == "val"
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(pack), "--quiet", "--format", "json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["count"] == 16 and scored["data"] == str(pack)


@pytest.mark.skipif(not IMAGENETTE.is_dir(), reason="no Imagenette beside the checkout (../shared/data)")
def test_train_on_a_jpeg_pack_of_real_photos(tmp_path):
    classes = sorted(p.name for p in (IMAGENETTE / "train").iterdir())[:2]
    for split, n in (("train", 16), ("val", 4)):
        for c in classes:
            (tmp_path / "tree" / split / c).mkdir(parents=True)
            for f in sorted((IMAGENETTE / split / c).iterdir())[:n]:
                shutil.copy(f, tmp_path / "tree" / split / c / f.name)
    pack = _jpeg_pack(tmp_path, tmp_path / "tree")
    result = train(_config(tmp_path, pack))
    assert result.summary["steps"] == 4 and result.summary["val_images"] == 8
    assert np.isfinite(result.summary["train_loss"])


def test_a_stopped_jpeg_run_resumes_bitwise_identical(tmp_path):
    pack = _jpeg_pack(tmp_path)
    whole = train(_config(tmp_path, pack, "whole", epochs=2))
    part = train(_config(tmp_path, pack, "split", epochs=2, stop_at_step=5))  # 4 steps an epoch: mid-epoch 2
    assert part.summary["steps"] == 5 and not part.summary["finished"]
    resumed = train(_config(tmp_path, pack, "split", epochs=2, resume=True))
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]


def test_jpeg_batches_are_crops_of_the_whole_image_seeded_per_batch(tmp_path):
    ds = load_dataset(_jpeg_pack(tmp_path), "train").with_side(40)
    assert len(ds) == 32 and ds.images.shape == (32, 40, 40, 3) and ds.classes == ["bright", "dark"]
    crops = dataclasses.replace(ds, train_crop={"size": 24, "scale": (0.3, 1.0), "ratio": (0.75, 1.33), "flip": True})
    loader = BatchLoader(crops, 8, shuffle=True, seed=3, drop_last=True)
    first = list(loader)
    assert [tuple(x.shape) for x, _ in first] == [(8, 24, 24, 3)] * 4
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first, list(loader), strict=True))  # same epoch, again
    loader.load_state_dict({"epoch": 0, "batch": 2})  # a resumed loader draws the crops the whole run drew
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first[2:], list(loader), strict=True))
    loader.set_epoch(1)
    assert not torch.equal(next(iter(loader))[0], first[0][0])
    # labels follow the images: the bright class's crops are bright (noise 150..230), the dark class's dark
    for x, y in first:
        means = x.float().mean((1, 2, 3))
        assert torch.all((means > 120) == (y == ds.classes.index("bright")))
    plain = BatchLoader(ds, 16, shuffle=False)
    assert [tuple(x.shape) for x, _ in plain] == [(16, 40, 40, 3)] * 2  # evaluation: the centred squares


def test_refused_jpeg_packs_say_one_line(tmp_path):
    pack = _jpeg_pack(tmp_path)
    with pytest.raises(UserError, match="too small") as err:
        load_dataset(pack, "train", size=4)
    assert "\n" not in str(err.value)
    meta_path = pack / "val" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "shards": [{"name": "../../etc/passwd", "sha256": "0"}]}))
    with pytest.raises(UserError, match=r"malformed \(shards invalid\)") as err:
        load_dataset(pack, "val")
    assert "\n" not in str(err.value)
    meta_path.write_text(json.dumps({**meta, "payload": "webp"}))
    with pytest.raises(UserError, match="payload 'webp' is not one this version reads") as err:
        load_dataset(pack, "val")
    assert "\n" not in str(err.value)
    shutil.rmtree(pack / "val")
    assert main(["pack", str(tmp_path / "tree" / "val"), str(pack / "val"), "--size", "16", "--quiet"]) == 0  # raw
    with pytest.raises(UserError, match="a raw split beside a JPEG-payload train split") as err:
        load_dataset(pack, "val")
    assert "\n" not in str(err.value)


def test_a_one_colour_jpeg_pack_loads_with_a_floor_std(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "tree" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((20, 30, 3), 128, np.uint8)).save(tmp_path / "tree" / c / f"{i}.png")
    assert main(["pack", str(tmp_path / "tree"), str(tmp_path / "p"), "--payload", "jpeg", "--quiet"]) == 0
    ds = load_dataset(tmp_path / "p", "train")  # std 0 would be refused as malformed: it is floored as raw packs do
    assert len(ds) == 4 and min(ds.std) == pytest.approx(1e-6)


def test_verify_packed_checks_a_jpeg_packs_shards(tmp_path):
    from ilsvrc.data import verify_packed

    folder = _jpeg_pack(tmp_path) / "train"
    assert verify_packed(folder) == []
    shard = folder / "shard-00000.jpgs"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert verify_packed(folder) == ["shard-00000.jpgs"]

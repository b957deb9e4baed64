"""The JPEG-payload pack on image files the test writes: sizes, EXIF, corrupt files, resume, bounds, decode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ilsvrc.data import jpeg_pack
from ilsvrc.data.jpeg_pack import JpegPack, pack_jpeg
from ilsvrc.errors import UserError


def _tree(tmp_path):
    """Six images in two classes: a large PNG, a small JPEG, an EXIF-rotated JPEG, a grey PNG, and a broken file."""
    rng = np.random.default_rng(0)
    files, labels = [], []

    def add(name, label, image, **save):
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, **save)
        files.append(str(path))
        labels.append(label)

    gradient = np.tile(np.linspace(0, 255, 300, dtype=np.uint8)[None, :, None], (200, 1, 3))
    add("a/large.png", 0, Image.fromarray(gradient))  # 300x200: shorter side 200 -> 64, width 96
    add("a/small.jpg", 0, Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    add("b/rotated.jpg", 1, Image.fromarray(rng.integers(0, 255, (100, 160, 3), dtype=np.uint8)), exif=exif)
    add("b/grey.png", 1, Image.fromarray(np.full((70, 70), 128, dtype=np.uint8)))
    broken = tmp_path / "src" / "b" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    files.append(str(broken))
    labels.append(1)
    return files, labels


def test_pack_stores_shrunk_oriented_rgb_and_reports_broken_files(tmp_path):
    files, labels = _tree(tmp_path)
    meta = pack_jpeg(files, labels, ["a", "b"], tmp_path / "out", max_side=64, quality=90)
    assert meta["count"] == 4 and meta["payload"] == "jpeg"
    assert meta["skipped"] == [files[4]]
    assert "broken.jpg" in (tmp_path / "out" / "skipped.txt").read_text()
    sizes = np.load(tmp_path / "out" / "sizes.npy").tolist()
    assert sizes == [[64, 96], [40, 50], [102, 64], [64, 64]]  # the 160x100 rotated by EXIF: stored upright
    pack = JpegPack(tmp_path / "out")
    assert pack.labels.tolist() == [0, 0, 1, 1] and pack.classes == ["a", "b"]
    decoded = pack.decode([0, 3])
    assert decoded[0].shape == (3, 64, 96) and decoded[1].shape == (3, 64, 64)
    assert abs(decoded[1].float().mean().item() - 128) < 2  # grey became RGB, kept its value
    row = decoded[0][0, 32].float()  # the left-to-right gradient survives the resize and the JPEG round trip
    assert row[0] < 30 and row[-1] > 225 and torch.all(row[1:] >= row[:-1] - 8)
    small = pack.payload(1).numpy().tobytes()
    assert small == (tmp_path / "src" / "a" / "small.jpg").read_bytes()  # needs no change: stored as is


def test_take_gives_raw_format_squares(tmp_path):
    files, labels = _tree(tmp_path)
    pack_jpeg(files[:4], labels[:4], ["a", "b"], tmp_path / "out", max_side=64)
    squares = JpegPack(tmp_path / "out").take([0, 1, 2, 3], 32)
    assert squares.shape == (4, 32, 32, 3) and squares.dtype == torch.uint8
    assert squares[0].float().std() > 20  # the gradient's centre, not a blank square


def test_interrupted_pack_resumes_byte_identical(tmp_path, monkeypatch):
    files, labels = _tree(tmp_path)
    files, labels = files[:4] * 3, labels[:4] * 3
    monkeypatch.setattr(jpeg_pack, "CHUNK", 5)
    whole = pack_jpeg(files, labels, ["a", "b"], tmp_path / "whole", max_side=48)

    calls = {"n": 0}
    real = jpeg_pack._Writer.commit

    def dying_commit(self, chunks_done, skipped):
        real(self, chunks_done, skipped)
        calls["n"] += 1
        if calls["n"] == 2:
            with open(self.shard_path(0), "ab") as f:  # bytes of a chunk that never committed
                f.write(b"half-written")
            raise KeyboardInterrupt

    monkeypatch.setattr(jpeg_pack._Writer, "commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        pack_jpeg(files, labels, ["a", "b"], tmp_path / "resumed", max_side=48)
    assert not (tmp_path / "resumed" / "meta.json").exists()
    monkeypatch.setattr(jpeg_pack._Writer, "commit", real)
    resumed = pack_jpeg(files, labels, ["a", "b"], tmp_path / "resumed", max_side=48)
    assert resumed["shards"] == whole["shards"] and resumed["count"] == 12
    for name in ("index.npy", "sizes.npy", "shard-00000.jpgs"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes()


def test_an_index_that_points_outside_its_shard_is_refused(tmp_path):
    files, labels = _tree(tmp_path)
    pack_jpeg(files[:2], labels[:2], ["a", "b"], tmp_path / "out", max_side=32)
    index = np.load(tmp_path / "out" / "index.npy")
    index[1, 2] = 1 << 40  # a length far past the shard's end
    np.save(tmp_path / "out" / "index.npy", index)
    with pytest.raises(UserError, match=r"points past the end of shard-00000\.jpgs"):
        JpegPack(tmp_path / "out")
    (tmp_path / "out" / "meta.json").write_text(json.dumps({"payload": "raw"}))
    with pytest.raises(UserError, match="does not describe a JPEG-payload pack"):
        JpegPack(tmp_path / "out")


def test_bad_settings_are_one_line(tmp_path):
    with pytest.raises(UserError, match=r"--quality must be in 1\.\.95"):
        pack_jpeg([], [], ["a"], tmp_path / "o", quality=100)
    with pytest.raises(UserError, match="none of the images could be decoded"):
        pack_jpeg([str(tmp_path / "missing.jpg")], [0], ["a"], tmp_path / "o2")


def test_random_resized_crops_are_seeded_and_come_from_the_whole_image(tmp_path):
    files, labels = _tree(tmp_path)
    pack_jpeg(files[:1] * 8, labels[:1] * 8, ["a", "b"], tmp_path / "out", max_side=64)
    pack = JpegPack(tmp_path / "out")
    first = pack.random_resized_crops(range(8), 24, torch.Generator().manual_seed(3))
    again = pack.random_resized_crops(range(8), 24, torch.Generator().manual_seed(3))
    assert first.shape == (8, 24, 24, 3) and torch.equal(first, again)
    # the gradient runs left to right over the whole 96-px width: crops start at different places in it
    assert len({int(c[:, 0].float().mean()) // 8 for c in first}) > 2


def test_pack_command_writes_both_splits_as_jpeg_and_load_dataset_reads_them(tmp_path, capsys):
    from ilsvrc.cli import main
    from ilsvrc.data import load_dataset

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "tree" / split / cls).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / "tree" / split / cls / f"{i}.png")
    assert main(["pack", str(tmp_path / "tree"), str(tmp_path / "out"), "--payload", "jpeg", "--size", "24",
                 "--quiet"]) == 0  # fmt: skip
    assert "as JPEG (shorter side <= 24, quality 90)" in capsys.readouterr().err
    for split in ("train", "val"):
        assert len(JpegPack(tmp_path / "out" / split)) == 4
    train, val = load_dataset(tmp_path / "out", "train"), load_dataset(tmp_path / "out", "val")
    assert len(train) == len(val) == 4 and train.classes == val.classes == ["a", "b"]
    assert train.images.shape == (4, 24, 24, 3) and train.images[:2].dtype == torch.uint8  # decoded at the stored side

"""Sources and packing, on small real files the tests write: CIFAR batches, IDX files, an ImageFolder tree."""

from __future__ import annotations

import gzip
import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from ilsvrc.cli import main as cli_main
from ilsvrc.data import FASHION_CLASSES, detect_format, list_splits, load_dataset, pack, read_idx, verify_packed
from ilsvrc.data import packed as packed_mod
from ilsvrc.data.decode import decode_image
from ilsvrc.data.sources import decode_tree, read_cifar_batch
from ilsvrc.errors import UserError

# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Decoded image trees are cached on disk: keep each test's cache in its own temporary folder."""
    monkeypatch.setenv("ILSVRC_CACHE", str(tmp_path / "cache"))


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def photo(seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    """A smooth, photo-like RGB image (gradients + a blob), so JPEG round trips stay close."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, size=3)
    img = base + 40 * np.sin(xx[..., None] / (5 + seed) + np.array([0, 1, 2])) + 30 * (yy[..., None] / h)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def tree(tmp_path):
    """root/{train,val}/{cat,dog}/ with JPEG, PNG, greyscale JPEG, CMYK JPEG and three bad files in train/cat."""
    root = tmp_path / "tree"
    for split, n in (("train", 3), ("val", 2)):
        for ci, cls in enumerate(("cat", "dog")):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(photo(10 * ci + i)).save(d / f"img{i}.jpg", quality=95)
            Image.fromarray(photo(50 + ci, 30, 30)).save(d / "extra.png")
    cat = root / "train" / "cat"
    Image.fromarray(photo(7)[..., 0]).save(cat / "grey.jpg")  # mode L
    Image.fromarray(photo(8)).convert("CMYK").save(cat / "cmyk.jpg")
    (cat / "zero.jpg").write_bytes(b"")
    (cat / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" + bytes(range(256)))
    good = (cat / "img0.jpg").read_bytes()
    (cat / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (cat / "notes.txt").write_text("not an image, ignored")
    return root


BAD = ("corrupt.jpg", "truncated.jpg", "zero.jpg")


def cifar_folder(tmp_path, n_per_batch=6, batches=2):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    all_x, all_y = [], []
    for b in range(1, batches + 1):
        x = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 3, size=n_per_batch)]
        with open(root / f"data_batch_{b}", "wb") as f:
            pickle.dump({"batch_label": f"batch {b}", "labels": y, "data": x, "filenames": ["a.png"] * n_per_batch}, f)
        all_x.append(x)
        all_y += y
    xt = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    with open(root / "test_batch", "wb") as f:
        pickle.dump({"labels": [0, 1, 2, 0], "data": xt}, f, protocol=2)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["ant", "bee", "cow"], "num_cases_per_batch": n_per_batch}, f)
    return root, np.concatenate(all_x), np.array(all_y), xt


# ---------------------------------------------------------------------------------------------- bundled


def test_bundled_default_is_a_stratified_8000_2000_split_of_fashion_mnist():
    tr, va = load_dataset(None, "train"), load_dataset(None, "val")
    assert (len(tr), len(va)) == (8000, 2000)
    assert tr.images.shape[1:] == (28, 28, 1) and tr.images.dtype == torch.uint8
    assert tr.classes == FASHION_CLASSES == va.classes
    assert torch.bincount(tr.labels).tolist() == [800] * 10
    assert torch.bincount(va.labels).tolist() == [200] * 10
    assert tr.mean == va.mean and 0.2 < tr.mean[0] < 0.4  # val normalises with the train part's statistics
    again = load_dataset(None, "val")
    assert torch.equal(again.images, va.images) and torch.equal(again.labels, va.labels)
    train_rows = {bytes(r) for r in tr.images.reshape(8000, -1).numpy()[:500]}
    assert not any(bytes(r) in train_rows for r in va.images.reshape(2000, -1).numpy())  # disjoint
    assert load_dataset(None, "test").labels.shape == (2000,)  # "test" is an alias of val
    assert load_dataset(None, "val", size=32).images.shape == (2000, 32, 32, 1)  # an explicit size resizes


# ---------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_folder_loads_train_and_t10k_files(tmp_path, suffix):
    rng = np.random.default_rng(1)
    x_tr, y_tr = rng.integers(0, 256, (12, 5, 7), dtype=np.uint8), rng.integers(0, 4, 12).astype(np.uint8)
    x_te, y_te = rng.integers(0, 256, (3, 5, 7), dtype=np.uint8), np.array([3, 0, 1], dtype=np.uint8)
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", x_tr)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", y_tr)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", x_te)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", y_te)
    assert detect_format(tmp_path) == "idx"
    assert np.array_equal(read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}"), x_tr)
    tr, te = load_dataset(tmp_path, "train"), load_dataset(tmp_path, "val")
    assert np.array_equal(tr.images.numpy()[..., 0], x_tr) and tr.labels.tolist() == y_tr.tolist()
    assert np.array_equal(te.images.numpy()[..., 0], x_te) and te.labels.tolist() == [3, 0, 1]
    assert te.mean == tr.mean  # the test split is normalised with the train statistics
    assert abs(tr.mean[0] - x_tr.mean() / 255) < 1e-5


def test_truncated_idx_file_is_a_user_error(tmp_path):
    write_idx(tmp_path / "x-images-idx3-ubyte", np.zeros((4, 3, 3), np.uint8))
    p = tmp_path / "x-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(UserError, match="truncated"):
        read_idx(p)


# ---------------------------------------------------------------------------------------------- CIFAR


def test_cifar_batches_load_as_nhwc_with_class_names(tmp_path):
    root, x, y, xt = cifar_folder(tmp_path)
    assert detect_format(root) == "cifar" and detect_format(tmp_path) == "cifar"  # the parent folder works too
    ds = load_dataset(root, "train")
    assert ds.classes == ["ant", "bee", "cow"] and len(ds) == 12
    expect = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # R, G, B planes -> HWC
    assert np.array_equal(ds.images.numpy(), expect) and ds.labels.tolist() == y.tolist()
    te = load_dataset(root, "test")
    assert np.array_equal(te.images.numpy(), xt.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert te.mean == ds.mean  # train statistics
    assert len(ds.meta["pca_eigval"]) == 3 and ds.meta["pca_eigval"][0] >= ds.meta["pca_eigval"][2]


def test_cifar100_uses_fine_labels(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    x = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    for name in ("train", "test"):
        with open(root / name, "wb") as f:
            pickle.dump({"data": x, "fine_labels": [1, 0], "coarse_labels": [0, 0]}, f)
    with open(root / "meta", "wb") as f:
        pickle.dump({"fine_label_names": ["apple", "bowl"], "coarse_label_names": ["food"]}, f)
    ds = load_dataset(root, "val")
    assert ds.classes == ["apple", "bowl"] and ds.labels.tolist() == [1, 0] and ds.images.shape == (2, 32, 32, 3)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_restricted_unpickler_refuses_a_malicious_batch_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({"data": _Exploit(), "labels": [0]}))
    with pytest.raises(UserError, match=r"data_batch_1.*refusing.*system"):
        read_cifar_batch(bad)
    assert not (tmp_path / "pwned-by-pickle").exists()
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({"label_names": [b"x"]}))
    with pytest.raises(UserError, match="refusing"):
        load_dataset(tmp_path, "train")


# ---------------------------------------------------------------------------------------------- image trees


def test_decode_converts_greyscale_and_cmyk_to_rgb(tree):
    grey = decode_image(tree / "train" / "cat" / "grey.jpg", 16)
    cmyk = decode_image(tree / "train" / "cat" / "cmyk.jpg", 16)
    assert grey.shape == cmyk.shape == (16, 16, 3)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    # CMYK -> RGB should land near the original colours
    ref = np.asarray(Image.fromarray(photo(8)).resize((16, 16), box=(4, 0, 44, 40)), dtype=np.float64)
    assert np.abs(cmyk.astype(np.float64) - ref).mean() < 25


def test_decompression_bomb_guard_refuses_huge_images_before_decoding(tree, monkeypatch):
    from ilsvrc.data import decode
    from ilsvrc.data.decode import DecodeError

    monkeypatch.setattr(decode, "MAX_PIXELS", 40 * 40)  # the test photos are 48x40
    with pytest.raises(DecodeError, match="decompression-bomb"):
        decode_image(tree / "train" / "dog" / "img0.jpg", 8)
    assert decode_image(tree / "train" / "dog" / "extra.png", 8).shape == (8, 8, 3)  # 30x30 passes


def test_image_folder_skips_bad_files_and_names_them(tree, capsys):
    assert detect_format(tree) == "imagefolder" and list_splits(tree) == ["train", "val"]
    ds = load_dataset(tree, "train", size=16)
    err = capsys.readouterr().err
    for name in BAD:
        assert str(tree / "train" / "cat" / name) in err
    assert len(ds) == 2 * 4 + 2  # 3 jpg + png per class, plus grey and cmyk
    assert ds.classes == ["cat", "dog"] and ds.images.shape[1:] == (16, 16, 3)
    assert sorted(ds.meta["skipped"]) == sorted(str(tree / "train" / "cat" / n) for n in BAD)
    assert len(load_dataset(tree, "val", size=16)) == 6
    assert ds.meta["cache"].startswith(str(tree.parent / "cache"))  # decoded once, memory-mapped from the cache


def test_decoded_trees_are_cached_and_the_cache_notices_changed_files(tree):
    from ilsvrc.data import sources

    first = load_dataset(tree, "val", size=8)
    sources._decoded_tree.cache_clear()
    again = load_dataset(tree, "val", size=8)
    assert again.meta["cache"] == first.meta["cache"] and torch.equal(again.images, first.images)
    Image.fromarray(photo(99)).save(tree / "val" / "dog" / "new.jpg")
    sources._decoded_tree.cache_clear()
    changed = load_dataset(tree, "val", size=8)
    assert len(changed) == 7 and changed.meta["cache"] != first.meta["cache"]


def test_bad_paths_splits_and_empty_class_folders_are_user_errors(tree, tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(UserError, match="unknown split"):
        load_dataset(tree, "holdout")
    with pytest.raises(UserError, match="no 'val' split"):
        load_dataset(tree / "train", "val")  # a single class tree is one split
    (tree / "train" / "empty").mkdir()
    with pytest.raises(UserError, match=r"train/empty: empty class folder"):
        load_dataset(tree, "train", size=8)


def test_pack_then_load_equals_direct_decoding(tree, tmp_path):
    meta = pack(tree, tmp_path / "p", size=16, split="train", progress=False)
    assert meta["count"] == 10 and meta["classes"] == ["cat", "dog"] and meta["size"] == 16
    skipped = (tmp_path / "p" / "skipped.txt").read_text()
    assert all(str(tree / "train" / "cat" / n) in skipped for n in BAD)
    assert detect_format(tmp_path / "p") == "packed"
    packed_ds = load_dataset(tmp_path / "p")
    direct = decode_tree(tree, "imagefolder", "train", 16)  # decoded into memory, no files
    assert torch.equal(packed_ds.images, direct.images) and torch.equal(packed_ds.labels, direct.labels)
    assert packed_ds.mean == pytest.approx(direct.mean, abs=1e-6)
    first = decode_image(tree / "train" / "cat" / "cmyk.jpg", 16)  # sorted: cmyk.jpg is the first cat file
    assert np.array_equal(packed_ds.images[0].numpy(), first)
    assert verify_packed(tmp_path / "p") == []
    assert len(packed_ds.meta["pca_eigvec"]) == 3


def test_interrupted_pack_resumes_to_identical_output(tree, tmp_path, monkeypatch):
    pack(tree, tmp_path / "whole", size=12, progress=False, chunk=3)
    real = packed_mod.decode_many
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(packed_mod, "decode_many", flaky)
    with pytest.raises(KeyboardInterrupt):
        pack(tree, tmp_path / "resumed", size=12, progress=False, chunk=3)
    assert not (tmp_path / "resumed" / "meta.json").exists()
    state = json.loads((tmp_path / "resumed" / "pack-state.json").read_text())
    assert state["done"] == [0, 3]
    monkeypatch.setattr(packed_mod, "decode_many", real)
    resumed_calls = []
    monkeypatch.setattr(packed_mod, "decode_many", lambda *a, **k: resumed_calls.append(1) or real(*a, **k))
    pack(tree, tmp_path / "resumed", size=12, progress=False, chunk=3)
    assert len(resumed_calls) == 3  # 13 files in chunks of 3: only the 3 unfinished chunks are decoded again
    a = json.loads((tmp_path / "whole" / "meta.json").read_text())
    b = json.loads((tmp_path / "resumed" / "meta.json").read_text())
    assert a["checksums"] == b["checksums"] and a["count"] == b["count"] == 10
    assert not (tmp_path / "resumed" / "pack-state.json").exists()


def test_fixed_size_sources_pack_at_their_own_size(tmp_path):
    root, x, _, _ = cifar_folder(tmp_path)
    meta = pack(root, tmp_path / "pc", progress=False)
    assert (meta["count"], meta["size"], meta["classes"]) == (12, 32, ["ant", "bee", "cow"])
    ds = load_dataset(tmp_path / "pc")
    assert np.array_equal(ds.images.numpy(), x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    both = pack(root, tmp_path / "all", split="all", progress=False)
    assert [m["split"] for m in both] == ["train", "val"]
    assert len(load_dataset(tmp_path / "all", "val")) == 4
    assert list_splits(tmp_path / "pc") == ["train"] and list_splits(tmp_path / "all") == ["train", "val"]
    test_only = pack(root, tmp_path / "t", split="test", progress=False)
    assert test_only["count"] == 4 and list_splits(tmp_path / "t") == ["val"]
    with pytest.raises(UserError, match="holds the 'test' split only"):
        load_dataset(tmp_path / "t", "train")
    assert load_dataset(tmp_path / "all", "val").mean == ds.mean  # val normalises with the train statistics


def test_cli_pack_writes_meta_and_reports_errors_in_one_line(tree, tmp_path, capsys):
    assert cli_main(["pack", str(tree), str(tmp_path / "o"), "--size", "8", "--quiet", "--split", "train"]) == 0
    assert json.loads((tmp_path / "o" / "meta.json").read_text())["count"] == 10
    assert cli_main(["pack", str(tmp_path / "missing"), str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ilsvrc pack: error:") and "missing" in err


def test_official_imagenet_layout_labels_the_flat_val_folder_from_the_devkit(tmp_path):
    root = tmp_path / "imagenet"
    wnids = ["n01440764", "n01443537"]
    names = {"n01440764": ("tench", "Tinca tinca"), "n01443537": ("goldfish", "Carassius auratus")}
    for k, w in enumerate(wnids):
        (root / "train" / w).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(photo(k * 2 + i)).save(root / "train" / w / f"{w}_{i}.JPEG")
    (root / "val").mkdir()
    val_wnids = ["n01443537", "n01440764", "n01443537"]  # the devkit's labels, in sorted file-name order
    for i in range(3):
        Image.fromarray(photo(20 + i)).save(root / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG")
    torch.save((names, val_wnids), root / "meta.bin")  # what torchvision's parse_devkit_archive writes
    assert detect_format(root) == "imagenet"
    tr, va = load_dataset(root, "train", size=8), load_dataset(root, "val", size=8)
    assert tr.classes == va.classes == ["tench", "goldfish"]
    assert tr.labels.tolist() == [0, 0, 1, 1] and va.labels.tolist() == [1, 0, 1]


# ---------------------------------------------------------------------------------------------- shared data


def test_shared_cifar10_loads_50000_train_and_5000_test(shared_data):
    root = shared_data / "cifar10" / "cifar-10-batches-py"
    tr = load_dataset(root, "train")
    assert len(tr) == 50000 and tr.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert tr.mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=2e-3)
    assert len(load_dataset(root, "val")) == 5000

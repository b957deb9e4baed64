"""Evaluation the papers' way: top-1/top-5, 10 crops, ensembles of checkpoints; prediction on image files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ilsvrc.cli import main
from ilsvrc.data import EvalTransform
from ilsvrc.data.dataset import ArrayDataset
from ilsvrc.errors import UserError
from ilsvrc.evaluate import errors, evaluate_checkpoints
from ilsvrc.predict import predict
from ilsvrc.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_dataset(n: int, size: int = 16, seed: int = 0) -> ArrayDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randperm(n, generator=g) % 4
    images = (torch.rand(n, size, size, 3, generator=g) * 80 + labels.view(-1, 1, 1, 1) * 56).to(torch.uint8)
    return ArrayDataset(images, labels, ["ant", "bee", "cat", "dog"], (0.5,) * 3, (0.3,) * 3)


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> tuple[Path, Path, ArrayDataset]:
    root = tmp_path_factory.mktemp("eval")
    train_set, val_set = tiny_dataset(64), tiny_dataset(30, seed=1)
    paths = []
    for seed in (0, 1):
        cfg = TrainConfig(
            model="resnet20",
            recipe="quick",
            epochs=2,
            batch_size=16,
            lr=0.05,
            seed=seed,
            out=str(root / f"m{seed}"),
            progress=False,
            tensorboard=False,
        )
        train(cfg, train_set, val_set)
        paths.append(root / f"m{seed}" / "checkpoints" / "last.pt")
    return paths[0], paths[1], val_set


def test_errors_counts_top1_and_top5():
    probs = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]])
    e = errors(probs, torch.tensor([1, 2, 0]))
    assert e["top1_error"] == pytest.approx(2 / 3) and e["top5_error"] == 0.0


def test_ensemble_of_two_checkpoints_averages_softmax(two_checkpoints):
    a, b, val = two_checkpoints
    res = evaluate_checkpoints([a, b], None, dataset=val)
    assert len(res["members"]) == 2 and res["count"] == 30
    ens = res["ensemble"]
    assert ens is not None and 0 <= ens["top1_error"] <= 1 and ens["top5_error"] <= ens["top1_error"]
    single = evaluate_checkpoints([a], None, dataset=val)
    assert single["ensemble"] is None
    assert single["members"][0]["top1_error"] == pytest.approx(res["members"][0]["top1_error"])


def test_evaluation_matches_the_training_runs_own_validation(two_checkpoints):
    a, _, val = two_checkpoints
    summary = json.loads((a.parents[1] / "summary.json").read_text())
    res = evaluate_checkpoints([a], None, dataset=val)
    assert res["members"][0]["top1_error"] == pytest.approx(summary["val_top1_error"], abs=1e-6)


def test_ten_crops_give_ten_views_per_image(two_checkpoints):
    x = torch.randint(0, 255, (3, 20, 20, 3), dtype=torch.uint8)
    out = EvalTransform(16, (0.5,) * 3, (0.3,) * 3, crops=10)(x)
    assert out.shape == (3, 10, 3, 16, 16)
    a, _, val = two_checkpoints
    res = evaluate_checkpoints([a], None, crops=10, dataset=val)
    assert res["crops"] == 10 and 0 <= res["members"][0]["top1_error"] <= 1


def test_mismatched_classes_are_a_user_error(two_checkpoints):
    a, _, _ = two_checkpoints
    other = tiny_dataset(10)
    other = ArrayDataset(other.images, other.labels % 2, ["x", "y"], other.mean, other.std)
    with pytest.raises(UserError, match="classes"):
        evaluate_checkpoints([a], None, dataset=other)


def test_predict_gives_top5_class_names_with_probabilities(two_checkpoints, tmp_path):
    from PIL import Image

    a, _, val = two_checkpoints
    paths = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(val.images[i].numpy()).resize((40, 30)).save(p)
        paths.append(p)
    out = predict(a, paths)
    assert len(out) == 2
    names = [n for n, _ in out[0]["top"]]
    assert len(names) == 4 and set(names) == {"ant", "bee", "cat", "dog"}
    probs = [p for _, p in out[0]["top"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-5)


def test_cli_predict_and_missing_checkpoint(two_checkpoints, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def _image_tree(root: Path, per_class: int = 3) -> Path:
    """train/ and val/ class folders of small PNGs (each class its own brightness, so a net can tell them apart)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, name in enumerate(["ant", "bee"]):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = (rng.integers(0, 60, (20, 24, 3)) + 150 * c).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def test_evaluate_a_run_uses_the_data_it_was_trained_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ILSVRC_CACHE", str(tmp_path / "cache"))
    tree = _image_tree(tmp_path / "tree")
    cfg = TrainConfig(
        model="resnet20", data=str(tree), recipe="quick", epochs=1, batch_size=4, input_size=16,
        out=str(tmp_path / "run"), progress=False, tensorboard=False,
    )  # fmt: skip
    train(cfg)
    seen = []
    res = evaluate_checkpoints([tmp_path / "run"], None, progress=lambda done, total: seen.append((done, total)))
    assert res["data"] == str(tree) and res["count"] == 6  # the tree's val split, not the bundled Fashion-MNIST
    assert seen[-1] == (6, 6) and all(total == 6 for _, total in seen)
    assert main(["evaluate", str(tmp_path / "run"), "--quiet"]) == 0
    assert "recorded in the run's config" in capsys.readouterr().out
    moved = tmp_path / "tree-moved"
    tree.rename(moved)
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "recorded in its config" in err and "--data" in err
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(moved), "--quiet", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == str(moved)


def test_pack_of_a_tree_with_train_and_val_packs_both_and_train_reads_it(tmp_path, capsys):
    from ilsvrc.data import load_dataset

    tree = _image_tree(tmp_path / "tree")
    assert main(["pack", str(tree), str(tmp_path / "packed"), "--size", "16", "--quiet"]) == 0
    assert "packed every split SRC has into" in capsys.readouterr().err
    assert len(load_dataset(tmp_path / "packed", "train")) == 6 and len(load_dataset(tmp_path / "packed", "val")) == 6
    assert main(["pack", str(tree / "train"), str(tmp_path / "one"), "--size", "16", "--quiet"]) == 0
    assert (tmp_path / "one" / "meta.json").is_file()  # a single class-folder tree: one split, as before

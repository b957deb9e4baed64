"""Lesson pages: offline HTML with the card, diagram, tables and a checkpoint's pictures; opened in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ilsvrc.cli import main
from ilsvrc.data.dataset import ArrayDataset
from ilsvrc.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CLASSES = ["ant", "bee", "cat", "dog"]


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = (torch.rand(n, 32, 32, 3, generator=g) * 80 + labels.view(-1, 1, 1, 1) * 56).to(torch.uint8)
    return images, labels


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory) -> tuple[Path, Path]:
    """A two-step resnet20 run, and its validation images as an image-folder data set on disk."""
    root = tmp_path_factory.mktemp("lesson")
    data = root / "data"
    for split, n, seed in (("train", 32, 0), ("val", 8, 1)):
        images, labels = _images(n, seed)
        for i, (im, y) in enumerate(zip(images, labels, strict=True)):
            folder = data / split / CLASSES[int(y)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(im.numpy()).save(folder / f"{i}.png")
    cfg = TrainConfig(
        model="resnet20",
        recipe="quick",
        epochs=2,  # the engine draws curves.png for runs of 2+ epochs
        batch_size=16,
        lr=0.05,
        out=str(root / "run"),
        progress=False,
        tensorboard=False,
    )
    sets = [ArrayDataset(*_images(n, s), CLASSES, (0.5,) * 3, (0.3,) * 3) for n, s in ((32, 0), (8, 1))]
    train(cfg, *sets)
    return root / "run", data


@pytest.fixture(scope="module")
def lessons(run_and_data, tmp_path_factory) -> Path:
    run, data = run_and_data
    out = tmp_path_factory.mktemp("pages")
    assert main(["lesson", "vgg_small", str(run), "--data", str(data), "--images", "2", "--out", str(out)]) == 0
    return out


def _img_sources(page: Path) -> list[str]:
    return re.findall(r"<img src='([^']+)'", page.read_text())


def test_a_checkpoint_page_has_curves_filters_features_and_cams(lessons):
    page = lessons / "resnet20-run.html"
    text = page.read_text()
    for heading in ("The card", "How it was trained", "First-layer filters", "Feature maps", "Grad-CAM", "Receptive"):
        assert heading in text
    assert "top-1 accuracy" in text and "Deep Residual Learning" in text
    sources = _img_sources(page)
    assert {Path(s).name for s in sources} >= {
        "resnet20-run-curves.png",
        "resnet20-run-filters.png",
        "resnet20-run-cam0.png",
        "resnet20-run-cam1.png",
    }
    for s in sources:
        with Image.open(lessons / s) as im:
            assert np.asarray(im.convert("L"), dtype=np.float32).std() > 10


def test_pages_are_offline_and_the_index_links_them(lessons):
    for page in lessons.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"(src|href)=['\"]?(https?:)?//", text), f"{page.name} reaches the network"
        assert "<script" not in text
        assert all((lessons / s).is_file() for s in _img_sources(page))
    index = (lessons / "index.html").read_text()
    assert "href='vgg_small.html'" in index and "href='resnet20-run.html'" in index
    vgg = (lessons / "vgg_small.html").read_text()
    assert "The lecture's table" in vgg and "Why stacks of 3x3 filters" in vgg  # a plain stack of 3x3 convolutions


def test_lesson_needs_a_source_and_names_bad_ones(tmp_path, capsys):
    assert main(["lesson", "--out", str(tmp_path)]) == 2
    assert main(["lesson", "resnet2O", "--out", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine (.ci/run installs Debian's)")
def test_the_page_renders_in_headless_chromium_without_console_errors(lessons, tmp_path):
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,1600",
        f"--screenshot={shot}",
        (lessons / "resnet20-run.html").as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    with Image.open(shot) as im:
        assert im.size == (1100, 1600)
        arr = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert arr.std() > 20  # text, tables and pictures, not a blank page
    assert (arr[:, :, 0] - arr[:, :, 2] > 60).any()  # some colour: the plotted curves/maps were loaded and drawn

"""Pictures of the nets: diagrams from summary rows, filters, feature maps, Grad-CAM, occlusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ilsvrc.cli import main
from ilsvrc.data import EvalTransform
from ilsvrc.data.dataset import ArrayDataset
from ilsvrc.train import TrainConfig, train
from ilsvrc.viz.cam import cam_layer, occlusion
from ilsvrc.viz.inspect import RANDOM_NOTE, Subject, load_subject, summary_of
from ilsvrc.viz.pictures import DPI, FIG_WIDTH, show_filters
from ilsvrc.viz.structure import Residual, Stage, architecture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def assert_picture(path: Path, width: int) -> np.ndarray:
    """Written, `width` pixels wide, and not blank (real variation in its pixels)."""
    assert path.is_file()
    arr = pixels(path)
    assert arr.shape[1] == width
    assert arr.std() > 10, "the picture is (nearly) one colour"
    return arr


def tiny_dataset(n: int, seed: int = 0) -> ArrayDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randperm(n, generator=g) % 4
    images = (torch.rand(n, 32, 32, 3, generator=g) * 80 + labels.view(-1, 1, 1, 1) * 56).to(torch.uint8)
    return ArrayDataset(images, labels, ["ant", "bee", "cat", "dog"], (0.5,) * 3, (0.3,) * 3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A resnet20 run of two optimizer steps on 32 tiny images (its run folder)."""
    out = tmp_path_factory.mktemp("viz") / "run"
    cfg = TrainConfig(
        model="resnet20",
        recipe="quick",
        epochs=1,
        batch_size=16,
        lr=0.05,
        out=str(out),
        progress=False,
        tensorboard=False,
    )
    train(cfg, tiny_dataset(32), tiny_dataset(8, seed=1))
    return out


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "stripes.png"
    arr = np.zeros((40, 48, 3), np.uint8)
    arr[:, ::6] = (220, 40, 40)
    arr[10:30, 20:30] = (30, 200, 90)
    Image.fromarray(arr).save(path)
    return path


# -- structure -------------------------------------------------------------------------------------------


def test_resnet20_is_three_stages_of_three_residual_blocks():
    arch = architecture(*summary_of("resnet20"))
    stages = [u for u in arch.units if isinstance(u, Stage)]
    assert [len(s.blocks) for s in stages] == [3, 3, 3]
    assert [s.first.output_shape for s in stages] == [[16, 32, 32], [32, 16, 16], [64, 8, 8]]
    first = stages[0].first.parts[0]
    assert isinstance(first, Residual) and first.shortcut == [] and first.after == ["ReLU"]
    assert [b.label for b in first.path] == ["3x3 conv, 16", "3x3 conv, 16"]
    assert stages[1].first.parts[0].shortcut[0].label == "PadShortcut"  # option A: zero-padded identity
    assert sum(s.params for s in stages) + sum(u.params for u in arch.units if not isinstance(u, Stage)) == 269_722


def test_googlenet_modules_have_four_branches_and_alexnet_two_towers():
    arch = architecture(*summary_of("googlenet"))
    stages = [u for u in arch.units if isinstance(u, Stage)]
    assert [len(s.blocks) for s in stages] == [2, 5, 2]  # 3a-3b, 4a-4e, 5a-5b
    branches = stages[0].first.branches
    assert [[b.label for b in br] for br in branches] == [
        ["1x1 conv, 64"],
        ["1x1 conv, 96", "3x3 conv, 128"],
        ["1x1 conv, 16", "5x5 conv, 32"],
        ["3x3 max pool", "1x1 conv, 32"],
    ]
    alex = architecture(*summary_of("alexnet"))
    assert alex.towers == 2
    assert [u.groups for u in alex.units if u.kind == "conv"] == [1, 2, 1, 2, 2]  # conv3 crosses the towers


def test_vit_block_is_attention_and_mlp_each_with_a_shortcut():
    arch = architecture(*summary_of("vit_tiny"))
    (stage,) = [u for u in arch.units if isinstance(u, Stage)]
    assert len(stage.blocks) == 6
    attn, mlp = stage.first.parts
    assert [b.label for b in attn.path][:2] == ["LN", "self-attention, 3 heads"]
    assert [b.label for b in mlp.path] == ["LN", "linear 768", "linear 192"]
    assert "+ class_token" in arch.units[0].extras


# -- draw ------------------------------------------------------------------------------------------------


def test_draw_writes_a_png_and_an_svg(tmp_path, capsys):
    png, svg = tmp_path / "r.png", tmp_path / "r.svg"
    assert main(["draw", "resnet20", "--png", str(png)]) == 0
    arr = assert_picture(png, width=round(7.2 * 150))
    assert arr.shape[0] > arr.shape[1]  # a tall picture: stem, three stages, head
    assert main(["draw", "resnet20", "--svg", str(svg)]) == 0
    assert svg.read_text().lstrip().startswith("<?xml") and "BasicBlock" in svg.read_text()


def test_draw_refuses_other_formats_and_small_inputs(tmp_path, capsys):
    assert main(["draw", "resnet20", "--png", str(tmp_path / "r.gif")]) == 2
    assert "as .png or .svg" in capsys.readouterr().err
    assert main(["draw", "alexnet", "--input-size", "16"]) == 2
    assert not (tmp_path / "r.gif").exists()


# -- show ------------------------------------------------------------------------------------------------


def test_show_filters_features_and_cam_of_a_checkpoint(checkpoint, image_file, tmp_path):
    width = round(FIG_WIDTH * DPI)
    for what, extra in (("filters", []), ("features", [str(image_file)]), ("cam", [str(image_file), "--label", "cat"])):
        out = tmp_path / f"{what}.png"
        assert main(["show", what, str(checkpoint), *extra, "--out", str(out)]) == 0
        assert_picture(out, width)


def test_a_model_name_gets_random_weights_and_says_so():
    subject = load_subject("resnet20")
    assert subject.note == RANDOM_NOTE and not subject.trained
    assert subject.input_size == 32 and len(subject.classes) == 10


def test_show_errors_are_one_line(checkpoint, tmp_path, capsys):
    assert main(["show", "features", str(checkpoint), str(tmp_path / "none.png")]) == 2
    assert "image not found" in capsys.readouterr().err
    assert main(["show", "cam", str(checkpoint), str(tmp_path / "none.png"), "--label", "zebra"]) == 2
    assert main(["show", "filters", "no_such_net"]) == 2


class _Grouped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.conv2 = nn.Conv2d(8, 8, 3, groups=2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.conv2(self.conv1(x)).mean((2, 3)))


def _subject(model: nn.Module, size: int = 16) -> Subject:
    return Subject(
        model.eval(), "toy", ["a", "b", "c", "d"], size, 3, EvalTransform(size, (0.5,) * 3, (0.25,) * 3), "test"
    )


def test_two_tower_filters_are_drawn_side_by_side(tmp_path):
    arr = assert_picture(show_filters(_subject(_Grouped()), tmp_path / "f.png"), round(FIG_WIDTH * DPI))
    body = arr[int(arr.shape[0] * 0.3) :]  # below the title
    inked = (body < 250).any(axis=(0, 2))
    middle = inked[len(inked) * 2 // 5 : len(inked) * 3 // 5]
    assert inked[: len(inked) // 3].any() and inked[-len(inked) // 3 :].any()
    assert not middle.all(), "no gap between the two towers"


class _LooksTopLeft(nn.Module):
    """Class 0's score is the brightness of the top-left quadrant; class 1's a constant."""

    def forward(self, x):
        tl = x[:, :, : x.shape[2] // 2, : x.shape[3] // 2].mean((1, 2, 3))
        return torch.stack([tl, torch.zeros_like(tl)], 1)


def test_occlusion_map_is_low_where_the_evidence_is():
    subject = _subject(_LooksTopLeft())
    image = torch.full((16, 16, 3), 255, dtype=torch.uint8)
    occ, square = occlusion(subject, image, target=0, positions=4)
    assert occ.shape == (4, 4) and square == 4
    assert occ[0, 0] < occ[3, 3] - 0.03  # greying the top-left lowers p(class 0); the bottom-right does not
    assert abs(occ[3, 3] - occ[2, 3]) < 1e-6


def test_grad_cam_targets_the_last_map_of_a_cnn_and_the_last_block_norm_of_a_vit():
    torch.manual_seed(0)
    layer, vit = cam_layer(_Grouped(), torch.zeros(1, 3, 16, 16))
    assert not vit and isinstance(layer, nn.Conv2d) and layer.groups == 2
    from ilsvrc.models import create_model

    model = create_model("vit_tiny").eval()
    layer, vit = cam_layer(model, torch.zeros(1, 3, 32, 32))
    assert vit and layer is model.encoder.layers[-1].ln_1  # before the last attention: patch tokens get gradients


def test_vgg16_stacks_three_3x3_convolutions_between_pools():
    from ilsvrc.viz.lesson import _runs

    arch = architecture(*summary_of("vgg16"))
    assert [len(g) for g in _runs(arch.units)] == [2, 2, 3, 3, 3]
    assert not any(isinstance(u, Stage) for u in arch.units)  # a plain stack: the lecture's table applies


def test_grad_cam_of_a_vit_is_a_map_over_its_patch_grid():
    from ilsvrc.models import create_model
    from ilsvrc.viz.cam import grad_cams

    torch.manual_seed(0)
    model = create_model("vit_tiny").eval()
    nn.init.normal_(model.heads.head.weight, std=0.5)  # the zero-initialised head would give every class 10%
    subject = _subject(model, size=32)
    image = (torch.rand(32, 32, 3) * 255).to(torch.uint8)
    cams, layer = grad_cams(subject, image, top=2)
    assert layer == "encoder.layers.encoder_layer_5.ln_1"
    assert [c.shape for _, _, c in cams] == [(32, 32), (32, 32)]
    assert cams[0][1] >= cams[1][1] and all(c.std() > 0.01 for _, _, c in cams)

"""Published weights through torchvision's API, offline: the test writes the 'downloaded' file itself."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch
import torchvision

from ilsvrc.errors import UserError
from ilsvrc.models import create_model, pretrained


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _publish(folder, monkeypatch):
    """Write torchvision resnet18 weights as the cache file of a weights entry whose hash prefix matches them."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    folder.mkdir(parents=True)
    staging = folder / "staging.pth"
    torch.save(reference.state_dict(), staging)
    prefix = hashlib.sha256(staging.read_bytes()).hexdigest()[:8]
    staging.rename(folder / f"resnet18-{prefix}.pth")
    real = pretrained.weights_info("resnet18")
    fake = dataclasses.replace(real, url=f"https://example.invalid/models/resnet18-{prefix}.pth")
    monkeypatch.setattr(pretrained, "weights_info", lambda name, tag=pretrained.DEFAULT_TAG: fake)
    return reference


def test_weights_info_carries_preprocessing_and_published_accuracy():
    info = pretrained.weights_info("resnet50_v1_5")
    assert (info.resize_size, info.crop_size, info.interpolation) == (256, 224, "bilinear")
    assert info.top1 == pytest.approx(76.13) and info.crop_pct == pytest.approx(0.875)
    assert info.file_name.startswith("resnet50-") and info.mean == pytest.approx((0.485, 0.456, 0.406))
    assert set(pretrained.PRETRAINED) >= {"alexnet_tv", "vgg16_bn", "resnet152_v1_5", "vit_b16"}


def test_cached_weights_give_torchvision_outputs(torch_home, monkeypatch):
    reference = _publish(torch_home, monkeypatch)
    model = create_model("resnet18", weights="torchvision").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5)
    assert model.pretrained.top1 > 60


def test_fine_tuning_keeps_the_backbone_and_makes_a_new_head(torch_home, monkeypatch):
    reference = _publish(torch_home, monkeypatch)
    model = create_model("resnet18", num_classes=10, weights="torchvision")
    assert model.fc.out_features == 10
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_a_file_with_the_wrong_hash_is_refused(torch_home):
    info = pretrained.weights_info("resnet18")
    torch_home.mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(1)}, torch_home / info.file_name)
    with pytest.raises(UserError, match="is not torchvision's file"):
        create_model("resnet18", weights="torchvision")


def test_offline_names_the_file_and_the_folder(torch_home, monkeypatch, tmp_path):
    real = pretrained.weights_info("resnet18")
    unreachable = dataclasses.replace(real, url=f"file://{tmp_path}/nowhere/{real.file_name}")
    monkeypatch.setattr(pretrained, "weights_info", lambda name, tag=pretrained.DEFAULT_TAG: unreachable)
    with pytest.raises(UserError) as err:
        create_model("resnet18", weights="torchvision")
    message = str(err.value)
    assert real.file_name in message and str(torch_home) in message and "TORCH_HOME" in message
    assert "\n" not in message


def test_names_without_published_weights_and_bad_specs_are_one_line():
    with pytest.raises(UserError, match="no ImageNet weights for resnet50;"):
        pretrained.weights_info("resnet50")  # v1 strides: torchvision's file would mislead
    with pytest.raises(UserError, match="only source is 'torchvision'"):
        create_model("resnet18", weights="imagenet")
    with pytest.raises(UserError, match="has no weights 'V9'"):
        pretrained.weights_info("resnet18", "V9")


def test_class_lists_are_the_1000_ilsvrc_classes():
    wnids, names = pretrained.imagenet_wnids(), pretrained.imagenet_classes()
    assert len(wnids) == len(set(wnids)) == len(names) == 1000
    assert list(wnids) == sorted(wnids)
    assert (wnids[0], names[0]) == ("n01440764", "tench")
    assert names[wnids.index("n03888257")] == "parachute"


def test_imagenette_folders_map_onto_the_1000_logits():
    imagenette = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042",
                  "n03425413", "n03445777", "n03888257"]  # fmt: skip
    assert pretrained.imagenet_indices(imagenette) == [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]
    assert pretrained.imagenet_indices(["n01440764", "cat"]) is None
    assert pretrained.imagenet_indices([]) is None


def test_cards_give_the_stored_side_from_the_crop_fraction():
    from ilsvrc.models import get_card

    assert get_card("alexnet").stored_size() == 256  # 227 crops of 256 images (section 2)
    assert get_card("resnet50").stored_size() == 256 and get_card("vgg16").stored_size(112) == 128


def _folder(root, size=40):
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    for split, n in (("train", 6), ("val", 2)):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                pixels = torch.randint(0, 255, (size, size, 3), generator=rng, dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")
    return root


def test_train_fine_tunes_from_published_weights(torch_home, monkeypatch, tmp_path):
    from ilsvrc.train import TrainConfig, train

    reference = _publish(torch_home, monkeypatch)
    config = TrainConfig(model="resnet18", data=str(_folder(tmp_path / "data")), weights="torchvision",
                         max_steps=1, batch_size=4, lr=0.0, input_size=32, out=str(tmp_path / "run"),
                         progress=False, workers_threads=1)  # fmt: skip
    result = train(config)
    assert result.model.fc.out_features == 2  # the data's classes: a new head
    assert torch.equal(result.model.conv1.weight, reference.conv1.weight)  # lr 0: still the published filters


def test_train_with_weights_offline_fails_before_reading_data(torch_home, monkeypatch, tmp_path):
    from ilsvrc.train import TrainConfig, train

    real = pretrained.weights_info("resnet18")
    unreachable = dataclasses.replace(real, url=f"file://{tmp_path}/nowhere/{real.file_name}")
    monkeypatch.setattr(pretrained, "weights_info", lambda name, tag=pretrained.DEFAULT_TAG: unreachable)
    config = TrainConfig(model="resnet18", data=str(tmp_path / "missing"), weights="torchvision", max_steps=1,
                         out=str(tmp_path / "run"), progress=False)  # fmt: skip
    with pytest.raises(UserError, match=r"resnet18: cannot download torchvision weights"):
        train(config)


def _photo(path, size=(300, 260)):
    from PIL import Image

    rng = torch.Generator().manual_seed(1)
    Image.fromarray(torch.randint(0, 255, (size[1], size[0], 3), generator=rng, dtype=torch.uint8).numpy()).save(path)
    return path


def test_predict_a_model_name_uses_the_weights_preprocessing(torch_home, monkeypatch, tmp_path):
    from PIL import Image

    from ilsvrc.predict import predict

    reference = _publish(torch_home, monkeypatch)
    photo = _photo(tmp_path / "photo.png")
    (result,) = predict("resnet18", [photo], top=5)
    names = [name for name, _ in result["top"]]
    assert len(names) == 5 and set(names) <= set(pretrained.imagenet_classes())
    # torchvision's own pipeline for these weights (resize 256, centre crop 224, ImageNet mean/std)
    prep = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    with torch.no_grad():
        probs = reference(prep(Image.open(photo).convert("RGB"))[None]).softmax(-1)[0]
    top = probs.topk(5)
    assert names[0] == pretrained.imagenet_classes()[top.indices[0]]
    assert result["top"][0][1] == pytest.approx(top.values[0].item(), abs=0.02)  # resamplers differ slightly


def test_evaluate_a_model_name_on_wnid_folders_scores_only_their_logits(torch_home, monkeypatch, tmp_path):
    from ilsvrc.evaluate import evaluate_checkpoints

    _publish(torch_home, monkeypatch)
    for split in ("train", "val"):
        for wnid in ("n01440764", "n03888257"):  # tench, parachute
            (tmp_path / "inet" / split / wnid).mkdir(parents=True)
            for i in range(2):
                _photo(tmp_path / "inet" / split / wnid / f"{i}.png", (64, 48))
    res = evaluate_checkpoints(["resnet18"], str(tmp_path / "inet"), weights="torchvision", batch_size=4)
    (member,) = res["members"]
    assert res["count"] == 4 and 0 <= member["top1_error"] <= 1
    assert member["top5_error"] == 0  # two columns compared: both are always in the top 5
    with pytest.raises(UserError, match="give --weights torchvision"):
        evaluate_checkpoints(["resnet18"], str(tmp_path / "inet"))

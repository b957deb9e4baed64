"""The model zoo: every registered name builds, runs, trains, and matches its paper's numbers."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import ilsvrc
from ilsvrc.analysis.zoo_counts import COUNTS
from ilsvrc.errors import UserError
from ilsvrc.models import create_model, get_card, list_models, load_torchvision, torchvision_names
from ilsvrc.models.costs import inference_params, model_costs
from ilsvrc.models.layers import paper_lrn

ALL = list_models()
REQUIRED = [
    "alexnet", "alexnet_tv", "zfnet", "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19", "vgg11_bn",
    "vgg13_bn", "vgg16_bn", "vgg19_bn", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet50_v1_5", "resnet101_v1_5", "resnet152_v1_5", "resnet20", "resnet32", "resnet44", "resnet56",
    "resnet110", "plain20", "plain32", "plain44", "plain56", "plain110", "seresnet50", "vit_b16", "vit_tiny",
]  # fmt: skip


def small_input_size(name: str) -> int:
    """A small input every model's strides allow (ViT-B/16 needs a multiple of 16)."""
    return max(get_card(name).min_input_size, 32 if get_card(name).input_size <= 32 else 64)


def test_registry_has_every_name_from_the_design():
    assert set(REQUIRED) <= set(ALL)
    assert len(ALL) == len(set(ALL))


@pytest.mark.parametrize("name", ALL)
def test_output_shape_for_any_class_count_and_grey_input(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, in_chans=1).eval()
    size = small_input_size(name)
    with torch.no_grad():
        out = model(torch.randn(2, 1, size, size))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ALL)
def test_every_parameter_receives_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5).train()
    for m in model.modules():  # ViT's head starts at zero, which would stop gradients reaching the encoder
        if isinstance(m, nn.Linear) and not m.weight.any():
            nn.init.normal_(m.weight, std=0.02)
    size = small_input_size(name)
    out = model(torch.randn(4, 3, size, size))
    outputs = out if isinstance(out, tuple) else (out,)
    sum(o.float().pow(2).mean() for o in outputs).backward()
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # speedrun_cifar freezes a few
    silent = [n for n, p in trained if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without gradient: {silent[:5]}"


@pytest.mark.parametrize("name", [n for n in ALL if get_card(n).params is not None])
def test_parameter_count_matches_the_reference(name):
    card = get_card(name)
    with torch.device("meta"):
        params = inference_params(create_model(name))
    if card.params_exact:
        assert params == card.params
    else:  # a rounded published figure
        assert abs(params - card.params) / card.params < 0.005, (params, card.params)


@pytest.mark.parametrize("name", ALL)
def test_multiply_adds_match_the_reference_and_the_precomputed_table(name):
    card = get_card(name)
    costs = model_costs(name)
    # `ilsvrc models` lists the table without building models; stale? run `python -m ilsvrc.analysis.zoo_counts`
    assert COUNTS[name] == (costs["params"], costs["macs"], costs["input_size"])
    macs = costs["macs"]
    if card.macs is None:
        return
    if card.macs_exact:
        assert macs == card.macs
    else:  # the paper's rounded figure (e.g. ResNet-50's "3.8 billion")
        assert abs(macs - card.macs) / card.macs < 0.02, (macs, card.macs)


def test_papers_headline_numbers():
    with torch.device("meta"):
        assert inference_params(create_model("alexnet")) == 60_965_224
        assert inference_params(create_model("alexnet", groups=1)) == 62_378_344  # single tower, paper layout
        assert inference_params(create_model("googlenet", aux_logits=False)) == 6_998_552
        assert inference_params(create_model("vgg16")) == 138_357_544
    # torchvision counts GoogLeNet without its heads: 6,624,904 with BN and 3x3 "5x5" branches
    assert (
        sum(p.numel() for p in torchvision.models.googlenet(init_weights=False, aux_logits=False).parameters())
        == 6_624_904
    )


def _torchvision_pair(name: str, num_classes: int = 10):
    torch.manual_seed(0)
    tv_name = get_card(name).torchvision
    kwargs = {"image_size": 32} if tv_name.startswith("vit") else {}
    reference = torchvision.models.get_model(tv_name, weights=None, num_classes=num_classes, **kwargs).eval()
    for p in reference.parameters():  # torchvision zero-inits some heads; random values make parity meaningful
        if not p.any():
            nn.init.normal_(p, std=0.02)
    return reference, load_torchvision(name, reference.state_dict()).eval()


# The v1 bottleneck ResNets share torchvision's (v1.5) layout but not its strides.
PARITY = [n for n in torchvision_names() if n not in ("resnet50", "resnet101", "resnet152")]


@pytest.mark.parametrize("name", PARITY)
def test_torchvision_weights_give_torchvision_outputs(name):
    reference, ours = _torchvision_pair(name)
    size = 32 if name.startswith("vit") else 64
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert (ours(x) - reference(x)).abs().max().item() < 1e-4


def test_v1_resnet_loads_torchvision_weights_but_strides_differently():
    reference, ours = _torchvision_pair("resnet50")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - reference(x)).abs().max().item() > 1e-4
    assert ours.layer2[0].conv1.stride == (2, 2) and reference.layer2[0].conv2.stride == (2, 2)


def test_load_torchvision_rejects_a_model_without_a_counterpart():
    with pytest.raises(UserError, match="no torchvision counterpart"):
        load_torchvision("googlenet", {})


def test_alexnet_is_the_two_tower_paper_net():
    model = create_model("alexnet").eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    sizes, x = [], torch.randn(1, 3, 227, 227)
    for m in model.features:
        x = m(x)
        if isinstance(m, nn.MaxPool2d):
            sizes.append(x.shape[-1])
    assert sizes == [27, 13, 6]
    assert convs[1].bias.eq(1).all() and convs[0].bias.eq(0).all()  # paper init: biases 1 in conv2/4/5


def test_lrn_follows_the_papers_formula():
    a = torch.randn(1, 8, 3, 3)
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    expected = torch.empty_like(a)
    for i in range(8):
        lo, hi = max(0, i - n // 2), min(7, i + n // 2)
        expected[:, i] = a[:, i] / (k + alpha * a[:, lo : hi + 1].pow(2).sum(1)) ** beta
    torch.testing.assert_close(paper_lrn()(a), expected)


def test_googlenet_returns_aux_logits_only_in_training():
    model = create_model("googlenet", num_classes=3)
    x = torch.randn(2, 3, 96, 96)
    main, aux1, aux2 = model.train()(x)
    assert main.shape == aux1.shape == aux2.shape == (2, 3)
    assert model.eval()(x).shape == (2, 3)
    assert model.inception3a.branch3[1][0].kernel_size == (5, 5)  # the paper's 5x5, not torchvision's 3x3
    assert create_model("googlenet", aux_logits=False).train()(x).shape == (2, 1000)


def test_googlenet_aux_head_pools_5x5_stride_3_at_224():
    model = create_model("googlenet").train()
    seen = {}
    model.aux1.conv.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    model(torch.randn(1, 3, 224, 224))
    assert seen["shape"] == (1, 128, 4, 4)


def test_naive_googlenet_is_fig_2a_everywhere_and_costs_8x_the_multiply_adds():
    naive = create_model("googlenet", naive=True, num_classes=3)
    # no reductions: every module passes its whole input on beside 1x1, 3x3 and 5x5 outputs (3a: 64+128+32+192)
    assert naive.inception3a.out_channels == 416 and naive.inception5b.out_channels == 4944
    assert naive.aux1.conv[0].in_channels == 1280 and naive.aux2.conv[0].in_channels == 2640
    main, aux1, aux2 = naive.train()(torch.randn(2, 3, 64, 64))
    assert main.shape == aux1.shape == aux2.shape == (2, 3)
    paper, blown_up = model_costs("googlenet"), model_costs("googlenet", naive=True)
    assert paper["macs"] == COUNTS["googlenet"][1] and blown_up["macs"] == 12_568_061_056  # 7.9x Table 1's net


@pytest.mark.parametrize(("shortcut", "extra"), [("A", 0), ("B", (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64))])
def test_cifar_resnet_shortcut_options(shortcut, extra):
    base = inference_params(create_model("resnet20"))
    assert inference_params(create_model("resnet20", shortcut=shortcut)) == base + extra
    assert inference_params(create_model("resnet20", shortcut="C")) > base + extra


def test_plain_net_has_no_shortcuts_and_the_same_weights():
    plain, res = create_model("plain56"), create_model("resnet56")
    assert inference_params(plain) == inference_params(res)
    assert all(not b.residual for stage in (plain.layer1, plain.layer2, plain.layer3) for b in stage)


def test_inception_net_width_scales_channels_and_keeps_the_bottleneck_saving():
    full = {b: model_costs("inception_net", 32, bottleneck=b) for b in (False, True)}
    half = {b: model_costs("inception_net", 32, bottleneck=b, width=0.5) for b in (False, True)}
    # MACs of the C -> C convolutions scale with width^2 (the stem's 3 input channels do not shrink)
    assert 0.24 < half[False]["macs"] / full[False]["macs"] < 0.27
    assert half[False]["macs"] / half[True]["macs"] > 3.5  # the full net's ratio is 3.65x
    assert create_model("inception_net", width=0.5)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="width must be positive"):
        create_model("inception_net", width=0)


def test_four_layer_net_paper_init_draws_cuda_convnets_gaussians():
    torch.manual_seed(0)
    net = create_model("cifar_convnet", activation="tanh", init="paper")
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    stds = [float(m.weight.std()) for m in layers]
    assert stds[0] == pytest.approx(0.0064, rel=0.1)  # conv1: 1e-4 on 0-255 pixels, x64 for unit-std inputs
    assert stds[1:] == pytest.approx([0.01] * 3, rel=0.1)
    assert all(float(m.bias.abs().max()) == 0 for m in layers)
    torch.manual_seed(0)
    default = [m for m in create_model("cifar_convnet").modules() if isinstance(m, nn.Conv2d)]
    assert float(default[1].weight.std()) == pytest.approx(1 / (3 * 800) ** 0.5, rel=0.05)  # PyTorch's: ~2x wider
    with pytest.raises(ValueError, match="init must be"):
        create_model("cifar_convnet", init="xavier")


def test_resnet_v1_and_v1_5_put_the_stride_in_different_places():
    v1, v15 = create_model("resnet50"), create_model("resnet50_v1_5")
    assert v1.layer3[0].conv1.stride == (2, 2) and v1.layer3[0].conv2.stride == (1, 1)
    assert v15.layer3[0].conv1.stride == (1, 1) and v15.layer3[0].conv2.stride == (2, 2)


def test_vit_takes_other_input_sizes_by_interpolating_positions():
    model = create_model("vit_tiny").eval()
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.randn(1, 3, 30, 30))


def test_clear_errors_for_bad_inputs_and_names():
    with pytest.raises(ValueError, match="too small"):
        create_model("alexnet")(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="in_chans=1"):
        create_model("resnet20")(torch.randn(1, 1, 32, 32))
    with pytest.raises(UserError, match=r"did you mean .*resnet50"):
        create_model("resnet5O")
    with pytest.raises(UserError, match="num_classes"):
        create_model("resnet20", num_classes=0)


def test_default_class_counts_follow_the_dataset_of_the_paper():
    assert create_model("resnet20").fc.out_features == 10
    assert create_model("resnet18").fc.out_features == 1000
    assert ilsvrc.list_models("plain*") == ["plain20", "plain32", "plain44", "plain56", "plain110"]


def test_models_command_lists_every_name_with_counts(capsys):
    import json

    from ilsvrc.cli import main

    assert main(["models", "--format", "json"]) == 0
    out = capsys.readouterr().out
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(REQUIRED) <= set(rows)
    assert rows["vgg16"]["counted"] == {"params": 138_357_544, "macs": 15_470_264_320, "input_size": 224}


def test_unknown_model_on_the_command_line_is_one_line_and_exit_2(capsys):
    from ilsvrc.cli import main

    assert main(["models", "alexnett"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "did you mean alexnet" in err


@pytest.mark.parametrize("width", [80, 100, 120])
def test_models_table_fits_the_terminal_and_is_sorted_by_year(width, monkeypatch, capsys):
    from ilsvrc.cli import main

    def no_building(*args, **kwargs):
        raise AssertionError("listing the zoo must not build models")

    monkeypatch.setattr("ilsvrc.models.costs.model_costs", no_building)
    monkeypatch.setattr("ilsvrc.models.registry._BUILDERS", {n: no_building for n in ALL})
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= width
    years = [int(cells[2]) for line in lines if len(cells := line.split("│")) > 3 and cells[2].strip().isdigit()]
    assert len(years) == len(ALL) and years == sorted(years)


def test_one_card_reads_as_labelled_lines_not_raw_fields(monkeypatch, capsys):
    from ilsvrc.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["models", "googlenet"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "counted: {" not in out and "macs:" not in out
    assert "6,998,552 counted" in out and "Szegedy" in out
    assert max(len(line) for line in out.splitlines()) <= 80

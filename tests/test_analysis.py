"""Analysis: the per-layer table reproduces the lecture's VGG-16 numbers and agrees with FlopCounterMode."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import ilsvrc
from ilsvrc.analysis import summarize
from ilsvrc.analysis.report import format_summary, kernel_sizes, lecture_rows
from ilsvrc.cli import main
from ilsvrc.errors import UserError
from ilsvrc.models import create_model, get_card, list_models


def meta_model(name: str, **options) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **options)


def small_size(name: str) -> int:
    card = get_card(name)
    return card.input_size if card.input_size <= 32 else max(card.min_input_size, 64)


@pytest.fixture(scope="module")
def vgg16():
    model = meta_model("vgg16")
    return model, summarize(model, 224, name="vgg16")


# The lecture's table (seed note, "VGG parameter", not counting biases): (memory, weights) per row.
SEED_VGG16 = [
    ("INPUT", 150_528, 0),
    ("CONV3-64", 3_211_264, 1_728),
    ("CONV3-64", 3_211_264, 36_864),
    ("POOL2", 802_816, 0),
    ("CONV3-128", 1_605_632, 73_728),
    ("CONV3-128", 1_605_632, 147_456),
    ("POOL2", 401_408, 0),
    ("CONV3-256", 802_816, 294_912),
    ("CONV3-256", 802_816, 589_824),
    ("CONV3-256", 802_816, 589_824),
    ("POOL2", 200_704, 0),
    ("CONV3-512", 401_408, 1_179_648),
    ("CONV3-512", 401_408, 2_359_296),
    ("CONV3-512", 401_408, 2_359_296),
    ("POOL2", 100_352, 0),
    ("CONV3-512", 100_352, 2_359_296),
    ("CONV3-512", 100_352, 2_359_296),
    ("CONV3-512", 100_352, 2_359_296),
    ("POOL2", 25_088, 0),
    ("FC", 4_096, 102_760_448),
    ("FC", 4_096, 16_777_216),
    ("FC", 1_000, 4_096_000),
]


def test_vgg16_lecture_rows_match_the_seed_table_row_by_row(vgg16):
    model, s = vgg16
    rows = lecture_rows(s, kernel_sizes(model), no_bias=True)
    assert [(r["layer"], r["memory"], r["weights"]) for r in rows] == SEED_VGG16


def test_vgg16_totals_are_the_correct_sums_not_24m(vgg16):
    _, s = vgg16
    t = s.totals
    assert t["activations"] == 15_237_608
    assert t["activations_without_input"] == 15_237_608 - 150_528
    assert t["forward_bytes"] == 60_950_432
    assert t["params_no_bias"] == 138_344_128
    assert t["params"] == 138_357_544
    assert t["macs"] == 15_470_264_320
    # what autograd saves: every layer output once (in-place ReLUs share the conv's storage) plus the
    # max-pool indices (int64) and small extras (dropout masks, FC inputs made in training mode)
    indices = 8 * (802_816 + 401_408 + 200_704 + 100_352 + 25_088)
    assert 60_950_432 + indices <= t["saved_for_backward_bytes"] <= 1.01 * (60_950_432 + indices)
    # + weights, gradients and momentum (3 x 4 bytes per parameter)
    assert t["training_bytes_estimate"] == t["saved_for_backward_bytes"] + 3 * 4 * 138_357_544


def test_vgg16_lecture_view_prints_totals_and_the_24m_footnote(vgg16):
    model, s = vgg16
    text = format_summary(s, "table", view="lecture", no_bias=True, kernels=kernel_sizes(model))
    assert "TOTAL memory: 15,237,608 values * 4 bytes = 60,950,432 bytes" in text
    assert "TOTAL params: 138,344,128 (not counting biases; 138,357,544 with)" in text
    assert "24M" in text and "arithmetic slip" in text
    assert "7*7*512*4096" in text and "(3*3*3)*64" in text


def test_every_leaf_gets_a_row_and_in_place_relus_are_not_added_twice(vgg16):
    model, s = vgg16
    leaves = [n for n, m in model.named_modules() if not list(m.children())]
    assert [r.name for r in s.layers] == leaves
    relu = next(r for r in s.layers if r.type == "ReLU")
    assert relu.activations == 3_211_264 and not relu.new_memory and relu.note == "in-place"
    avgpool = next(r for r in s.layers if r.name == "avgpool")
    assert not avgpool.new_memory  # 7x7 -> 7x7 at 224: the identity, not 25,088 more activations


def test_summarize_leaves_a_real_model_unchanged_and_runs_on_meta():
    model = create_model("resnet20").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = summarize(model, 32)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert s.totals["params"] == sum(p.numel() for p in model.parameters())


def test_shared_module_is_counted_at_every_call():
    s = summarize(meta_model("resnet18"), 64)
    relus = [r for r in s.layers if r.name == "layer1.0.relu"]
    assert [r.call for r in relus] == [1, 2]  # BasicBlock uses one ReLU module twice
    assert any(r.kind == "functional" and r.type == "add" for r in s.layers)  # the residual sums


def test_googlenet_eval_by_default_and_aux_heads_in_training():
    model = meta_model("googlenet")
    s = summarize(model, 224)
    assert s.totals["params"] == 6_998_552  # Table 1 counted layer by layer, no auxiliary heads
    assert s.totals["params_unused"] > 6_000_000
    assert not any(r.name.startswith("aux") for r in s.layers)
    t = summarize(model, 224, train=True)
    assert any(r.name.startswith("aux1") for r in t.layers) and t.totals["params_unused"] == 0


# -- MACs: the counting rules against FlopCounterMode, for every registered model ----------------------


@pytest.mark.parametrize("name", list_models())
def test_macs_equal_flop_counter_for_every_model(name):
    model = meta_model(name).eval()
    size = small_size(name)
    s = summarize(model, size, name=name)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, size, size, device="meta"))
    assert s.totals["macs"] == counter.get_total_flops() // 2
    assert s.totals["params"] + s.totals["params_unused"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("need_weights", [False, True])
def test_attention_counts_projections_and_both_matmuls(need_weights):
    class Tokens(nn.Module):  # (B, 1, T, D) images -> T tokens of width D through nn.MultiheadAttention
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(64, 4, batch_first=True)

        def forward(self, x):
            x = x.squeeze(1)
            return self.attn(x, x, x, need_weights=need_weights)[0]

    with torch.device("meta"):
        model = Tokens()
    s = summarize(model, (1, 10, 64), batch_size=2)
    b, t, d = 2, 10, 64
    assert s.totals["macs"] == b * (4 * t * d * d + 2 * t * t * d)  # q, k, v, out projections; QK^T and AV
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(2, 1, 10, 64, device="meta"))
    assert s.totals["macs"] == counter.get_total_flops() // 2


# torchvision's documented GMACs (REFERENCE.md table 1a; torchvision's "GFLOPS" are MACs).
TORCHVISION_GMACS = {
    "alexnet_tv": ("alexnet", 0.714),
    "vgg11": ("vgg11", 7.609),
    "vgg13": ("vgg13", 11.308),
    "vgg16": ("vgg16", 15.47),
    "vgg19": ("vgg19", 19.632),
    "vgg16_bn": ("vgg16_bn", 15.47),
    "resnet18": ("resnet18", 1.814),
    "resnet34": ("resnet34", 3.664),
    "resnet50_v1_5": ("resnet50", 4.089),
    "resnet101_v1_5": ("resnet101", 7.801),
    "resnet152_v1_5": ("resnet152", 11.514),
    "vit_b16": ("vit_b_16", 17.564),
}


@pytest.mark.parametrize("name", list(TORCHVISION_GMACS))
def test_torchvision_equivalents_match_documented_gmacs(name):
    tv_name, gmacs = TORCHVISION_GMACS[name]
    ours = summarize(meta_model(name), 224).totals["macs"]
    ndigits = len(str(gmacs).split(".")[1])
    assert round(ours / 1e9, ndigits) == gmacs
    with torch.device("meta"):
        theirs = torchvision.models.get_model(tv_name)
    assert summarize(theirs, 224).totals["macs"] == ours  # also checks nn.MultiheadAttention's rule
    assert torchvision.models.get_model_weights(tv_name).DEFAULT.meta["_ops"] == pytest.approx(gmacs, abs=1e-3)


def test_torchvision_googlenet_matches_its_documented_gmacs():
    with torch.device("meta"):
        model = torchvision.models.googlenet(aux_logits=False, init_weights=False)
    assert round(summarize(model, 224).totals["macs"] / 1e9, 3) == 1.498


# -- the JSON contract and the CLI ---------------------------------------------------------------------


def test_json_has_the_design_contract(vgg16):
    _, s = vgg16
    data = json.loads(format_summary(s, "json"))
    assert {"model", "input_shape", "layers", "totals"} <= set(data)
    assert data["model"] == "vgg16" and data["input_shape"] == [1, 3, 224, 224]
    for layer in data["layers"]:
        assert {"name", "type", "output_shape", "activations", "params", "macs"} <= set(layer)
    assert {"params", "activations", "macs", "forward_bytes", "training_bytes_estimate"} <= set(data["totals"])


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (a subprocess costs a torch import per call)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_summary_json_and_formats(capsys):
    code, out, err = run_cli(capsys, "summary", "vgg16", "--no-bias", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["totals"]["params"] == 138_344_128 and data["totals"]["activations"] == 15_237_608
    fc = [layer["params"] for layer in data["layers"] if layer["type"] == "Linear"]
    assert fc == [102_760_448, 16_777_216, 4_096_000]
    for fmt in ("table", "markdown", "csv"):
        code, out, _ = run_cli(capsys, "summary", "resnet20", "--format", fmt)
        assert code == 0 and "layer1.0.conv1" in out
    code, out, _ = run_cli(capsys, "summary", "vgg16", "--no-bias", "--view", "lecture")
    assert code == 0 and "CONV3-64" in out and "15,237,608" in out
    code, out, _ = run_cli(capsys, "summary", "resnet20", "--measure", "--batch-size", "2")
    assert code == 0 and "measured peak of one training step" in out


def test_cli_unknown_model_is_one_line_and_exit_2(capsys):
    code, _, err = run_cli(capsys, "summary", "vgg17")
    assert code == 2
    assert err.count("\n") == 1 and "unknown model" in err


def test_measure_reports_a_peak_beside_the_estimate():
    s = summarize(create_model("resnet20"), 32, batch_size=4, measure=True)
    peak = s.measured["peak_bytes"]
    weights = 4 * s.totals["params"]
    assert 3 * weights < peak < 4 * s.totals["training_bytes_estimate"]  # weights, grads, momentum at least


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError):
        summarize(meta_model("vgg16"), 0)
    with pytest.raises(UserError):
        summarize(meta_model("vit_b16"), 50)  # not a multiple of the patch size
    assert ilsvrc.summarize is summarize


def test_shared_weights_are_counted_per_call_but_once_in_the_totals():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return self.pool(self.conv(self.conv(x)))

    s = summarize(Twice(), (8, 10))
    convs = [r for r in s.layers if r.name == "conv"]
    assert [r.call for r in convs] == [1, 2] and all(r.macs == 8 * 10 * 3 * 27 for r in convs)
    assert s.totals["macs"] == 2 * 8 * 10 * 3 * 27
    assert s.totals["params"] == 84  # 81 weights + 3 biases, shared
    assert s.totals["activations"] == 3 * 80 * 3 + 3  # input, two conv outputs, pooled


def test_grouped_convolution_macs():
    conv = nn.Conv2d(8, 16, 3, padding=1, groups=4)
    s = summarize(nn.Sequential(conv), (8, 5, 5))
    assert s.totals["macs"] == 5 * 5 * 16 * (8 // 4) * 9


def test_print_of_a_summary_is_the_table_not_the_fields():
    s = ilsvrc.summarize(create_model("resnet20"), 32)
    text = str(s)
    assert "LayerRow(" not in text and "LayerRow(" not in repr(s)
    assert text.splitlines()[0].startswith("resnet20") and "layer1.0.conv1" in text and "MACs" in text
    assert f"{s.totals['macs']:,}" in text

"""Cost calculators (Inception module, small filters, receptive fields) and the model comparison."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from ilsvrc.analysis.compare import busy_note, compare_row, write_chart
from ilsvrc.analysis.explain import filter_stacks, inception_report, receptive_fields
from ilsvrc.analysis.facts import PUBLISHED
from ilsvrc.cli import main
from ilsvrc.errors import UserError
from ilsvrc.models import create_model, list_models


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def lecture_inception():
    return inception_report(28, 28, 256, [128, 192, 96], [128, 64, 192, 64, 96, 64])


def test_naive_inception_branches_and_total_match_the_seed(lecture_inception):
    naive = lecture_inception["naive"]
    assert [r["macs"] for r in naive["layers"]] == [25_690_112, 346_816_512, 481_689_600, 0]
    assert naive["totals"]["macs"] == 854_196_224
    assert naive["totals"]["weights"] == 32_768 + 442_368 + 614_400
    assert naive["totals"]["output_depth"] == 128 + 192 + 96 + 256


def test_bottleneck_inception_matches_the_seed(lecture_inception):
    b = lecture_inception["bottleneck"]
    macs = [r["macs"] for r in b["layers"]]
    assert macs == [25_690_112, 12_845_056, 86_704_128, 12_845_056, 120_422_400, 0, 12_845_056]
    assert b["totals"]["macs"] == 271_351_808
    assert b["totals"]["weights"] == 346_112 and b["totals"]["output_depth"] == 480


def test_the_seeds_854_396_939_is_explained(lecture_inception):
    notes = "\n".join(lecture_inception["notes"])
    assert "854,396,939" in notes and "200,704" in notes and "854,396,928" in notes
    assert "not parameters" in notes


def test_filter_stacks_weights_receptive_field_and_nonlinearities():
    rows = {r["filters"]: r for r in filter_stacks(channels=1)}
    assert rows["2 x 3x3"]["weights"] == 18 and rows["1 x 5x5"]["weights"] == 25
    assert rows["3 x 3x3"]["weights"] == 27 and rows["1 x 7x7"]["weights"] == 49
    assert rows["2 x 3x3"]["receptive_field"] == rows["1 x 5x5"]["receptive_field"] == 5
    assert rows["3 x 3x3"]["receptive_field"] == rows["1 x 7x7"]["receptive_field"] == 7
    assert (rows["3 x 3x3"]["nonlinearities"], rows["1 x 7x7"]["nonlinearities"]) == (3, 1)
    c = 64
    wide = {r["filters"]: r for r in filter_stacks(channels=c, size=56)}
    assert wide["2 x 3x3"]["weights"] == 18 * c * c and wide["1 x 5x5"]["weights"] == 25 * c * c
    assert wide["1 x 7x7"]["macs"] == 49 * c * c * 56 * 56


def _meta(name: str):
    with torch.device("meta"):
        return create_model(name)


@pytest.mark.parametrize(
    "name,size,layer,field",
    [
        ("alexnet", 227, "features.14", 195),  # pool5 of AlexNet: the textbook 195
        ("vgg16", 224, "features.28", 196),  # conv5_3
        ("vgg16", 224, "features.30", 212),  # pool5
    ],
)
def test_receptive_fields_of_sequential_nets(name, size, layer, field):
    rows = {r["name"]: r for r in receptive_fields(_meta(name), size)}
    assert rows[layer]["receptive_field"] == field


@pytest.mark.parametrize(
    "name,layer,field",
    [
        # ResNet-50: 483 px at the last conv, as published (Araujo, Norris & Sim, Distill 2019, "Computing Receptive
        # Fields of Convolutional Neural Networks", Table 1); the global average pool is no 675 px local window.
        ("resnet50", "layer4.2.conv2", 483),
        ("resnet18", "layer4.1.conv2", 435),
        ("googlenet", "inception5b.branch3.1.0", 715),
    ],
)
def test_the_headline_is_the_field_entering_the_global_pool(name, layer, field, capsys):
    rows = receptive_fields(_meta(name), 224)
    assert rows[-2]["receptive_field"] == "whole input" or rows[-1]["receptive_field"] == "whole input"
    pool = next(r for r in rows if r["type"].endswith(("AdaptiveAvgPool2d", "AvgPool2d")) and r["output_size"] == "1x1")
    assert pool["receptive_field"] == "whole input"
    assert main(["explain", "receptive-field", name]) == 0
    out = capsys.readouterr().out
    assert f"Largest local receptive field: {field} px, reached at {layer}" in out
    assert "From avgpool (AdaptiveAvgPool2d) on, every unit sees the whole input." in out


def test_receptive_field_jump_and_start_follow_the_recurrence():
    rows = receptive_fields(_meta("alexnet"), 227)
    conv1, pool1 = rows[0], rows[1]
    assert (conv1["receptive_field"], conv1["jump"], conv1["start"]) == (11, 4, 5.5)
    assert (pool1["receptive_field"], pool1["jump"], pool1["start"]) == (19, 8, 9.5)
    assert rows[-1]["receptive_field"] == "whole input"  # FC on the flattened map


def test_receptive_field_follows_branches_by_the_largest_path():
    rows = {r["name"]: r for r in receptive_fields(_meta("googlenet"), 224)}
    assert rows["maxpool2"]["receptive_field"] == 27 and rows["maxpool2"]["jump"] == 8
    assert rows["inception3a.branch2.1.0"]["receptive_field"] == 27 + 2 * 8  # 3x3 branch
    assert rows["inception3a.branch3.1.0"]["receptive_field"] == 27 + 4 * 8  # 5x5 branch
    assert rows["inception3b.branch2.1.0"]["receptive_field"] == 59 + 2 * 8  # continues from the 5x5 path
    vit = receptive_fields(_meta("vit_tiny"), 32)
    assert vit[0]["receptive_field"] == 4 and vit[1]["receptive_field"] == "whole input"


def test_published_torchvision_errors_equal_torchvision_metadata():
    for name, facts in PUBLISHED.items():
        if facts.tv_builder is None:
            continue
        meta = torchvision.models.get_model_weights(facts.tv_builder).IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]
        assert facts.tv_top1_acc == pytest.approx(meta["acc@1"]), name
        assert facts.tv_top5_acc == pytest.approx(meta["acc@5"]), name
        assert name in list_models()


def test_compare_row_counts_and_facts():
    row = compare_row("vgg16", speed_seconds=0)
    assert row["params"] == 138_357_544 and row["gmacs"] == 15.47 and row["weight_layers"] == 16
    assert row["paper_top1"] == 27.0 and row["tv_top1"] == pytest.approx(28.408)
    assert row["activations"] == 15_237_608 and row["year"] == 2014
    fast = compare_row("resnet20", speed_seconds=0.06, batch_size=2, repeats=3)
    assert fast["paper_top1"] is None
    assert 0 < fast["images_per_s_min"] <= fast["images_per_s"] <= fast["images_per_s_max"]
    assert fast["speed_spread"].startswith("±") and fast["speed_spread"].endswith("%")


def test_busy_machine_is_named_quiet_one_is_not():
    assert busy_note(load=3.9, cores=2).startswith("the machine is busy: load average 3.9 on 2 cores")
    assert busy_note(load=0.3, cores=2) == ""


def test_chart_is_written(tmp_path):
    rows = [compare_row(n, speed_seconds=0) for n in ("alexnet", "googlenet", "vit_b16")]
    path = tmp_path / "chart.png"
    write_chart(rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_explain_and_compare(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "explain", "inception")
    assert code == 0 and "854,196,224" in out and "271,351,808" in out and "854,396,939" in out
    code, out, _ = run_cli(capsys, "explain", "inception", "--format", "json")
    assert json.loads(out)["bottleneck"]["totals"]["macs"] == 271_351_808
    code, out, _ = run_cli(capsys, "explain", "filters", "--channels", "2", "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("2 x 3x3,5x5")
    code, out, _ = run_cli(capsys, "explain", "receptive-field", "vgg16", "--format", "markdown")
    assert code == 0 and "| features.30 |" in out
    js = tmp_path / "c.json"
    threads = torch.get_num_threads()
    code, out, _ = run_cli(
        capsys, "compare", "resnet20", "resnet56", "--seconds", "0.05", "--threads", "1", "--json", str(js)
    )
    assert code == 0 and "resnet56" in out and "1 thread," in out
    assert torch.get_num_threads() == threads  # restored
    assert [r["model"] for r in json.loads(js.read_text())["rows"]] == ["resnet20", "resnet56"]
    (tmp_path / "file").write_text("")
    code, _, err = run_cli(capsys, "compare", "resnet20", "--png", str(tmp_path / "file" / "c.png"))
    assert code == 2 and err.count("\n") == 1 and "is a file, not a folder" in err


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "receptive-field", "nosuchnet"],
        ["compare", "alexnet", "nosuchnet"],
        ["explain", "inception", "--input", "28x28"],
        ["explain", "inception", "--naive", "1,2"],
        ["explain", "filters", "--channels", "0"],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, args):
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and "error" in err


def test_bad_inception_sizes_raise_user_error():
    with pytest.raises(UserError):
        inception_report(28, 28, 0, [128, 192, 96], [128, 64, 192, 64, 96, 64])


def test_corrected_facts_agree_between_cards_and_the_comparison_table():
    from ilsvrc.models import get_card

    se = PUBLISHED["seresnet50"]
    assert (se.paper_top1, se.paper_top5) == (23.29, 6.62)  # Hu et al. Table 2
    assert "23.29/6.62" in get_card("seresnet50").ilsvrc
    assert "option A" in get_card("resnet18").ilsvrc and "option A" in PUBLISHED["resnet18"].paper_protocol
    assert get_card("resnet34").ilsvrc.split("; ", 1)[1].startswith("24.52/7.46")  # option B, as built
    for depth in (50, 101, 152):
        facts = PUBLISHED[f"resnet{depth}_v1_5"]
        card = get_card(f"resnet{depth}_v1_5").ilsvrc
        assert f"{facts.tv_top1:.2f}/{facts.tv_top5:.2f}" in card and "torchvision" in card
    for name in ("googlenet", "zfnet"):
        assert "unstated choice" in get_card(name).variant

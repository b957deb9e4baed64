"""`ilsvrc reproduce`: every claim runs end to end at a tiny size, and the verdict rules say what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ilsvrc.models.costs import model_costs
from ilsvrc.reproduce import CLAIMS, get_claim, run_claim
from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from ilsvrc.reproduce.relu_vs_tanh import epochs_to

VERDICTS = {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE}
FIELDS = {"claim", "paper", "statement", "paper_numbers", "rule", "budget", "setup", "measured", "verdict", "reason",
          "plots", "wall_s", "command", "environment"}  # fmt: skip


def test_every_claim_in_the_issue_is_registered():
    assert set(CLAIMS) == {"relu-vs-tanh", "lrn", "small-filters", "bottleneck", "degradation", "ensemble", "vit-data"}
    for claim in CLAIMS.values():
        assert {"tiny", "small", "paper"} <= set(claim.setups)
        assert claim.rule and claim.statement and claim.paper_numbers


def test_vit_data_subset_sizes_divide_the_images_seen_per_run():
    for budget, setup in get_claim("vit-data").setups.items():
        seen = setup.extra["images_seen"]
        assert all(seen % n == 0 for n in setup.extra["sizes"]), f"{budget}: a size does not divide {seen:,}"


def test_scale_line_reads_as_a_sentence():
    setups = get_claim("vit-data").setups
    assert setups["medium"].describe() == (
        "subsets of 1,000 / 5,000 / 20,000 images drawn from all training images, each run seeing 40,000 images "
        "(40 / 8 / 2 epochs; whole batches only, so 35,840 / 39,936 / 39,936), batch 128, 3 seeds per net"
    )
    assert get_claim("ensemble").setups["medium"].describe().startswith("all training images, 7 epochs, batch 128")


IMAGENETTE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenette224"


@pytest.mark.skipif(not IMAGENETTE.is_dir(), reason="needs ../shared/data/imagenette224")
def test_an_imagenet_budget_trains_the_papers_net_with_its_recipe_at_its_input_side(tmp_path, monkeypatch):
    """A `paper` budget on ImageNet: real photos held at 256, the net at its paper's side (AlexNet: 227) with its
    paper's recipe, evaluated on the centre crop (16 Imagenette photos of 2 classes stand in for ImageNet)."""
    import shutil

    from ilsvrc.reproduce.claim import Setup
    from ilsvrc.reproduce.context import Context

    for split, n in (("train", 8), ("val", 4)):
        for cls in sorted(p.name for p in (IMAGENETTE / "train").iterdir())[:2]:
            (tmp_path / "photos" / split / cls).mkdir(parents=True)
            for f in sorted((IMAGENETTE / split / cls).iterdir())[:n]:
                shutil.copy(f, tmp_path / "photos" / split / cls / f.name)
    monkeypatch.setenv("ILSVRC_CACHE", str(tmp_path / "cache"))  # the decoded photos' cache
    setup = Setup(train_images=None, val_images=None, epochs=1, batch_size=8, dataset="imagenet")
    assert (
        setup.describe()
        == "all training images, 1 epoch, batch 8, 1 seed per net, each net with its paper's ImageNet recipe"
    )
    ctx = Context(setup, str(tmp_path / "photos"), progress=False, nets_dir=tmp_path / "nets")
    assert ctx.image_size == 256 and len(ctx.train_set) == 16 and len(ctx.val_set) == 8
    run = ctx.fit("alexnet", seed=0, model_options={"dropout": 0.0})  # no lr: the recipe's 0.01
    assert run.summary["input_size"] == 227 and run.summary["steps"] == 2  # AlexNet's own input side
    saved = (tmp_path / "nets" / "01-alexnet-run-s0" / "config.yaml").read_text()
    assert "recipe: alexnet" in saved and "lr: 0.01" in saved and "weight_decay: 0.0005" in saved
    probs = ctx.probabilities(run)
    assert probs.shape == (8, 2) and torch.allclose(probs.sum(1), torch.ones(8))


def test_an_imagenet_budget_refuses_small_images_in_one_line(tmp_path):
    from ilsvrc.errors import UserError

    with pytest.raises(UserError, match=r"--data \(none: the bundled set\) holds 28-pixel images; give an ImageNet"):
        run_claim("ensemble", "paper", data=None, out=tmp_path, progress=False)
    assert not (tmp_path / "nets").exists()  # refused before any net was trained


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """One folder per claim run, shared with the verdict-table test (which then needs no run of its own)."""
    return tmp_path_factory.mktemp("claims")


@pytest.mark.parametrize("name", list(CLAIMS))
def test_claim_runs_at_tiny_size_and_writes_its_report(name, runs_root, capsys):
    tmp_path = runs_root / name
    shown = name == "ensemble"  # one claim with progress on: it names each net it trains
    results = run_claim(name, "tiny", data=None, out=tmp_path, progress=shown)
    if shown:
        err = capsys.readouterr().err
        assert "[ensemble (tiny)] net 1: cifar_convnet member0 seed 0, 0.0 min so far" in err
        assert "[ensemble (tiny)] net 2: cifar_convnet member1 seed 1, " in err
    assert set(results) >= FIELDS
    assert results["verdict"] in VERDICTS and results["reason"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["verdict"] == results["verdict"] and saved["setup"]["epochs"] >= 1
    report = (tmp_path / "report.md").read_text()
    assert results["verdict"] in report and get_claim(name).rule in report
    for png in results["plots"]:
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["measured"]["table"], "the report's table of measured numbers is empty"
    # every net trained, with its size and the engine's speed choices, named in the report
    assert results["measured"]["engine"] and all(" params): cpu, " in e for e in results["measured"]["engine"])
    assert "**Nets and engine path.** " + results["measured"]["engine"][0] in report


def test_relu_rule_decides_on_the_interval_of_the_log_speed_up():
    decide = get_claim("relu-vs-tanh").decide
    # crossing between epoch 2 (30%) and epoch 3 (24%): 2 + 5/6 of an epoch; within epoch 1: 1.0; never: None
    assert epochs_to([0.5, 0.3, 0.24, 0.2], 0.25) == pytest.approx(2 + 5 / 6)
    assert epochs_to([0.5, 0.25], 0.25) == 2.0 and epochs_to([0.2, 0.1], 0.25) == 1.0
    assert epochs_to([0.5, 0.4], 0.25) is None
    assert decide({"speedup_per_seed": [6.0, 5.0, 7.0], "tanh_censored": [False] * 3})[0] == REPRODUCED
    verdict, reason = decide({"speedup_per_seed": [3.0, 3.0, 3.2], "tanh_censored": [True, False, False]})
    assert verdict == REPRODUCED and "lower bound" in reason and "= 3.07x" in reason
    verdict, reason = decide({"speedup_per_seed": [1.5, 1.4, 1.6], "tanh_censored": [False] * 3})
    assert verdict == INCONCLUSIVE and "the interval lies above 1x (ReLU faster) but wholly below 2x" in reason
    verdict, reason = decide({"speedup_per_seed": [1.2, 3.5, 1.6], "tanh_censored": [False] * 3})
    assert verdict == INCONCLUSIVE and "above 1x" not in reason  # the interval reaches below 1x
    assert decide({"speedup_per_seed": [0.8, 0.7, 0.75], "tanh_censored": [False] * 3})[0] == NOT_REPRODUCED
    assert decide({"speedup_per_seed": [6.0], "tanh_censored": [False]})[0] == INCONCLUSIVE  # one seed: no interval
    at_edge = {"speedup_per_seed": [1.3] * 3, "tanh_censored": [False] * 3, "lr_grid": [0.01, 0.03, 0.06]}
    at_edge["runs"] = {"relu": {"lr": 0.03}, "tanh": {"lr": 0.06}}
    assert "the tuned lr of tanh is at an end of the grid [0.01, 0.03, 0.06]" in decide(at_edge)[1]
    verdict, reason = decide({"speedup_per_seed": [None, 2.0], "tanh_censored": [True, False]})
    assert verdict == INCONCLUSIVE and reason.startswith("undertrained")


def test_relu_wording_does_not_read_a_censored_lower_bound_as_a_small_speed_up():
    decide = get_claim("relu-vs-tanh").decide
    # tanh never reached 25% in 9 epochs: each ratio is 10 / ReLU's epochs, a lower bound below 2x
    censored = {"speedup_per_seed": [10 / 6.0, 10 / 6.2, 10 / 6.1], "tanh_censored": [True] * 3, "budget_epochs": 9}
    censored["runs"] = {"relu": {"lr": 0.03, "epochs_to_target": [6.0, 6.2, 6.1]}, "tanh": {"lr": 0.03}}
    verdict, reason = decide(censored)
    assert verdict == INCONCLUSIVE and "below 2x" not in reason
    assert "tanh never reached it in 3 of 3 seeds within the 9-epoch budget and counts as 10 epochs" in reason
    assert "only show when tanh trains for twice ReLU's epochs (12.4), longer than this budget" in reason


def test_relu_rederive_reads_a_stored_run_under_the_current_rule_and_refuses_a_changed_tuning():
    from ilsvrc.reproduce.claim import Setup
    from ilsvrc.reproduce.relu_vs_tanh import rederive

    setup = Setup(train_images=100, val_images=10, epochs=3, seeds=2, extra={"lr_grid": [0.01, 0.1]})
    fast, slow, never = [0.5, 0.3, 0.2], [0.6, 0.4, 0.24], [0.7, 0.5, 0.4]
    stored = {  # an earlier rule's run: whole epochs, no lr_grid key
        "runs": {
            "relu": {
                "lr": 0.1,
                "grid": {"0.01": slow, "0.1": fast},
                "curves": [fast, fast],
                "epochs_to_target": [3, 3],
            },
            "tanh": {
                "lr": 0.1,
                "grid": {"0.01": never, "0.1": slow},
                "curves": [slow, never],
                "epochs_to_target": [3, None],
            },
        },
        "speedup_per_seed": [1.0, 4 / 3],
        "engine": ["kept as measured"],
    }
    again = rederive(stored, setup)
    assert again["runs"]["relu"]["epochs_to_target"] == pytest.approx([2.5, 2.5])  # 30% -> 20%: halfway to 25%
    assert again["runs"]["tanh"]["epochs_to_target"] == pytest.approx([2 + 15 / 16, None])
    assert again["speedup_per_seed"] == pytest.approx([(2 + 15 / 16) / 2.5, 4 / 2.5])  # censored: budget + 1
    assert again["tanh_censored"] == [False, True] and again["lr_grid"] == [0.01, 0.1]
    assert again["engine"] == ["kept as measured"] and stored["runs"]["relu"]["epochs_to_target"] == [3, 3]
    stored["runs"]["relu"]["lr"] = 0.01  # the current rule would have tuned 0.1: the later seeds are void
    with pytest.raises(ValueError, match=r"relu's tuned lr would be 0\.1, not 0\.01"):
        rederive(stored, setup)


def test_small_filters_decides_on_the_pairs_its_budget_compared():
    from ilsvrc.reproduce.small_filters import IMAGENET_NETS, IMAGENET_PAIRS, PAIRS

    decide = get_claim("small-filters").decide
    params = {"VGG B (13 layers)": 133_047_848, "B with 5x5s (8 layers)": 134_503_528}

    def net(label, err):
        return {"params": params.get(label, 1), "val_error": [err, err + 0.01, err - 0.01]}

    imagenet = {"runs": {k: net(k, 0.30) for k in IMAGENET_NETS}, "pairs": [list(p) for p in IMAGENET_PAIRS]}
    imagenet["runs"]["VGG B (13 layers)"]["val_error"] = [0.29, 0.30, 0.28]  # B beats its 5x5 twin in every seed
    imagenet["runs"]["VGG D (16 layers)"]["val_error"] = [0.26, 0.27, 0.25]
    verdict, reason = decide(imagenet)
    assert verdict == REPRODUCED, reason
    assert reason.startswith("the 3x3 stacks have fewer weights (133,047,848 vs 134,503,528)")
    assert "VGG B (13 layers) minus B with 5x5s (8 layers) validation error = -1.00 points" in reason
    assert "RF 7" not in reason
    # a run stored before the ImageNet budget has no "pairs": its three CIFAR pairs are read
    cifar = {"runs": {k: net(k, 0.30) for pair in PAIRS for k in pair}}
    for stack, single in PAIRS[:2]:
        cifar["runs"][stack]["params"], cifar["runs"][single]["params"] = 18, 25
    reason = decide(cifar)[1]
    assert reason.startswith("the 3x3 stacks have fewer weights (18 vs 25, 18 vs 25)") and reason.count(" minus ") == 3


def test_small_filters_trains_its_depth_pair_for_the_setups_own_epochs_and_filter_nets_at_its_widths(runs_root):
    if not (runs_root / "small-filters" / "results.json").is_file():  # run alone (-k): make the one report it needs
        run_claim("small-filters", "tiny", data=None, out=runs_root / "small-filters", progress=False)
    saved = json.loads((runs_root / "small-filters" / "results.json").read_text())
    runs = saved["measured"]["runs"]
    trained = {k: v["epochs"] for k, v in runs.items()}  # history rows the engine wrote
    assert trained == {**{k: 1 for k in trained}, "VGG A (11 layers)": 2, "VGG D (16 layers)": 2}
    report = (runs_root / "small-filters" / "report.md").read_text()
    assert "depth pair epochs 2" in report and "filter widths 8 / 16 / 32" in report
    # the widths reached the filter nets (not the VGGs), and their weights are counted at those widths
    assert [v["options"].get("widths") for v in runs.values()] == [[8, 16, 32]] * 4 + [None] * 2
    narrow = {c: model_costs("filter_stack_net", 32, in_chans=c, widths=(8, 16, 32))["params"] for c in (1, 3)}
    assert runs["2x 3x3 (RF 5)"]["params"] in narrow.values()  # the bundled tiny data may be grey or colour
    assert runs["2x 3x3 (RF 5)"]["params"] < model_costs("filter_stack_net", 32, in_chans=1)["params"] / 3


def _seeds(*values):
    return list(values)


def test_lrn_wording_carries_the_sign_of_what_was_measured():
    decide = get_claim("lrn").decide

    def runs(lrn_val, gap_drop):
        base = {"val_error": _seeds(0.30, 0.31, 0.29), "train_error": _seeds(0.20, 0.21, 0.19)}
        return {
            "runs": {
                "no LRN": base,
                "LRN": {"val_error": [v + lrn_val for v in base["val_error"]], "train_error": base["train_error"]},
                "FC, no dropout": base,
                "FC + dropout 0.5": {
                    "val_error": [0.30 + gap_drop, 0.311 + gap_drop, 0.289 + gap_drop],
                    "train_error": base["train_error"],
                },
            }
        }

    verdict, reason = decide(runs(+0.0372, -0.03))  # LRN raised the error by 3.72 points, as in the old report
    assert verdict == NOT_REPRODUCED
    assert "LRN minus no LRN validation error = +3.72 points" in reason
    assert "the paper predicts a negative difference (LRN lower)" in reason
    verdict, reason = decide(runs(-0.02, -0.03))  # LRN lower by 2 points, dropout narrows the gap by 3
    assert verdict == REPRODUCED and "= -2.00 points" in reason and "gap = -3.00 points" in reason
    verdict, reason = decide(runs(-0.02, +0.024))  # dropout widened the gap: not what the paper says
    assert verdict == NOT_REPRODUCED and "dropout 0.5 minus no dropout" in reason and "= +2.4" in reason
    undertrained = runs(-0.02, -0.03)
    undertrained["runs"]["no LRN"] = {"val_error": [0.88, 0.9, 0.89], "train_error": [0.85, 0.86, 0.87]}
    assert decide(undertrained) == (INCONCLUSIVE, decide(undertrained)[1])
    assert decide(undertrained)[1].startswith("undertrained") and "no LRN 89.0%" in decide(undertrained)[1]


def test_degradation_rule():
    decide = get_claim("degradation").decide

    def measured(plain56, resnet56):
        twenty = [0.10, 0.11, 0.12]
        return {
            "depths": [20, 56],
            "runs": {
                "plain20": {"train_error": twenty},
                "plain56": {"train_error": [t + plain56 for t in twenty]},
                "resnet20": {"train_error": twenty, "val_error": [0.2, 0.2, 0.2]},
                "resnet56": {"train_error": [t + d for t, d in zip(twenty, resnet56, strict=True)]},
            },
        }

    verdict, reason = decide(measured(0.05, [-0.01, -0.012, -0.008]))
    assert verdict == REPRODUCED and "plain-56 minus plain-20 final training error = +5.00 points" in reason
    assert decide(measured(-0.02, [-0.01, -0.012, -0.008]))[0] == NOT_REPRODUCED
    assert decide(measured(0.03, [0.03, 0.04, 0.035]))[0] == INCONCLUSIVE


def test_degradation_trains_every_net_at_the_setups_stage_widths(runs_root):
    from ilsvrc.models import create_model
    from ilsvrc.reproduce.degradation import stage_widths

    if not (runs_root / "degradation" / "results.json").is_file():  # run alone (-k): make the one report it needs
        run_claim("degradation", "tiny", data=None, out=runs_root / "degradation", progress=False)
    saved = json.loads((runs_root / "degradation" / "results.json").read_text())
    assert saved["measured"]["stage_widths"] == [4, 8, 16]
    for net in ("plain20", "plain32", "resnet20", "resnet32"):  # the count a width-4 net has, not the paper's 16
        params = sum(p.numel() for p in create_model(net, num_classes=10, in_chans=1, width=4).parameters())
        assert any(e.startswith(f"{net} ({params:,} params)") for e in saved["measured"]["engine"]), net
    assert "stage widths 4 / 8 / 16" in (runs_root / "degradation" / "report.md").read_text()
    assert stage_widths({}) == [16, 32, 64]  # the paper's widths unless a setup names others
    with pytest.raises(ValueError, match="three doubling widths"):
        stage_widths({"stage_widths": [8, 16, 64]})


def test_ensemble_rule_reads_the_bootstrap_interval():
    decide = get_claim("ensemble").decide
    base = {"member_errors": [0.3, 0.31], "model": "m", "best_single": 0.30}

    def diff(mean, low, high):
        return {"difference": {"mean": mean, "low": low, "high": high, "n": 1000, "method": "bootstrap"}}

    assert decide({**base, "ensemble": 0.28, **diff(-0.02, -0.03, -0.01)})[0] == REPRODUCED
    verdict, reason = decide({**base, "ensemble": 0.31, **diff(0.01, 0.004, 0.016)})
    assert verdict == NOT_REPRODUCED and "= +1.00 points" in reason and "31.00% vs 30.00%" in reason
    assert decide({**base, "ensemble": 0.298, **diff(-0.002, -0.006, 0.002)})[0] == INCONCLUSIVE
    assert decide({**base, "best_single": 0.6, "ensemble": 0.5, **diff(-0.1, -0.12, -0.08)})[0] == INCONCLUSIVE


def test_cli_lists_claims_and_rejects_unknown_ones(capsys):
    from ilsvrc.cli import main  # in-process: two interpreters starting torch cost 10-25 s on a busy machine

    assert main(["reproduce", "--list"]) == 0
    assert "degradation" in capsys.readouterr().out
    assert main(["reproduce", "degradatoin"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim" in err and err.count("\n") == 1


def test_verdict_table_lists_each_claim_report(runs_root, tmp_path):
    import shutil

    from ilsvrc.reproduce.report import write_verdict_table

    if not (runs_root / "ensemble" / "results.json").is_file():  # run alone (-k): make the one report it needs
        run_claim("ensemble", "tiny", data=None, out=runs_root / "ensemble", progress=False)
    shutil.copytree(runs_root / "ensemble", tmp_path / "ensemble")
    table = write_verdict_table(tmp_path)
    assert "[ensemble](ensemble/report.md)" in table and table.count("\n") == 3
    assert table.splitlines()[-1].endswith(" threads) |")  # each run time beside the machine it was measured on
    assert (tmp_path / "README.md").read_text().endswith(table)
    # reproduce_all.sh's layout, CLAIM/BUDGET/: one row per budget, the link to that budget's report
    shutil.move(tmp_path / "ensemble", tmp_path / "tiny")
    (tmp_path / "ensemble").mkdir()
    shutil.move(tmp_path / "tiny", tmp_path / "ensemble" / "tiny")
    table = write_verdict_table(tmp_path)
    assert "[ensemble](ensemble/tiny/report.md)" in table and table.count("\n") == 3


def test_rejudge_rewrites_a_stored_report_from_its_numbers_and_keeps_its_run(runs_root, tmp_path):
    import importlib.util
    import shutil
    from pathlib import Path

    if not (runs_root / "lrn" / "results.json").is_file():  # run alone (-k): make the one report it needs
        run_claim("lrn", "tiny", data=None, out=runs_root / "lrn", progress=False)
    shutil.copytree(runs_root / "lrn", tmp_path / "lrn")
    stored = json.loads((tmp_path / "lrn" / "results.json").read_text())
    stored["environment"]["date"] = "2000-01-01 00:00 UTC"  # the run's date must survive the rewrite
    stored["reason"] = "stale wording"
    (tmp_path / "lrn" / "results.json").write_text(json.dumps(stored))
    path = Path(__file__).parents[1] / "benchmarks" / "rejudge_reports.py"
    spec = importlib.util.spec_from_file_location("rejudge_reports", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.rejudge(tmp_path / "lrn").endswith(stored["verdict"])
    again = json.loads((tmp_path / "lrn" / "results.json").read_text())
    assert again["reason"] == get_claim("lrn").decide(stored["measured"])[1] != "stale wording"
    assert again["environment"]["date"] == "2000-01-01 00:00 UTC" and again["wall_s"] == stored["wall_s"]
    assert "2000-01-01 00:00 UTC" in (tmp_path / "lrn" / "report.md").read_text()
    stored["rule"] = "another rule"
    (tmp_path / "lrn" / "results.json").write_text(json.dumps(stored))
    assert "skipped" in module.rejudge(tmp_path / "lrn")  # a changed rule needs a new run
    # a claim that can re-read its stored curves under a changed rule is re-read, and the report says so
    if not (runs_root / "relu-vs-tanh" / "results.json").is_file():
        run_claim("relu-vs-tanh", "tiny", data=None, out=runs_root / "relu-vs-tanh", progress=False)
    shutil.copytree(runs_root / "relu-vs-tanh", tmp_path / "relu")
    stored = json.loads((tmp_path / "relu" / "results.json").read_text())
    stored["rule"] = "whole epochs"
    (tmp_path / "relu" / "results.json").write_text(json.dumps(stored))
    assert module.rejudge(tmp_path / "relu").endswith(stored["verdict"])
    again = json.loads((tmp_path / "relu" / "results.json").read_text())
    assert again["rule"] == get_claim("relu-vs-tanh").rule and again["measured"]["rejudged"]["previous_rule"] == (
        "whole epochs"
    )
    assert "**Verdict rule (revised after the run; the verdict re-read" in (tmp_path / "relu" / "report.md").read_text()


def test_a_stopped_claim_resumes_its_trained_nets_and_a_rerun_without_resume_is_refused(runs_root, tmp_path, capsys):
    import shutil

    from ilsvrc.cli import main
    from ilsvrc.errors import UserError

    if not (runs_root / "ensemble" / "results.json").is_file():  # run alone (-k): make the one report it needs
        run_claim("ensemble", "tiny", data=None, out=runs_root / "ensemble", progress=False)
    out = tmp_path / "ensemble"
    shutil.copytree(runs_root / "ensemble", out)
    first = json.loads((out / "results.json").read_text())
    nets = sorted(p.name for p in (out / "nets").iterdir())
    assert nets[0] == "01-cifar_convnet-member0-s0" and len(nets) >= 2  # kept, one folder per net, in order
    with pytest.raises(UserError, match="--resume"):  # a second start must not train over the first one's nets
        run_claim("ensemble", "tiny", data=None, out=out, progress=False)
    capsys.readouterr()  # drop what the first start printed
    assert main(["reproduce", "ensemble", "--budget", "tiny", "--out", str(out)]) == 2  # the CLI: one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds nets" in err and "--resume" in err
    # stopped early in its last net, before that net's first checkpoint: it trains again (its config.yaml and
    # log are replaced), the others continue from their checkpoints
    shutil.rmtree(out / "nets" / nets[-1] / "checkpoints")
    (out / "results.json").unlink()
    assert main(["reproduce", "ensemble", "--budget", "tiny", "--out", str(out), "--resume"]) == 0
    assert "resuming its checkpoint" in capsys.readouterr().err  # progress names each net it continues
    again = json.loads((out / "results.json").read_text())
    resumed = again["measured"].pop("resumed")
    assert (resumed["nets"], resumed["of"]) == (len(nets) - 1, len(nets))
    assert 0 <= resumed["earlier_min"] * 60 <= again["wall_s"] + 6  # counted in the run time (rounded to 0.1 min)
    assert again["measured"]["table"] == first["measured"]["table"]  # the same weights give the same errors
    assert again["verdict"] == first["verdict"] and again["reason"] == first["reason"]
    assert f"{len(nets) - 1} of {len(nets)} nets were trained" in (out / "report.md").read_text()
    # --overwrite: the earlier nets go, every net trains afresh, the report has no resumed part
    assert main(["reproduce", "ensemble", "--budget", "tiny", "--out", str(out), "--overwrite"]) == 0
    assert "resumed" not in json.loads((out / "results.json").read_text())["measured"]


def test_a_signal_during_a_claim_says_how_to_continue_the_claim(tmp_path, monkeypatch):
    import signal

    import ilsvrc.train
    from ilsvrc.train.engine import Interrupted

    real_train, calls = ilsvrc.train.train, []

    def stopped_on_the_second_net(config, **kwargs):  # as the engine does on SIGINT: checkpoint, then raise
        calls.append(config.out)
        if len(calls) == 2:
            raise Interrupted(
                f"stopped by SIGINT at step 3/8; checkpoint saved (continue with --resume --out {config.out})",
                signal.SIGINT,
            )
        return real_train(config, **kwargs)

    monkeypatch.setattr(ilsvrc.train, "train", stopped_on_the_second_net)
    with pytest.raises(Interrupted) as stop:
        run_claim("ensemble", "tiny", data=None, out=tmp_path, progress=False)
    message = str(stop.value)
    assert message.startswith("stopped by SIGINT during net 2 (02-cifar_convnet-member1-s1)")
    assert "it and the 1 net before it are saved in" in message and "same command plus --resume" in message
    assert stop.value.exit_code == 128 + signal.SIGINT

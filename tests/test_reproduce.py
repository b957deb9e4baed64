"""`ilsvrc reproduce`: every claim runs end to end at a tiny size, and the verdict rules say what they claim."""

from __future__ import annotations

import json

import pytest

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


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """One folder per claim run, shared with the verdict-table test (which then needs no run of its own)."""
    return tmp_path_factory.mktemp("claims")


@pytest.mark.parametrize("name", list(CLAIMS))
def test_claim_runs_at_tiny_size_and_writes_its_report(name, runs_root):
    tmp_path = runs_root / name
    results = run_claim(name, "tiny", data=None, out=tmp_path, progress=False)
    assert set(results) >= FIELDS
    assert results["verdict"] in VERDICTS and results["reason"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["verdict"] == results["verdict"] and saved["setup"]["epochs"] >= 1
    report = (tmp_path / "report.md").read_text()
    assert results["verdict"] in report and get_claim(name).rule in report
    for png in results["plots"]:
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["measured"]["table"], "the report's table of measured numbers is empty"


def test_relu_rule_counts_epochs_and_treats_a_missing_tanh_as_a_lower_bound():
    decide = get_claim("relu-vs-tanh").decide
    assert epochs_to([0.5, 0.3, 0.24, 0.2], 0.25) == 3.0 and epochs_to([0.5, 0.4], 0.25) is None
    assert decide({"speedup_per_seed": [6.0], "tanh_censored": [False]})[0] == REPRODUCED
    assert "lower bound" in decide({"speedup_per_seed": [3.0], "tanh_censored": [True]})[1]
    assert decide({"speedup_per_seed": [1.5], "tanh_censored": [False]})[0] == INCONCLUSIVE
    assert decide({"speedup_per_seed": [0.8], "tanh_censored": [False]})[0] == NOT_REPRODUCED
    assert decide({"speedup_per_seed": [None], "tanh_censored": [True]})[0] == INCONCLUSIVE


def test_degradation_rule():
    decide = get_claim("degradation").decide
    assert decide({"depths": [20, 56], "plain_gap": 0.05, "resnet_gap": -0.01})[0] == REPRODUCED
    assert decide({"depths": [20, 56], "plain_gap": -0.01, "resnet_gap": -0.02})[0] == NOT_REPRODUCED
    assert decide({"depths": [20, 56], "plain_gap": 0.03, "resnet_gap": 0.04})[0] == INCONCLUSIVE


def test_ensemble_rule():
    decide = get_claim("ensemble").decide
    base = {"member_errors": [0.3, 0.31], "model": "m"}
    assert decide({**base, "best_single": 0.30, "ensemble": 0.28})[0] == REPRODUCED
    assert decide({**base, "best_single": 0.30, "ensemble": 0.30})[0] == NOT_REPRODUCED
    assert decide({**base, "best_single": 0.30, "ensemble": 0.298})[0] == INCONCLUSIVE


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
    assert (tmp_path / "README.md").read_text().endswith(table)

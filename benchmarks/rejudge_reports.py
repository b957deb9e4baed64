"""Re-decide stored reproduction reports from their results.json and rewrite report.md and the plots.

    python benchmarks/rejudge_reports.py docs/results/*/small

For when a claim's verdict *wording* or plots improve after a run: `decide` and `plot` are pure functions of the
measured numbers, so the same numbers get today's sentences without retraining. The run's own setup, command,
run time, machine and date are kept. Refuses a report whose rule text differs from the claim's current rule: a
changed rule needs a new run, not a rewritten report, unless the claim can re-read its stored raw measurements
under the new rule (`Claim.rederive`, e.g. relu-vs-tanh's epochs-to-target from the stored per-epoch curves): then
the report says the rule was revised after the run and results.json keeps the rule it was first judged by.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def rejudge(folder: Path) -> str:
    from ilsvrc.reproduce import get_claim, report_comparisons
    from ilsvrc.reproduce.claim import Setup
    from ilsvrc.reproduce.report import write_report

    stored = json.loads((folder / "results.json").read_text())
    claim = get_claim(stored["claim"])
    measured = stored["measured"]
    fields = {k: v for k, v in stored["setup"].items() if k in Setup.__dataclass_fields__}
    setup = Setup(**fields)
    rule_changed = stored["rule"] != claim.rule
    if rule_changed and claim.rederive is None:
        return f"{folder}: skipped, its rule differs from the current one (rerun the claim instead)"
    if claim.rederive is not None:  # re-read from the raw measurements even under the same rule: fields added since
        try:
            measured = claim.rederive(measured, setup)
        except ValueError as why:
            return f"{folder}: skipped, the current rule cannot be read off its numbers ({why}); rerun the claim"
    if rule_changed:
        earlier = measured.get("rejudged", {}).get("previous_rule", stored["rule"])
        measured["rejudged"] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "previous_rule": earlier}
    verdict, reason = claim.decide(measured)
    plots = claim.plot(measured, folder) + report_comparisons(claim, measured, verdict, reason, folder)
    write_report(
        folder,
        claim,
        stored["budget"],
        setup,
        stored["setup"]["data"],
        measured,
        verdict,
        reason,
        plots,
        stored["wall_s"],
        stored["command"],
        env=stored["environment"],
    )
    return f"{folder}: {verdict}"


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(rejudge(Path(arg)))

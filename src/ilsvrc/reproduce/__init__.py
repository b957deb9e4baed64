"""`ilsvrc reproduce`: each paper's key claim, run at a size the machine affords, with a verdict.

Every claim module defines CLAIM: the paper's statement and numbers, setups per budget, and a
verdict rule fixed in code before the run (see claim.py).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ilsvrc.errors import UserError
from ilsvrc.reproduce import bottleneck, degradation, ensemble, lrn_dropout, relu_vs_tanh, small_filters, vit_data
from ilsvrc.reproduce.claim import Claim
from ilsvrc.reproduce.context import Context
from ilsvrc.reproduce.report import command_line, plot_differences, write_report

CLAIMS: dict[str, Claim] = {
    m.CLAIM.name: m.CLAIM
    for m in (relu_vs_tanh, lrn_dropout, small_filters, bottleneck, degradation, ensemble, vit_data)
}


def get_claim(name: str) -> Claim:
    if name not in CLAIMS:
        raise UserError(f"unknown claim {name!r}; choose from {', '.join(CLAIMS)} (see 'ilsvrc reproduce --list')")
    return CLAIMS[name]


def run_claim(
    name: str,
    budget: str = "small",
    data: str | None = None,
    seeds: int | None = None,
    out: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run claim `name` at `budget` on `data` (None: the bundled set) and write its report to `out`.

    Each net trains in its own folder under out/nets (kept: the trained nets can be evaluated afterwards).
    `resume` continues a run that stopped: nets already there resume from their checkpoints; `overwrite`
    deletes them and starts again.
    """
    import dataclasses

    claim = get_claim(name)
    if budget not in claim.setups:
        raise UserError(f"unknown budget {budget!r}; choose from {', '.join(claim.setups)}")
    setup = claim.setups[budget]
    if seeds is not None:
        if seeds < 1:
            raise UserError(f"--seeds must be >= 1, got {seeds}")
        setup = dataclasses.replace(setup, seeds=seeds)
    out = Path(out or f"runs/reproduce/{name}-{budget}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create output folder {out}: {err.strerror}") from None
    nets = out / "nets"
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other; choose one")
    if nets.is_dir() and any(nets.iterdir()) and not resume:
        if not overwrite:
            raise UserError(
                f"{nets} already holds nets from an earlier start of this claim; continue it with --resume, "
                "start again with --overwrite, or choose another --out"
            )
        shutil.rmtree(nets)
    start = time.perf_counter()
    ctx = Context(
        setup, data, device=device, progress=progress, name=f"{name} ({budget})", nets_dir=nets, resume=resume
    )
    try:
        measured = claim.run(ctx)
        measured["engine"] = sorted(ctx.engine_paths)
        if ctx.resumed:
            measured["resumed"] = {"nets": ctx.resumed, "of": ctx.runs, "earlier_min": round(ctx.earlier_s / 60, 1)}
    finally:
        ctx.close()
    verdict, reason = claim.decide(measured)
    plots = claim.plot(measured, out) + report_comparisons(claim, measured, verdict, reason, out)
    data_name = str(data) if data else "bundled Fashion-MNIST (no --data given)"
    return write_report(
        out,
        claim,
        budget,
        setup,
        data_name,
        measured,
        verdict,
        reason,
        plots,
        time.perf_counter() - start + ctx.earlier_s,  # the claim's whole training time, over all its starts
        command_line(),
    )


def report_comparisons(claim: Claim, measured: dict, verdict: str, reason: str, out: Path) -> list[str]:
    """List the claim's compared differences in `measured["comparisons"]` and draw differences.png; returns
    the PNG names written (none for a claim whose verdict is not a difference)."""
    if claim.compare is None:
        return []
    comparisons = claim.compare(measured)
    measured["comparisons"] = [
        {
            "a": c.a,
            "b": c.b,
            "quantity": c.quantity,
            **c.diff.to_dict(),
            "predicted_sign": c.predicted_sign,
            "min_effect": c.min_effect,
            "verdict": c.verdict,
        }
        for c in comparisons
    ]
    floor = " (undertrained: below the quality floor)" if "undertrained:" in reason else ""
    title = f"{claim.name}: the differences the verdict reads"
    return [plot_differences(out / "differences.png", title, comparisons, verdict + floor)]

"""`ilsvrc reproduce CLAIM`: run one paper's key claim and write report.md, results.json and plots."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reproduce", help="test a paper's key claim on real data, with plots and a verdict")
    p.add_argument("claim", nargs="?", help="claim name (see --list)")
    p.add_argument("--list", action="store_true", help="list the claims and their verdict rules")
    p.add_argument("--table", metavar="DIR", help="write DIR/README.md: the verdicts of every claim report in DIR")
    p.add_argument(
        "--budget",
        default="small",
        choices=["tiny", "small", "medium", "paper"],
        help="tiny: a plumbing check; small: <= 15 min on 2 CPU cores; medium: <= 45 min; "
        "paper: the paper's own recipe, for GPUs",
    )
    p.add_argument("--data", help="data source (default: the bundled set); CIFAR-10 for the paper's setups")
    p.add_argument("--seeds", type=int, help="seeds per variant (default: the budget's)")
    p.add_argument("--out", help="output folder (default runs/reproduce/CLAIM-BUDGET)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a run that stopped: the nets already in OUT/nets resume from their checkpoints",
    )
    p.add_argument("--overwrite", action="store_true", help="delete the nets an earlier start left in OUT/nets first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.errors import UserError
    from ilsvrc.reproduce import CLAIMS, run_claim

    if args.table:
        from pathlib import Path

        from ilsvrc.reproduce.report import write_verdict_table

        if not Path(args.table).is_dir():
            raise UserError(f"--table {args.table}: no such folder")
        print(write_verdict_table(Path(args.table)), end="")
        return 0
    if args.list or not args.claim:
        for claim in CLAIMS.values():
            print(f"{claim.name:14s} {claim.paper}\n{'':14s} claim: {claim.statement}\n{'':14s} rule: {claim.rule}\n")
        return 0
    if args.data is not None:
        from pathlib import Path

        if not Path(args.data).exists():
            raise UserError(f"--data {args.data}: no such file or folder")
    out = args.out or f"runs/reproduce/{args.claim}-{args.budget}"
    results = run_claim(
        args.claim, args.budget, args.data, args.seeds, out, args.device, resume=args.resume, overwrite=args.overwrite
    )
    print(f"{results['claim']}: {results['verdict'].upper()} - {results['reason']}")
    print(f"report: {out}/report.md ({results['wall_s'] / 60:.1f} min)")
    return 0

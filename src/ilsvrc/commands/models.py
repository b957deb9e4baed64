"""`ilsvrc models`: the model cards, with counted parameters and multiply-adds."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the model zoo with parameters, MACs and each paper's result")
    p.add_argument("pattern", nargs="?", help="glob on names, e.g. 'resnet*'")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.errors import UserError
    from ilsvrc.models import get_card, list_models
    from ilsvrc.models.costs import model_costs

    names = list_models(args.pattern)
    if not names:
        raise UserError(f"no model matches {args.pattern!r}; run 'ilsvrc models' to list them")
    rows = [{**get_card(n).to_dict(), "counted": model_costs(n)} for n in names]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    if len(rows) == 1:  # one model: its whole card
        for key, value in rows[0].items():
            console.print(f"[bold]{key:>15}[/]: {value}", highlight=False)
        return 0

    table = Table(title="ilsvrc model zoo (params and MACs counted at the default input size)")
    for col, just in [
        ("name", "left"),
        ("year", "right"),
        ("input", "right"),
        ("params", "right"),
        ("GMACs", "right"),
        ("paper's result", "left"),
    ]:
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        c = r["counted"]
        table.add_row(
            r["name"],
            str(r["year"]),
            str(c["input_size"]),
            f"{c['params']:,}",
            f"{c['macs'] / 1e9:.3f}",
            r["ilsvrc"],
        )
    console.print(table)
    console.print("'ilsvrc models NAME' shows one card, with how the variant differs from its paper.")
    return 0

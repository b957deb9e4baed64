"""`ilsvrc models`: the model zoo by year, or one model's card, with counted parameters and multiply-adds.

Counts come from the precomputed table in `ilsvrc.analysis.zoo_counts` (checked by the tests), so listing the
zoo builds no model; the table fits the terminal's width.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the model zoo with parameters, MACs and each paper's result")
    p.add_argument("pattern", nargs="?", help="a model name (shows its card) or a glob on names, e.g. 'resnet*'")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ilsvrc.analysis.zoo_counts import counted
    from ilsvrc.errors import UserError
    from ilsvrc.models import get_card, list_models

    names = list_models(args.pattern)
    if not names:
        if not any(ch in args.pattern for ch in "*?["):
            get_card(args.pattern)  # an unknown plain name: the registry's "did you mean" line
        raise UserError(f"no model matches {args.pattern!r}; run 'ilsvrc models' to list them")
    cards = sorted((get_card(n) for n in names), key=lambda c: (c.year, c.family, c.name))
    rows = [{**c.to_dict(), "counted": counted(c.name)} for c in cards]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console

    console = Console(highlight=False)
    if len(rows) == 1 and args.pattern in names:
        console.print(card_view(rows[0]))
    else:
        console.print(zoo_table(rows))
        console.print("'ilsvrc models NAME' shows one card and how the variant differs from its paper.")
    return 0


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f} M" if n >= 1e5 else f"{n / 1e6:.2f} M"


def zoo_table(rows: list[dict]):
    """A rich Table that wraps its last column to the console's width (80, 100, 120 columns all fit)."""
    from rich.table import Table

    table = Table(title="ilsvrc model zoo, by year (params and MACs counted at each default input size)")
    table.add_column("name", no_wrap=True)
    table.add_column("year", justify="right", no_wrap=True)
    table.add_column("px", justify="right", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("GMACs", justify="right", no_wrap=True)
    table.add_column("paper's result", overflow="fold", ratio=1)
    for r in rows:
        c = r["counted"]
        table.add_row(
            r["name"],
            str(r["year"]),
            str(c["input_size"]),
            _millions(c["params"]),
            f"{c['macs'] / 1e9:.3f}",
            r["ilsvrc"],
        )
    return table


def _reference(counted_value: int, reference: int | None, exact: bool, unit: str) -> str:
    if reference is None:
        return "no published figure"
    if exact:
        same = "matches" if counted_value == reference else "DIFFERS FROM"
        return f"{same} the reference {reference:,}"
    return f"paper's rounded figure {reference / (1e9 if unit == 'G' else 1e6):.3g} {unit}"


def card_view(row: dict):
    """One card as labelled, wrapped lines: what the name is, its result, how it differs, what it costs."""
    from rich.table import Table

    c = row["counted"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True, justify="right")
    grid.add_column(overflow="fold")
    grid.add_row("model", f"{row['name']} ({row['family']}, {row['year']})")
    grid.add_row("paper", row["paper"])
    grid.add_row("result", row["ilsvrc"] or "did not compete")
    if row["variant"]:
        grid.add_row("this variant", row["variant"])
    grid.add_row("input", f"{row['input_size']} px square (smallest that works: {row['min_input_size']} px)")
    grid.add_row("classes", f"{row['num_classes']} by default (num_classes=... changes it)")
    grid.add_row(
        "parameters", f"{c['params']:,} counted; {_reference(c['params'], row['params'], row['params_exact'], 'M')}"
    )
    grid.add_row(
        "multiply-adds",
        f"{c['macs']:,} per image at {c['input_size']} px ({c['macs'] / 1e9:.3f} G) counted; "
        f"{_reference(c['macs'], row['macs'], row['macs_exact'], 'G')}",
    )
    tv = row["torchvision"]
    grid.add_row(
        "torchvision",
        f"torchvision.models.{tv}: ilsvrc.models.load_torchvision({row['name']!r}, state_dict) loads its weights"
        if tv
        else "no torchvision counterpart",
    )
    return grid

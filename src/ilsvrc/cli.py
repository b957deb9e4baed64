"""Argument parsing and error reporting for the `ilsvrc` command.

Each module in `ilsvrc.commands` adds its subcommands through `register(subparsers)` and sets
`func` on its parser; heavy imports (torch) happen inside those functions so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from ilsvrc import commands
from ilsvrc.errors import RunError, UserError

# The order subcommands are listed in `ilsvrc --help`; modules not named here follow alphabetically.
COMMAND_ORDER = [
    "models",
    "summary",
    "explain",
    "compare",
    "pack",
    "train",
    "evaluate",
    "predict",
    "export",
    "reproduce",
    "bench",
]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line naming the program, then exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ilsvrc", description="The ImageNet (ILSVRC) lineage: see, train, measure, reproduce.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
    for name in sorted(names, key=lambda n: (rank.get(n, len(rank)), n)):
        importlib.import_module(f"ilsvrc.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    debug = args.debug or bool(os.environ.get("ILSVRC_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except (UserError, RunError) as err:
        if debug:
            raise
        sys.stderr.write(f"ilsvrc {args.command}: error: {err}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"ilsvrc {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0

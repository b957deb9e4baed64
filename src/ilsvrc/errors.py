"""Errors a user can fix: the CLI prints them as one line, with no traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad usage or bad input (a path, an argument, a file). The CLI exits with status 2."""

    exit_code = 2


class RunError(Exception):
    """A run that started and then failed (NaN loss, disk full). The CLI exits with status 1."""

    exit_code = 1

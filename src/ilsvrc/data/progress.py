"""A rich progress bar on stderr, or nothing, behind one `advance(k)` callable (packing and decoding trees)."""

from __future__ import annotations


def progress_bar(enabled: bool, total: int, label: str):
    """A rich progress bar on stderr (or a no-op) with an `advance(k)` callable."""
    if not enabled:

        class _Null:
            def __enter__(self):
                return lambda k=1: None

            def __exit__(self, *exc):
                return False

        return _Null()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    class _Bar:
        def __enter__(self):
            self.p = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.p.__enter__()
            self.task = self.p.add_task(label, total=total)
            return lambda k=1: self.p.advance(self.task, k)

        def __exit__(self, *exc):
            return self.p.__exit__(*exc)

    return _Bar()

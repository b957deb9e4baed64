"""Plain tables in four formats: aligned text, markdown, CSV and JSON (the contract for scripts)."""

from __future__ import annotations

import csv
import io
import json
import re

FORMATS = ("table", "markdown", "csv", "json")
PLAIN = {"year", "input_size", "depth", "kernel", "stride", "padding", "call"}  # integers shown without separators


def cell(value, fmt: str, *, plain: bool = False) -> str:
    """Integers get thousands separators for people (table, markdown), none for machines (CSV) or years."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value) if fmt == "csv" or plain else f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if fmt == "csv" else f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def _numeric(value) -> bool:
    if isinstance(value, str):  # "(3,211,264)": a number shown but not added up
        return bool(re.fullmatch(r"\(?[\d,.]+\)?", value))
    return value is None or isinstance(value, (int, float))


def render(
    columns: list[tuple[str, str]],
    rows: list[dict],
    fmt: str,
    *,
    title: str = "",
    notes: list[str] | tuple[str, ...] = (),
) -> str:
    """`columns` are (key, header) pairs; numbers are right-aligned in text tables."""
    if fmt == "json":
        return json.dumps({"title": title, "rows": rows, "notes": list(notes)}, indent=2)
    keys = [k for k, _ in columns]
    headers = [h for _, h in columns]
    body = [[cell(r.get(k), fmt, plain=k in PLAIN) for k in keys] for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows(body)
        return buf.getvalue().rstrip("\n")
    numeric = [all(_numeric(r.get(k)) for r in rows) for k in keys]
    lines = []
    if fmt == "markdown":
        if title:
            lines += [f"**{title}**", ""]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        if notes:  # one bullet per note, so markdown does not run them together
            lines.append("")
            lines += [f"- {n.strip()}" for n in notes]
        return "\n".join(lines)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    if title:
        lines.append(title)
    lines.append(line(headers))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(row) for row in body]
    if notes:
        lines.append("")
        lines += list(notes)
    return "\n".join(lines)

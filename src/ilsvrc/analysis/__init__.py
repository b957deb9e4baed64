"""Analysis of any nn.Module: per-layer tables, cost calculators, receptive fields, model comparisons."""

from ilsvrc.analysis.summary import LayerRow, Summary, summarize

__all__ = ["LayerRow", "Summary", "summarize"]

"""The HTML report: one self-contained page per run, and the index that lists the runs."""

from bench.report.render import render_compare, render_index, render_report

__all__ = ["render_compare", "render_index", "render_report"]

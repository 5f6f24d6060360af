"""One report section per suite: its finding in a sentence, its tables and its figures."""

from dataclasses import dataclass, field

import pandas as pd

from bench.plots import figure_svg, plot_times
from bench.report import format as fmt
from bench.suites import SUITES
from bench.tables import fastest_counts, pivot_impls


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[tuple[str, object]]]  # (text shown, value sorted on) per cell


@dataclass
class Section:
    suite: str
    title: str
    question: str
    findings: list[str]
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, svg)


def _sort_value(value):
    return "" if pd.isna(value) else value


def make_table(frame: pd.DataFrame, columns: dict, caption: str) -> Table:
    """A display table of `frame`: `columns` maps a heading to (column, formatter or None)."""
    rows = []
    for _, row in frame.iterrows():
        rows.append([((formatter or str)(row[column]), _sort_value(row[column]))
                     for column, formatter in columns.values()])
    return Table(caption, list(columns), rows)


DETAIL_COLUMNS = {
    "case": ("case", None),
    "impl": ("impl", None),
    "median": ("median", fmt.seconds),
    "IQR": ("iqr", fmt.seconds),
    "rounds": ("rounds", fmt.count),
    "speedup": ("speedup", fmt.ratio),
    "error": ("error", fmt.error),
    "achieved": ("achieved_flops", lambda v: fmt.si(v, "FLOP/s")),
    "of peak": ("fraction_of_peak", fmt.percent),
    "device time": ("device_time", fmt.seconds),
}


def _settings(frame: pd.DataFrame):
    return frame.groupby(["device", "precision", "mode"], sort=False)


def conv1x1_section(frame: pd.DataFrame) -> Section:
    suite = SUITES["conv1x1"]
    findings = []
    counts = fastest_counts(frame)
    for (device, precision, mode), group in counts.groupby(["device", "precision", "mode"],
                                                           sort=False):
        best = group.iloc[0]
        rows = frame[(frame["device"] == device) & (frame["precision"] == precision)
                     & (frame["mode"] == mode) & (frame["impl"] == best["impl"])]
        findings.append(
            f"{device} {precision} {mode}: {best['impl']} was fastest in {best['wins']} of "
            f"{best['cases']} shapes, at a median {fmt.ratio(rows['speedup'].median())} the "
            f"speed of {suite.BASELINE}.")
    section = Section(suite.NAME, suite.TITLE, suite.QUESTION, findings)
    impls = list(suite.IMPLEMENTATIONS)
    for (device, precision, mode), group in _settings(frame):
        pivot = pivot_impls(group, "speedup", impls).reset_index()
        columns = {"case": ("case", None)} | {impl: (impl, fmt.ratio) for impl in impls}
        section.tables.append(make_table(
            pivot, columns, f"Speedup against {suite.BASELINE}: {device}, {precision}, {mode}"))
    for (device, precision, mode), group in _settings(frame):
        section.tables.append(make_table(
            group, DETAIL_COLUMNS, f"Every measurement: {device}, {precision}, {mode}"))
    section.figures.append(("Median time per shape and implementation (log scale)",
                            figure_svg(plot_times(frame))))
    return section


SECTIONS = {"conv1x1": conv1x1_section}

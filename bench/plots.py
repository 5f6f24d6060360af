"""Figures of the results, drawn on matplotlib Figure objects and returned as SVG text."""

import io

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

PANEL = (4.2, 3.0)  # inches per subplot


def figure_svg(fig: Figure) -> str:
    """The figure as an inline <svg> element (text kept as text, so the page stays small)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def _log_scale(ax, values: pd.Series, axis: str = "y") -> None:
    """Log scale where there is something positive to show (a panel may hold only NaN)."""
    if (pd.to_numeric(values, errors="coerce") > 0).any():
        getattr(ax, f"set_{axis}scale")("log")


def _panels(frame: pd.DataFrame, rows: list[str], cols: list[str]):
    """A figure with one subplot per combination of the `rows` and `cols` columns' values, and
    (axes, rows of the frame, title) for each subplot."""
    def keys(columns):
        if not columns:
            return [()]
        return list(frame[columns].drop_duplicates().itertuples(index=False, name=None))

    row_keys, col_keys = keys(rows), keys(cols)
    fig = Figure(figsize=(PANEL[0] * len(col_keys), PANEL[1] * len(row_keys)),
                 layout="constrained")
    axes = fig.subplots(len(row_keys), len(col_keys), squeeze=False)
    panels = []
    for i, rkey in enumerate(row_keys):
        for j, ckey in enumerate(col_keys):
            mask = pd.Series(True, index=frame.index)
            for column, value in zip(rows + cols, rkey + ckey):
                mask &= frame[column] == value
            title = " / ".join(map(str, rkey + ckey))
            panels.append((axes[i][j], frame[mask], title))
    return fig, panels


def plot_times(frame: pd.DataFrame, x: str = "case", series: str = "impl",
               rows=("device", "precision"), cols=("mode",), y: str = "median",
               ylabel: str = "median time (s)") -> Figure:
    """`y` (median time by default) per `x` on a log scale, one line per `series`, one panel
    per rows x cols."""
    fig, panels = _panels(frame, list(rows), list(cols))
    for ax, panel, title in panels:
        labels = list(dict.fromkeys(panel[x]))
        for name, group in panel.groupby(series, sort=False):
            group = group.set_index(x).reindex(labels)
            ax.plot(range(len(labels)), group[y], marker="o", label=str(name))
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        _log_scale(ax, panel[y])
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    return fig


def plot_relative(frame: pd.DataFrame, metrics: dict[str, str], x: str = "impl",
                  panels=("case", "device", "precision")) -> Figure:
    """Grouped bars of each metric relative to the baseline (ratio columns), per `x` value;
    one panel per combination of `panels`. `metrics` maps a ratio column to its legend label."""
    fig, cells = _panels(frame, list(panels), [])
    width = 0.8 / len(metrics)
    for ax, panel, title in cells:
        labels = list(dict.fromkeys(panel[x]))
        panel = panel.drop_duplicates(x).set_index(x).reindex(labels)
        for i, (column, label) in enumerate(metrics.items()):
            positions = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(labels))]
            ax.bar(positions, panel[column], width, label=label)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("relative to baseline")
        ax.set_title(title, fontsize=9)
    fig.axes[0].legend(fontsize=7)
    return fig


def plot_scaling(frame: pd.DataFrame, x: str, series: str = "impl",
                 rows=("device", "precision"), cols=("setting",)) -> Figure:
    """Median time against a numeric `x` on log-log axes, one line per `series`."""
    fig, cells = _panels(frame, list(rows), list(cols))
    for ax, panel, title in cells:
        for name, group in panel.groupby(series, sort=False):
            group = group.sort_values(x)
            ax.plot(group[x], group["median"], marker="o", label=str(name))
        _log_scale(ax, panel[x], "x")
        _log_scale(ax, panel["median"])
        ax.set_xlabel(x)
        ax.set_ylabel("median time (s)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    return fig


def plot_roofline(frame: pd.DataFrame, series: str = "impl",
                  panels=("device", "precision")) -> Figure:
    """Achieved FLOP/s against arithmetic intensity (FLOP per byte), log-log, under the
    run's measured ceilings: min(peak FLOP/s, intensity x copy bandwidth)."""
    fig, cells = _panels(frame, list(panels), [])
    for ax, panel, title in cells:
        for name, group in panel.groupby(series, sort=False):
            ax.scatter(group["intensity"], group["achieved_flops"], s=12, label=str(name))
        peak, bandwidth = panel["peak_flops"].max(), panel["peak_bandwidth"].max()
        low, high = panel["intensity"].min() / 2, panel["intensity"].max() * 2
        if pd.notna(peak) and pd.notna(bandwidth) and low > 0:
            ridge = [low, peak / bandwidth, high]
            ax.plot(ridge, [min(peak, i * bandwidth) for i in ridge], color="black",
                    linewidth=1, label="measured ceiling")
        _log_scale(ax, panel["intensity"], "x")
        _log_scale(ax, panel["achieved_flops"])
        ax.set_xlabel("FLOP per byte (minimal traffic)")
        ax.set_ylabel("achieved FLOP/s")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    return fig

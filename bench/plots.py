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


def plot_layer_flow(rows_by_regime: dict[str, list[dict]]) -> Figure:
    """One model's backward, layer by layer: a strip per regime (in the order given), a cell per
    layer in forward order (the rows of `bench.layers.anatomy`), shaded by its backward FLOPs on
    a log scale. Grey: no backward runs through the layer; white: it runs, but only operations
    without a FLOP formula (BatchNorm, ReLU, pooling); a dot: the layer's parameters train."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    if not rows_by_regime:
        raise ValueError("rows_by_regime is empty: no regime to draw")

    def is_layer(row):
        return row["name"] != "(outside any layer)"

    keys = [(row["name"], row["call"]) for row in next(iter(rows_by_regime.values()))
            if is_layer(row)]
    values = {}
    for regime, rows in rows_by_regime.items():
        by_key = {(row["name"], row["call"]): row for row in rows if is_layer(row)}
        values[regime] = [by_key.get(key, {}) for key in keys]
    flops = [row.get("backward_flops", 0) for cells in values.values() for row in cells]
    high = max(flops, default=0) or 10
    low = min([f for f in flops if f > 0], default=high / 10)
    low = min(low, high / 10)
    norm = LogNorm(vmin=low, vmax=high)
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey", under="white")

    fig = Figure(figsize=(10, 0.3 * len(values) + 1.2), layout="constrained")
    axes = fig.subplots(len(values), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (regime, cells) in zip(axes, values.items()):
        ran = [row.get("backward_ran", row.get("backward_flops", 0) > 0) for row in cells]
        # zero FLOPs but a backward that ran sits under the scale: the colour bar's white end
        shade = [row.get("backward_flops", 0) or low / 10 for row in cells]
        strip = np.ma.masked_array([shade], mask=[[not r for r in ran]])
        # rasterised: a ResNet-50 strip is 160 cells, too many paths for an inline SVG
        ax.pcolormesh(np.arange(len(keys) + 1), [0, 1], strip, cmap=cmap, norm=norm,
                      rasterized=True)
        trained = [i + 0.5 for i, row in enumerate(cells) if row.get("trainable")]
        ax.scatter(trained, [0.5] * len(trained), s=3, color="black", rasterized=True)
        ax.set_yticks([0.5], [regime], fontsize=8)
        ax.tick_params(axis="y", length=0)
    stages = [i for i, (name, _) in enumerate(keys)
              if i == 0 or name.split(".")[0] != keys[i - 1][0].split(".")[0]]
    axes[-1].set_xticks([i + 0.5 for i in stages], [keys[i][0].split(".")[0] for i in stages],
                        fontsize=7)
    axes[-1].set_xlabel("layers in forward order (ticks: first layer of each stage)")
    colorbar = fig.colorbar(axes[0].collections[0], ax=list(axes), extend="min", pad=0.01)
    colorbar.set_label("backward FLOPs\n(white: uncounted ops only;\ngrey: no backward)",
                       fontsize=7)
    return fig


def plot_breakdown(shares: pd.DataFrame, title: str = "") -> Figure:
    """Horizontal stacked bars: one per row of `shares` (indexed by implementation), its
    columns the fraction of profiled time in each class of work."""
    fig = Figure(figsize=(7, 0.35 * len(shares) + 1.3), layout="constrained")
    ax = fig.subplots()
    left = pd.Series(0.0, index=shares.index)
    for column in shares.columns:
        ax.barh(range(len(shares)), shares[column], left=left, label=str(column))
        left += shares[column].fillna(0)
    ax.set_yticks(range(len(shares)), [str(i) for i in shares.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the profiled call's time")
    ax.set_title(title, fontsize=9)
    fig.legend(loc="outside lower center", ncols=min(len(shares.columns), 6), fontsize=7)
    return fig

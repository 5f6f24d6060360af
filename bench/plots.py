"""Figures of the results, drawn on matplotlib Figure objects and returned as SVG text."""

import functools
import io
import math

import matplotlib
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from bench.schema import HARNESS, OUTSIDE

PANEL = (5.6, 3.6)  # inches per panel: about 540 px wide, text 9 pt or more (12 px and up)
STYLE = {
    "svg.fonttype": "none",  # text stays text: small pages, and the browser test can measure it
    "text.parse_math": False,  # names are names: a "$" in one must not start mathtext
    # SVG ids hashed from their content, not salted at random: a page rebuilt from the same JSON
    # is the same file. Two figures share an id only for the same content (a clip rectangle).
    "svg.hashsalt": "bench",
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5, "legend.fontsize": 8.5,
}


def figure_svg(fig: Figure) -> str:
    """The figure as an inline <svg> element."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def figures_svg(figs) -> list[str]:
    return [figure_svg(fig) for fig in figs]


def styled(plot):
    """Draw under STYLE: a text's size and whether it is mathtext are fixed when it is made."""
    @functools.wraps(plot)
    def draw(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return plot(*args, **kwargs)
    return draw


def _new_figure(size=PANEL) -> Figure:
    return Figure(figsize=size, layout="constrained")


def _factor(value, _=None) -> str:
    return f"{value:g}×"


def _seconds(value, _=None) -> str:
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if value >= scale:
            return f"{value / scale:g} {unit}"
    return f"{value:g} s"


def _log_scale(ax, values: pd.Series, axis: str = "y", formatter=None) -> None:
    """Log scale where there is something positive to show (a panel may hold only NaN), with
    labels on the major ticks only, in plain units: minor labels ran into each other."""
    values = pd.to_numeric(values, errors="coerce")
    positive = values[(values > 0) & (values < math.inf)]
    if positive.empty:
        return
    getattr(ax, f"set_{axis}scale")("log")
    _log_ticks(getattr(ax, f"{axis}axis"), positive.min(), positive.max(), formatter)


def _log_ticks(target, low: float, high: float, formatter=None) -> None:
    """Labelled ticks for a log axis whose data spans `low` to `high`: 1, 2 and 5 a decade
    where two to seven of them fall in that span (or one value, which the axis widens to
    decades), decades alone where more do, round steps where fewer do (1-2-5 left 0.77-1.54
    with one label, "1x"); minor ticks unlabelled. `formatter`: a function of (value, position)
    or a matplotlib Formatter."""
    decades = range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 1)
    inside = sum(low <= m * 10.0**k <= high for k in decades for m in (1, 2, 5))
    if inside > 7:
        target.set_major_locator(ticker.LogLocator(subs=(1.0,)))
    elif inside >= 2 or low == high:
        target.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    else:
        target.set_major_locator(ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    target.set_minor_formatter(ticker.NullFormatter())
    if formatter is not None:
        target.set_major_formatter(formatter if isinstance(formatter, ticker.Formatter)
                                   else ticker.FuncFormatter(formatter))


def series_colours(names) -> dict[str, tuple]:
    """A colour per series name, in order of first appearance: one implementation has one
    colour in every panel of a suite, also where a panel lacks others (torchvision has no
    bfloat16 rows, and the colour cycle would otherwise shift by one)."""
    names = list(dict.fromkeys(map(str, names)))
    cycle = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"].colors
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def _legend(ax) -> None:
    """The legend outside the data, to the right of the axes."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False)


def _finish(ax, title: str, grid: bool = True) -> None:
    """A panel's title, its major grid, and its legend outside the data."""
    ax.set_title(title)
    if grid:
        ax.grid(True, which="major", alpha=0.3)
    _legend(ax)


def _panels(frame: pd.DataFrame, columns: list[str], size=PANEL):
    """One figure per combination of the `columns`' values: (figure, axes, its rows, title)."""
    keys = list(frame[columns].drop_duplicates().itertuples(index=False, name=None)) \
        if columns else [()]
    panels = []
    for key in keys:
        mask = pd.Series(True, index=frame.index)
        for column, value in zip(columns, key):
            mask &= frame[column] == value
        fig = _new_figure(size)
        panels.append((fig, fig.subplots(), frame[mask], " / ".join(map(str, key))))
    return panels


@styled
def plot_times(frame: pd.DataFrame, x: str = "case", series: str = "impl",
               panels=("device", "precision", "mode"), y: str = "median",
               ylabel: str = "median time", colours: dict | None = None) -> list[Figure]:
    """`y` (median time by default) per `x` on a log scale, one series of dots per `series`,
    one figure per combination of `panels`. A speedup is labelled in plain factors (0.5×, 2×).
    Dots, not lines: the cases are separate problems, and a line between two would draw a
    trend that is not there. `colours`: a series' colour (default: `series_colours` of the
    frame's)."""
    colours = colours or series_colours(frame[series])
    figs = []
    for fig, ax, panel, title in _panels(frame, list(panels)):
        labels = list(dict.fromkeys(panel[x]))
        for name, group in panel.groupby(series, sort=False):
            group = group.set_index(x).reindex(labels)
            ax.plot(range(len(labels)), group[y], marker="o", linestyle="none",
                    label=str(name), color=colours[str(name)])
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        _log_scale(ax, panel[y], formatter=_factor if y == "speedup" else _seconds)
        if y == "speedup":
            ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylabel(ylabel)
        _finish(ax, title)
        figs.append(fig)
    return figs


@styled
def plot_relative(frame: pd.DataFrame, metrics: dict[str, str], x: str = "impl",
                  panels=("case", "device", "precision")) -> list[Figure]:
    """Grouped bars of each metric relative to the baseline (ratio columns), per `x` value,
    one figure per combination of `panels`. `metrics` maps a ratio column to its legend label;
    a metric with no value at all (peak memory on a CPU run) is left out."""
    metrics = {c: label for c, label in metrics.items() if c in frame and frame[c].notna().any()}
    figs = []
    for fig, ax, panel, title in _panels(frame, list(panels)):
        labels = list(dict.fromkeys(panel[x]))
        panel = panel.drop_duplicates(x).set_index(x).reindex(labels)
        width = 0.8 / max(len(metrics), 1)
        for i, (column, label) in enumerate(metrics.items()):
            positions = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(labels))]
            ax.bar(positions, panel[column], width, label=label)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_factor))
        ax.set_ylabel("relative to the baseline")
        _finish(ax, title, grid=False)
        figs.append(fig)
    return figs


@styled
def plot_scaling(frame: pd.DataFrame, x: str, series: str = "impl",
                 panels=("device", "precision", "mode", "setting"),
                 colours: dict | None = None) -> list[Figure]:
    """Median time against a numeric `x` on log-log axes, one line per `series` (`colours` as
    in `plot_times`); panels with a single value of `x` show nothing that scales and are left
    out."""
    colours = colours or series_colours(frame[series])
    figs = []
    for fig, ax, panel, title in _panels(frame, list(panels)):
        if panel[x].nunique() < 2:
            continue
        for name, group in panel.groupby(series, sort=False):
            group = group.sort_values(x)
            ax.plot(group[x], group["median"], marker="o", label=str(name),
                    color=colours[str(name)])
        _log_scale(ax, panel[x], "x", lambda v, _: f"{v:g}")
        _log_scale(ax, panel["median"], formatter=_seconds)
        ax.set_xlabel(x)
        ax.set_ylabel("median time")
        _finish(ax, title)
        figs.append(fig)
    return figs


@styled
def plot_roofline(frame: pd.DataFrame, series: str = "impl",
                  panels=("device", "precision")) -> list[Figure]:
    """Achieved FLOP/s against arithmetic intensity (FLOP per byte), log-log, with the run's
    measured peaks as reference lines: min(peak FLOP/s, intensity x copy bandwidth), one large
    matmul's rate and a large copy's, not the hardware's limits (a convolution in bfloat16 on
    channels-last input ran at 2.4 times the bf16 matmul's rate in the CPU example); a series'
    colour as in `plot_times`."""
    colours = series_colours(frame[series])
    figs = []
    for fig, ax, panel, title in _panels(frame, list(panels)):
        for name, group in panel.groupby(series, sort=False):
            ax.scatter(group["intensity"], group["achieved_flops"], s=14, label=str(name),
                       color=colours[str(name)])
        peak, bandwidth = panel["peak_flops"].max(), panel["peak_bandwidth"].max()
        low, high = panel["intensity"].min() / 2, panel["intensity"].max() * 2
        if pd.notna(peak) and pd.notna(bandwidth) and low > 0:
            ridge = [low, peak / bandwidth, high]
            ax.plot(ridge, [min(peak, i * bandwidth) for i in ridge], color="black",
                    linewidth=1, label="measured peaks")
        _log_scale(ax, panel["intensity"], "x", lambda v, _: f"{v:g}")
        # 800 GFLOP/s, 1.2 TFLOP/s: "1e+12" stood for 1.0, 1.2 and 1.4 TFLOP/s alike
        _log_scale(ax, panel["achieved_flops"], formatter=ticker.EngFormatter("FLOP/s"))
        ax.set_xlabel("FLOP per byte (minimal traffic)")
        ax.set_ylabel("achieved FLOP/s")
        _finish(ax, title)
        figs.append(fig)
    return figs


@styled
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
        return row["name"] != OUTSIDE

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

    fig = _new_figure((10, 0.3 * len(values) + 1.2))
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
                        fontsize=8)
    axes[-1].set_xlabel("layers in forward order (ticks: first layer of each stage)")
    colorbar = fig.colorbar(axes[0].collections[0], ax=list(axes), extend="min", pad=0.01)
    # text, not mathtext (which the style turns off, so it showed as "$\\mathdefault{...}$")
    _log_ticks(colorbar.ax.yaxis, low, high, lambda v, _: f"{v:.0e}")
    colorbar.set_label("backward FLOPs\n(white: uncounted ops only;\ngrey: no backward)",
                       fontsize=8)
    return fig


@styled
def plot_breakdown(shares: pd.DataFrame, title: str = "") -> Figure:
    """Horizontal stacked bars: one per row of `shares` (indexed by implementation), its
    columns the fraction of profiled time in each class of work."""
    fig = _new_figure((7, 0.35 * len(shares) + 1.3))
    ax = fig.subplots()
    left = pd.Series(0.0, index=shares.index)
    for column in shares.columns:
        ax.barh(range(len(shares)), shares[column], left=left, label=str(column))
        left += shares[column].fillna(0)
    ax.set_yticks(range(len(shares)), [str(i) for i in shares.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the profiled call's time")
    ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=min(len(shares.columns), 6))
    return fig


@styled
def plot_history(table: pd.DataFrame) -> Figure:
    """Each benchmark's median over runs (in date order), relative to its first run, as a thin
    line, and their geometric mean as a thick one: drift and regressions at a glance."""
    import numpy as np

    key = list(HARNESS[1:])
    order = list(dict.fromkeys(table.sort_values("datetime")["run_id"]))
    wide = table.pivot_table(index="run_id", columns=key, values="median", aggfunc="first")
    wide = wide.reindex(order)
    relative = wide / wide.bfill().iloc[0]
    fig = _new_figure()
    ax = fig.subplots()
    x = range(len(order))
    for column in relative.columns:
        ax.plot(x, relative[column], color="tab:blue", alpha=0.25, linewidth=0.8)
    mean = np.exp(np.log(relative).mean(axis=1))
    ax.plot(x, mean, color="black", linewidth=2, marker="o", label="geometric mean")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    _log_scale(ax, pd.Series(relative.to_numpy().ravel()), formatter=_factor)
    ax.set_xticks(list(x), order, rotation=35, ha="right")
    ax.set_ylabel("median, relative to the first run")
    _legend(ax)
    return fig

"""Figures: one panel per combination asked for, log axes only where data is positive, SVG out."""

import math

import pandas as pd
from matplotlib.figure import Figure

from bench.plots import figure_svg, plot_relative, plot_roofline, plot_scaling, plot_times


def frame():
    rows = []
    for device in ("cpu", "cuda"):
        for impl, scale in (("a", 1.0), ("b", 2.0)):
            for regions in (16, 128):
                rows.append({"device": device, "precision": "fp32", "mode": "forward",
                             "case": f"r{regions}", "impl": impl, "regions": regions,
                             "setting": "pool", "median": scale * regions * 1e-6,
                             "speedup": 1 / scale, "intensity": 2.0 * scale,
                             "achieved_flops": 1e9 * scale, "peak_flops": 1e10,
                             "peak_bandwidth": 1e9, "median_ratio": scale})
    return pd.DataFrame(rows)


def test_one_panel_per_device_and_precision():
    fig = plot_times(frame())
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_yscale() == "log"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["r16", "r128"]


def test_all_nan_panels_stay_linear():
    data = frame().assign(speedup=math.nan)
    fig = plot_times(data, y="speedup", ylabel="speedup")
    assert fig.axes[0].get_yscale() == "linear"


def test_scaling_relative_and_roofline_draw_every_series():
    data = frame()
    scaling = plot_scaling(data, "regions")
    assert len(scaling.axes) == 2 and len(scaling.axes[0].lines) == 2
    assert scaling.axes[0].get_xscale() == "log"
    relative = plot_relative(data, {"median_ratio": "time"}, panels=("device",))
    assert len(relative.axes) == 2 and len(relative.axes[0].patches) == 2
    roofline = plot_roofline(data)
    # two implementations as points, and the ceiling as a line with its ridge at 10 FLOP/byte
    ceiling = roofline.axes[0].lines[0]
    assert list(ceiling.get_xdata())[1] == 10.0 and max(ceiling.get_ydata()) == 1e10


def test_svg_is_inline_markup_with_text_kept_as_text():
    svg = figure_svg(plot_times(frame()))
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert "r128" in svg

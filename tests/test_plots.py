"""Figures: one figure per panel, log axes only where data is positive, plain units on the axes,
legends outside the data, names drawn as text, SVG out."""

import math
import re

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bench.plots import (
    _factor,
    _log_scale,
    _seconds,
    figure_svg,
    plot_breakdown,
    plot_history,
    plot_relative,
    plot_roofline,
    plot_scaling,
    plot_times,
    series_colours,
)


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
                             "peak_bandwidth": 1e9, "median_ratio": scale,
                             "memory_ratio": math.nan})
    return pd.DataFrame(rows)



def test_one_figure_per_device_precision_and_mode():
    figs = plot_times(frame())
    assert len(figs) == 2 and all(isinstance(fig, Figure) for fig in figs)
    ax = figs[0].axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "cpu / fp32 / forward"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["r16", "r128"]


def test_all_nan_panels_stay_linear():
    figs = plot_times(frame().assign(speedup=math.nan), y="speedup", ylabel="speedup")
    assert figs[0].axes[0].get_yscale() == "linear"


def test_speedups_read_as_plain_factors_and_times_in_units():
    svg = figure_svg(plot_times(frame(), y="speedup", ylabel="speedup")[0])
    assert "0.5×" in svg and "10^" not in svg and "mathdefault" not in svg
    svg = figure_svg(plot_times(frame())[0])
    assert "µs" in svg


def reference_lines(ax) -> list[list[float]]:
    """The horizontal lines across the whole axes (axhline's), by their height."""
    across = ax.get_yaxis_transform(which="grid")  # x in the axes' fraction, y in data
    return [list(map(float, line.get_ydata())) for line in ax.lines
            if line.get_transform() == across]


def test_speedups_and_history_draw_the_line_of_no_change_at_1():
    assert reference_lines(plot_times(frame(), y="speedup", ylabel="speedup")[0].axes[0]) \
        == [[1.0, 1.0]]
    assert reference_lines(plot_times(frame())[0].axes[0]) == []  # times have no such line
    rows = [{"run_id": run, "datetime": day, "suite": "s", "case": "c", "impl": "i",
             "device": "cpu", "precision": "fp32", "mode": "forward", "median": median}
            for run, day, median in (("r1", "2026-11-21", 2.0), ("r2", "2026-11-22", 4.0))]
    assert reference_lines(plot_history(pd.DataFrame(rows)).axes[0]) == [[1.0, 1.0]]


def test_legends_sit_outside_the_axes():
    for fig in (plot_times(frame())[0], plot_roofline(frame())[0]):
        legend = fig.axes[0].get_legend()
        assert legend is not None and legend.get_bbox_to_anchor().x0 > \
            fig.axes[0].get_window_extent().x1 - 1


def test_scaling_relative_and_roofline_draw_every_series():
    data = frame()
    scaling = plot_scaling(data, "regions")
    assert len(scaling) == 2 and len(scaling[0].axes[0].lines) == 2
    assert scaling[0].axes[0].get_xscale() == "log"
    relative = plot_relative(data, {"median_ratio": "time", "memory_ratio": "memory"},
                             panels=("device",))
    # two implementations, one bar each: the all-NaN memory ratio is left out
    assert len(relative) == 2 and len(relative[0].axes[0].patches) == 2
    assert [t.get_text() for t in relative[0].axes[0].get_legend().get_texts()] == ["time"]
    roofline = plot_roofline(data)
    # two implementations as points, and the ceiling as a line with its ridge at 10 FLOP/byte
    ceiling = roofline[0].axes[0].lines[0]
    assert list(ceiling.get_xdata())[1] == 10.0 and max(ceiling.get_ydata()) == 1e10


def test_cases_are_dots_unjoined_and_a_single_count_does_not_scale():
    for cases in (frame(), frame()[frame()["case"] == "r16"]):
        lines = plot_times(cases)[0].axes[0].lines
        assert {(line.get_linestyle(), line.get_marker()) for line in lines} == {("None", "o")}
    one = frame()[frame()["case"] == "r16"]
    assert plot_scaling(one, "regions") == []


def test_names_are_text_not_mathtext():
    data = frame().assign(impl=frame()["impl"].map({"a": "cost $5", "b": "$x$"}))
    svg = figure_svg(plot_times(data)[0])
    assert "cost $5" in svg and "$x$" in svg


def test_svg_is_inline_markup_with_text_kept_as_text():
    svg = figure_svg(plot_times(frame())[0])
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert "r128" in svg


def test_the_same_figure_is_the_same_svg_and_ids_name_their_content():
    assert figure_svg(plot_times(frame())[0]) == figure_svg(plot_times(frame())[0])
    other = figure_svg(plot_times(frame().assign(median=frame()["median"] * 3))[0])
    defined = re.findall(r'<clipPath id="([^"]+)">(.*?)</clipPath>', other, re.S)
    assert defined  # and an id defined elsewhere with other content would be another id
    page = figure_svg(plot_times(frame())[0]) + other
    for name, body in defined:
        assert set(re.findall(rf'<clipPath id="{name}">(.*?)</clipPath>', page, re.S)) == {body}


def test_breakdown_stacks_the_classes():
    shares = pd.DataFrame({"GEMM": [0.75, 0.5], "copy / layout": [0.25, 0.5]},
                          index=["a", "b"])
    ax = plot_breakdown(shares).axes[0]
    widths = [patch.get_width() for patch in ax.patches]
    lefts = [patch.get_x() for patch in ax.patches]
    assert widths == [0.75, 0.5, 0.25, 0.5] and lefts == [0, 0, 0.75, 0.5]
    # the first row on top, as the table lists it
    assert ax.yaxis_inverted() and [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


def visible_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    return [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks())
            if low <= v <= high and t.get_text()]


def test_a_log_axis_labels_round_steps_within_a_decade_1_2_5_wider_and_decades_wider_still():
    ax = Figure().subplots()
    ax.plot([0, 1], [0.77, 1.54])  # a run's drift: 1-2-5 a decade labelled only "1x" here
    _log_scale(ax, pd.Series([0.77, 1.54]), formatter=_factor)
    assert visible_labels(ax) == ["0.8×", "1×", "1.2×", "1.4×"]
    ax = Figure().subplots()
    ax.plot([0, 1], [3e-6, 4e-4])
    _log_scale(ax, pd.Series([3e-6, 4e-4]), formatter=_seconds)
    assert visible_labels(ax) == ["5 µs", "10 µs", "20 µs", "50 µs", "100 µs", "200 µs",
                                  "500 µs"]
    ax = Figure().subplots()  # three decades: 1-2-5 would crowd the axis with nine labels
    ax.plot([0, 1], [3e-6, 4e-3])
    _log_scale(ax, pd.Series([3e-6, 4e-3]), formatter=_seconds)
    assert visible_labels(ax) == ["10 µs", "100 µs", "1 ms"]
    ax = Figure().subplots()  # one value: the axis widens it to decades, labelled 1-2-5
    ax.plot([0], [1.0])
    _log_scale(ax, pd.Series([1.0, math.inf]), formatter=_factor)  # inf is not data
    assert "1×" in visible_labels(ax)


def test_time_ticks_at_a_decade_take_the_larger_unit():
    assert [_seconds(v) for v in (1.0, 1e-3, 1e-6, 2.5e-5)] == ["1 s", "1 ms", "1 µs", "25 µs"]


def test_the_roofline_ceiling_is_the_lower_of_bandwidth_and_peak():
    # intensities 2 and 4: the line from 1 to 8 FLOP/byte, its ridge at 1e10 / 1e9 = 10
    (ceiling,) = [line for line in plot_roofline(frame())[0].axes[0].lines
                  if line.get_label() == "measured peaks"]
    assert list(ceiling.get_xdata()) == [1.0, 10.0, 8.0]
    assert list(ceiling.get_ydata()) == [1e9, 1e10, 8e9]


def test_the_roofline_labels_rates_in_units_each_its_own():
    data = frame().assign(achieved_flops=lambda f: 0.77e12 + (f["impl"] == "b") * 0.77e12,
                          peak_flops=math.nan)  # no ceiling to widen the axis
    labels = visible_labels(plot_roofline(data)[0].axes[0])
    assert labels == ["800 GFLOP/s", "1 TFLOP/s", "1.2 TFLOP/s", "1.4 TFLOP/s"]


def test_scaling_draws_each_line_in_order_of_x_under_its_labels():
    ax = plot_scaling(frame().iloc[::-1], "regions")[0].axes[0]
    assert all(list(line.get_xdata()) == [16, 128] for line in ax.lines)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("regions", "median time")


def test_history_is_relative_to_each_benchmark_s_first_run_and_averaged_geometrically():
    """p halves, q doubles, r first measured in r2 then halves: the geometric mean of the
    ratios is 1, 1, then the cube root of 0.5 (an arithmetic one would say 1.17 at r2)."""
    medians = {"p": (1.0, 0.5, 0.5), "q": (1.0, 2.0, 2.0), "r": (None, 3.0, 1.5)}
    rows = [{"run_id": run, "datetime": f"2026-11-2{n}", "suite": "s", "case": case,
             "impl": "i", "device": "cpu", "precision": "fp32", "mode": "forward",
             "median": values[n]}
            for case, values in medians.items() for n, run in enumerate(("r1", "r2", "r3"))
            if values[n] is not None]
    ax = plot_history(pd.DataFrame(rows[::-1])).axes[0]  # in no date order
    (mean,) = [line for line in ax.lines if line.get_label() == "geometric mean"]
    assert list(mean.get_ydata()) == pytest.approx([1.0, 1.0, 0.5 ** (1 / 3)])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["r1", "r2", "r3"]


def test_an_implementation_keeps_its_colour_in_a_panel_that_lacks_another():
    """In the cuda panel "a" has no rows (torchvision has no bfloat16 kernel, say): "b" keeps
    the colour it has in the cpu panel, in every kind of plot, and a colours mapping given by
    the caller wins (one for a suite's figures of different subsets)."""
    data = frame()
    data = data[(data["device"] == "cpu") | (data["impl"] == "b")]

    def colours(fig):  # of the series' lines, or points (the roofline's)
        ax = fig.axes[0]
        found = {line.get_label(): tuple(line.get_color()) for line in ax.lines}
        found |= {points.get_label(): tuple(points.get_facecolor()[0][:3])
                  for points in ax.collections}
        found.pop("measured peaks", None)
        return found

    for plot in (plot_times, lambda d: plot_scaling(d, "regions"), plot_roofline):
        cpu, cuda = (colours(fig) for fig in plot(data))
        assert set(cpu) == {"a", "b"} and set(cuda) == {"b"}
        assert cuda["b"] == cpu["b"] != cpu["a"]
    given = {"a": (0.0, 0.0, 1.0), "b": (1.0, 0.0, 0.0)}
    cpu, cuda = (colours(fig) for fig in plot_times(data, colours=given))
    assert cpu == given and cuda == {"b": given["b"]}


def test_seven_1_2_5_ticks_in_the_span_are_all_labelled():
    ax = Figure().subplots()  # 2, 5, 10, 20, 50, 100 and 200 fall in 1.5 to 250: seven
    ax.plot([0, 1], [1.5, 250])
    _log_scale(ax, pd.Series([1.5, 250]), formatter=_factor)
    assert visible_labels(ax) == ["2×", "5×", "10×", "20×", "50×", "100×", "200×"]


def test_series_take_tab10_colours_in_order_of_first_appearance_up_to_ten_names():
    tab10, tab20 = (matplotlib.colormaps[name].colors for name in ("tab10", "tab20"))
    # first seen first, not in the alphabet's order: the first series is tab10's blue
    assert series_colours(["b", "a", "b"]) == {"b": tab10[0], "a": tab10[1]}
    ten = [f"s{n}" for n in range(10)]
    assert list(series_colours(ten).values()) == list(tab10)
    assert list(series_colours([*ten, "s10"]).values()) == list(tab20[:11])


def test_a_time_plot_s_y_axis_is_labelled_as_the_caller_asks():
    assert plot_times(frame())[0].axes[0].get_ylabel() == "median time"
    ax = plot_times(frame(), y="speedup", ylabel="speedup against a")[0].axes[0]
    assert ax.get_ylabel() == "speedup against a"


def test_a_metric_measured_in_some_panels_only_is_drawn_and_bars_centre_on_their_tick():
    """Peak memory on the cuda rows only: kept, in the legend of every panel; two metrics, bars
    0.4 wide, either side of each implementation's tick."""
    data = frame().assign(memory_ratio=lambda f: (f["device"] == "cuda") * 1.5)
    data["memory_ratio"] = data["memory_ratio"].where(data["device"] == "cuda")
    figs = plot_relative(data, {"median_ratio": "time", "memory_ratio": "memory"},
                         panels=("device",))
    for fig in figs:
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["time", "memory"]
        centres = [patch.get_x() + patch.get_width() / 2 for patch in ax.patches]
        assert centres == pytest.approx([-0.2, 0.8, 0.2, 1.2])
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


def test_the_roofline_s_axes_are_intensity_across_and_rate_up():
    ax = plot_roofline(frame())[0].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("FLOP per byte (minimal traffic)",
                                                  "achieved FLOP/s")


def test_a_class_without_a_share_leaves_the_next_class_where_it_starts():
    """a has no GEMM share (NaN, as where a profile recorded none): its copy bar starts at 0."""
    shares = pd.DataFrame({"GEMM": [math.nan, 0.5], "copy / layout": [0.25, 0.5]},
                          index=["a", "b"])
    ax = plot_breakdown(shares).axes[0]
    copy = ax.patches[2:]
    assert [patch.get_x() for patch in copy] == [0.0, 0.5]
    assert [patch.get_width() for patch in copy] == [0.25, 0.5]

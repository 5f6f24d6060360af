"""The RoI/SPP suite's report section: each implementation against its kind's baseline at the
largest case of each kind measured, scaling with the number of regions, and the tables."""

import pandas as pd

from bench.plots import figures_svg, plot_scaling, plot_times, series_colours
from bench.report import format as fmt
from bench.report.sections import (
    SPEEDUP_NOTE,
    Section,
    add_profiles,
    by_reason,
    make_table,
    new_section,
    settings,
)
from bench.tables import add_ratios

COLUMNS = {
    "case": ("case", None),
    "impl": ("impl", None),
    "median": ("median", fmt.seconds),
    "IQR": ("iqr", fmt.seconds),
    "speedup": ("speedup", fmt.ratio),
    "error": ("error", fmt.error),
    "achieved": ("achieved_bandwidth", lambda v: fmt.si(v, "B/s")),
    "of copy bandwidth": ("fraction_of_bandwidth", fmt.percent),
    "device time": ("device_time", fmt.seconds),
}


def finding(group: pd.DataFrame, outcomes: dict | None = None) -> str:
    """How each implementation compared with its baseline (torchvision's, for RoI pooling) at
    one case of each kind in one setting: the first in the grid's order of those with the most
    regions (7x7 bins on the small map before 14x14 and the larger maps; image-level SPP has no
    regions, and each grid measures one such case), in time taken: timed side by side in
    alternating blocks, with the 95% interval, where the run did so, else the medians' ratio."""
    device, precision, mode = group[["device", "precision", "mode"]].iloc[0]
    parts, missing = [], []
    for _, rows in group.groupby("kind", sort=False):
        largest = rows.loc[rows["regions"].idxmax(), "case"]
        at = rows[rows["case"] == largest]
        baseline = at["baseline"].iloc[0]
        if baseline not in set(at["impl"]):
            missing.append((f"{baseline} at {largest}",
                            at.iloc[0].to_dict() | {"impl": baseline}))
            continue
        at = add_ratios(at, ["median"]).set_index("impl")
        low, high = at["median_ratio_low"], at["median_ratio_high"]
        others = [f"{impl} {fmt.ratio(at.loc[impl, 'median_ratio'])}"
                  + (f" ({fmt.ratio(low[impl])}–{fmt.ratio(high[impl])})"
                     if pd.notna(low[impl]) else "")
                  for impl in at.index if impl != baseline]
        if others:
            parts.append(f"at {largest}, time as a multiple of {baseline}'s: "
                         f"{', '.join(others)}")
    if not parts and missing:  # torchvision has no bfloat16 RoI pooling, for one
        parts = ["no comparison: " + "; ".join(
            f"{' and '.join(wheres)} not measured ({why})"
            for why, wheres in by_reason(outcomes or {}, missing).items())]
    return f"{device} {precision} {mode}: " + ("; ".join(parts) or "no comparison") + "."


def section(frame: pd.DataFrame, info: dict) -> Section:
    frame = frame.assign(setting=frame["kind"] + " " + frame["fmap"]
                         + frame["output"].map(lambda o: f" {int(o)}x{int(o)}" if o else ""))
    out = new_section(frame, info)
    out.findings = [finding(group, info.get("outcomes")) for _, group in settings(frame)]
    colours = series_colours(frame["impl"])  # the image level's too, in both figures
    scaling = plot_scaling(frame[frame["kind"] != "image"], "regions", colours=colours)
    if scaling:
        out.figures.append((
            "Median time against the number of regions (log-log), per feature map and grid "
            "measured at more than one count", figures_svg(scaling)))
    else:  # one count of regions per map (the smoke grid): each case's time instead
        out.figures.append(("Median time per case and implementation (log scale)",
                            figures_svg(plot_times(frame, colours=colours))))
    for (device, precision, mode), group in settings(frame):
        out.tables.append(make_table(group, COLUMNS, f"{device}, {precision}, {mode}"))
    add_profiles(out, frame)
    out.notes.append(SPEEDUP_NOTE)
    out.notes.append("python_loop clips each region to the map before pooling and uses "
                     "adaptive pooling's bins; tv_roi_align averages bilinear samples: their "
                     "error column measures how far they are from roi_pool, not a fault.")
    return out

"""One report section per suite: its finding in a sentence, its tables and its figures."""

from dataclasses import dataclass, field

import pandas as pd

from bench import graphs
from bench.plots import figure_svg, plot_relative, plot_roofline, plot_scaling, plot_times
from bench.precision import PRECISIONS
from bench.report import format as fmt
from bench.suites import SUITES
from bench.suites import frozen_backprop as frozen
from bench.tables import add_ratios, by_mode, fastest_counts, pivot_impls


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
    diagrams: list["Diagram"] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Diagram:
    caption: str
    svg: str | None      # None where Graphviz is missing: the page shows `source` instead
    source: str = ""


def _sort_value(value):
    return "" if pd.isna(value) else value


def make_table(frame: pd.DataFrame, columns: dict, caption: str) -> Table:
    """A display table of `frame`: `columns` maps a heading to (column, formatter or None);
    a column the frame lacks (device time in a CPU-only run, say) shows as missing."""
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column, formatter in columns.values():
            value = row.get(column, float("nan"))
            cells.append(((formatter or fmt.text)(value), _sort_value(value)))
        rows.append(cells)
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
    order = {name: i for i, name in enumerate(PRECISIONS + suite.MODES)}
    counts = counts.sort_values(["device", "precision", "mode"],
                                key=lambda column: column.map(order).fillna(-1), kind="stable")
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
    section.figures.append((f"Speedup against {suite.BASELINE} (above 1: faster)",
                            figure_svg(plot_times(frame, y="speedup", ylabel="speedup"))))
    if frame["peak_flops"].notna().any():
        section.figures.append((
            "Roofline: achieved rate against arithmetic intensity, under the measured ceilings",
            figure_svg(plot_roofline(frame))))
    return section


FROZEN_RATIOS = ["median", "backward_flops", "saved_bytes", "peak_memory", "graph_nodes"]
FROZEN_COLUMNS = {
    "case": ("case", None),
    "regime": ("impl", None),
    "fwd+bwd": ("median_forward_backward", fmt.seconds),
    "× full": ("median_ratio_forward_backward", fmt.ratio),
    "backward": ("median_backward", fmt.seconds),
    "bwd × full": ("median_ratio_backward", fmt.ratio),
    "backward FLOPs": ("backward_flops_forward_backward", lambda v: fmt.si(v, "FLOP")),
    "FLOPs × full": ("backward_flops_ratio_forward_backward", fmt.ratio),
    "saved for backward": ("saved_bytes_forward_backward", lambda v: fmt.si(v, "B")),
    "saved × full": ("saved_bytes_ratio_forward_backward", fmt.ratio),
    "peak memory × full": ("peak_memory_ratio_forward_backward", fmt.ratio),
    "graph nodes": ("graph_nodes_forward_backward", fmt.count),
    "AccumulateGrad": ("accumulate_grad_nodes_forward_backward", fmt.count),
    "error": ("error_forward_backward", fmt.error),
}
FROZEN_BARS = {
    "median_ratio_forward_backward": "fwd+bwd time",
    "median_ratio_backward": "backward time",
    "backward_flops_ratio_forward_backward": "backward FLOPs",
    "saved_bytes_ratio_forward_backward": "saved bytes",
    "peak_memory_ratio_forward_backward": "peak memory",
}


def _frozen_finding(wide: pd.DataFrame) -> str:
    """Which regime saves what, for the last (largest) model of one device and precision."""
    case = wide["case"].iloc[-1]
    rows = wide[wide["case"] == case].set_index("impl")

    def cost(regime):
        row = rows.loc[regime]
        return (f"{fmt.percent(row['median_ratio_forward_backward'])} of full's forward+backward "
                f"time and {fmt.percent(row['backward_flops_ratio_forward_backward'])} of its "
                "backward FLOPs")

    device, precision = rows["device"].iloc[0], rows["precision"].iloc[0]
    same = rows.loc["freeze_first_k", "backward_flops_forward_backward"] == \
        rows.loc["freeze_first_k_no_grad", "backward_flops_forward_backward"]
    return (f"{case} on {device} {precision}: training only the head took {cost('head')}; "
            f"training only the first layers still took {cost('first_k')}, because the "
            f"gradient has to flow back through every later layer; freezing the first layers "
            f"took {cost('freeze_first_k')} by requires_grad_(False) and "
            f"{fmt.percent(rows.loc['freeze_first_k_no_grad', 'median_ratio_forward_backward'])} "
            f"of the time under torch.no_grad() ({'the same' if same else 'different'} "
            "backward FLOPs).")


def frozen_section(frame: pd.DataFrame) -> Section:
    suite = SUITES["frozen"]
    rows = add_ratios(frame, {suite.NAME: suite.BASELINE}, FROZEN_RATIOS)
    ratio_columns = [f"{c}_ratio" for c in FROZEN_RATIOS]
    wide = by_mode(rows, ["median", "backward_flops", "saved_bytes", "peak_memory",
                          "graph_nodes", "accumulate_grad_nodes", "error", *ratio_columns])
    settings = wide.groupby(["device", "precision"], sort=False)
    section = Section(suite.NAME, suite.TITLE, suite.QUESTION,
                      [_frozen_finding(group) for _, group in settings])
    for (device, precision), group in settings:
        section.tables.append(make_table(group, FROZEN_COLUMNS,
                                         f"Regimes against full: {device}, {precision}"))
    section.figures.append(("Cost of each regime relative to full (1 = the same as full)",
                            figure_svg(plot_relative(wide, FROZEN_BARS))))
    cases = {}
    for _, row in frame.iterrows():
        cases.setdefault(row["case"], row)
    for case_id, row in cases.items():
        case = frozen.Case(row["model"], int(row["batch"]), int(row["size"]), int(row["k"]))
        if case.model not in frozen.DRAWN_MODELS:
            section.notes.append(f"{case_id}: counts only; its graph has hundreds of nodes, "
                                 "too many for a diagram that can be read.")
            continue
        for regime in frozen.REGIMES:
            dot = graphs.regime_dot(case, regime)
            if dot is not None:
                section.diagrams.append(_diagram(f"{case_id}: {regime}", dot))
        for regime in ("first_k", "head"):
            section.diagrams.append(_diagram(
                f"{case_id}: full graph, greyed where {regime} runs nothing",
                graphs.greyed_dot(case, regime)))
    return section


def _diagram(caption: str, dot) -> Diagram:
    svg = graphs.to_svg(dot)
    return Diagram(caption, svg, "" if svg else dot.source)


ROI_COLUMNS = {
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


def _roi_finding(group: pd.DataFrame) -> str:
    """How ours compared with torchvision at the largest measured pool and pyramid cases."""
    device, precision, mode = group[["device", "precision", "mode"]].iloc[0]
    parts = []
    for kind, ours, theirs in (("pool", "ours_roi_pool", "tv_roi_pool"),
                               ("pyramid", "ours_roi_spp", "tv_roi_pool_per_level")):
        rows = group[group["kind"] == kind]
        if rows.empty:
            continue
        largest = rows.loc[rows["regions"].idxmax(), "case"]
        by_impl = rows[rows["case"] == largest].set_index("impl")["median"]
        if ours in by_impl and theirs in by_impl:
            parts.append(f"at {largest}, {ours} took {fmt.ratio(by_impl[ours] / by_impl[theirs])}"
                         f" the time of {theirs}")
        if "python_loop" in by_impl and theirs in by_impl:
            parts.append(f"the Python loop {fmt.ratio(by_impl['python_loop'] / by_impl[theirs])}")
    return f"{device} {precision} {mode}: " + ("; ".join(parts) or "no comparison") + "."


def roi_section(frame: pd.DataFrame) -> Section:
    suite = SUITES["roi"]
    frame = frame.assign(setting=frame["kind"] + " " + frame["fmap"]
                         + frame["output"].map(lambda o: f" {int(o)}x{int(o)}" if o else ""))
    settings = frame.groupby(["device", "precision", "mode"], sort=False)
    section = Section(suite.NAME, suite.TITLE, suite.QUESTION,
                      [_roi_finding(group) for _, group in settings])
    scaling = frame[frame["kind"] != "image"]
    if not scaling.empty:
        section.figures.append((
            "Median time against the number of regions (log-log), per feature map and grid",
            figure_svg(plot_scaling(scaling, "regions", rows=("device", "precision", "mode")))))
    for (device, precision, mode), group in settings:
        section.tables.append(make_table(group, ROI_COLUMNS, f"{device}, {precision}, {mode}"))
    section.notes.append("python_loop clips each region to the map before pooling and uses "
                         "adaptive pooling's bins; tv_roi_align averages bilinear samples: their "
                         "error column measures how far they are from roi_pool, not a fault.")
    return section


SELFCHECK_COLUMNS = {
    "operation": ("case", None),
    "device": ("device", None),
    "ours (wall)": ("median", fmt.seconds),
    "torch.utils.benchmark": ("utils_benchmark_time", fmt.seconds),
    "disagreement": ("wall_disagreement", fmt.percent),
    "ours (device)": ("device_time", fmt.seconds),
    "CUDA graph replay": ("graph_replay_time", fmt.seconds),
    "device disagreement": ("device_disagreement", fmt.percent),
    "profiler kernels": ("profiler_time", fmt.seconds),
    "floor (peaks)": ("floor_time", fmt.seconds),
    "target": ("target", None),
}


def selfcheck_verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """The self-check rows with their disagreements and whether each meets its target: wall
    time against torch.utils.benchmark on CPU, device time against graph replay on CUDA."""
    suite = SUITES["selfcheck"]
    out = frame.copy()
    out["wall_disagreement"] = (out["median"] / out["utils_benchmark_time"] - 1).abs()
    for column in ("graph_replay_time", "profiler_time"):  # CUDA only
        if column not in out:
            out[column] = float("nan")
    out["device_disagreement"] = (out["device_time"] / out["graph_replay_time"] - 1).abs()
    targets = []
    for _, row in out.iterrows():
        cpu = row["device"].startswith("cpu")
        duration = row["median"] if cpu else row["device_time"]
        gap = row["wall_disagreement"] if cpu else row["device_disagreement"]
        met = suite.target_met("cpu" if cpu else "cuda", duration, gap)
        targets.append("too short for a target" if met is None else
                       ("met" if met else "missed"))
    out["target"] = targets
    return out


def selfcheck_section(frame: pd.DataFrame) -> Section:
    suite = SUITES["selfcheck"]
    rows = selfcheck_verdicts(frame)
    findings = []
    for device, group in rows.groupby("device", sort=False):
        judged = group[group["target"] != "too short for a target"]
        cpu = device.startswith("cpu")
        target, column = ((suite.CPU_TARGET, "wall_disagreement") if cpu
                          else (suite.CUDA_TARGET, "device_disagreement"))
        what = ("wall time within {} of torch.utils.benchmark for operations of 1 ms or more"
                if cpu else "device time within {} of CUDA graph replay for kernels of 50 µs "
                "or more").format(fmt.percent(target))
        if judged.empty:
            findings.append(f"{device}: no operation was long enough to judge the target ({what}).")
            continue
        met = (judged["target"] == "met").sum()
        findings.append(f"{device}: {met} of {len(judged)} operations met the target ({what}); "
                        f"the largest disagreement was {fmt.percent(judged[column].max())}"
                        + ("." if met == len(judged) else
                           ". Where it was missed, treat differences of that size between "
                           "implementations in this run as noise."))
    section = Section(suite.NAME, suite.TITLE, suite.QUESTION, findings)
    section.tables.append(make_table(rows, SELFCHECK_COLUMNS, "Each operation timed three ways"))
    return section


SECTIONS = {"conv1x1": conv1x1_section, "frozen": frozen_section, "roi": roi_section,
            "selfcheck": selfcheck_section}

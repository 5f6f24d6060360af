"""What a report section is, the pieces suites build theirs from, and the generic section that any
suite gets when it has none of its own (its table, time plot, and speedup against its baseline)."""

from dataclasses import dataclass, field

import pandas as pd

from bench.graphs import to_svg
from bench.plots import figure_svg, figures_svg, plot_breakdown, plot_roofline, plot_times
from bench.precision import PRECISIONS
from bench.report import format as fmt
from bench.schema import bench_id
from bench.tables import fastest_counts, pivot_impls


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[tuple[str, object]]]  # (text shown, value sorted on) per cell


@dataclass
class Diagram:
    caption: str
    svg: str | None      # None where Graphviz is missing: the page shows `source` instead
    source: str = ""


@dataclass
class Fold:
    """Tables shown folded, under a one-line summary: long detail a reader opens on purpose."""
    summary: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Section:
    suite: str
    title: str
    question: str
    findings: list[str]
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, list[str]]] = field(default_factory=list)  # (caption, SVGs)
    diagrams: list[Diagram] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folds: list[Fold] = field(default_factory=list)


def new_section(frame: pd.DataFrame, info: dict) -> Section:
    """An empty section titled with what the run recorded about its suite."""
    name = frame["suite"].iloc[0]
    section = Section(name, info.get("title") or name, info.get("question", ""), [])
    if info.get("case_key"):
        # the key's example need not be among this run's cases (a smoke run's are small)
        section.notes.append(f"Case ids read as in this example: {info['case_key']}.")
    measured = set(frame["impl"])
    about = [f"{name}: {text}" for name, text in (info.get("impls") or {}).items()
             if name in measured and text]
    if about:
        section.notes.append("; ".join(about) + ".")
    return section


# A page of several runs labels each row's device with the run's number in the page's list of
# runs: "cpu (run 2)". The run id itself ("20261126-152748-host") would widen every table and
# panel title it stands in.
RUN_SEPARATOR = " (run "


def run_label(device: str, number: int) -> str:
    return f"{device}{RUN_SEPARATOR}{number})"


def device_of(label: str) -> str:
    """The device of a device label, without the run a page of several runs adds to it."""
    return label.partition(RUN_SEPARATOR)[0]


def why_missing(outcomes: dict, row: dict) -> str:
    """Why the benchmark `row` names (its run_id and parameters) has no time, as its run
    recorded it: "skipped: <reason>", "failed: <reason>", else it has no outcome: deselected,
    or not reached before the run stopped. `outcomes` maps (run_id, benchmark id) to
    (outcome, reason)."""
    fields = {**row, "device": device_of(row["device"])}
    outcome, reason = outcomes.get((row["run_id"], bench_id(fields)), (None, ""))
    if outcome in ("skipped", "failed"):
        return f"{outcome}: {reason}" if reason else outcome
    return "not selected, or not reached before the run stopped"


def by_reason(outcomes: dict, needed: list[tuple[str, dict]]) -> dict[str, list[str]]:
    """The labels of the benchmarks a finding needs and lacks, `needed` as (label, row),
    grouped by why each has no time (why_missing), in the order first met."""
    grouped: dict[str, list[str]] = {}
    for label, row in needed:
        grouped.setdefault(why_missing(outcomes, row), []).append(label)
    return grouped


def _sort_value(value):
    return "" if pd.isna(value) else value


def make_table(frame: pd.DataFrame, columns: dict, caption: str) -> Table:
    """A display table of `frame`: `columns` maps a heading to (column, formatter or None).
    A column with no value in any row (device time in a CPU-only run, say) is left out."""
    columns = {heading: spec for heading, spec in columns.items()
               if spec[0] in frame and frame[spec[0]].notna().any()}
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column, formatter in columns.values():
            value = row[column]
            cells.append(((formatter or fmt.text)(value), _sort_value(value)))
        rows.append(cells)
    return Table(caption, list(columns), rows)


def diagram(caption: str, source: str) -> Diagram:
    svg = to_svg(source)
    return Diagram(caption, svg, "" if svg else source)


DETAIL_COLUMNS = {
    "case": ("case", None),
    "impl": ("impl", None),
    "median": ("median", fmt.seconds),
    "IQR": ("iqr", fmt.seconds),
    "rounds": ("rounds", fmt.count),
    "speedup": ("speedup", fmt.ratio),
    "its 95% interval": ("speedup_interval", None),
    "error": ("error", fmt.error),
    "achieved": ("achieved_flops", lambda v: fmt.si(v, "FLOP/s")),
    "of peak": ("fraction_of_peak", fmt.percent),
    "device time": ("device_time", fmt.seconds),
}


def settings(frame: pd.DataFrame, more=()):
    """The rows grouped by device, precision and mode (and `more`), precisions in the order
    of their table."""
    order = {name: i for i, name in enumerate(PRECISIONS)}
    ranked = frame.assign(_order=frame["precision"].map(order).fillna(len(order)))
    ranked = ranked.sort_values(["_order"], kind="stable").drop(columns="_order")
    return ranked.groupby(["device", "precision", "mode", *more], sort=False, dropna=False)


def fastest_findings(frame: pd.DataFrame, noun: str = "cases") -> list[str]:
    """Per device, precision and mode: the implementation that was clearly fastest (see
    bench.tables.fastest) in most cases, with its median speed against the baseline; where none
    was, how the clear wins and the races within noise fell. Only clear wins count, and only a
    majority of cases names a winner: a close race, or a split between two implementations,
    would otherwise name one that the next run takes back. A case with one implementation is no
    race: it is not among the cases counted, and a setting of such cases alone says so, unless
    no setting raced at all (then there are no findings: the caller says it once). Where most of
    a setting's rows are host-bound, its finding says so: the races judge wall time."""
    counts = fastest_counts(frame)
    if counts.empty:
        return []
    findings = []
    for (device, precision, mode), rows in settings(frame):
        setting = " ".join(part for part in (device, precision, mode) if part != "-") or "all"
        group = counts[(counts["device"] == device) & (counts["precision"] == precision)
                       & (counts["mode"] == mode)]
        if group.empty:
            findings.append(f"{setting}: no case was measured with two implementations, so "
                            "none is compared.")
            continue
        findings.append(_race(setting, group, rows, noun) + _host_bound(rows))
    return findings


def _host_bound(rows: pd.DataFrame) -> str:
    """A sentence where most of a setting's rows are host-bound: its races are then decided by
    launches more than by the kernels."""
    bound = rows["host_bound"].eq(True).sum() if "host_bound" in rows else 0
    if 2 * bound <= len(rows):
        return ""
    return (f" {bound} of its {len(rows)} rows are host-bound (wall time above twice the device "
            "time): these wall times weigh launches more than kernels.")


def _race(setting: str, group: pd.DataFrame, rows: pd.DataFrame, noun: str) -> str:
    """One setting's finding from its win counts (fastest_counts' rows for it) and its rows."""
    group = group.sort_values("clear", ascending=False, kind="stable")
    cases = int(group["cases"].iloc[0])
    wins = [(row.impl, int(row.clear)) for row in group.itertuples() if row.clear]
    within = cases - sum(n for _, n in wins)
    noise = [f"within noise: {within}"] if within else []
    if not wins or 2 * wins[0][1] <= cases:
        listed = ", ".join(f"{impl} in {n}" for impl, n in wins)
        detail = "; ".join(([f"clearly fastest: {listed}"] if listed else []) + noise)
        where = f"its one {noun.removesuffix('s')}" if cases == 1 else \
            f"most of the {cases} {noun}"
        return f"{setting}: no implementation was clearly fastest in {where} ({detail})."
    impl, clear = wins[0]
    winner = rows[rows["impl"] == impl]
    baseline, speedup = winner["baseline"].iloc[0], winner["speedup"].median()
    # the baseline's speed against itself is 1x by definition, and one not measured has none
    speed = "" if pd.isna(baseline) or impl == baseline or pd.isna(speedup) else \
        f", at a median {fmt.ratio(speedup)} the speed of {baseline}"
    elsewhere = "; ".join([f"{other} clearly in {n}" for other, n in wins[1:]] + noise)
    return (f"{setting}: {impl} was clearly fastest in {clear} of {cases} {noun}"
            f"{speed}{f' (elsewhere: {elsewhere})' if elsewhere else ''}.")


PROFILE_NOTE = ("Profiles come from one extra call of each step under torch.profiler, after "
                "its timing: their times are for that one call, with the profiler's own "
                "overhead, and explain where time goes; every other time on this page is the "
                "timer's.")
COPY_SHARE = 0.10  # a formulation spending this much of its time on copies is called out


def _profiled(frame: pd.DataFrame) -> pd.DataFrame:
    profiles = frame["artifacts"].map(lambda a: a.get("profile") if isinstance(a, dict) else None)
    return frame.assign(profile=profiles)[profiles.notna()]


def _top(profile: dict) -> str:
    rows = profile.get("kernels") or profile["operators"]
    return ", ".join(f"{row['name'][:60]} {fmt.percent(row['share'])}" for row in rows[:2])


def add_profiles(section: Section, frame: pd.DataFrame) -> None:
    """What each implementation runs, from the profiles recorded with --profile: per setting,
    at its largest profiled case, the top operators (kernels on CUDA), the time by class of
    work as a stacked bar, launches per call on CUDA, and the copies called out."""
    profiled = _profiled(frame)
    if profiled.empty:
        return
    # one case per setting and baseline (a suite compares different things per baseline)
    for (device, precision, mode, _), group in settings(profiled, ["baseline"]):
        case = group["case"].iloc[-1]
        rows = group[group["case"] == case]
        shares = pd.DataFrame(
            [{k: v / sum(p["classes"].values()) for k, v in p["classes"].items()}
             for p in rows["profile"]], index=rows["impl"]).fillna(0.0)
        table = pd.DataFrame({"impl": rows["impl"].to_numpy(),
                              "runs": [_top(p) for p in rows["profile"]],
                              "launches": [p.get("launches") for p in rows["profile"]]})
        table = pd.concat([table, shares.reset_index(drop=True)], axis=1)
        columns = {"impl": ("impl", None), "what it runs (share of its time)": ("runs", None)}
        if table["launches"].notna().any():
            columns["kernel launches"] = ("launches", fmt.count)
        columns |= {label: (label, fmt.percent) for label in shares.columns}
        where = f"{case}: {device}, {precision}, {mode}"
        section.tables.append(make_table(table, columns, f"What each implementation runs, {where}"))
        section.figures.append((f"Profiled time by class of work, {where}",
                                [figure_svg(plot_breakdown(shares))]))
        copies = shares.get("copy / layout", pd.Series(dtype=float))
        for impl, share in copies[copies >= COPY_SHARE].items():
            section.notes.append(f"{impl} spends {fmt.percent(share)} of its profiled time at "
                                 f"{where} copying or changing the layout of tensors.")
    section.notes.append(PROFILE_NOTE)


SPEEDUP_NOTE = ("Speedups: the baseline's time over the implementation's, timed side by side "
                "in alternating blocks on the same inputs where the run did so "
                "(baseline_ratio in the JSON), else the ratio of the two medians, which were "
                "measured apart: on a machine whose speed drifts the medians can disagree "
                "with the speedup.")


def speedup_interval(frame: pd.DataFrame) -> pd.Series:
    """Each speedup's 95% interval where it was timed side by side with its baseline ("1.9–3.4×"),
    beside it in the table: the median of a row can disagree with its speedup (on a busy machine,
    a 20 ms median against a 49 µs baseline's, with a speedup of 2.58×), and the interval says
    how far the speedup itself can be trusted."""
    low, high = (frame.get(f"median_ratio_{end}", pd.Series(float("nan"), frame.index))
                 for end in ("low", "high"))
    # a bound of 0 or below is no ratio of two times (a hand-edited JSON): no interval
    paired = (low > 0) & (high > 0) & (frame["impl"] != frame["baseline"])
    return pd.Series([f"{fmt.figures(1 / h)}–{fmt.ratio(1 / lo)}" if p else None
                      for p, lo, h in zip(paired, low, high)], index=frame.index, dtype=object)


def generic_section(frame: pd.DataFrame, info: dict) -> Section:
    """Findings, speedup and detail tables per setting, time and speedup plots, and the
    roofline where the suite recorded FLOPs: all that a suite without a section of its own
    gets, and what the 1x1-convolution suite needs."""
    section = new_section(frame, info)
    # a project's JSON of unparametrised tests: every case ran alone, so nothing raced
    section.findings = fastest_findings(frame) or [
        "No case was measured with two implementations, so none is compared: the tables give "
        "each one's time."]
    impls = list(frame["impl"].unique())
    for (device, precision, mode), group in settings(frame):
        baseline = group["baseline"].iloc[0]
        if pd.isna(baseline):  # any project's JSON: no baseline, so no speedups
            continue
        pivot = pivot_impls(group, "speedup", impls).reset_index()
        columns = {"case": ("case", None)} | {impl: (impl, fmt.ratio) for impl in impls}
        section.tables.append(make_table(
            pivot, columns, f"Speedup against {baseline}: {device}, {precision}, {mode}"))
    for (device, precision, mode), group in settings(frame):
        # another project's JSON has no device, precision or mode ("-")
        setting = ", ".join(part for part in (device, precision, mode) if part != "-")
        section.tables.append(make_table(
            group.assign(speedup_interval=speedup_interval(group)), DETAIL_COLUMNS,
            "Every measurement" + (f": {setting}" if setting else "")))
    section.figures.append(("Median time per case and implementation (log scale)",
                            figures_svg(plot_times(frame))))
    if frame["speedup"].notna().any():
        section.figures.append(("Speedup against the baseline (above 1: faster)",
                                figures_svg(plot_times(frame, y="speedup", ylabel="speedup"))))
        section.notes.append(SPEEDUP_NOTE)
    if frame["peak_flops"].notna().any() and frame["flops"].notna().any():
        section.figures.append((
            "Roofline: achieved rate against arithmetic intensity, with the measured peaks (one "
            "large matmul's rate, a copy's bandwidth: references, not the hardware's limits)",
            figures_svg(plot_roofline(frame))))
    add_profiles(section, frame)
    return section

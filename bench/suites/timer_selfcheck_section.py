"""The timer self-check's report section: how our timings agree with independent timers, judged
against the targets the run recorded."""

import pandas as pd

from bench.report import format as fmt
from bench.report.sections import Section, make_table, new_section


def disagreement(ours: pd.Series, theirs: pd.Series) -> pd.Series:
    """How far apart two timers are, the same whichever is slower: 0.2 where one took 1.2 times
    the other. Relative to one side only, a 25-fold gap read 96% one way and 2,400% the other."""
    return (ours / theirs).combine(theirs / ours, max) - 1


def apart(gap) -> str:
    """A disagreement in percent up to 100%, as a factor beyond: '20%', '25×'."""
    return fmt.percent(gap) if pd.isna(gap) or gap < 1 else fmt.ratio(1 + gap)


COLUMNS = {
    "operation": ("case", None),
    "device": ("device", None),
    "ours (wall)": ("median", fmt.seconds),
    "torch.utils.benchmark": ("utils_benchmark_time", fmt.seconds),
    "disagreement": ("wall_disagreement", apart),
    "ours / theirs, alternating blocks (95% interval)": ("paired", None),
    "ours (device)": ("device_time", fmt.seconds),
    "CUDA graph replay": ("graph_replay_time", fmt.seconds),
    "device disagreement": ("device_disagreement", apart),
    "profiler kernels": ("profiler_time", fmt.seconds),
    "floor (peaks)": ("floor_time", fmt.seconds),
    "target": ("target", None),
}


def verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with their disagreements and whether each meets its recorded target: wall time
    against torch.utils.benchmark on CPU, device time against graph replay on CUDA. Whether an
    operation is long enough to judge goes, on the CPU, by the shorter of its fastest round (its
    median where none was recorded) and torch.utils.benchmark's time: a busy machine stretches
    times, never shortens them, and it stretched every round of a 7 µs matmul past 1 ms."""
    out = frame.copy()
    # CUDA only, or missing from a run that recorded no targets (then nothing is judged)
    for column in ("graph_replay_time", "profiler_time", "device_time", "target_min_time",
                   "target_disagreement"):
        if column not in out:
            out[column] = float("nan")
    out["wall_disagreement"] = disagreement(out["median"], out["utils_benchmark_time"])
    out["device_disagreement"] = disagreement(out["device_time"], out["graph_replay_time"])
    for column in ("paired_ratio", "paired_low", "paired_high"):
        if column not in out:
            out[column] = float("nan")
    cpu = out["device"].str.startswith("cpu")
    fastest = out["min"].fillna(out["median"]) if "min" in out else out["median"]
    duration = fastest.combine(out["utils_benchmark_time"], min).where(cpu, out["device_time"])
    gap = out["wall_disagreement"].where(cpu, out["device_disagreement"])
    long_enough = duration >= out["target_min_time"]
    judged = long_enough & gap.notna()
    out["target"] = "too short for a target"
    # a time missing on either side (ours on CUDA, or the other timer's) judges nothing
    untimed = out["target_min_time"].notna() & (duration.isna() | (long_enough & gap.isna()))
    out.loc[untimed, "target"] = "not timed by both timers"
    out.loc[judged, "target"] = (gap[judged] <= out.loc[judged, "target_disagreement"]).map(
        {True: "met", False: "missed"})
    # On the CPU the paired blocks judge, where they were measured: their interval says whether
    # the two timers agree, disagree, or cannot be told apart from noise on this machine.
    allowed = out["target_disagreement"]
    inside = (out["paired_low"] >= 1 / (1 + allowed)) & (out["paired_high"] <= 1 + allowed)
    outside = (out["paired_high"] < 1 / (1 + allowed)) | (out["paired_low"] > 1 + allowed)
    paired = judged & cpu & out["paired_low"].notna()
    out.loc[paired, "target"] = "inconclusive"
    out.loc[paired & inside, "target"] = "met"
    out.loc[paired & outside, "target"] = "missed"
    out["paired"] = [f"{r:.3f} ({lo:.3f}–{hi:.3f})" if pd.notna(r) else None
                     for r, lo, hi in zip(out["paired_ratio"], out["paired_low"],
                                          out["paired_high"])]
    return out


def finding(device: str, group: pd.DataFrame) -> str:
    cpu = device.startswith("cpu")
    allowed, shortest = group["target_disagreement"].iloc[0], group["target_min_time"].iloc[0]
    column = "wall_disagreement" if cpu else "device_disagreement"
    what = (f"wall time within {fmt.percent(allowed)} of torch.utils.benchmark for operations "
            f"of {fmt.seconds(shortest)} or more" if cpu else
            f"device time within {fmt.percent(allowed)} of CUDA graph replay for kernels of "
            f"{fmt.seconds(shortest)} or more")
    if group["target_min_time"].isna().all():
        return f"{device}: this run recorded no target to judge its timers by."
    judged = group[group["target"].isin(["met", "missed", "inconclusive"])]
    if judged.empty:
        untimed = (group["target"] == "not timed by both timers").any()
        return (f"{device}: no operation "
                + ("long enough was timed by both timers" if untimed else "was long enough")
                + f" to judge the target ({what}).")
    met = (judged["target"] == "met").sum()
    text = f"{device}: {met} of {len(judged)} operations met the target ({what}); "
    gap = apart(judged[column].max())
    paired = judged[judged["paired"].notna()]
    if cpu and not paired.empty:
        # the verdicts' measure; the medians' gap also holds the drift between their times
        text += (f"the medians, measured one after the other, differed by up to {gap}; in "
                 "alternating blocks, which share the machine's drift between the two timers, "
                 "ours over torch.utils.benchmark was "
                 + ", ".join(f"{r['paired']} for {r['case']} ({r['target']})"
                             for _, r in paired.iterrows()))
    else:
        text += (f"the two timers' medians differed by up to {gap}" if cpu else
                 f"device time and graph replay differed by up to {gap}")
    return text + ("." if met == len(judged) else ". Where it was not met, or could not be "
                   "told from noise, treat differences of that size between implementations in "
                   "this run as noise.")


def section(frame: pd.DataFrame, info: dict) -> Section:
    rows = verdicts(frame)
    out = new_section(frame, info)
    out.findings = [finding(device, group) for device, group in rows.groupby("device", sort=False)]
    out.tables.append(make_table(rows, COLUMNS, "Each operation timed three ways"))
    return out

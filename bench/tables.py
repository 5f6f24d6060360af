"""Derived columns and pivots of the results table: rates, fractions of peak, speedups, findings."""

import math

import numpy as np
import pandas as pd

# torch.utils.benchmark's 10% (`meets_confidence`: IQR / median below it). A spread above 10% of
# the median makes a row noisy; exactly 10%, which torch would warn of, does not.
NOISY_IQR_RATIO = 0.10
GROUP = ["run_id", "suite", "case", "device", "precision", "mode"]


# Host-side time far above device time means the GPU waits for the CPU to launch work.
HOST_BOUND_RATIO = 2.0


def is_noisy(median, iqr):
    """Whether a spread is above NOISY_IQR_RATIO of the median (numbers or Series)."""
    return iqr > NOISY_IQR_RATIO * median


def is_host_bound(wall: float, device: float) -> bool | None:
    """Whether a wall time is so far above the device time that launch overhead dominates; None
    where the device time is unknown (the profiler recorded no kernel), not "no"."""
    if math.isnan(device):
        return None
    return wall > HOST_BOUND_RATIO * device


def add_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with achieved rates, fractions of the measured peaks and the noisy flag."""
    out = frame.copy()
    out["achieved_flops"] = out["flops"] / out["median"]
    out["fraction_of_peak"] = out["achieved_flops"] / out["peak_flops"]
    out["achieved_bandwidth"] = out["bytes"] / out["median"]
    out["fraction_of_bandwidth"] = out["achieved_bandwidth"] / out["peak_bandwidth"]
    out["intensity"] = out["flops"] / out["bytes"]
    # (a row whose second measurement was quiet has that measurement's figures: the loader's)
    out["noisy"] = is_noisy(out["median"], out["iqr"])
    return out


def add_ratios(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """A copy with `<column>_ratio`: each row's value over its baseline's (the implementation
    named in its `baseline` column), within the same case, device, precision and mode. The
    median's ratio is the one measured side by side (`baseline_ratio`, alternating blocks)
    where the run has it, with its 95% interval (`median_ratio_low`, `_high`; NaN where not
    measured so): the two medians were measured apart, with the machine's drift between them."""
    columns = list(columns)
    out = frame.copy()
    is_base = out["impl"] == out["baseline"]
    renamed = {column: f"{column}_baseline" for column in columns}
    base = out.loc[is_base, GROUP + columns].rename(columns=renamed)
    out = out.merge(base, on=GROUP, how="left")
    for column in columns:
        out[f"{column}_ratio"] = out[column] / out[renamed[column]]
    if "median" in columns:  # side by side, but not where the baseline is missing
        has_base = out[renamed["median"]].notna()
        if "baseline_ratio" in out:
            paired = out["baseline_ratio"].where(has_base)
            out["median_ratio"] = paired.fillna(out["median_ratio"])
        low, high = ratio_interval(out)
        out["median_ratio_low"] = low.where(has_base)
        out["median_ratio_high"] = high.where(has_base)
    return out.drop(columns=list(renamed.values()))


def ratio_interval(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(low, high): the 95% interval of each row's time over its baseline's where it was
    measured side by side; exactly 1 for the baseline itself, NaN where not measured."""
    low, high = (frame.get(f"baseline_ratio_{end}", pd.Series(float("nan"), frame.index))
                 for end in ("low", "high"))
    is_base = frame["impl"] == frame["baseline"]
    return low.mask(is_base, 1.0), high.mask(is_base, 1.0)


def add_speedup(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with `speedup`: the baseline's time over each row's, side by side where measured
    so, else the medians' (see add_ratios)."""
    out = add_ratios(frame, ["median"])
    out["speedup"] = 1 / out.pop("median_ratio")
    return out


def pivot_impls(frame: pd.DataFrame, value: str, columns=None) -> pd.DataFrame:
    """Implementations side by side: one row per case (in grid order), one column per impl."""
    table = frame.pivot_table(index="case", columns="impl", values=value, aggfunc="first",
                              sort=False)
    return table.reindex(columns=columns or list(frame["impl"].unique()))


def quartiles(frame: pd.DataFrame, suffix: str = "") -> tuple[pd.Series, pd.Series]:
    """(q1, q3) of each row (columns q1<suffix>, ...), for telling ranges apart; where unknown
    (a JSON that kept only a second measurement's median and IQR), the bounds median - IQR <= q1
    and q3 <= median + IQR, which hold for any sample, since q1 <= median <= q3: ranges apart by
    these are apart."""
    median, iqr = frame[f"median{suffix}"], frame.get(f"iqr{suffix}", np.nan)
    return (frame[f"q1{suffix}"].fillna(median - iqr),
            frame[f"q3{suffix}"].fillna(median + iqr))


def fastest(frame: pd.DataFrame) -> pd.DataFrame:
    """The fastest implementation per case, device, precision and mode, with its speedup and
    whether its win is clear: apart from every other implementation of the case, each by the
    95% interval of its time over the baseline's where both were timed side by side with it
    (or are the baseline), otherwise by the interquartile ranges. Not only the runner-up: one
    ranked below it by the point estimate may have a wider interval that reaches the winner's.
    A race within noise is not called a win that the next run could take back; `raced` is False
    where it ran alone. Ranked by speedup where there is one (side by side where measured so),
    else by median."""
    low, high = ratio_interval(frame)
    time_ratio = 1 / frame["speedup"] if "speedup" in frame else float("nan")
    q1, q3 = quartiles(frame)
    ranked = frame.assign(_low=low, _high=high, _ratio=time_ratio, _q1=q1, _q3=q3)
    # without a baseline (any project's JSON) the ratios are NaN: the medians rank
    ordered = ranked.sort_values(["_ratio", "median"], kind="stable")
    groups = ordered.groupby(GROUP, sort=False)
    best = groups.nth(0)
    rivals = ordered.drop(index=best.index).merge(
        best[GROUP + ["_q3", "_high"]].rename(columns={"_q3": "q3_best", "_high": "high_best"}),
        on=GROUP)
    paired = rivals["high_best"].notna() & rivals["_low"].notna()
    # a spread unknown (a JSON without quartiles or IQR) makes no win clear
    apart = rivals["high_best"].lt(rivals["_low"]).where(paired, rivals["q3_best"].lt(
        rivals["_q1"]))
    clear = apart.groupby([rivals[key] for key in GROUP], sort=False).all()
    at = pd.MultiIndex.from_frame(best[GROUP])
    alone = (groups.size().reindex(at) == 1).to_numpy()
    # a case with one implementation has no rival: its win is clear
    best = best.assign(clear=clear.reindex(at).fillna(True).astype(bool).to_numpy(),
                       raced=~alone)
    order = frame.drop_duplicates(GROUP)[GROUP].reset_index(drop=True)
    best = order.merge(best, on=GROUP, how="left")
    return best[GROUP + ["impl", "median", "clear", "raced"]
                + (["speedup"] if "speedup" in best else [])]


def fastest_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """For each device, precision and mode: how many cases each implementation won (`wins`),
    how many of those clearly (`clear`), out of `cases`; most wins first. A case with one
    implementation is no race (a project's JSON of unparametrised tests has only such cases)."""
    wins = fastest(frame)
    wins = wins[wins["raced"]]
    keys = ["device", "precision", "mode"]
    counts = wins.groupby(keys + ["impl"], sort=False).agg(
        wins=("impl", "size"), clear=("clear", "sum")).reset_index()
    counts["cases"] = counts.groupby(keys)["wins"].transform("sum")
    return counts.sort_values(keys + ["wins"], ascending=[True, True, True, False],
                              ignore_index=True)


def by_mode(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """One row per run, suite, case, device, precision and implementation, with each of
    `columns` once per mode, side by side, named `<column>_<mode>`."""
    keys = ["run_id", "suite", "case", "device", "precision", "impl"]
    wide = frame.pivot_table(index=keys, columns="mode", values=list(columns), aggfunc="first",
                             sort=False, dropna=False)
    wide.columns = [f"{column}_{mode}" for column, mode in wide.columns]
    # dropna=False keeps the all-NaN columns, and also every combination of the keys' values:
    # with several runs, each run's cases under every other run. Only the rows that exist.
    return frame[keys].drop_duplicates().merge(wide.reset_index(), on=keys, how="left")

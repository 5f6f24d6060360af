"""Derived columns and pivots of the results table: rates, fractions of peak, speedups, findings."""

import pandas as pd

# torch.utils.benchmark's threshold: a spread above 10% of the median makes a row noisy.
NOISY_IQR_RATIO = 0.10
GROUP = ["run_id", "suite", "case", "device", "precision", "mode"]


def add_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with achieved rates, fractions of the measured peaks and the noisy flag."""
    out = frame.copy()
    out["achieved_flops"] = out["flops"] / out["median"]
    out["fraction_of_peak"] = out["achieved_flops"] / out["peak_flops"]
    out["achieved_bandwidth"] = out["bytes"] / out["median"]
    out["fraction_of_bandwidth"] = out["achieved_bandwidth"] / out["peak_bandwidth"]
    out["intensity"] = out["flops"] / out["bytes"]
    out["noisy"] = out["iqr"] / out["median"] > NOISY_IQR_RATIO
    if "remeasured_iqr" in out:  # noisy only if its second measurement was noisy too
        second = out["remeasured_iqr"] / out["remeasured_median"] > NOISY_IQR_RATIO
        out["noisy"] &= second.where(out["remeasured_iqr"].notna(), True)
    return out


def add_ratios(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """A copy with `<column>_ratio`: each row's value over its baseline's (the implementation
    named in its `baseline` column), within the same case, device, precision and mode."""
    columns = list(columns)
    out = frame.copy()
    is_base = out["impl"] == out["baseline"]
    renamed = {column: f"{column}_baseline" for column in columns}
    base = out.loc[is_base, GROUP + columns].rename(columns=renamed)
    out = out.merge(base, on=GROUP, how="left")
    for column in columns:
        out[f"{column}_ratio"] = out[column] / out[renamed[column]]
    return out.drop(columns=list(renamed.values()))


def add_speedup(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with `speedup`: the baseline's median over each row's (see add_ratios)."""
    out = add_ratios(frame, ["median"])
    out["speedup"] = 1 / out.pop("median_ratio")
    return out


def pivot_impls(frame: pd.DataFrame, value: str, columns=None) -> pd.DataFrame:
    """Implementations side by side: one row per case (in grid order), one column per impl."""
    table = frame.pivot_table(index="case", columns="impl", values=value, aggfunc="first",
                              sort=False)
    return table.reindex(columns=columns or list(frame["impl"].unique()))


def fastest(frame: pd.DataFrame) -> pd.DataFrame:
    """The fastest implementation per case, device, precision and mode, with its speedup and
    whether its win is clear: its interquartile range below the runner-up's, not overlapping.
    A race within noise is not called a win that the next run could take back."""
    ordered = frame.sort_values("median", kind="stable")
    groups = ordered.groupby(GROUP, sort=False)
    best, second = groups.nth(0), groups.nth(1)
    runner_up_q1 = second.set_index(GROUP)["q1"].reindex(pd.MultiIndex.from_frame(best[GROUP]))
    # a case with one implementation has no runner-up: its win is clear
    best = best.assign(clear=~(best["q3"].to_numpy() >= runner_up_q1.to_numpy()))
    order = frame.drop_duplicates(GROUP)[GROUP].reset_index(drop=True)
    best = order.merge(best, on=GROUP, how="left")
    return best[GROUP + ["impl", "median", "clear"] + (["speedup"] if "speedup" in best else [])]


def fastest_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """For each device, precision and mode: how many cases each implementation won (`wins`),
    how many of those clearly (`clear`), out of `cases`; most wins first."""
    wins = fastest(frame)
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

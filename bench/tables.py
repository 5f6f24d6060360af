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
    return out


def add_ratios(frame: pd.DataFrame, baselines: dict[str, str], columns) -> pd.DataFrame:
    """A copy with `<column>_ratio`: each row's value over the baseline's, within the same case,
    device, precision and mode. `baselines` maps a suite to its baseline implementation; a
    `baseline` column, where present, overrides it per row."""
    columns = list(columns)
    out = frame.copy()
    baseline = out["suite"].map(baselines)
    if "baseline" in out:  # a suite with one baseline per kind of case records it per row
        baseline = out["baseline"].fillna(baseline)
    is_base = out["impl"] == baseline
    renamed = {column: f"{column}_baseline" for column in columns}
    base = out.loc[is_base, GROUP + columns].rename(columns=renamed)
    out = out.merge(base, on=GROUP, how="left")
    for column in columns:
        out[f"{column}_ratio"] = out[column] / out[renamed[column]]
    return out.drop(columns=list(renamed.values()))


def add_speedup(frame: pd.DataFrame, baselines: dict[str, str]) -> pd.DataFrame:
    """A copy with `speedup`: the baseline's median over each row's (see add_ratios)."""
    out = add_ratios(frame, baselines, ["median"])
    out["speedup"] = 1 / out.pop("median_ratio")
    return out


def pivot_impls(frame: pd.DataFrame, value: str, columns=None) -> pd.DataFrame:
    """Implementations side by side: one row per case (in grid order), one column per impl."""
    table = frame.pivot_table(index="case", columns="impl", values=value, aggfunc="first",
                              sort=False)
    return table.reindex(columns=columns or list(frame["impl"].unique()))


def fastest(frame: pd.DataFrame) -> pd.DataFrame:
    """The fastest implementation per case, device, precision and mode, with its speedup."""
    rows = frame.loc[frame.groupby(GROUP, sort=False)["median"].idxmin()]
    return rows[GROUP + ["impl", "median"] + (["speedup"] if "speedup" in rows else [])]


def fastest_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """For each device, precision and mode: how many cases each implementation won, most first."""
    wins = fastest(frame)
    keys = ["device", "precision", "mode"]
    counts = wins.groupby(keys + ["impl"], sort=False).size().rename("wins").reset_index()
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
    return wide.reset_index()

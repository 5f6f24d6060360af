"""Two runs compared case by case: ratio of medians, and a verdict only where the samples differ."""

import math

import pandas as pd

from bench.records import load_runs, option_values, results_frame
from bench.schema import HARNESS, is_number
from bench.tables import quartiles

KEY = list(HARNESS)
ALPHA = 0.05


def rank_test(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, ties averaged)."""
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return math.nan
    ranks = pd.Series(list(a) + list(b)).rank()
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    counts = ranks.value_counts()
    n = n1 + n2
    tie_term = ((counts**3 - counts).sum()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12 * (n + 1 - tie_term))
    if sigma == 0:
        return 1.0
    z = (u - n1 * n2 / 2) / sigma
    return math.erfc(abs(z) / math.sqrt(2))


def verdict(ratio: float, p: float, quartiles_apart: bool, threshold: float) -> str:
    """'slower' or 'faster' when the ratio passes the threshold and the samples differ;
    'unclear' when it passes but they do not (too few or too scattered rounds to tell: a
    ratio of 0.03 on a busy machine, say); 'same' within the threshold."""
    if 1 / (1 + threshold) <= ratio <= 1 + threshold:
        return "same"
    if not (p < ALPHA if not math.isnan(p) else quartiles_apart):
        return "unclear"
    return "slower" if ratio > 1 else "faster"


def _repeated_alike(data: dict) -> tuple:
    """What a recorded run-to-run spread is of: the machine, the grid and the seconds per
    benchmark (the plugin records it only for runs matching the repeat in all three)."""
    info = data["machine_info"]
    return info.get("node"), info.get("grid"), sorted(option_values(data, "max_time"), key=str)


def threshold_between(a: dict, b: dict, asked: float) -> tuple[float, float | None]:
    """(the threshold a change between runs `a` and `b` (their JSON data) must pass, the
    run-to-run spread that applies): the one asked for, or where larger the spread that
    `python -m bench repeat` measured on their machine for their grid and seconds per benchmark,
    as either run recorded it (unchanged code moved that much between runs, which each run's
    rank test cannot see: it has one run's rounds). The spread is None where neither recorded
    one, or where the runs differ in machine, grid or seconds: it is not theirs then."""
    spreads = [d["machine_info"].get("expected_spread") for d in (a, b)]
    spread = max((s for s in spreads if is_number(s) and s >= 0), default=None)
    if _repeated_alike(a) != _repeated_alike(b):
        spread = None
    return max(asked, spread or 0.0), spread


def compare_runs(a_path, b_path, threshold: float = 0.05) -> pd.DataFrame:
    """compare_loaded on the runs of two JSON files."""
    return compare_loaded(load_runs([a_path])[0], load_runs([b_path])[0], threshold)


def compare_loaded(run_a, run_b, threshold: float = 0.05) -> pd.DataFrame:
    """One row per benchmark of either run (each a (source, data) pair of load_runs): medians,
    ratio B/A, p-value, verdict; "missing" where one run has no median for it (not measured
    there, or failed)."""
    a, b = results_frame([run_a]), results_frame([run_b])
    both = a.merge(b, on=KEY, suffixes=("_a", "_b"), how="outer", sort=False)
    both["ratio"] = both["median_b"] / both["median_a"]
    # a benchmark of one run only has NaN for the other's rounds
    both["p_value"] = [rank_test(ra if isinstance(ra, list) else [],
                                 rb if isinstance(rb, list) else [])
                       for ra, rb in zip(both["round_times_a"], both["round_times_b"])]
    (q1_a, q3_a), (q1_b, q3_b) = quartiles(both, "_a"), quartiles(both, "_b")
    apart = (q1_b > q3_a) | (q3_b < q1_a)
    both["verdict"] = [verdict(r, p, q, threshold) if pd.notna(r) else "missing"
                       for r, p, q in zip(both["ratio"], both["p_value"], apart)]
    return both

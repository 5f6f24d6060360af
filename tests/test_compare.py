"""Comparison of two runs: the rank test, the verdict rule, matching rows."""

import json
import math
from pathlib import Path

import pytest

from bench.compare import compare_runs, rank_test, threshold_between, verdict

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"


def test_rank_test_separates_shifted_samples_and_not_equal_ones():
    a = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01]
    assert rank_test(a, [x + 1 for x in a]) < 0.01
    assert rank_test(a, list(reversed(a))) == pytest.approx(1.0)
    assert math.isnan(rank_test([1.0], a))


def test_rank_test_matches_a_hand_computed_u():
    # a = [1, 2], b = [3, 4]: U = 0, mean 2, sigma sqrt(2*2*5/12); z = -1.549
    p = rank_test([1, 2], [3, 4])
    assert p == pytest.approx(math.erfc(2 / math.sqrt(20 / 12) / math.sqrt(2)))


def test_rank_test_of_samples_of_two_sizes_counts_the_first_sample_s_ranks():
    """Real runs time different numbers of rounds. a's ranks 1 3 5 7 9: U = 10 against a mean
    of 15, sigma sqrt(5 * 6 * 12 / 12); b's ranks would give U = 26, p 0.045, a change."""
    a, b = [1.0, 1.1, 1.2, 1.3, 1.4], [1.05, 1.15, 1.25, 1.35, 1.45, 1.5]
    expected = math.erfc(5 / math.sqrt(30) / math.sqrt(2))  # 0.361
    assert rank_test(a, b) == pytest.approx(expected) and rank_test(b, a) == pytest.approx(
        expected)


def test_rank_test_corrects_for_ties():
    # ranks 1.5 1.5 4 4 | 4 7 7 7, ties of 2, 3 and 3: U = 11 - 10 = 1, sigma^2 = 16/12 * (9 -
    # 54/56), z = -7 / 3.273; without the correction p would be 0.0433, with it added 0.0548
    assert rank_test([1, 1, 2, 2], [2, 3, 3, 3]) == pytest.approx(0.032473, abs=1e-6)


@pytest.mark.parametrize("ratio, p, apart, expected", [
    (1.05, 0.01, False, "same"),    # at the threshold is not past it
    (1.05, 0.50, False, "same"),    # within it, however scattered the rounds
    (1.10, 0.05, False, "unclear"),  # p at alpha is not below it
    (1.10, 0.01, False, "slower"), (0.90, 0.01, False, "faster"),
    (1.10, 0.50, True, "unclear"),  # a rank test that sees no difference wins over quartiles
    (0.03, 0.50, True, "unclear"),  # however large the ratio
    (1.03, 0.001, True, "same"),    # within the threshold
    (1.10, math.nan, True, "slower"), (1.10, math.nan, False, "unclear"),
    (0.90, math.nan, True, "faster"),
])
def test_verdict_needs_both_threshold_and_difference(ratio, p, apart, expected):
    assert verdict(ratio, p, apart, 0.05) == expected


def test_compare_runs_matches_rows_and_flags_a_slowdown(write_json, slowed):
    slower = write_json("b.json", slowed(json.loads(SAMPLE.read_text()), "matmul", 2))
    table = compare_runs(SAMPLE, slower).set_index("impl")
    assert table.loc["matmul", "verdict"] == "slower"
    assert table.loc["matmul", "ratio"] == pytest.approx(2.0)
    assert table.loc["conv_nchw", "verdict"] == "same"
    assert table.loc["conv_nchw", "ratio"] == 1.0


def without_rounds(data):
    for bench in data["benchmarks"]:
        bench["stats"].pop("data", None)
    return data


def test_without_raw_rounds_the_verdict_falls_back_to_quartiles(tmp_path):
    a = without_rounds(json.loads(SAMPLE.read_text()))
    b = without_rounds(json.loads(SAMPLE.read_text()))
    for bench in b["benchmarks"]:
        stats = bench["stats"]
        if bench["extra_info"]["impl"] == "matmul":  # 2x slower: quartiles apart
            for key in ("median", "q1", "q3"):
                stats[key] *= 2
        elif bench["extra_info"]["impl"] == "conv_nchw":  # 10% slower, quartiles overlapping
            stats["median"] *= 1.1
            stats["q1"], stats["q3"] = stats["median"] * 0.5, stats["median"] * 2
    paths = []
    for name, data in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(data))
    table = compare_runs(*paths).set_index("impl")
    assert math.isnan(table.loc["matmul", "p_value"])
    assert table.loc["matmul", "verdict"] == "slower"
    assert table.loc["conv_nchw", "verdict"] == "unclear"
    assert table.loc["linear_nhwc", "verdict"] == "same"


def test_a_benchmark_of_one_run_only_is_missing_not_unchanged(tmp_path):
    data = json.loads(SAMPLE.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["impl"] != "matmul"]
    fewer = tmp_path / "b.json"
    fewer.write_text(json.dumps(data))
    table = compare_runs(SAMPLE, fewer).set_index("impl")
    assert table.loc["matmul", "verdict"] == "missing"
    assert table["verdict"].value_counts().to_dict() == {"same": 2, "missing": 1}


def test_the_threshold_is_symmetric_in_ratio():
    """5% faster is a ratio below 1/1.05 = 0.952 (not 0.95), as 5% slower is above 1.05."""
    assert verdict(0.951, 0.01, False, 0.05) == "faster"
    assert verdict(1 / 0.951, 0.01, False, 0.05) == "slower"
    assert verdict(0.953, 0.01, False, 0.05) == "same"


def test_a_benchmark_new_in_b_is_missing_too(write_json):
    data = json.loads(SAMPLE.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["impl"] != "matmul"]
    table = compare_runs(write_json("a.json", data), SAMPLE).set_index("impl")
    assert table.loc["matmul", "verdict"] == "missing"
    assert table["verdict"].value_counts().to_dict() == {"same": 2, "missing": 1}


def matmul_scaled_without_rounds(write_json, factor):
    """compare's row of matmul when B's median, q1 and q3 are A's times `factor`, neither run
    keeping its raw rounds."""
    a = without_rounds(json.loads(SAMPLE.read_text()))
    b = without_rounds(json.loads(SAMPLE.read_text()))
    for bench in b["benchmarks"]:
        if bench["extra_info"]["impl"] == "matmul":
            for key in ("median", "q1", "q3"):
                bench["stats"][key] *= factor
    table = compare_runs(write_json("a.json", a), write_json("b.json", b))
    return table.set_index("impl").loc["matmul"]


def test_without_raw_rounds_quartiles_apart_below_are_faster(write_json):
    row = matmul_scaled_without_rounds(write_json, 0.5)
    assert math.isnan(row["p_value"]) and row["verdict"] == "faster"


def test_without_raw_rounds_shifted_but_overlapping_quartiles_are_unclear(write_json):
    """Median, q1 and q3 all 10% up: each quartile moved, but B's q1 lies below A's q3."""
    row = matmul_scaled_without_rounds(write_json, 1.1)
    assert row["q1_b"] < row["q3_a"] and row["q1_b"] > row["q1_a"]  # the case meant
    assert row["ratio"] == pytest.approx(1.1) and row["verdict"] == "unclear"


def test_without_quartiles_the_iqr_bounds_them(write_json):
    """A run from before a second measurement's rounds were kept: where its quiet second
    measurement replaced a noisy first, only its median and IQR are known; q1 is at least
    median - IQR, q3 at most median + IQR."""
    a = without_rounds(json.loads(SAMPLE.read_text()))
    b = without_rounds(json.loads(SAMPLE.read_text()))
    for data, median in ((a, 1e-3), (b, 2e-3)):
        for bench in data["benchmarks"]:
            if bench["extra_info"]["impl"] == "matmul":
                bench["stats"].update(median=median / 2, iqr=median, q1=0.0, q3=median)  # noisy
                bench["extra_info"].update(remeasured_median=median, remeasured_iqr=0.05 * median,
                                           remeasured_rounds=9)
    row = compare_runs(write_json("a.json", a), write_json("b.json", b)).set_index(
        "impl").loc["matmul"]
    assert math.isnan(row["q1_b"]) and math.isnan(row["p_value"])  # the case meant
    assert row["ratio"] == pytest.approx(2.0) and row["verdict"] == "slower"


def test_runs_of_two_machines_pair_case_by_case(write_json):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["node"] = "other-vm"
    table = compare_runs(SAMPLE, write_json("b.json", data))
    assert table["verdict"].value_counts().to_dict() == {"same": 3}
    assert set(table["host_a"]) == {"vm"} and set(table["host_b"]) == {"other-vm"}


def test_one_function_name_in_two_files_is_compared_with_its_own_rounds(write_json, slowed):
    """Two files' test_sort[100]: each is paired with itself, by its own raw rounds."""
    def run(slower_y):
        data = json.loads(SAMPLE.read_text())
        data["benchmarks"] = data["benchmarks"][:2]  # conv_nchw, linear_nhwc
        data.pop("outcomes")  # another project's JSON
        slowed(data, "linear_nhwc", 2 if slower_y else 1)
        for bench, where in zip(data["benchmarks"], ("test_x", "test_y")):
            bench.update(name="test_sort[100]", fullname=f"tests/{where}.py::test_sort[100]",
                         group=None, param="100", extra_info={})
        return data

    table = compare_runs(write_json("a.json", run(False)), write_json("b.json", run(True)))
    table = table.set_index("impl")
    assert len(table) == 2
    assert table.loc["tests/test_x.py::test_sort", "p_value"] == 1.0  # the same samples
    assert table.loc["tests/test_x.py::test_sort", "verdict"] == "same"
    assert table.loc["tests/test_y.py::test_sort", "ratio"] == pytest.approx(2.0)
    assert table.loc["tests/test_y.py::test_sort", "p_value"] < 0.001
    assert table.loc["tests/test_y.py::test_sort", "verdict"] == "slower"


def test_the_page_shows_a_p_value_below_1e_6_as_a_bound_and_a_missing_one_as_a_dash():
    from bench.report.render import COMPARE_COLUMNS

    _, show = COMPARE_COLUMNS["p (rank test)"]
    assert [show(0.0), show(9e-7), show(1e-6), show(0.0123456), show(float("nan"))] == [
        "< 1e-6", "< 1e-6", "1e-06", "0.0123", "–"]


def test_the_page_shows_ratios_either_side_of_the_threshold_apart():
    from bench.report.render import COMPARE_COLUMNS

    _, show = COMPARE_COLUMNS["B / A"]
    assert [show(1.0503), show(1.0493), show(1234.5), show(float("nan"))] == [
        "1.050×", "1.049×", "1,234.500×", "–"]


def test_without_raw_rounds_faster_but_overlapping_quartiles_are_unclear(write_json):
    """The mirror of the 10% rise: median, q1 and q3 all down to 1/1.1."""
    row = matmul_scaled_without_rounds(write_json, 1 / 1.1)
    assert row["q1_a"] < row["q3_b"] < row["q3_a"]  # the case meant
    assert row["verdict"] == "unclear"


def test_without_raw_rounds_quartiles_that_touch_are_not_apart(write_json):
    a = without_rounds(json.loads(SAMPLE.read_text()))
    b = without_rounds(json.loads(SAMPLE.read_text()))
    for old, new in zip(a["benchmarks"], b["benchmarks"]):
        if new["extra_info"]["impl"] == "matmul":
            first, second = old["stats"], new["stats"]
            second["q1"], second["median"], second["q3"] = \
                first["q3"], first["median"] * 1.2, first["q3"] * 1.3
    row = compare_runs(write_json("a.json", a), write_json("b.json", b)).set_index(
        "impl").loc["matmul"]
    assert row["q1_b"] == row["q3_a"] and row["verdict"] == "unclear"


@pytest.mark.parametrize("spreads, expected", [
    ((None, None), (0.05, None)),       # no repeat measured: the threshold asked for
    ((0.12, None), (0.12, 0.12)),       # runs moved 12%: a change must pass that
    ((None, 0.03), (0.05, 0.03)),       # within the threshold: the threshold
    ((0.08, 0.2), (0.2, 0.2)),          # the larger of the two runs' spreads
    (("12%", 0.02), (0.05, 0.02)),      # a value that is not a number is not a spread
    ((-0.5, None), (0.05, None)),       # nor is a negative one
    ((0.0, None), (0.05, 0.0)),         # but none at all is
])
def test_the_threshold_is_the_machine_s_run_to_run_spread_where_that_is_larger(spreads,
                                                                              expected):
    runs = [{"machine_info": {} if spread is None else {"expected_spread": spread},
             "benchmarks": []} for spread in spreads]
    assert threshold_between(*runs, 0.05) == expected


@pytest.mark.parametrize("change", [{"node": "other-vm"}, {"grid": "default"}, {"max_time": 1.0}])
def test_a_spread_is_not_applied_to_runs_of_another_machine_grid_or_seconds(change):
    """The plugin records the spread of a repeat of the run's own machine, grid and seconds
    per benchmark; two runs apart in any of these have no spread in common."""
    a, b = (json.loads(SAMPLE.read_text()) for _ in range(2))
    a["machine_info"]["expected_spread"] = 0.5
    assert threshold_between(a, b, 0.05) == (0.5, 0.5)  # alike: A's spread applies
    seconds = change.pop("max_time", None)
    for bench in b["benchmarks"]:
        bench["options"]["max_time"] = seconds or bench["options"]["max_time"]
    b["machine_info"] |= change
    assert threshold_between(a, b, 0.05) == (0.05, None)

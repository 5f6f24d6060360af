"""The self-check's judgement: disagreements, targets, and the finding, on hand-built rows."""

import math

import pandas as pd
import torch
import torch.nn.functional as F

from bench.suites import timer_selfcheck as suite
from bench.suites.timer_selfcheck_section import section, verdicts


def rows():
    base = {"suite": "selfcheck", "impl": "ours", "precision": "fp32", "mode": "forward",
            "target_disagreement": 0.05, "target_min_time": 1e-3}
    return pd.DataFrame([
        {**base, "case": "a", "device": "cpu", "median": 2e-3, "min": 1.9e-3,
         "utils_benchmark_time": 2.05e-3, "device_time": float("nan")},
        {**base, "case": "b", "device": "cpu", "median": 1e-3, "min": 1e-3,
         "utils_benchmark_time": 1.2e-3, "device_time": float("nan")},
        {**base, "case": "c", "device": "cpu", "median": 1e-5, "min": 0.9e-5,
         "utils_benchmark_time": 2e-5, "device_time": float("nan")},
        {**base, "case": "d", "device": "cuda", "median": 2e-4, "utils_benchmark_time": 2e-4,
         "device_time": 1.01e-4, "graph_replay_time": 1e-4, "profiler_time": 1e-4,
         "target_disagreement": 0.03, "target_min_time": 50e-6},
    ])


def test_targets_follow_the_stated_rules():
    out = verdicts(rows()).set_index("case")
    assert out.loc["a", "target"] == "met"          # 2.5% apart at 2 ms
    assert out.loc["b", "target"] == "missed"       # 20% apart at 1 ms
    assert out.loc["c", "target"] == "too short for a target"
    assert out.loc["d", "target"] == "met"          # device 1% off graph replay at 101 µs
    # the same gap whichever timer was slower
    assert round(out.loc["b", "wall_disagreement"], 12) == 0.2
    swapped = rows().rename(columns={"median": "utils_benchmark_time",
                                     "utils_benchmark_time": "median"})
    assert round(verdicts(swapped).set_index("case").loc["b", "wall_disagreement"], 12) == 0.2


def test_a_gap_exactly_at_the_target_meets_it():
    """"Within 5%" includes 5%: gaps of exactly the target (0.5 and 0.25, exact in binary)."""
    frame = rows()
    frame.loc[frame["case"] == "b", ["median", "utils_benchmark_time",
                                     "target_disagreement"]] = [3e-3, 2e-3, 0.5]
    frame.loc[frame["case"] == "d", ["device_time", "target_disagreement"]] = [1.25e-4, 0.25]
    out = verdicts(frame).set_index("case")
    assert out.loc["b", "wall_disagreement"] == 0.5 and out.loc["b", "target"] == "met"
    assert out.loc["d", "device_disagreement"] == 0.25 and out.loc["d", "target"] == "met"


def test_finding_counts_and_names_the_worst():
    findings = section(rows(), {}).findings
    assert findings[0] == (
        "cpu: 1 of 2 operations met the target (wall time within 5% of torch.utils.benchmark "
        "for operations of 1 ms or more); the two timers' medians differed by up to 20%. "
        "Where it was not met, or could not be told from noise, treat differences of that size "
        "between implementations in this run as noise.")
    assert findings[1].startswith("cuda: 1 of 1 operations met the target")


def test_an_operation_is_long_enough_by_the_shorter_of_its_fastest_round_and_theirs_on_the_cpu():
    frame = rows()
    c = frame["case"] == "c"

    def target(frame, case="c"):
        return verdicts(frame).set_index("case").loc[case, "target"]

    # a 10 µs add on a busy machine: most rounds stretched past 1 ms, the fastest not
    frame.loc[c, ["median", "utils_benchmark_time"]] = [3e-3, 2e-5]
    assert target(frame) == "too short for a target"
    assert target(frame, "b") == "missed"  # its fastest round and theirs took 1 ms: judged
    # every round stretched, torch.utils.benchmark's time not: no 1 ms operation either
    frame.loc[c, "min"] = 2e-3
    assert target(frame) == "too short for a target"
    # nor where theirs was stretched and ours not
    frame.loc[c, ["min", "median", "utils_benchmark_time"]] = [1e-5, 1e-5, 3e-3]
    assert target(frame) == "too short for a target"
    # both long: judged
    frame.loc[c, ["min", "median", "utils_benchmark_time"]] = [2e-3, 3e-3, 1.5e-3]
    assert target(frame) == "missed"
    # a run, or a row, that recorded no fastest round: its median and theirs decide
    assert target(frame.drop(columns=["min"])) == "missed"
    frame.loc[c, "min"] = float("nan")
    assert target(frame) == "missed"
    frame.loc[c, "median"] = 1e-5
    assert target(frame) == "too short for a target"


def test_targets_are_the_recorded_ones():
    frame = rows()
    frame.loc[frame["case"] == "b", "target_disagreement"] = 0.25  # 20% now within target
    frame.loc[frame["case"] == "c", "target_min_time"] = 1e-6     # 10 µs now long enough
    out = verdicts(frame).set_index("case")
    assert out.loc["b", "target"] == "met"
    assert out.loc["c", "target"] == "missed"  # 2× apart


def test_a_run_without_targets_judges_nothing():
    out = verdicts(rows().drop(columns=["target_disagreement", "target_min_time"]))
    assert set(out["target"]) == {"too short for a target"}


def test_the_suite_records_its_targets_in_words_the_finding_repeats():
    from bench.suites import timer_selfcheck

    assert timer_selfcheck.target("cpu") == (0.05, 1e-3)
    assert timer_selfcheck.target("cuda") == (0.03, 50e-6)
    findings = section(rows(), {}).findings
    assert "wall time within 5% of torch.utils.benchmark for operations of 1 ms or more" \
        in findings[0]
    assert "device time within 3% of CUDA graph replay for kernels of 50 µs or more" \
        in findings[1]


def test_paired_blocks_judge_on_the_cpu_by_their_interval():
    frame = rows()
    frame["paired_ratio"], frame["paired_low"], frame["paired_high"] = 1.0, 0.97, 1.02
    # b: the medians were 20% apart, but the paired blocks agree within 5%
    frame.loc[frame["case"] == "a", ["paired_low", "paired_high"]] = [0.90, 1.01]
    frame.loc[frame["case"] == "c", ["paired_low", "paired_high"]] = [1.2, 1.3]
    out = verdicts(frame).set_index("case")
    assert out.loc["a", "target"] == "inconclusive"  # the interval straddles 0.952
    assert out.loc["b", "target"] == "met"
    assert out.loc["c", "target"] == "too short for a target"  # 10 µs: not judged
    assert out.loc["d", "target"] == "met"  # CUDA: device time against graph replay
    assert out.loc["b", "paired"] == "1.000 (0.970–1.020)"
    finding = section(frame, {}).findings[0]
    assert finding.startswith("cpu: 1 of 2 operations met the target")
    assert "ours over torch.utils.benchmark was 1.000 (0.900–1.010) for a (inconclusive), " \
        "1.000 (0.970–1.020) for b (met). Where it was not met, or could not be told from " \
        "noise, treat differences" in finding
    assert "the medians, measured one after the other, differed by up to 20%" in finding


def test_paired_blocks_outside_the_target_miss_it():
    frame = rows()
    frame["paired_ratio"], frame["paired_low"], frame["paired_high"] = 1.5, 1.4, 1.6
    assert verdicts(frame).set_index("case").loc["a", "target"] == "missed"


def test_the_median_interval_is_the_binomial_order_statistics():
    from bench.timing import median_interval

    assert median_interval(range(1, 11)) == (2, 9)     # 97.9% coverage for 10 values
    assert median_interval(range(1, 13)) == (3, 10)    # 96.1% for 12
    assert median_interval([6, 1, 5, 2, 4, 3]) == (1, 6)  # 6 values: the whole range, 96.9%
    # 5: even the whole range covers 93.75%, short of 95%
    assert all(math.isnan(end) for end in median_interval([5, 1, 4, 2, 3]))


def test_a_paired_interval_is_judged_against_one_over_one_plus_the_target_below_one():
    """The target is symmetric in ratio: 5% means within 1/1.05 = 0.952 and 1.05, so a low
    end of 0.951 (above 1 - 5%) leaves the target undecided, and 0.953 meets it."""
    frame = rows()
    frame["paired_ratio"], frame["paired_high"] = 1.0, 1.02
    frame["paired_low"] = [0.951, 0.953, 0.97, 0.97]
    out = verdicts(frame).set_index("case")
    assert out.loc["a", "target"] == "inconclusive"
    assert out.loc["b", "target"] == "met"
    frame["paired_low"], frame["paired_high"] = 0.90, [0.951, 0.953, 1.0, 1.0]
    out = verdicts(frame).set_index("case")
    assert out.loc["a", "target"] == "missed"
    assert out.loc["b", "target"] == "inconclusive"


def test_the_table_gives_each_timer_under_its_own_heading():
    table = section(rows(), {}).tables[0]
    cells = {row[0][0]: dict(zip(table.columns, (text for text, _ in row)))
             for row in table.rows}
    assert [cells["b"][heading] for heading in ("ours (wall)", "torch.utils.benchmark",
                                                "disagreement", "target")] == [
        "1 ms", "1.2 ms", "20%", "missed"]
    assert cells["d"]["ours (device)"] == "101 µs" and cells["d"]["CUDA graph replay"] == "100 µs"
    assert cells["d"]["device disagreement"] == "1%"


def test_a_gap_of_twofold_or_more_reads_as_a_factor_whichever_timer_was_slower():
    for ours, theirs, shown in ((5e-4, 2e-5, "25×"), (2e-5, 5e-4, "25×"),
                                (3e-3, 1e-3, "3×"), (1.9e-3, 1e-3, "90%")):
        frame = rows()
        frame.loc[frame["case"] == "c", ["median", "min", "utils_benchmark_time",
                                         "target_min_time"]] = [ours, ours, theirs, 1e-6]
        out = section(frame, {})
        cells = {row[0][0]: dict(zip(out.tables[0].columns, (text for text, _ in row)))
                 for row in out.tables[0].rows}
        assert cells["c"]["disagreement"] == shown and cells["a"]["disagreement"] == "2.5%"
        assert f"the two timers' medians differed by up to {shown}. " in out.findings[0]


def test_cuda_is_judged_by_device_time_and_its_finding_names_the_worst_gap():
    frame = rows()
    frame.loc[frame["case"] == "d", "device_time"] = 40e-6  # wall 200 µs, device below 50 µs
    assert verdicts(frame).set_index("case").loc["d", "target"] == "too short for a target"
    e = {**rows().iloc[3].to_dict(), "case": "e", "device_time": 1.02e-4}
    findings = section(pd.concat([rows(), pd.DataFrame([e])]), {}).findings
    assert findings[1] == ("cuda: 2 of 2 operations met the target (device time within 3% of "
                           "CUDA graph replay for kernels of 50 µs or more); device time and "
                           "graph replay differed by up to 2%.")


def test_a_paired_interval_across_the_target_is_inconclusive():
    frame = rows()
    frame["paired_ratio"], frame["paired_low"], frame["paired_high"] = 1.0, 0.97, 1.06
    assert verdicts(frame).set_index("case").loc["a", "target"] == "inconclusive"


def test_devices_named_with_their_run_are_judged_as_their_device():
    frame = rows()
    frame["device"] = frame["device"] + " (run 1)"  # several runs on one page
    assert verdicts(frame).set_index("case")["target"].to_dict() == {
        "a": "met", "b": "missed", "c": "too short for a target", "d": "met"}


def test_missing_targets_or_timers_are_said_not_judged():
    frame = rows().drop(columns=["target_disagreement", "target_min_time"])
    assert section(frame, {}).findings[0] == (
        "cpu: this run recorded no target to judge its timers by.")
    for column in ("graph_replay_time", "device_time"):  # replay, or ours, not timed
        frame = rows()
        frame.loc[frame["case"] == "d", column] = float("nan")
        assert verdicts(frame).set_index("case").loc["d", "target"] == "not timed by both timers"
        assert section(frame, {}).findings[1] == (
            "cuda: no operation long enough was timed by both timers to judge the target (device "
            "time within 3% of CUDA graph replay for kernels of 50 µs or more).")
    # on the CPU: a, long enough, not timed by torch.utils.benchmark; c too short, timed by both
    frame = rows()
    frame = frame[frame["case"].isin(["a", "c"])].copy()
    frame.loc[frame["case"] == "a", "utils_benchmark_time"] = float("nan")
    assert verdicts(frame).set_index("case")["target"].to_dict() == {
        "a": "not timed by both timers", "c": "too short for a target"}
    assert section(frame, {}).findings[0].startswith(
        "cpu: no operation long enough was timed by both timers to judge the target")


def test_each_operation_s_work_and_the_floor_its_peaks_allow(monkeypatch):
    from types import SimpleNamespace

    import torch

    from bench.suites import timer_selfcheck as suite

    _, flops, moved, _ = suite.make_op(suite.Case("matmul", 64), "cpu", torch.float32)
    assert (flops, moved) == (2 * 64**3, 3 * 64 * 64 * 4)  # two operands read, one written
    _, flops, _, _ = suite.make_op(suite.Case("conv1x1", 16), "cpu", torch.float32)
    assert flops == 2 * 8 * 56 * 56 * 16 * 16
    # the floor is the slower of the two limits: 4 s of FLOPs at 1e9/s, 1 s of bytes
    monkeypatch.setattr(suite, "peak_flops", lambda device, precision: 1e9)
    monkeypatch.setattr(suite, "peak_bandwidth", lambda device: 1e9)
    monkeypatch.setattr(suite, "independent_times", lambda fn, device: {})
    monkeypatch.setattr(suite, "paired_ratio", lambda fn, device: {})
    step = SimpleNamespace(fn=None, work={"flops": 4e9, "bytes": 1e9})
    assert suite.SUITE.after_timing(step, "cpu", "fp32")["floor_time"] == 4.0


def test_a_side_by_side_interval_exactly_at_the_target_meets_it():
    frame = rows()
    frame["paired_ratio"], frame["paired_low"], frame["paired_high"] = 1.0, 1 / 1.05, 1.05
    assert verdicts(frame).set_index("case").loc["a", "target"] == "met"


def test_the_add_and_the_convolution_move_what_they_read_and_write():
    _, flops, moved, _ = suite.make_op(suite.Case("add", 1024), "cpu", torch.float32)
    assert (flops, moved) == (1024, 3 * 1024 * 4)  # two operands read, one written
    _, _, moved, _ = suite.make_op(suite.Case("conv1x1", 16), "cpu", torch.float32)
    x, w = 8 * 16 * 56 * 56, 16 * 16
    assert moved == (2 * x + w) * 4  # input read, output (as large) written, weight read


def test_the_references_are_computed_in_float64():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 56, 56, generator=gen).double()
    w = (torch.randn(16, 16, 1, 1, generator=gen) / 16**0.5).double()
    ref = suite.make_op(suite.Case("conv1x1", 16), "cpu", torch.float32)[3]
    assert ref.dtype == torch.float64
    torch.testing.assert_close(ref, F.conv2d(x, w), rtol=1e-12, atol=1e-12)
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(64, 64, generator=gen).double() for _ in range(2))
    torch.testing.assert_close(suite.make_op(suite.Case("matmul", 64), "cpu", torch.float32)[3],
                               a @ b, rtol=1e-12, atol=1e-12)

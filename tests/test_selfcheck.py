"""The self-check's judgement: disagreements, targets, and the finding, on hand-built rows."""

import pandas as pd

from bench.report.sections import selfcheck_section, selfcheck_verdicts
from bench.suites import timer_selfcheck as suite


def rows():
    base = {"suite": "selfcheck", "impl": "ours", "precision": "fp32", "mode": "forward"}
    return pd.DataFrame([
        {**base, "case": "a", "device": "cpu", "median": 2e-3, "utils_benchmark_time": 2.05e-3,
         "device_time": float("nan")},
        {**base, "case": "b", "device": "cpu", "median": 1e-3, "utils_benchmark_time": 1.2e-3,
         "device_time": float("nan")},
        {**base, "case": "c", "device": "cpu", "median": 1e-5, "utils_benchmark_time": 2e-5,
         "device_time": float("nan")},
        {**base, "case": "d", "device": "cuda", "median": 2e-4, "utils_benchmark_time": 2e-4,
         "device_time": 1.01e-4, "graph_replay_time": 1e-4, "profiler_time": 1e-4},
    ])


def test_targets_follow_the_stated_rules():
    out = selfcheck_verdicts(rows()).set_index("case")
    assert out.loc["a", "target"] == "met"          # 2.4% off at 2 ms
    assert out.loc["b", "target"] == "missed"       # 16.7% off at 1 ms
    assert out.loc["c", "target"] == "too short for a target"
    assert out.loc["d", "target"] == "met"          # device 1% off graph replay at 101 µs
    assert round(out.loc["b", "wall_disagreement"], 4) == round(1 / 1.2 - 1, 4) * -1


def test_finding_counts_and_names_the_worst():
    findings = selfcheck_section(rows()).findings
    assert findings[0].startswith("cpu: 1 of 2 operations met the target")
    assert "16.7%" in findings[0] and "noise" in findings[0]
    assert findings[1].startswith("cuda: 1 of 1 operations met the target")


def test_target_thresholds():
    assert suite.target_met("cpu", 1e-3, 0.05) is True
    assert suite.target_met("cpu", 1e-3, 0.051) is False
    assert suite.target_met("cpu", 0.9e-3, 0.0) is None
    assert suite.target_met("cuda", 50e-6, 0.03) is True
    assert suite.target_met("cuda", 49e-6, 0.0) is None

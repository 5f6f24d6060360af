"""The JSON loader, on a small committed pytest-benchmark JSON and on broken files."""

import json
from pathlib import Path

import pytest

from bench.records import (
    COLUMNS,
    ResultsError,
    load_results,
    load_rounds,
    load_runs,
    outcomes_frame,
    write_results,
)

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"


def test_load_results_gives_the_schema_then_case_fields():
    frame = load_results([SAMPLE])
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(frame.columns[len(COLUMNS):]) == ["net", "batch", "c_in", "c_out", "height",
                                                  "width", "bias", "artifacts"]
    assert len(frame) == 3
    row = frame.set_index("impl").loc["linear_nhwc"]
    assert row["run_id"] == "sample-run"
    assert row["median"] == 1.0286500014444755e-05
    assert row["c_in"] == 64 and row["batch"] == 2
    assert row["flops"] == 2 * 2 * 8 * 8 * 64 * 32
    assert row["threads"] == 2


def test_several_files_are_concatenated(tmp_path):
    other = tmp_path / "other.json"
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["run_id"] = "other-run"
    other.write_text(json.dumps(data))
    frame = load_results([SAMPLE, other])
    assert sorted(frame["run_id"].unique()) == ["other-run", "sample-run"]
    assert len(frame) == 6


def test_outcomes_keep_failures_and_skips_with_reasons():
    outcomes = outcomes_frame(load_runs([SAMPLE]))
    assert outcomes["outcome"].value_counts().to_dict() == {"passed": 3, "failed": 1,
                                                            "skipped": 1}
    failed = outcomes[outcomes["outcome"] == "failed"].iloc[0]
    assert failed["reason"] == "RuntimeError: out of memory"


def test_rounds_are_the_raw_samples():
    rounds = load_rounds(SAMPLE)
    assert len(rounds) == 3 and all(len(r) == 12 for r in rounds.values())


def test_csv_round_trip_keeps_full_precision(tmp_path):
    frame = load_results([SAMPLE])
    write_results(frame, tmp_path / "results.csv")
    import pandas as pd
    back = pd.read_csv(tmp_path / "results.csv")
    assert back["median"].tolist() == frame["median"].tolist()


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("{", "not valid JSON"),
    ("[1, 2]", "not a pytest-benchmark JSON"),
    ('{"benchmarks": [], "machine_info": {}}', "holds no benchmarks"),
    ('{"benchmarks": [{"name": "x", "extra_info": {}, "stats": {}}], "machine_info": {}}',
     "not written by this harness"),
])
def test_broken_files_raise_one_line_errors(tmp_path, content, message):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message) as error:
        load_results([path])
    assert "\n" not in str(error.value)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(SAMPLE.read_text()[:500])
    with pytest.raises(ResultsError, match="not valid JSON"):
        load_results([path])


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        load_results([tmp_path / "absent.json"])

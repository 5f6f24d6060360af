"""The JSON loader, on a small committed pytest-benchmark JSON and on broken files."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from bench.records import (
    COLUMNS,
    ResultsError,
    cut_short,
    load_results,
    load_runs,
    outcomes_frame,
    read_json,
    suite_info,
    write_results,
)
from bench.tables import add_derived

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"


def test_load_results_gives_the_schema_then_case_fields():
    frame = load_results([SAMPLE])
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(frame.columns[len(COLUMNS):]) == ["net", "batch", "c_in", "c_out", "height",
                                                  "width", "bias", "artifacts",
                                                  "round_times"]
    assert len(frame) == 3
    row = frame.set_index("impl").loc["linear_nhwc"]
    assert row["run_id"] == "sample-run"
    assert row["median"] == 1.0286500014444755e-05
    assert row["c_in"] == 64 and row["batch"] == 2
    assert row["flops"] == 2 * 2 * 8 * 8 * 64 * 32
    assert row["threads"] == 2


def test_every_statistic_and_provenance_column_is_its_own_field():
    """Each column by value from the sample, where the fields differ, so a swap shows."""
    data = json.loads(SAMPLE.read_text())
    stats = next(b["stats"] for b in data["benchmarks"] if b["extra_info"]["impl"] == "matmul")
    row = load_results([SAMPLE]).set_index("impl").loc["matmul"]
    for key in ("median", "q1", "q3", "iqr", "mean", "stddev", "min", "max", "rounds",
                "iterations"):
        assert row[key] == stats[key], key
    assert row["q1"] < row["median"] < row["q3"]
    assert (row["host"], row["cpu_model"], row["torch"], row["threads"]) == (
        "vm", "Intel(R) Xeon(R) Processor", "2.14.1+cu130", 2)
    assert pd.isna(row["gpu"]) and row["datetime"] == data["datetime"]
    assert row["source"] == str(SAMPLE)


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


def test_a_benchmark_stopped_while_it_was_timed_is_left_out(write_json):
    """No outcome in a run that records outcomes: a signal stopped it mid-measurement."""
    data = json.loads(SAMPLE.read_text())
    data["outcomes"] = [o for o in data["outcomes"] if "-matmul-" not in o["name"]]
    assert sorted(load_results([write_json("stopped.json", data)])["impl"]) == \
        ["conv_nchw", "linear_nhwc"]
    # without outcomes (another project's JSON), nothing tells them apart: all kept
    data.pop("outcomes")
    assert len(load_results([write_json("foreign.json", data)])) == 3


def test_rounds_are_each_benchmark_s_raw_samples():
    data = read_json(SAMPLE)
    frame = load_results([SAMPLE]).set_index("name")
    for bench in data["benchmarks"]:
        assert frame.loc[bench["name"], "round_times"] == bench["stats"]["data"]
        assert len(bench["stats"]["data"]) == 12
    assert len(set(map(tuple, frame["round_times"]))) == 3


def test_a_noisy_measurement_gives_way_to_a_quiet_second_one(write_json):
    """Only where the first is noisy and the second is not: the second's statistics (computed as
    pytest-benchmark computes the first's), its rounds for compare's rank test, and the first's
    median and IQR beside them."""
    data = read_json(SAMPLE)
    second = [1.0e-3, 1.02e-3, 1.04e-3, 1.1e-3, 1.05e-3]  # median 1.04 ms, IQR 0.05 ms: quiet
    cases = {  # impl: (first median, IQR; second median, IQR, rounds)
        "conv_nchw": (4e-3, 2e-3, 1.04e-3, 0.05e-3, second),  # noisy, then quiet: replaced
        "linear_nhwc": (4e-3, 2e-3, 3e-3, 2.5e-3, [1e-3, 2e-3, 3e-3, 4e-3, 5e-3]),  # noisy twice
        "matmul": (4e-3, 0.4e-3, 1.04e-3, 0.05e-3, second)}  # 10%: not noisy, stays
    for bench in data["benchmarks"]:
        median, iqr, *again = cases[bench["extra_info"]["impl"]]
        bench["stats"].update(median=median, iqr=iqr, q1=median - iqr / 2, q3=median + iqr / 2)
        bench["extra_info"].update(remeasured_median=again[0], remeasured_iqr=again[1],
                                   remeasured_rounds=5, remeasured_data=again[2])
    frame = load_results([write_json("run.json", data)]).set_index("impl")
    row = frame.loc["conv_nchw"]
    # pytest-benchmark's quartiles of 5 rounds: a quarter of the way from the 1st to the 2nd
    # sorted, and from the 4th to the 5th (1.0, 1.02, 1.04, 1.05, 1.1 ms)
    assert (row["median"], row["rounds"], row["min"], row["max"]) == (1.04e-3, 5, 1e-3, 1.1e-3)
    assert [row[key] for key in ("q1", "q3", "iqr", "mean")] == pytest.approx(
        [1.015e-3, 1.0625e-3, 0.0475e-3, 1.042e-3])
    assert row["round_times"] == second and row["iterations"] == 1
    assert (row["first_median"], row["first_iqr"]) == (4e-3, 2e-3)
    stats = {bench["extra_info"]["impl"]: bench["stats"] for bench in data["benchmarks"]}
    for impl in ("linear_nhwc", "matmul"):
        kept = frame.loc[impl]
        assert (kept["median"], kept["iqr"], kept["rounds"]) == \
            (4e-3, cases[impl][1], stats[impl]["rounds"])
        assert pd.isna(kept["first_median"]) and kept["round_times"] == stats[impl]["data"]
    assert add_derived(frame.reset_index())["noisy"].tolist() == [False, True, False]


def test_a_second_measurement_of_fewer_than_five_rounds_replaces_nothing(write_json):
    """3 rounds, one slow (1.0, 1.02, 1.13 ms): an IQR of 7.6%, quiet by the rule, but too few
    rounds to tell; the first measurement stays, and is noisy."""
    data = read_json(SAMPLE)
    bench = data["benchmarks"][0]
    bench["stats"].update(median=4e-3, iqr=2e-3)
    second = [1.0e-3, 1.02e-3, 1.13e-3]
    bench["extra_info"].update(remeasured_median=1.02e-3, remeasured_iqr=0.0975e-3,
                               remeasured_rounds=3, remeasured_data=second)
    row = load_results([write_json("few.json", data)]).iloc[[0]]
    assert (row["median"].item(), row["iqr"].item()) == (4e-3, 2e-3)
    assert row["first_median"].isna().item() and add_derived(row)["noisy"].item()


def test_a_replaced_row_is_host_bound_by_the_median_it_shows(write_json):
    """Recorded against the first median (55 us over 20 us of device time: host-bound); the
    second's 30 us is not twice the device time."""
    data = read_json(SAMPLE)
    bench = data["benchmarks"][0]
    bench["stats"].update(median=55e-6, iqr=20e-6)
    bench["extra_info"].update(device_time=20e-6, host_bound=True, remeasured_median=30e-6,
                               remeasured_iqr=1e-6, remeasured_rounds=5)
    data["benchmarks"][1]["extra_info"].update(device_time=20e-6, host_bound=True)  # kept
    rows = load_results([write_json("run.json", data)])
    assert rows["median"].tolist()[:2] == [30e-6, data["benchmarks"][1]["stats"]["median"]]
    assert rows["host_bound"].tolist()[:2] == [False, True]


def test_a_quiet_second_measurement_without_its_rounds_gives_its_median_and_iqr(write_json):
    """A JSON from before the second measurement's rounds were kept."""
    data = read_json(SAMPLE)
    bench = data["benchmarks"][0]
    bench["stats"].update(median=4e-3, iqr=2e-3)
    bench["extra_info"].update(remeasured_median=1e-3, remeasured_iqr=0.05e-3,
                               remeasured_rounds=7)
    row = load_results([write_json("old.json", data)]).iloc[0]
    assert (row["median"], row["iqr"], row["rounds"], row["first_median"]) == \
        (1e-3, 0.05e-3, 7, 4e-3)
    assert row[["q1", "q3", "mean", "stddev", "min", "max"]].isna().all()
    assert row["round_times"] == []


def test_csv_round_trip_keeps_full_precision(tmp_path):
    frame = load_results([SAMPLE])
    write_results(frame, tmp_path / "results.csv")
    import pandas as pd
    back = pd.read_csv(tmp_path / "results.csv")
    assert back["median"].tolist() == frame["median"].tolist()
    assert "round_times" not in back and "artifacts" not in back  # lists and dicts, not figures


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("{", "not valid JSON"),
    ("[1, 2]", "not a pytest-benchmark JSON"),
    ('{"benchmarks": [], "machine_info": {}}', "holds no benchmarks"),
    ('{"benchmarks": [{"name": "x", "extra_info": {}, "stats": {}}], "machine_info": {}}',
     "benchmark 'x': stats.median must be a finite number, got None"),
])
def test_broken_files_raise_one_line_errors(tmp_path, content, message):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message) as error:
        load_results([path])
    assert "\n" not in str(error.value)


def test_a_gzipped_json_reads_as_the_plain_one_and_a_broken_one_is_one_line(tmp_path):
    packed = tmp_path / "benchmark.json.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    assert read_json(packed) == read_json(SAMPLE)
    whole = gzip.compress(SAMPLE.read_bytes())
    damaged = whole[:100] + bytes(b ^ 0xFF for b in whole[100:200]) + whole[200:]
    for broken in (whole[:200], damaged):  # cut short; its compressed body damaged (zlib.error)
        packed.write_bytes(broken)
        with pytest.raises(ResultsError, match="broken gzip") as error:
            read_json(packed)
        assert "\n" not in str(error.value)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('{\n "benchmarks": [\n  {"name": "cut sh')
    with pytest.raises(ResultsError) as error:
        load_results([path])
    assert str(error.value) == f"{path}: not valid JSON at line 3, column 12 (Unterminated string)"
    path.write_text('{"a": "x\ty"}')  # a tab inside a string
    with pytest.raises(ResultsError) as error:
        load_results([path])
    assert str(error.value).endswith("not valid JSON at line 1, column 9 (Invalid control "
                                     "character)")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        load_results([tmp_path / "absent.json"])


def odd(tmp_path, change) -> Path:
    """The sample with one thing changed by `change(data)`, written to a file."""
    data = json.loads(SAMPLE.read_text())
    change(data)
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(data))
    return path


def first_stats(data):
    return data["benchmarks"][0]["stats"]


NAME = "'test_conv1x1[b2-c64x32-8x8-nobias-cpu-fp32-conv_nchw-forward]'"


@pytest.mark.parametrize("change, message", [
    (lambda d: first_stats(d).update(median="fast"), f"{NAME}: stats.median must be a finite"),
    (lambda d: first_stats(d).update(median=0), f"{NAME}: stats.median must be above zero"),
    (lambda d: first_stats(d).pop("median"), f"{NAME}: stats.median must be a finite number"),
    (lambda d: first_stats(d).update(rounds=float("inf")), f"{NAME}: stats.rounds must be a fin"),
    (lambda d: first_stats(d).update(rounds=2.5), f"{NAME}: stats.rounds must be a positive wh"),
    (lambda d: first_stats(d).update(stddev=-1), f"{NAME}: stats.stddev must not be negative"),
    (lambda d: first_stats(d).update(max=-1), f"{NAME}: stats.max must not be negative"),
    (lambda d: first_stats(d).update(data=["x"]), f"{NAME}: stats.data must be a list of numb"),
    (lambda d: first_stats(d).update(data=[1.0, "x"]), f"{NAME}: stats.data must be a list of"),
    (lambda d: d["benchmarks"][0]["extra_info"].update(case_fields=[1]),
     f"{NAME}: extra_info.case_fields must be a mapping"),
    (lambda d: d["benchmarks"][0]["extra_info"].pop("impl"),
     f"{NAME}: extra_info.impl must be a non-empty string"),
    (lambda d: d["benchmarks"][0]["extra_info"].update(impl=""),
     f"{NAME}: extra_info.impl must be a non-empty string"),
    (lambda d: d["benchmarks"][0]["extra_info"].update(remeasured_median=0),
     f"{NAME}: extra_info.remeasured_median must be above zero"),
    (lambda d: d["benchmarks"][0]["extra_info"].update(remeasured_iqr=-1e-6),
     f"{NAME}: extra_info.remeasured_iqr must not be negative"),
    (lambda d: d["benchmarks"][0]["extra_info"].update(remeasured_rounds=0),
     f"{NAME}: extra_info.remeasured_rounds must be a positive whole number"),
    (lambda d: d["benchmarks"][0]["extra_info"].update(remeasured_data=[1e-3, None]),
     f"{NAME}: extra_info.remeasured_data must be a list of non-negative numbers"),
    (lambda d: d.update(collected="many"), "'collected' must be a count"),
    (lambda d: d.update(outcomes=[{"name": "x", "outcome": "maybe"}]), "'outcomes' must be"),
    (lambda d: d.update(outcomes=[{"name": "x", "outcome": "error"}]), "'outcomes' must be"),
    (lambda d: d.update(suites={"roi": "RoI pooling"}), "'suites' must map each suite's name"),
    (lambda d: d.update(suites={"roi": {"impls": ["a"]}}), "'suites' must map each suite's"),
    (lambda d: d["benchmarks"][1].update(extra_info={}), "mixes benchmarks of this harness"),
])
def test_odd_json_is_refused_naming_the_benchmark_and_field(tmp_path, change, message):
    path = odd(tmp_path, change)
    with pytest.raises(ResultsError) as error:
        load_results([path])
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_run_that_collected_nothing_is_a_count_of_zero(tmp_path):
    assert not load_results([odd(tmp_path, lambda d: d.update(collected=0))]).empty


def test_a_second_measurement_with_a_round_of_zero_seconds_loads(tmp_path):
    """A coarse timer reads a fast call as 0 s: a round of no time, not a broken file."""
    path = odd(tmp_path, lambda d: d["benchmarks"][0]["extra_info"].update(
        remeasured_median=1e-3, remeasured_iqr=1e-3, remeasured_rounds=3,
        remeasured_data=[0.0, 1e-3, 2e-3]))
    assert len(load_results([path])) == 3


def test_a_benchmark_of_ours_without_case_fields_loads(tmp_path):
    """case_fields is optional: a case need not be described by fields."""
    def drop(data):
        for bench in data["benchmarks"]:
            del bench["extra_info"]["case_fields"]
    frame = load_results([odd(tmp_path, drop)])
    assert frame["impl"].tolist() == ["conv_nchw", "linear_nhwc", "matmul"]


def test_deeply_nested_json_is_refused_in_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ResultsError, match="nested too deeply"):
        load_results([path])


def test_null_options_are_no_options(tmp_path):
    path = odd(tmp_path, lambda d: d["benchmarks"][0].update(options=None))
    assert len(load_results([path])) == 3


def foreign_json() -> dict:
    """What any project's pytest-benchmark run writes: no extra_info of ours."""
    data = json.loads(SAMPLE.read_text())
    for bench, (name, group) in zip(data["benchmarks"], [("test_sort[100]", "sort"),
                                                          ("test_sort[1000]", "sort"),
                                                          ("test_other", None)]):
        bench.update(name=name, fullname=f"tests/test_x.py::{name}", group=group, extra_info={},
                     param=name.partition("[")[2].rstrip("]") or None)
    for key in ("outcomes", "collected", "suites"):
        data.pop(key)
    return data


def test_another_project_s_commit_dirty_flag_and_bracketed_param_are_read(write_json):
    data = foreign_json()
    data["commit_info"] = {"id": "abc1234def", "dirty": True}
    for ours in ("commit", "dirty"):  # pytest-benchmark's machine_info has neither
        data["machine_info"].pop(ours, None)
    data["benchmarks"][0].update(name="test_sort[a[1]]", param="a[1]")
    frame = load_results([write_json("foreign.json", data)])
    assert frame["case"].iloc[0] == "a[1]"  # the param, not the name cut at its first "]"
    assert frame["commit"].tolist() == ["abc1234def"] * 3
    assert frame["dirty"].tolist() == [True] * 3


def test_one_run_id_at_two_times_is_two_runs(tmp_path):
    for folder, stamp in (("x", "2026-11-01T10:00:00"), ("y", "2026-11-02T10:00:00")):
        data = json.loads(SAMPLE.read_text())
        data["datetime"] = stamp
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "benchmark.json").write_text(json.dumps(data))
    assert len(load_runs([tmp_path / "x" / "benchmark.json", tmp_path / "y" / "benchmark.json"])) \
        == 2


def test_any_pytest_benchmark_json_is_read_with_its_groups_and_params(tmp_path):
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(foreign_json()))
    frame = load_results([path])
    assert frame[["suite", "case", "impl"]].values.tolist() == [
        ["sort", "100", "tests/test_x.py::test_sort"],
        ["sort", "1000", "tests/test_x.py::test_sort"],
        ["pytest-benchmark", "test_other", "tests/test_x.py::test_other"]]
    assert frame["baseline"].isna().all()
    # without a fullname (null, or no field), the test's name
    data = foreign_json()
    data["benchmarks"][0]["fullname"] = None
    del data["benchmarks"][1]["fullname"]
    path.write_text(json.dumps(data))
    assert load_results([path])["impl"].tolist()[:2] == ["test_sort", "test_sort"]


def test_one_function_name_in_two_files_is_two_implementations(write_json):
    data = foreign_json()
    data["benchmarks"][1].update(name="test_sort[100]", fullname="tests/test_y.py::test_sort[100]",
                                 param="100")
    frame = load_results([write_json("foreign.json", data)])
    assert frame[["case", "impl"]].values.tolist() == [
        ["100", "tests/test_x.py::test_sort"], ["100", "tests/test_y.py::test_sort"],
        ["test_other", "tests/test_x.py::test_other"]]
    assert frame["round_times"].tolist() == [b["stats"]["data"] for b in data["benchmarks"]]
    # a run without test_y's has test_x's under the same name
    data["benchmarks"] = data["benchmarks"][:1]
    assert load_results([write_json("one.json", data)])["impl"].tolist() == [
        "tests/test_x.py::test_sort"]


def test_a_run_given_twice_is_refused(tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_text(SAMPLE.read_text())
    for paths in ([SAMPLE, SAMPLE], [SAMPLE, copy]):
        with pytest.raises(ResultsError, match="hold the same run .sample-run"):
            load_runs(paths)


def test_the_machine_columns_are_ours_before_pytest_benchmark_s(write_json):
    """Our CPU model over py-cpuinfo's brand, torch's thread count (not the CPU count), and,
    without a recorded run id, the folder the JSON is in."""
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["cpu_model"] = "ours"
    data["machine_info"]["cpu"] = {"brand_raw": "theirs", "count": 16}
    data["machine_info"]["threads"] = 1
    del data["machine_info"]["run_id"]
    frame = load_results([write_json("run42/benchmark.json", data)])
    assert frame[["cpu_model", "threads", "run_id"]].drop_duplicates().values.tolist() == [
        ["ours", 1, "run42"]]
    del data["machine_info"]["cpu_model"]  # a foreign JSON: py-cpuinfo's brand
    assert set(load_results([write_json("b.json", data)])["cpu_model"]) == {"theirs"}


def test_two_runs_of_one_folder_at_different_times_are_two_runs(write_json):
    paths = []
    for n, day in enumerate(("24", "25")):
        data = json.loads(SAMPLE.read_text())
        del data["machine_info"]["run_id"]
        data["datetime"] = f"2026-11-{day}T10:00:00+00:00"
        paths.append(write_json(f"same/b.{('cpu', 'gpu')[n]}.json" + ".gz" * n, data))
    assert len(load_runs(paths)) == 2
    frame = load_results(paths)
    assert frame["datetime"].nunique() == 2
    # as pytest-benchmark's autosave folder holds its runs: each file its own run
    assert frame.groupby("run_id")["datetime"].unique().map(list).to_dict() == {
        "same/b.cpu": ["2026-11-24T10:00:00+00:00"], "same/b.gpu": ["2026-11-25T10:00:00+00:00"]}


def test_a_json_without_quartiles_loads_with_them_unknown(write_json):
    data = json.loads(SAMPLE.read_text())
    for bench in data["benchmarks"]:
        for key in ("q1", "q3", "iqr"):
            bench["stats"].pop(key)
    frame = load_results([write_json("a.json", data)])
    assert len(frame) == len(data["benchmarks"])
    assert frame[["q1", "q3", "iqr"]].isna().all().all()


def test_the_run_s_own_time_and_dirty_flag_win_over_pytest_benchmark_s_commit_info(write_json):
    """commit_info describes the last commit (its time, a tree dirty then): not the run."""
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["dirty"] = True
    data["commit_info"] = {"id": "abc", "dirty": False, "time": "2020-01-01T00:00:00"}
    row = load_results([write_json("a.json", data)]).iloc[0]
    assert row["dirty"]  # the run's True, not the commit's False
    assert row["datetime"] == data["datetime"]


def test_suite_info_takes_the_latest_run_s_words_and_every_run_s_implementations():
    older = {"datetime": "2026-11-01T10:00:00", "suites": {
        "roi": {"title": "Old title", "impls": {"a": "old a", "b": "only old"}}}}
    newer = {"datetime": "2026-11-02T10:00:00", "suites": {
        "roi": {"title": "New title", "impls": {"a": "new a", "c": "only new"}},
        "frozen": {"title": "Frozen"}}}
    for runs in ([("new", newer), ("old", older)], [("old", older), ("new", newer)]):
        assert suite_info(runs) == {
            "roi": {"title": "New title",
                    "impls": {"a": "new a", "b": "only old", "c": "only new"}},
            "frozen": {"title": "Frozen", "impls": {}}}


def test_a_json_named_without_its_folder_belongs_to_the_current_folder(tmp_path, monkeypatch):
    data = json.loads(SAMPLE.read_text())
    del data["machine_info"]["run_id"]
    folder = tmp_path / "day1"
    folder.mkdir()
    for name in ("out.json", "benchmark.json"):
        (folder / name).write_text(json.dumps(data))
    monkeypatch.chdir(folder)
    assert set(load_results(["out.json"])["run_id"]) == {"day1/out"}
    assert set(load_results(["benchmark.json"])["run_id"]) == {"day1"}


def test_the_run_s_own_commit_and_clean_flag_win_over_commit_info(write_json):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"] |= {"commit": "ours123", "dirty": False}
    data["commit_info"] = {"id": "theirs456", "dirty": True}
    row = load_results([write_json("a.json", data)]).iloc[0]
    assert row["commit"] == "ours123" and not row["dirty"] and pd.notna(row["dirty"])


def test_a_run_whose_list_of_outcomes_is_empty_had_every_benchmark_cut_short():
    """It recorded outcomes, and none ended: a signal stopped the first benchmark."""
    data = json.loads(SAMPLE.read_text())
    data["outcomes"] = []
    assert cut_short(data) == {bench["name"] for bench in data["benchmarks"]}

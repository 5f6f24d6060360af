"""pytest-benchmark JSON files to one tidy pandas DataFrame with a fixed column schema."""

import gzip
import json
import re
import zlib
from pathlib import Path

import pandas as pd
from pytest_benchmark.stats import Stats

from bench.errors import UserError
from bench.schema import HARNESS, SchemaError, check_results, is_number
from bench.tables import is_host_bound, is_noisy

IDENTITY = ("run_id", *HARNESS, "baseline")
# Seconds, from pytest-benchmark's statistics of the rounds (per iteration).
STATS = ("median", "q1", "q3", "iqr", "mean", "stddev", "min", "max", "rounds", "iterations")
# A noisy first measurement's median and IQR, where a quiet second one replaced it (`_measured`).
FIRST = ("first_median", "first_iqr")
# Rounds a second measurement needs to replace the first: pytest-benchmark's own least. Its
# floor is 3, for slow steps; of 3 rounds the IQR is 0.75 of the range, and one slow round in
# three (1.0, 1.02, 1.13 ms) still passed for quiet.
FEWEST_ROUNDS = 5
# Our own figures from extra_info; absent ones stay NaN (for example device time on CPU).
METRICS = ("device_time", "device_time_by", "host_bound", "synchronises", "launches", "flops",
           "bytes", "error", "tolerance", "peak_flops", "peak_bandwidth", "peak_memory",
           "saved_bytes", "graph_nodes", "accumulate_grad_nodes")
PROVENANCE = ("datetime", "host", "cpu_model", "gpu", "threads", "torch", "commit", "dirty",
              "name", "source")
COLUMNS = IDENTITY + STATS + FIRST + METRICS + PROVENANCE


class ResultsError(UserError):
    """A results file that cannot be read as a benchmark JSON; the message names the file."""


def read_json(path) -> dict:
    """One pytest-benchmark JSON, gzipped or not (make gpu-check gzips its own), checked against
    the schema; ResultsError says what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as error:
                raise ResultsError(f"{path}: a broken gzip file ({error})") from None
        text = raw.decode()
        if not text.strip():
            raise ResultsError(f"{path}: the file is empty")
        data = json.loads(text)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ResultsError(f"{path}: a folder, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        # json's messages end where the position would follow: "Unterminated string starting
        # at", "Invalid control character at"
        what = re.sub(r"( starting)? at$", "", error.msg)
        raise ResultsError(f"{path}: not valid JSON at line {error.lineno}, column "
                           f"{error.colno} ({what})") from None
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply to be a benchmark JSON") from None
    try:
        check_results(data)
    except SchemaError as error:
        raise ResultsError(f"{path}: {error}") from None
    return data


def _identity(bench: dict) -> dict:
    """What a benchmark is: as this harness recorded it, or, in any other project's JSON, its
    group as the suite, its parameters as the case and its test function, with its file, as the
    implementation (two files may each have a test_sort; the same in every run, to compare)."""
    extra = bench.get("extra_info") or {}
    if "suite" in extra:
        return {key: extra.get(key) for key in IDENTITY[1:]}
    name = bench["name"]
    return {"suite": bench.get("group") or "pytest-benchmark",
            "case": bench.get("param") or name.partition("[")[2].rstrip("]") or name,
            "impl": str(bench.get("fullname") or name).partition("[")[0],
            "device": "-", "precision": "-", "mode": "-", "baseline": None}


def option_values(data: dict, name: str) -> set:
    """The values a run's benchmarks give pytest-benchmark's option `name` (None where one has
    no options)."""
    return {(bench.get("options") or {}).get(name) for bench in data["benchmarks"]}


def recorded_cpu(machine: dict) -> str | None:
    """The CPU's name: ours, or pytest-benchmark's own (py-cpuinfo) in a foreign JSON."""
    return machine.get("cpu_model") or (machine.get("cpu") or {}).get("brand_raw")


def _rows(data: dict, source: str):
    machine = data["machine_info"]
    provenance = {
        "run_id": run_id(source, data),
        "datetime": data.get("datetime"),
        "host": machine.get("node"),
        "cpu_model": recorded_cpu(machine),
        "gpu": machine.get("gpu"),
        "threads": machine.get("threads"),
        "torch": machine.get("torch"),
        "commit": machine.get("commit") or (data.get("commit_info") or {}).get("id"),
        "dirty": machine.get("dirty", (data.get("commit_info") or {}).get("dirty")),
        "source": source,
    }
    cut = cut_short(data)
    for bench in data["benchmarks"]:
        if bench["name"] in cut:
            continue
        extra = dict(bench.get("extra_info") or {})
        case_fields = extra.pop("case_fields", {})
        measured, round_times = _measured(bench["stats"], extra)
        if measured["first_median"] is not None and is_number(extra.get("device_time")):
            # recorded against the first median: against the one the tables use
            extra["host_bound"] = is_host_bound(measured["median"], extra["device_time"])
        yield {
            **measured,
            **provenance,
            "name": bench.get("name"),
            **{key: value for key, value in extra.items() if not isinstance(value, dict | list)},
            **_identity(bench),
            **case_fields,
            # not numbers, so not written to CSV: what the page shows (diagram sources), and the
            # raw round times (what --benchmark-json and --benchmark-save-data store) for compare
            "artifacts": extra.get("artifacts"),
            "round_times": round_times,
        }


def _measured(stats: dict, extra: dict) -> tuple[dict, list]:
    """(statistics (STATS, FIRST), round times) of the measurement the tables use: the
    benchmark's own, or, where they were noisy and the second measurement right after them
    (`bench.measurement.remeasure_if_noisy`) was not, in FEWEST_ROUNDS or more, the second's:
    a burst of load from elsewhere spoils one measurement, its median too. A JSON from before
    the second's rounds were kept gives only its median and IQR (its quartiles, spread and
    rounds unknown)."""
    own = {key: stats.get(key) for key in STATS + FIRST}
    second = Stats()
    for seconds in extra.get("remeasured_data") or []:
        second.update(seconds)
    figures = {key: getattr(second, key) for key in STATS if key != "iterations"} if second \
        else {"median": extra.get("remeasured_median"), "iqr": extra.get("remeasured_iqr"),
              "rounds": extra.get("remeasured_rounds")}
    if None in figures.values() or own["iqr"] is None or figures["rounds"] < FEWEST_ROUNDS \
            or not is_noisy(own["median"], own["iqr"]) or is_noisy(figures["median"],
                                                                  figures["iqr"]):
        return own, stats.get("data") or []
    return {**dict.fromkeys(STATS), "iterations": own["iterations"], **figures,
            "first_median": own["median"], "first_iqr": own["iqr"]}, second.data


def cut_short(data: dict) -> set[str]:
    """The benchmarks a signal stopped while they were timed: pytest-benchmark keeps the rounds
    they had, the last ones stretched by the stop (on the 2-core VM, a median of 16 ms where the
    fastest round took 0.45), and they have no outcome. Left out of the tables, so no finding
    or comparison uses them; the page says how many."""
    if "outcomes" not in data:  # not recorded by this harness: nothing to tell them apart by
        return set()
    ended = {outcome["name"].rpartition("::")[2] for outcome in data["outcomes"]}
    return {bench["name"] for bench in data["benchmarks"] if bench["name"] not in ended}


def load_runs(paths) -> list[tuple[str, dict]]:
    """Each JSON in `paths`, read and checked, with its path; a run given twice (the same file,
    or two copies of one run) is refused, since its rows would count twice."""
    runs, seen = [], {}
    for path in paths:
        data = read_json(path)
        key = (run_id(str(path), data), data.get("datetime"))
        if key in seen:
            raise ResultsError(f"{path} and {seen[key]} hold the same run ({key[0]}, "
                               f"{key[1]}); give it once")
        seen[key] = path
        runs.append((str(path), data))
    return runs


def run_id(source: str, data: dict) -> str:
    """The run a JSON belongs to: recorded by the harness, else the folder that holds it, and
    the file's name unless it is the harness's benchmark.json: pytest-benchmark's
    --benchmark-autosave puts every run into one folder, and two runs under one id would be
    mixed into one table."""
    recorded = data["machine_info"].get("run_id")
    if recorded:
        return recorded
    path = Path(source).absolute()  # "out.json" has a folder too: the current one
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    return path.parent.name if stem == "benchmark" else f"{path.parent.name}/{stem}"


def results_frame(runs: list[tuple[str, dict]]) -> pd.DataFrame:
    """One row per benchmark of `runs`: the schema's columns first, in order, then the cases'
    own fields (batch, channels, ...) as real columns."""
    frame = pd.DataFrame([row for source, data in runs for row in _rows(data, source)])
    extra = [column for column in frame.columns if column not in COLUMNS]
    return frame.reindex(columns=[*COLUMNS, *extra])


def outcomes_frame(runs: list[tuple[str, dict]]) -> pd.DataFrame:
    """Every benchmark's pytest outcome (passed, failed, skipped) and reason, with its run."""
    frames = []
    for source, data in runs:
        outcomes = pd.DataFrame(data.get("outcomes", []), columns=["name", "outcome", "reason"])
        outcomes["run_id"] = run_id(source, data)
        frames.append(outcomes)
    return pd.concat(frames, ignore_index=True)


def load_results(paths) -> pd.DataFrame:
    """The results table of the JSON files in `paths`."""
    return results_frame(load_runs(paths))


def suite_info(runs: list[tuple[str, dict]]) -> dict[str, dict]:
    """What the runs recorded about their suites (title, question, implementations), by name:
    the latest run's words, and every run's implementations, since an older run may have
    measured one that a newer one no longer does."""
    info: dict[str, dict] = {}
    for _, data in sorted(runs, key=lambda run: str(run[1].get("datetime") or "")):
        for name, about in (data.get("suites") or {}).items():
            impls = {**info.get(name, {}).get("impls", {}), **about.get("impls", {})}
            info[name] = {**about, "impls": impls}
    return info


def write_results(frame: pd.DataFrame, path) -> None:
    """The table as CSV, at full stored precision."""
    frame.drop(columns=["artifacts", "round_times"], errors="ignore").to_csv(path, index=False)

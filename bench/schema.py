"""What a benchmark JSON must hold for the report to use it, checked in one place.

pytest-benchmark's own fields (any project's JSON, any version since 3.0) and, where the harness
wrote the file, ours. A file that passes can be rendered; one that does not gets one line naming
the file, the benchmark and the field. The report code after this trusts what it reads.
"""

import math

from bench.errors import UserError

# What identifies one benchmark of the harness: its parameters, in this order everywhere.
HARNESS = ("suite", "case", "impl", "device", "precision", "mode")
# ... and in its pytest id (test_benchmark[<id>]), in this order
ID_ORDER = ("suite", "case", "device", "precision", "impl", "mode")


def bench_id(fields: dict) -> str:
    """A benchmark's pytest id from its parameters: roi-pool-tiny-r16-o7-cpu-fp32-tv_roi_pool-
    forward. The plugin names benchmarks so, and a finding finds a benchmark's outcome so."""
    return "-".join(str(fields[key]) for key in ID_ORDER)
POSITIVE = ("median",)
NON_NEGATIVE = ("min", "max", "mean", "stddev", "q1", "q3", "iqr")
COUNTS = ("rounds", "iterations")
# The layer anatomy's row for what ran in no layer (a residual addition in its block's forward):
# not a layer, so the report's per-layer counts and strips leave it out.
OUTSIDE = "(outside any layer)"


class SchemaError(UserError):
    """A field the report cannot use; the message names where it is."""


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _problem(value, kind: tuple) -> str | None:
    """What is wrong with a statistic of `kind` (POSITIVE, NON_NEGATIVE or COUNTS), or None."""
    if not is_number(value):
        return f"must be a finite number, got {value!r:.40}"
    if kind is POSITIVE and value <= 0:
        return f"must be above zero, got {value!r}"
    if kind is COUNTS and (value < 1 or value != int(value)):
        return f"must be a positive whole number, got {value!r}"
    if value < 0:
        return f"must not be negative, got {value!r}"
    return None


def check_results(data) -> None:
    """SchemaError for the first field of `data` (a parsed JSON) the report cannot use."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) \
            or not isinstance(data.get("machine_info"), dict):
        raise SchemaError("not a pytest-benchmark JSON (no 'benchmarks' list and "
                          "'machine_info'); pass a file written by --benchmark-json")
    if not data["benchmarks"]:
        raise SchemaError("holds no benchmarks; was the run started with --benchmark-only and "
                          "did any benchmark pass?")
    collected = data.get("collected")
    if collected is not None and not (isinstance(collected, int) and collected >= 0):
        raise SchemaError(f"'collected' must be a count, got {collected!r:.40}")
    outcomes = data.get("outcomes", [])
    if not isinstance(outcomes, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str)
            and o.get("outcome") in ("passed", "failed", "skipped") for o in outcomes):
        raise SchemaError("'outcomes' must be a list of {name, outcome, reason}")
    suites = data.get("suites")
    if suites is not None and not (isinstance(suites, dict) and all(
            isinstance(about, dict) and isinstance(about.get("impls", {}), dict)
            for about in suites.values())):
        raise SchemaError("'suites' must map each suite's name to its {title, question, impls}")
    harness = [isinstance(b, dict) and isinstance(b.get("extra_info"), dict)
               and "suite" in b["extra_info"] for b in data["benchmarks"]]
    if any(harness) and not all(harness):
        raise SchemaError("mixes benchmarks of this harness with others")
    for bench in data["benchmarks"]:
        _check_benchmark(bench, all(harness))


def _check_benchmark(bench, harness: bool) -> None:
    if not isinstance(bench, dict) or not isinstance(bench.get("name"), str):
        raise SchemaError(f"a benchmark without a name: {str(bench)[:60]}")

    def fail(field, problem):
        raise SchemaError(f"benchmark {bench['name']!r}: {field} {problem}")

    stats = bench.get("stats")
    if not isinstance(stats, dict):
        fail("'stats'", "is missing or not a mapping")
    for kind in (POSITIVE, NON_NEGATIVE, COUNTS):
        for key in kind:
            if key in ("q1", "q3", "iqr") and stats.get(key) is None:
                continue  # not in every version
            problem = _problem(stats.get(key), kind)
            if problem:
                fail(f"stats.{key}", problem)
    data = stats.get("data")
    if data is not None and not (isinstance(data, list) and all(is_number(v) for v in data)):
        fail("stats.data", "must be a list of numbers")
    for key in ("options", "extra_info", "params"):
        if bench.get(key) is not None and not isinstance(bench[key], dict):
            fail(f"'{key}'", "must be a mapping")
    if harness:
        extra = bench["extra_info"]
        for key in HARNESS:
            if not isinstance(extra.get(key), str) or not extra[key]:
                fail(f"extra_info.{key}", "must be a non-empty string")
        if not isinstance(extra.get("case_fields", {}), dict):
            fail("extra_info.case_fields", "must be a mapping")
    # a quiet second measurement stands in for a noisy first (bench.records._measured)
    extra = bench.get("extra_info") or {}
    for key, kind in (("remeasured_median", POSITIVE), ("remeasured_iqr", NON_NEGATIVE),
                      ("remeasured_rounds", COUNTS)):
        problem = extra.get(key) is not None and _problem(extra[key], kind)
        if problem:
            fail(f"extra_info.{key}", problem)
    second = extra.get("remeasured_data")
    if second is not None and not (isinstance(second, list) and all(
            is_number(v) and v >= 0 for v in second)):
        fail("extra_info.remeasured_data", "must be a list of non-negative numbers")

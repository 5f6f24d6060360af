"""pytest options (--grid, --suite, --precision), benchmark parametrisation and JSON hooks."""

import os
from dataclasses import asdict

import pytest
import torch

from bench.precision import PRECISIONS, skip_reason
from bench.suites import GRID_NAMES, SUITES, check_names

_outcomes: list[dict] = []


def pytest_addoption(parser):
    group = parser.getgroup("bench", "benchmark harness")
    group.addoption("--grid", default="smoke",
                    help=f"case grid of the suites: {', '.join(GRID_NAMES)} (default: smoke)")
    group.addoption("--suite", default=None,
                    help=f"comma-separated suites to run: {', '.join(SUITES)} (default: all)")
    group.addoption("--precision", default=None,
                    help=f"comma-separated precision modes: {', '.join(PRECISIONS)} "
                         "(default: each suite's own list per device)")


def pytest_configure(config):
    try:
        check_names("grid", [config.getoption("grid")], GRID_NAMES)
        for option, valid in (("suite", SUITES), ("precision", PRECISIONS)):
            value = config.getoption(option)
            if value is not None:
                check_names(option, value.split(","), valid)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def _selected(config, option):
    value = config.getoption(option)
    return None if value is None else value.split(",")


def _devices():
    has_cuda = torch.cuda.is_available()
    yield "cpu", ()
    yield "cuda", (pytest.mark.cuda,
                   pytest.mark.skipif(not has_cuda, reason="CUDA is not available"))


def pytest_generate_tests(metafunc):
    """Parametrise a benchmark with its suite's cases, the devices and the precision modes."""
    suite = getattr(metafunc.module, "suite", None)
    if suite is None or "benchmark" not in metafunc.fixturenames:
        return
    config = metafunc.config
    cases = suite.GRIDS[config.getoption("grid")]
    metafunc.parametrize("case", cases, ids=[case.id for case in cases])
    chosen = _selected(config, "precision")
    params = []
    for device, marks in _devices():
        for precision in chosen or suite.PRECISIONS[device]:
            reason = skip_reason(precision, device)
            extra = (pytest.mark.skip(reason=reason),) if reason else ()
            params.append(pytest.param(device, precision, marks=(*marks, *extra),
                                       id=f"{device}-{precision}"))
    metafunc.parametrize("device,precision", params)


def pytest_collection_modifyitems(config, items):
    suites = _selected(config, "suite")
    if suites is None:
        return
    keep, drop = [], []
    for item in items:
        suite = getattr(item.module, "suite", None)
        (drop if suite is not None and suite.NAME not in suites else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def record(benchmark, request):
    """Returns a function that puts a benchmark's identity and metrics into its extra_info."""
    suite = request.module.suite

    def record(case, **info):
        axes = (info.get(key) for key in ("device", "precision", "mode"))
        benchmark.group = " ".join([suite.NAME, case.id, *filter(None, axes)])
        benchmark.extra_info.update(suite=suite.NAME, case=case.id, case_fields=asdict(case),
                                    **info)
    return record


def pytest_benchmark_update_machine_info(config, machine_info: dict):
    machine_info.update(globals()["machine_info"]())
    machine_info["grid"] = config.getoption("grid")
    machine_info["run_id"] = os.environ.get("BENCH_RUN_ID")


def pytest_runtest_logreport(report):
    """Keep each benchmark's outcome, so the report can list failures and skips with reasons."""
    if "benchmarks" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
        elif report.failed:
            reason = str(getattr(report.longrepr, "reprcrash", None) and
                         report.longrepr.reprcrash.message or report.longrepr).splitlines()[0]
        _outcomes.append({"name": report.nodeid, "outcome": report.outcome, "reason": reason})


def pytest_collection_finish(session):
    session.config._bench_collected = sum("benchmarks" in item.nodeid for item in session.items)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["outcomes"] = _outcomes
    output_json["collected"] = getattr(config, "_bench_collected", None)

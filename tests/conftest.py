"""pytest options (--grid, --suite, --precision), benchmark parametrisation and JSON hooks."""

import os
from dataclasses import asdict

import pytest
import torch
from hypothesis import settings

from bench import machine
from bench.precision import PRECISIONS, skip_reason
from bench.suites import GRID_NAMES, SUITES, check_selection

_outcomes: list[dict] = []

# CI runs the property tests on a fixed sequence of examples, so that a pass or a failure there
# can be reproduced; elsewhere each run explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


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
        check_selection(*(config.getoption(name) for name in ("grid", "suite", "precision")))
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


def _grid(suite, grid: str, device: str):
    cases = suite.GRIDS[grid]
    return cases[device] if isinstance(cases, dict) else cases


def pytest_generate_tests(metafunc):
    """Parametrise a benchmark with its suite's cases (per device where the grid says so), the
    devices and the precision modes; with the implementations too where the suite says which
    apply to which case (`impls_for`)."""
    suite = getattr(metafunc.module, "suite", None)
    if suite is None or "benchmark" not in metafunc.fixturenames:
        return
    config = metafunc.config
    with_impl = hasattr(suite, "impls_for")
    chosen = _selected(config, "precision")
    params = []
    for device, marks in _devices():
        for precision in chosen or suite.PRECISIONS[device]:
            for case in _grid(suite, config.getoption("grid"), device):
                for impl in suite.impls_for(case) if with_impl else [None]:
                    reason = skip_reason(precision, device) or (
                        impl and suite.skip_reason(impl, precision))
                    skip = (pytest.mark.skip(reason=reason),) if reason else ()
                    values = (case, device, precision) + ((impl,) if with_impl else ())
                    ids = [case.id, device, precision] + ([impl] if with_impl else [])
                    params.append(pytest.param(*values, marks=(*marks, *skip), id="-".join(ids)))
    names = "case,device,precision" + (",impl" if with_impl else "")
    metafunc.parametrize(names, params)


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
    machine_info.update(machine.machine_info())
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

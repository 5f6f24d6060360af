"""The registry of suites: a suite's short name and the module that defines it as `SUITE`.

A suite module may have a report module beside it, `<module>_section`, whose
`section(frame, info)` draws the suite's part of the page; without one the report gives it the
generic section. Modules are imported only when asked for, so that names can be checked without
importing torch. Suites of other projects join with BENCH_SUITES="name=module,..." (the module
importable), without an edit here.
"""

import importlib
import os

from bench.errors import UserError
from bench.precision import PRECISIONS
from bench.suite import DEVICES, GRID_NAMES, Suite, check_suite

REGISTRY = {
    "conv1x1": "bench.suites.conv1x1_vs_linear",
    "frozen": "bench.suites.frozen_backprop",
    "roi": "bench.suites.roi_spp_pooling",
    "selfcheck": "bench.suites.timer_selfcheck",
}
REGISTRY.update(entry.split("=", 1) for entry in os.environ.get("BENCH_SUITES", "").split(",")
                if "=" in entry)
_loaded: dict[str, Suite] = {}


def load_suite(name: str) -> Suite:
    """The registered suite called `name`, imported and checked against the contract once."""
    if name not in _loaded:
        suite = check_suite(importlib.import_module(REGISTRY[name]).SUITE)
        if suite.name != name:
            raise UserError(f"suite module {REGISTRY[name]} defines {suite.name!r}, not {name!r}")
        _loaded[name] = suite
    return _loaded[name]


def load_section(name: str):
    """The report section function of suite `name`, or None (unknown suite, or no section)."""
    if name not in REGISTRY:
        return None
    module = f"{REGISTRY[name]}_section"
    try:
        return importlib.import_module(module).section
    except ModuleNotFoundError as error:
        if error.name != module:
            raise
        return None


def describe(suite: Suite) -> dict:
    """What the report shows about a suite besides its measurements, recorded with the run."""
    return {"title": suite.title, "question": suite.question, "baseline": suite.baseline,
            "case_key": suite.case_key,
            "impls": {name: impl.about for name, impl in suite.impls.items()}}


def check_names(kind: str, names, valid) -> list[str]:
    """`names` as a list if every one is in `valid`, else UserError naming the valid ones."""
    names = list(names)
    for name in names:
        if name not in valid:
            raise UserError(f"unknown {kind} {name!r}; choose from {', '.join(valid)}")
    return names


def check_selection(grid: str, suites: str | None = None, precisions: str | None = None,
                    device: str | None = None) -> None:
    """ValueError naming the valid choices for an unknown grid or device, or an unknown name in
    the comma-separated suites or precisions."""
    check_names("grid", [grid], GRID_NAMES)
    if device is not None:
        check_names("device", [device], ("auto", *DEVICES))
    for kind, value, valid in (("suite", suites, REGISTRY), ("precision", precisions, PRECISIONS)):
        if value is not None:  # given empty (--suite=) is a mistake, not "all"
            check_names(kind, value.split(","), valid)

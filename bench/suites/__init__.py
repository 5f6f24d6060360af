"""The registry of suites: one module per question, keyed by the suite's short name."""

from types import ModuleType

from bench.precision import PRECISIONS
from bench.suites import conv1x1_vs_linear, frozen_backprop, roi_spp_pooling, timer_selfcheck

SUITES: dict[str, ModuleType] = {
    conv1x1_vs_linear.NAME: conv1x1_vs_linear,
    frozen_backprop.NAME: frozen_backprop,
    roi_spp_pooling.NAME: roi_spp_pooling,
    timer_selfcheck.NAME: timer_selfcheck,
}
GRID_NAMES = ("smoke", "default", "full")


def check_names(kind: str, names, valid) -> list[str]:
    """`names` as a list if every one is in `valid`, else ValueError naming the valid ones."""
    names = list(names)
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown {kind} {name!r}; choose from {', '.join(valid)}")
    return names


def check_selection(grid: str, suites: str | None = None, precisions: str | None = None) -> None:
    """ValueError naming the valid choices for an unknown grid, or an unknown name in the
    comma-separated suites or precisions."""
    check_names("grid", [grid], GRID_NAMES)
    for kind, value, valid in (("suite", suites, SUITES), ("precision", precisions, PRECISIONS)):
        if value:
            check_names(kind, value.split(","), valid)

"""The registry of suites: one module per question, keyed by the suite's short name."""

from types import ModuleType

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

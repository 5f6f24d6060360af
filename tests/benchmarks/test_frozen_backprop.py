"""Benchmarks of the frozen-versus-full-backprop suite: one per model, regime and timed part."""

import pytest

from bench.measurement import measure, relative_error
from bench.precision import precision_mode
from bench.suites import frozen_backprop as suite


@pytest.mark.parametrize("mode", suite.MODES)
@pytest.mark.parametrize("regime", suite.REGIMES)
def test_frozen_backprop(benchmark, record, case, device, precision, regime, mode):
    if regime == "no_grad" and mode == "backward":
        pytest.skip("no_grad runs no backward")
    with precision_mode(precision) as dtype:
        run = suite.Run(suite.make_inputs(case, device, dtype), regime, case.k)
        error = relative_error(run.results(), suite.reference(case, regime))
        counts = suite.counts(run)
        timed = counts["backward_flops"] + (mode == "forward_backward") * counts["forward_flops"]
        tolerance = suite.tolerance(case, precision)
        record(case, impl=regime, device=device, precision=precision, mode=mode, error=error,
               tolerance=tolerance, flops=timed, **counts)
        assert error <= tolerance, f"relative error {error:.2e} above tolerance {tolerance:.0e}"
        if mode == "backward":
            measure(benchmark, run.backward, setup=run.setup, device=device, precision=precision)
        else:
            measure(benchmark, run.step, device=device, precision=precision)

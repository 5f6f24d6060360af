"""Benchmarks of the 1x1-convolution-versus-Linear suite."""

import pytest

from bench.measurement import measure, relative_error
from bench.precision import TOLERANCES, precision_mode
from bench.suites import conv1x1_vs_linear as suite


@pytest.mark.parametrize("mode", suite.MODES)
@pytest.mark.parametrize("impl", suite.IMPLEMENTATIONS)
def test_conv1x1(benchmark, record, case, device, precision, impl, mode):
    with precision_mode(precision) as dtype:
        inputs = suite.make_inputs(case, device, dtype)
        step, results = suite.run(suite.IMPLEMENTATIONS[impl], inputs, mode)
        error = relative_error(results(), suite.reference(inputs, mode))
        tolerance = TOLERANCES[precision]
        record(case, impl=impl, device=device, precision=precision, mode=mode,
               error=error, tolerance=tolerance, flops=suite.flops(case, mode),
               bytes=suite.bytes_moved(case, mode, inputs.x.element_size()))
        assert error <= tolerance, f"relative error {error:.2e} above {precision} tolerance"
        measure(benchmark, step, device=device, precision=precision)

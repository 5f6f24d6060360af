"""The suite contract: what a suite declares, and the check that runs when it is registered.

A suite answers one question. It declares its cases per grid (and per device where they differ),
the implementations it compares with a baseline per case, and for one (case, implementation, mode)
it makes seeded inputs, prepares the step to time, and gives the reference the step's results are
checked against, with a tolerance per precision. The generic benchmark (`bench.benchmarks`) drives
every suite through this contract alone; the report reads only what the run recorded.

Like torch.utils.benchmark's task specs, everything here is plain data until a benchmark asks for
tensors: a case is a frozen dataclass of scalars, an implementation a name with its metadata.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.precision import MODES

DEVICES = ("cpu", "cuda")
GRID_NAMES = ("smoke", "default", "full")
_PLAIN = (int, float, str, bool)


class SuiteError(Exception):
    """A suite that breaks the contract; the message names the suite and what is wrong."""


@dataclass(frozen=True)
class Impl:
    """One way of computing the suite's operation."""
    name: str
    fn: Callable | None = None   # the suite's own payload: a function, a module factory, ...
    exact: bool = True           # judged against the reference; False: its error is only shown
    about: str = ""              # one line for the report: what it is


@dataclass
class Step:
    """What one benchmark times, prepared by the suite.

    `fn` is timed; `setup`, when given, runs before every call outside the timing and returns
    `fn`'s (args, kwargs); `results` returns the outputs (and gradients) in the reference's form.
    `work` is the work model and other counted figures (flops, bytes, ...), `artifacts` what the
    report shows that is not a number (diagram sources), both recorded into the JSON.
    """
    fn: Callable
    results: Callable[[], dict]
    setup: Callable[[], tuple[tuple, dict]] | None = None
    work: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)


class Suite:
    """Base of every suite. Subclasses set the attributes and override the three methods that
    raise NotImplementedError; the others have defaults that fit most suites."""

    name: str
    title: str
    question: str
    modes: tuple[str, ...]
    precisions: Mapping[str, tuple[str, ...]]   # device -> modes run by default
    grids: Mapping[str, Sequence | Mapping[str, Sequence]]  # grid -> cases, or device -> cases
    impls: Mapping[str, Impl]
    baseline: str
    case_key: str = ""   # how to read a case id, for the report: "b8-c256x64-56x56: batch 8, ..."
    # Each implementation is also timed in alternating blocks with its baseline
    # (bench.timing.against_baseline): on the same inputs, where prepare() leaves them as it
    # found them (shares_inputs), else on inputs that make_inputs() makes again for the baseline.
    shares_inputs: bool = True

    def cases(self, grid: str, device: str) -> tuple:
        cases = self.grids[grid]
        return tuple(cases[device] if isinstance(cases, Mapping) else cases)

    def case(self, case_id: str):
        """The case called `case_id` in any grid, on any device."""
        for grid in GRID_NAMES:
            for device in DEVICES:
                for case in self.cases(grid, device):
                    if case.id == case_id:
                        return case
        raise KeyError(f"suite {self.name} has no case {case_id!r}")

    def impls_for(self, case) -> list[str]:
        """The implementations that compute what `case` asks for."""
        return list(self.impls)

    def baseline_for(self, case) -> str:
        return self.baseline

    def skip_reason(self, case, impl: str, device: str, precision: str, mode: str) -> str | None:
        """Why this combination is not measured, or None."""
        return None

    def tolerance(self, case, impl: str, precision: str, mode: str) -> float | None:
        """The relative error allowed against the reference; None where it is only recorded."""
        return MODES[precision].tolerance if self.impls[impl].exact else None

    def make_inputs(self, case, device: str, dtype):
        raise NotImplementedError

    def prepare(self, case, impl: str, inputs, mode: str) -> Step:
        raise NotImplementedError

    def reference(self, case, impl: str, inputs, mode: str) -> dict:
        """The tensors `prepare(...).results()` must match, keyed alike: float64 where
        rounding is the question. Most suites compute one per case and ignore `impl`."""
        raise NotImplementedError

    def reference_name(self, case, impl: str, device: str) -> str:
        """What `reference` computes for `impl` on `device`, named in the message of a step
        beyond its tolerance."""
        return "the reference"

    def after_timing(self, step: Step, device: str, precision: str) -> dict:
        """Figures measured once the timing is done (the self-check's other timers)."""
        return {}


REQUIRED = ("name", "title", "question", "modes", "precisions", "grids", "impls", "baseline")
OVERRIDDEN = ("make_inputs", "prepare", "reference")


def check_suite(suite: Suite) -> Suite:
    """`suite` if it keeps the contract, else SuiteError naming the suite and what is wrong."""
    label = getattr(suite, "name", type(suite).__name__)

    def fail(problem: str):
        raise SuiteError(f"suite {label}: {problem}")

    if not isinstance(suite, Suite):
        fail(f"is a {type(suite).__name__}, not a bench.suite.Suite")
    missing = [name for name in REQUIRED if not hasattr(suite, name)]
    missing += [f"{name}()" for name in OVERRIDDEN
                if getattr(type(suite), name) is getattr(Suite, name)]
    if missing:
        fail(f"does not define {', '.join(missing)}")
    if not suite.modes:
        fail("declares no modes")
    if set(suite.grids) != set(GRID_NAMES):
        fail(f"grids must be exactly {', '.join(GRID_NAMES)}, got {', '.join(suite.grids)}")
    for device, names in suite.precisions.items():
        if device not in DEVICES:
            fail(f"precisions name an unknown device {device!r}")
        unknown = [name for name in names if name not in MODES]
        if unknown:
            fail(f"precisions name unknown modes {', '.join(unknown)}")
    if suite.baseline not in suite.impls:
        fail(f"baseline {suite.baseline!r} is not one of its implementations")
    for name, impl in suite.impls.items():
        if not isinstance(impl, Impl) or impl.name != name:
            fail(f"implementation {name!r} must be an Impl named {name!r}")
    for grid in GRID_NAMES:
        for device in DEVICES:
            _check_cases(suite, grid, device, fail)
    return suite


def _check_cases(suite: Suite, grid: str, device: str, fail) -> None:
    seen = set()
    for case in suite.cases(grid, device):
        if not dataclasses.is_dataclass(case) or not case.__dataclass_params__.frozen:
            fail(f"case {case!r} of grid {grid} is not a frozen dataclass")
        odd = [f.name for f in dataclasses.fields(case)
               if not isinstance(getattr(case, f.name), _PLAIN)]
        if odd:
            fail(f"case {case.id} has fields that are not plain scalars: {', '.join(odd)}")
        if case.id in seen:
            fail(f"case id {case.id!r} appears twice in grid {grid} ({device})")
        seen.add(case.id)
        impls = suite.impls_for(case)
        if not impls or not set(impls) <= set(suite.impls):
            fail(f"case {case.id}: impls_for names no or unknown implementations {impls}")
        if suite.baseline_for(case) not in impls:
            fail(f"case {case.id}: its baseline {suite.baseline_for(case)!r} is not measured")

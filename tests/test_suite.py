"""The suite contract: every registered suite keeps it, and a broken one is refused with a line
naming the suite and what is wrong."""

import dataclasses
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench import suites
from bench.benchmarks import side_by_side
from bench.errors import UserError
from bench.suite import Impl, Step, Suite, SuiteError, check_suite
from bench.suites import REGISTRY, load_section, load_suite

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from toy_suite import Toy  # noqa: E402


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_suite_keeps_the_contract(name):
    assert load_suite(name).name == name


def test_suites_have_their_sections_and_others_get_none():
    assert load_section("frozen").__module__ == "bench.suites.frozen_backprop_section"
    assert load_section("conv1x1") is None  # the generic section serves it
    assert load_section("nonexistent") is None


def broken(**changes) -> Suite:
    suite = Toy()
    for name, value in changes.items():
        setattr(suite, name, value)
    return suite


@dataclasses.dataclass(frozen=True)
class OddCase:
    n: object

    @property
    def id(self):
        return "odd"


@dataclasses.dataclass
class MutableCase:
    n: int = 1

    @property
    def id(self):
        return "mutable"


class NoImpls(Toy):
    def impls_for(self, case):
        return []


@pytest.mark.parametrize("suite, message", [
    (object(), "is a object, not a bench.suite.Suite"),
    (broken(modes=()), "suite toy: declares no modes"),
    (broken(grids={"smoke": ()}), "suite toy: grids must be exactly smoke, default, full"),
    (broken(precisions={"tpu": ("fp32",)}), "unknown device 'tpu'"),
    (broken(precisions={"cpu": ("fp8",)}), "unknown modes fp8"),
    (broken(baseline="nope"), "baseline 'nope' is not one of its implementations"),
    (broken(impls={"sum": Impl("other")}), "implementation 'sum' must be an Impl named 'sum'"),
    (broken(grids={**Toy.grids, "smoke": (Toy.grids["full"][0],) * 2}),
     "case id 'n1000' appears twice in grid smoke"),
    (broken(grids={**Toy.grids, "full": (OddCase([1]),)}),
     "case odd has fields that are not plain scalars: n"),
    # each refused by its own check, not by a later one that the fault also trips
    (broken(grids={**Toy.grids, "huge": Toy.grids["full"]}),
     "grids must be exactly smoke, default, full"),
    (broken(grids={**Toy.grids, "full": (MutableCase(),)}), "is not a frozen dataclass"),
    (NoImpls(), "impls_for names no or unknown implementations"),
])
def test_a_broken_suite_is_refused_naming_what_is_wrong(suite, message):
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_suite(suite)


def test_a_suite_without_its_three_methods_is_refused():
    class Half(Suite):
        name, title, question, modes = "half", "Half", "?", ("forward",)
        precisions, grids, impls, baseline = {}, Toy.grids, Toy.impls, "sum"

    with pytest.raises(SuiteError, match=r"suite half: does not define make_inputs\(\), "
                                         r"prepare\(\), reference\(\)"):
        check_suite(Half())


def test_a_skip_reason_is_the_same_for_every_case_it_skips():
    """The page counts skips by reason: a reason naming its case would list one line per case."""
    suite = load_suite("roi")
    reasons = {suite.skip_reason(case, "python_loop", "cuda", "fp32", "forward_backward")
               for case in suite.cases("default", "cuda")}
    assert len(reasons - {None}) == 1 and None in reasons


def test_the_baseline_is_timed_side_by_side_on_inputs_of_its_own_where_steps_cannot_share():
    made, prepared = [], []

    class Spec(Toy):
        def make_inputs(self, case, device, dtype):
            made.append((device, dtype))
            return f"inputs {len(made)}"

        def prepare(self, case, impl, inputs, mode):
            prepared.append((impl, inputs))
            return Step(lambda: None, dict)

    spec = Spec()
    case = spec.cases("smoke", "cpu")[0]
    benchmark = SimpleNamespace(stats=SimpleNamespace(stats=SimpleNamespace(median=1e-3)))
    step = Step(lambda: None, dict)
    for shares, expected in ((True, "the step's"), (False, "inputs 1")):
        made.clear(), prepared.clear()
        spec.shares_inputs = shares
        found = side_by_side(benchmark, spec, case, "cumsum", "the step's", step, "cpu", "fp32",
                             torch.float64, "forward")
        assert prepared == [(spec.baseline_for(case), expected)]
        assert made == ([] if shares else [("cpu", torch.float64)])
        assert found["baseline_ratio_blocks"] == 10


def test_a_baseline_the_suite_skips_there_is_neither_prepared_nor_paired():
    """torchvision's RoI kernels have no bfloat16 on CUDA: the suite skips them there, and a
    bfloat16 row is then not timed beside them."""
    prepared = []

    class Spec(Toy):
        def skip_reason(self, case, impl, device, precision, mode):
            return "no such kernel" if impl == self.baseline_for(case) else None

        def prepare(self, case, impl, inputs, mode):
            prepared.append(impl)
            return Step(lambda: None, dict)

    spec = Spec()
    case = spec.cases("smoke", "cpu")[0]
    benchmark = SimpleNamespace(stats=SimpleNamespace(stats=SimpleNamespace(median=1e-3)))
    assert side_by_side(benchmark, spec, case, "cumsum", "inputs", Step(lambda: None, dict),
                        "cpu", "fp32", torch.float64, "forward") == {}
    assert prepared == []


def test_an_inexact_implementation_is_shown_its_error_not_judged_by_it():
    suite = broken(impls={**Toy.impls, "approx": Impl("approx", torch.sum, exact=False)})
    case = suite.cases("smoke", "cpu")[0]
    assert suite.tolerance(case, "approx", "fp32", "forward") is None
    assert suite.tolerance(case, "sum", "fp32", "forward") is not None


def test_a_suite_registered_under_another_name_than_its_own_is_refused(monkeypatch):
    monkeypatch.setitem(suites.REGISTRY, "alias", suites.REGISTRY["conv1x1"])
    monkeypatch.setattr(suites, "_loaded", {})
    with pytest.raises(UserError, match="defines 'conv1x1', not 'alias'"):
        suites.load_suite("alias")

"""A toy suite that proves the contract: its own file and one registry entry, nothing else.

It sums a vector two ways; `pause` makes each call sleep, so that a run lasts long enough to be
interrupted by a test, and `jitter` makes the sleep random, so that a benchmark is noisy.
"""

import random
import time
from dataclasses import dataclass

import torch

from bench.suite import Impl, Step, Suite


@dataclass(frozen=True)
class Case:
    n: int
    pause: float = 0.0
    jitter: bool = False  # pause for a random part of `pause`: a benchmark that is noisy

    @property
    def id(self) -> str:
        return f"n{self.n}" + ("-jitter" if self.jitter else "")


def _slow(fn, case):
    def step():
        time.sleep(case.pause * (random.random() if case.jitter else 1.0))
        return fn()
    return step


class Toy(Suite):
    name = "toy"
    title = "Toy: two ways to sum a vector"
    question = "Is torch.sum faster than the last element of torch.cumsum?"
    modes = ("forward",)
    precisions = {"cpu": ("fp32",), "cuda": ("fp32",)}
    grids = {"smoke": (Case(1000), Case(100000), Case(10, 0.002, jitter=True)),
             "default": tuple(Case(n, pause=0.02) for n in (10, 100, 1000, 10000, 100000)),
             "full": (Case(1000),)}
    impls = {"sum": Impl("sum", torch.sum, about="torch.sum"),
             "cumsum": Impl("cumsum", lambda x: torch.cumsum(x, 0)[-1],
                            about="the last element of torch.cumsum")}
    baseline = "sum"

    def make_inputs(self, case, device, dtype):
        return torch.arange(case.n, dtype=dtype, device=device) / case.n

    def prepare(self, case, impl, inputs, mode):
        fn = _slow(lambda: self.impls[impl].fn(inputs), case)
        return Step(fn, lambda: {"output": fn()}, work={"flops": case.n, "bytes": 4 * case.n})

    def reference(self, case, impl, inputs, mode):
        return {"output": inputs.double().sum()}


SUITE = Toy()

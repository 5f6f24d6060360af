"""Invariants of the frozen-backprop regimes, and the counts the suite records."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.suites import frozen_backprop as suite

CASES = [suite.Case("mlp", 4, 16), suite.Case("cnn", 2, 16)]


def run(case, regime):
    return suite.Run(suite.make_inputs(case, "cpu", torch.float32), regime, case.k)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("regime", list(suite.REGIMES)[1:])
def test_trainable_gradients_do_not_depend_on_what_is_frozen(case, regime):
    full = run(case, "full").results()
    partial = run(case, regime).results()
    assert set(partial) <= set(full)
    for name, grad in partial.items():
        assert torch.equal(grad, full[name]), name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_output_is_the_same_in_every_regime(case):
    outputs = [run(case, regime).step().detach() for regime in suite.REGIMES]
    assert all(torch.equal(out, outputs[0]) for out in outputs[1:])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("regime", ["first_k", "head", "freeze_first_k",
                                    "freeze_first_k_no_grad"])
def test_optimiser_step_changes_only_trainable_parameters(case, regime):
    r = run(case, regime)
    before = {name: p.detach().clone() for name, p in r.inputs.model.named_parameters()}
    optimiser = torch.optim.SGD(r.inputs.model.parameters(), lr=0.1, momentum=0.9)
    r.step()
    optimiser.step()
    assert r.params, "the regime trains something"
    for name, p in r.inputs.model.named_parameters():
        if name in r.params:
            assert p.grad is not None and not torch.equal(p, before[name]), name
        else:
            assert p.grad is None and torch.equal(p, before[name]), name


def test_a_regime_that_freezes_nothing_fails_its_check(monkeypatch):
    """The reference holds the trainable parameters' gradients only: were apply_regime to
    freeze nothing, the gradients it does hold would still match."""
    monkeypatch.setattr(suite, "apply_regime", lambda model, regime, k: None)
    leaky = run(CASES[0], "first_k")
    frozen = [name for name, _ in leaky.inputs.model.named_parameters()
              if name not in leaky.params]
    assert frozen[:2] == ["2.0.weight", "2.0.bias"]  # every stage after the first two
    with pytest.raises(RuntimeError) as error:
        leaky.results()
    assert str(error.value) == f"first_k left gradients on parameters it freezes: " \
        f"{', '.join(frozen)}"
    run(CASES[0], "full").results()  # nothing frozen: nothing to leak


def test_regimes_train_the_stages_they_name():
    model = suite.mlp(8)  # five stages
    stages = {regime: sorted({int(n.split(".")[0]) for n in suite.trainable(model, regime, 2)})
              for regime in suite.REGIMES}
    assert stages == {"full": [0, 1, 2, 3, 4], "first_k": [0, 1], "head": [4],
                      "freeze_first_k": [2, 3, 4], "freeze_first_k_no_grad": [2, 3, 4],
                      "autograd_grad_subset": [0, 1], "no_grad": []}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_no_grad_prefix_costs_what_requires_grad_false_costs(case):
    frozen, no_grad = suite.counts(run(case, "freeze_first_k")), \
        suite.counts(run(case, "freeze_first_k_no_grad"))
    assert frozen == no_grad


def test_mlp_counts_match_a_hand_count():
    case = suite.Case("mlp", 4, 16)  # Linear 16->16 four times, then 16->10; batch 4
    full, head = suite.counts(run(case, "full")), suite.counts(run(case, "head"))
    forward = 2 * 4 * (4 * 16 * 16 + 16 * 10)
    assert full["forward_flops"] == head["forward_flops"] == forward
    # every layer: grad of weight; every layer but the first: grad of input (the input needs none)
    assert full["backward_flops"] == 2 * forward - 2 * 4 * 16 * 16
    assert head["backward_flops"] == 2 * 4 * 16 * 10
    # nodes: per layer Addmm, T, and two AccumulateGrad; ReLU between layers
    assert full["graph_nodes"] == 5 * 4 + 4 and full["accumulate_grad_nodes"] == 10
    assert head["graph_nodes"] == 4 and head["accumulate_grad_nodes"] == 2


def test_first_k_runs_the_backward_through_every_later_layer():
    case = CASES[1]
    first, full = suite.counts(run(case, "first_k")), suite.counts(run(case, "full"))
    subset = suite.counts(run(case, "autograd_grad_subset"))
    head = suite.counts(run(case, "head"))
    assert subset["backward_flops"] == first["backward_flops"]
    assert subset["graph_nodes"] == first["graph_nodes"]
    # two of five stages train, yet most of the backward still runs; the head alone is cheap
    assert first["backward_flops"] > 0.5 * full["backward_flops"]
    assert head["backward_flops"] < 0.01 * full["backward_flops"]


def test_no_grad_records_nothing():
    counts = suite.counts(run(CASES[0], "no_grad"))
    assert counts["backward_flops"] == counts["saved_bytes"] == counts["graph_nodes"] == 0


def test_saved_bytes_count_each_storage_once():
    x = torch.randn(100, requires_grad=True)
    # x * x saves x twice (one storage); sin saves x again
    assert suite.saved_bytes(lambda: (x * x).sin()) == 400 + 400


def test_reference_gradients_match_float32_closely():
    case = CASES[1]
    ref = suite.reference(case, "first_k")
    got = run(case, "first_k").results()
    assert set(ref) == set(got)
    for name in ref:
        assert torch.allclose(got[name].double(), ref[name], rtol=1e-4, atol=1e-6), name


def test_resnets_get_the_wider_bound_and_the_rest_their_precision_s():
    assert suite.tolerance(suite.Case("resnet50", 4, 224), "fp32") == 5e-2
    assert suite.tolerance(suite.Case("mlp", 4, 32), "fp32") == 1e-4


def test_a_backward_row_counts_the_backward_s_flops_and_the_head_s_reference_is_the_head():
    case = suite.Case("mlp", 4, 32)
    back = suite.prepare(case, "full", suite.make_inputs(case, "cpu", torch.float32),
                         "backward").work
    assert back["flops"] == back["backward_flops"]
    both = suite.prepare(case, "full", suite.make_inputs(case, "cpu", torch.float32),
                         "forward_backward").work
    assert both["flops"] == both["backward_flops"] + both["forward_flops"]
    assert set(suite.reference(case, "head")) == {"output", "4.weight", "4.bias"}


def test_no_grad_has_no_backward_row():
    assert suite.SUITE.skip_reason(suite.Case("mlp", 4, 32), "no_grad", "cpu", "fp32",
                                   "backward") == "no_grad runs no backward"


def test_autograd_grad_of_a_subset_freezes_no_parameter():
    case = suite.Case("mlp", 4, 32)
    run = suite.Run(suite.make_inputs(case, "cpu", torch.float32), "autograd_grad_subset", 2)
    assert all(p.requires_grad for p in run.inputs.model.parameters())


@pytest.mark.parametrize("model", ["mlp", "cnn", "cnn1d"])
def test_only_the_resnets_get_the_wider_bound(model):
    assert suite.tolerance(suite.Case(model, 2, 16), "fp32") == 1e-4
    assert suite.tolerance(suite.Case("resnet18", 2, 32), "fp32") == 5e-2


@pytest.mark.parametrize("mode", ["backward", "forward_backward"])
def test_the_timed_call_does_the_flops_its_row_records(mode):
    case = suite.Case("mlp", 4, 16)
    step = suite.prepare(case, "full", suite.make_inputs(case, "cpu", torch.float32), mode)
    args, kwargs = step.setup() if step.setup else ((), {})
    with FlopCounterMode(display=False) as counter:
        step.fn(*args, **kwargs)
    assert counter.get_total_flops() == step.work["flops"]
    assert (step.setup is not None) is (mode == "backward")


def test_counts_are_kept_per_dtype(monkeypatch):
    monkeypatch.setattr(suite, "_COUNTED", {})
    case = suite.Case("mlp", 4, 16)
    found = {dtype: suite._counts(case, "full", "cpu", dtype,
                                  suite.Run(suite.make_inputs(case, "cpu", dtype), "full", case.k))
             for dtype in (torch.float32, torch.float64)}
    assert found[torch.float64]["saved_bytes"] == 2 * found[torch.float32]["saved_bytes"]

"""Autograd diagrams: a graph per regime, the greyed view, and the fallback without Graphviz."""

import re
import shutil

import graphviz
import pytest
import torch

from bench import graphs
from bench.suites import frozen_backprop as suite

CASE = suite.Case("mlp", 2, 8)


def dot(regime):
    return graphs.regime_dot(suite.Run(suite.make_inputs(CASE, "cpu", torch.float32), regime,
                                       CASE.k))


def trained(regime):
    return set(suite.trainable(suite.MODELS[CASE.model](CASE), regime, CASE.k))


def test_regime_graphs_shrink_as_more_is_frozen():
    sizes = {regime: len(dot(regime)) for regime in ("full", "first_k", "freeze_first_k", "head")}
    assert sizes["full"] > sizes["first_k"] > sizes["head"]
    assert sizes["full"] > sizes["freeze_first_k"] > sizes["head"]
    assert dot("no_grad") is None


def test_parameters_are_named_in_the_diagram():
    source = dot("head")
    assert "4.weight" in source and "0.0.weight" not in source


def test_greyed_view_greys_exactly_what_first_k_does_not_run():
    greyed = [s for s in graphs._statements(graphs.grey_unused(dot("full"), trained("first_k")))
              if graphs.GREY in s]
    labels = " ".join(greyed)
    for later in ("2.0.weight", "3.0.bias", "4.weight", "4.bias"):
        assert later in labels
    for first in ("0.0.weight", "1.0.bias"):
        assert first not in labels
    # per later layer: weight, bias, two AccumulateGrad, one TBackward
    assert len(greyed) == 3 * 5
    # head: everything but the head's own weight, bias, accumulators, T and addmm is grey
    head = graphs._statements(graphs.grey_unused(dot("full"), trained("head")))
    running = [s for s in head if not graphs._EDGE.match(s) and graphs._NODE.match(s)
               and graphs.GREY not in s]
    assert len(running) == 7  # weight, bias, 2 AccumulateGrad, TBackward, Addmm, output


def test_greyed_source_is_still_valid_dot():
    # a parameter's label spans two lines; the grey attributes must land after it, not inside
    source = graphs.grey_unused(dot("full"), trained("head"))
    assert '(8)" fillcolor=lightblue fillcolor=grey95' in source


def test_suite_records_the_diagrams_of_a_regime():
    items = suite.diagrams(CASE, "first_k")
    assert [item["caption"] for item in items] == [
        "mlp-b2-8: first_k", "mlp-b2-8: full graph, greyed where first_k runs nothing"]
    def shape(source):  # node names are object ids, new in every run
        return re.sub(r"\d{6,}", "N", source)

    assert shape(items[0]["dot"]) == shape(dot("first_k"))
    assert suite.diagrams(CASE, "no_grad") == []
    # torch.autograd.grad for the first stages: its recorded graph is full's, every parameter
    # blue; the greyed view alone, the same as first_k's, says what the call computes
    (subset,) = suite.diagrams(CASE, "autograd_grad_subset")
    assert subset["caption"] == \
        "mlp-b2-8: full graph, greyed where autograd_grad_subset runs nothing"
    assert shape(subset["dot"]) == shape(items[1]["dot"]) != shape(dot("full"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_rendering():
    svg = graphs.to_svg(dot("head"))
    assert svg.startswith("<svg") and "AddmmBackward0" in svg
    assert graphs.to_svg(graphs.grey_unused(dot("full"), trained("head"))).startswith("<svg")


def test_missing_graphviz_gives_none(monkeypatch):
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))
    monkeypatch.setattr(graphviz.Source, "pipe", missing)
    assert graphs.to_svg(dot("head")) is None


DOT = 'digraph {\n\t1 [label="a"]\n\t2 [label="b"]\n\t3 [label=AddBackward0]\n' \
      '\t1 -> 3\n\t2 -> 3\n}\n'


def test_an_edge_from_a_node_that_does_not_run_is_grey_and_the_brace_keeps_its_line():
    greyed = graphs.grey_unused(DOT, {"a"})
    assert "\t2 -> 3 [color=grey75]\n" in greyed and "\t1 -> 3\n" in greyed
    assert graphs.grey_unused(DOT, set()).endswith("\t2 -> 3 [color=grey75]\n}\n")

"""Autograd diagrams: a graph per regime, the greyed view, and the fallback without Graphviz."""

import shutil

import graphviz
import pytest

from bench import graphs
from bench.suites import frozen_backprop as suite

CASE = suite.Case("mlp", 2, 8)


def test_regime_graphs_shrink_as_more_is_frozen():
    sizes = {regime: len(graphs.regime_dot(CASE, regime).body)
             for regime in ("full", "first_k", "freeze_first_k", "head")}
    assert sizes["full"] > sizes["first_k"] > sizes["head"]
    assert sizes["full"] > sizes["freeze_first_k"] > sizes["head"]
    assert graphs.regime_dot(CASE, "no_grad") is None


def test_parameters_are_named_in_the_diagram():
    source = graphs.regime_dot(CASE, "head").source
    assert "4.weight" in source and "0.0.weight" not in source


def test_greyed_view_greys_exactly_what_first_k_does_not_run():
    dot = graphs.greyed_dot(CASE, "first_k")
    greyed = [s for s in dot.body if graphs.GREY in s]
    labels = " ".join(greyed)
    for later in ("2.0.weight", "3.0.bias", "4.weight", "4.bias"):
        assert later in labels
    for first in ("0.0.weight", "1.0.bias"):
        assert first not in labels
    # per later layer: weight, bias, two AccumulateGrad, one TBackward
    assert len(greyed) == 3 * 5
    # head: everything but the head's own weight, bias, accumulators, T and addmm is grey
    head = graphs.greyed_dot(CASE, "head")
    running = [s for s in head.body if not graphs._EDGE.match(s) and graphs._NODE.match(s)
               and graphs.GREY not in s]
    assert len(running) == 7  # weight, bias, 2 AccumulateGrad, TBackward, Addmm, output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_rendering():
    svg = graphs.to_svg(graphs.regime_dot(CASE, "head"))
    assert svg.startswith("<svg") and "AddmmBackward0" in svg


def test_missing_graphviz_gives_none(monkeypatch):
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))
    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    assert graphs.to_svg(graphs.regime_dot(CASE, "head")) is None

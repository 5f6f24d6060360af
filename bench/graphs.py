"""Autograd graph diagrams: torchviz's DOT of a regime's backward graph, rendered to SVG."""

import re

import graphviz
import torch
from torchviz import make_dot

from bench.suites import frozen_backprop as frozen

GREY = "fillcolor=grey95 fontcolor=grey60 color=grey75"
INSTALL_HINT = ("Graphviz's `dot` is not installed, so the DOT source is shown instead: "
                "install it with `apt-get install graphviz` (or your system's package manager) "
                "and rebuild the report with `make report`.")
_NODE = re.compile(r'^\s*(\d+) \[label="?([^"\n\]]*)')
_EDGE = re.compile(r"^\s*(\d+) -> (\d+)")


def regime_dot(case: frozen.Case, regime: str) -> graphviz.Digraph | None:
    """The backward graph that autograd records for `regime` (None when it records none),
    with parameters named by their path in the model."""
    run = frozen.Run(frozen.make_inputs(case, "cpu", torch.float32), regime, case.k)
    (out,), _ = run.setup()
    if out.grad_fn is None:
        return None
    return make_dot(out, params=dict(run.inputs.model.named_parameters()))


def greyed_dot(case: frozen.Case, regime: str) -> graphviz.Digraph:
    """The full model's graph with the nodes that a backward in `regime` does not run greyed out.

    Read from the DOT itself: a node runs when it lies downstream (in the forward direction) of a
    parameter that `regime` trains, since only those paths carry a gradient that is needed.
    """
    dot = regime_dot(case, "full")
    model = frozen.MODELS[case.model](case)
    wanted = set(frozen.trainable(model, regime, case.k))
    labels, edges = {}, []
    for statement in dot.body:
        if edge := _EDGE.match(statement):
            edges.append(edge.groups())
        elif node := _NODE.match(statement):
            labels[node.group(1)] = node.group(2).strip()
    runs = {node for node, label in labels.items() if label in wanted}
    frontier = list(runs)
    while frontier:
        node = frontier.pop()
        for source, target in edges:
            if source == node and target not in runs:
                runs.add(target)
                frontier.append(target)
    body = []
    for statement in dot.body:
        edge, node = _EDGE.match(statement), _NODE.match(statement)
        if edge and not set(edge.groups()) <= runs:
            statement = statement.rstrip("\n") + " [color=grey75]\n"
        elif node and not edge and node.group(1) not in runs:
            statement = statement.rstrip().removesuffix("]") + f" {GREY}]\n"
        body.append(statement)
    dot.body = body
    return dot


def to_svg(dot: graphviz.Digraph) -> str | None:
    """The diagram as inline <svg>, or None when Graphviz's `dot` program is not installed."""
    try:
        svg = dot.pipe(format="svg").decode()
    except graphviz.ExecutableNotFound:
        return None
    return svg[svg.index("<svg"):]

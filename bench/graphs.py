"""Autograd graph diagrams: torchviz's DOT source of a backward graph, greyed views of it, SVG.

The DOT source is made when the benchmark runs and recorded in its JSON; the report only turns
recorded sources into SVG, so it needs Graphviz but neither torch nor the models.
"""

import re

import graphviz

GREY = "fillcolor=grey95 fontcolor=grey60 color=grey75"
INSTALL_HINT = ("Graphviz's `dot` is not installed, so the DOT source is shown instead: "
                "install it with `apt-get install graphviz` (or your system's package manager) "
                "and rebuild the report with `make report`.")
_NODE = re.compile(r'^\s*(\d+) \[label="?([^"\n\]]*)')
_EDGE = re.compile(r"^\s*(\d+) -> (\d+)")


def regime_dot(run) -> str | None:
    """DOT source of the backward graph that autograd records for a frozen-backprop `Run`
    (None when it records none), with parameters named by their path in the model."""
    from torchviz import make_dot

    (out,), _ = run.setup()
    if out.grad_fn is None:
        return None
    return make_dot(out, params=dict(run.inputs.model.named_parameters())).source


def grey_unused(source: str, trained: set[str]) -> str:
    """`source` with the nodes that a backward towards the `trained` parameters does not run
    greyed out.

    Read from the DOT itself: a node runs when it lies downstream (in the forward direction) of a
    parameter that is trained, since only those paths carry a gradient that is needed.
    """
    lines = _statements(source)
    labels, edges = {}, []
    for line in lines:
        if edge := _EDGE.match(line):
            edges.append(edge.groups())
        elif node := _NODE.match(line):
            labels[node.group(1)] = node.group(2).strip()
    runs = {node for node, label in labels.items() if label in trained}
    frontier = list(runs)
    while frontier:
        node = frontier.pop()
        for source_node, target in edges:
            if source_node == node and target not in runs:
                runs.add(target)
                frontier.append(target)
    out = []
    for line in lines:
        edge, node = _EDGE.match(line), _NODE.match(line)
        if edge and not set(edge.groups()) <= runs:
            line = line.rstrip("\n") + " [color=grey75]\n"
        elif node and not edge and node.group(1) not in runs:
            line = line.rstrip().removesuffix("]") + f" {GREY}]\n"
        out.append(line)
    return "".join(out)


def _statements(source: str) -> list[str]:
    """The DOT source's statements: torchviz starts each on a tab, and a parameter's label holds
    a newline, so a line that starts otherwise continues the statement before it."""
    statements: list[str] = []
    for line in source.splitlines(keepends=True):
        if statements and not line.startswith(("\t", "}")):
            statements[-1] += line
        else:
            statements.append(line)
    return statements


def to_svg(source: str) -> str | None:
    """The diagram as inline <svg>, or None when Graphviz's `dot` program is not installed."""
    try:
        svg = graphviz.Source(source).pipe(format="svg").decode()
    except graphviz.ExecutableNotFound:
        return None
    return svg[svg.index("<svg"):]

"""Per-layer anatomy: rows that add up to the suite's counts, output-size formulas that hold,
filters that learn only where they train, and the layer-flow figure."""

import functools
import json
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import to_rgba
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench import layers
from bench.plots import figure_svg, plot_layer_flow
from bench.suites import frozen_backprop as suite

TINY = [suite.Case("mlp", 2, 16), suite.Case("cnn", 2, 16), suite.Case("cnn1d", 2, 32),
        suite.Case("resnet18", 2, 32), suite.Case("resnet50", 2, 32)]


@functools.cache
def inputs(case):
    """Built once per case (a ResNet's random initialisation dominates a tiny case's cost);
    anatomy and weight_changes work on copies, and each Run sets the flags it needs."""
    return suite.make_inputs(case, "cpu", torch.float32)


def anatomy(case, regime):
    return layers.anatomy(inputs(case), regime, case.k)


def by_name(result):
    return {row["name"] if row["call"] == 1 else f'{row["name"]}#{row["call"]}': row
            for row in result["rows"]}


def flops(row):
    return row["forward_flops"], row["backward_input_flops"], row["backward_weight_flops"]


def test_mlp_rows_match_a_hand_count():
    case = suite.Case("mlp", 4, 16)  # Linear 16->16 four times, then 16->10; batch 4
    hidden, head = 2 * 4 * 16 * 16, 2 * 4 * 16 * 10
    full = by_name(layers.anatomy(case, "full"))
    assert list(full) == ["0.0", "0.1", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1", "4"]
    # the first layer's input needs no gradient: only its weight's
    assert flops(full["0.0"]) == (hidden, 0, hidden)
    assert [flops(full[f"{i}.0"]) for i in (1, 2, 3)] == [(hidden, hidden, hidden)] * 3
    assert flops(full["4"]) == (head, head, head)
    assert all(flops(full[f"{i}.1"]) == (0, 0, 0) for i in range(4))
    # saved: the first layer its input; each ReLU its output, which is the next layer's input
    # (counted once, at the ReLU); each later layer its weight, for its input's gradient
    assert [full[name]["saved_bytes"] for name in full] == \
        [4 * 16 * 4, 4 * 16 * 4, 16 * 16 * 4] * 1 + [4 * 16 * 4, 16 * 16 * 4] * 2 + \
        [4 * 16 * 4, 10 * 16 * 4]
    head_only = by_name(layers.anatomy(case, "head"))
    assert flops(head_only["4"]) == (head, 0, head)
    assert head_only["4"]["saved_bytes"] == 4 * 16 * 4  # its input, for its weight's gradient
    assert sum(row["backward_flops"] for row in head_only.values()) == head
    first = by_name(layers.anatomy(case, "first_k"))  # k = 2: Linear 0 and 1 train
    assert [flops(first[f"{i}.0"]) for i in range(4)] == \
        [(hidden, 0, hidden), (hidden, hidden, hidden), (hidden, hidden, 0), (hidden, hidden, 0)]
    assert flops(first["4"]) == (head, head, 0)


@pytest.mark.parametrize("case", TINY, ids=lambda c: c.id)
@pytest.mark.parametrize("regime", suite.REGIMES)
def test_rows_add_up_to_the_suites_counts(case, regime):
    result = anatomy(case, regime)
    counts = suite.counts(suite.Run(inputs(case), regime, case.k))
    rows = result["rows"]
    assert sum(row["forward_flops"] for row in rows) == counts["forward_flops"]
    assert sum(row["backward_input_flops"] + row["backward_weight_flops"] for row in rows) == \
        counts["backward_flops"]
    assert sum(row["saved_bytes"] for row in rows) == counts["saved_bytes"]
    assert result["totals"]["backward_flops"] == counts["backward_flops"]


@pytest.mark.parametrize("case", TINY[1:4], ids=lambda c: c.id)
def test_forward_flops_per_layer_are_flop_counter_modes(case):
    with FlopCounterMode(display=False) as counter:
        inputs(case).model(inputs(case).x)
    table = {name.partition(".")[2]: sum(ops.values())
             for name, ops in counter.get_flop_counts().items()}
    rows = anatomy(case, "full")["rows"]
    assert {row["name"]: row["forward_flops"] for row in rows if row["forward_flops"]} == \
        {row["name"]: table[row["name"]] for row in rows if row["name"] in table
         and row["type"] in ("Conv1d", "Conv2d", "Linear")}


def test_resnet_rows():
    result = anatomy(TINY[-1], "full")
    rows = by_name(result)
    # 53 convolutions, 53 BatchNorms, 49 ReLU calls (three per block, reused), 4 more, outside
    assert len(rows) == 160
    assert rows["0.0"]["weight_shape"] == [64, 3, 7, 7]
    assert rows["0.0"]["keras_shape"] == [7, 7, 3, 64]
    assert rows["0.0"]["output_size"] == ["floor((32 + 2*3 - 1*(7-1) - 1)/2) + 1 = 16"] * 2
    assert rows["0.3"]["output_size"] == ["floor((16 + 2*1 - 1*(3-1) - 1)/2) + 1 = 8"] * 2
    assert rows["5.2"]["weight_shape"] == [1000, 2048] and rows["5.2"]["keras_shape"] == \
        [2048, 1000]
    assert rows["0.1"]["keras_shape"] is None and rows["0.1"]["params"] == 128
    assert [rows[f"1.0.relu{suffix}"]["output_shape"] for suffix in ("", "#2", "#3")] == \
        [[2, 64, 8, 8], [2, 64, 8, 8], [2, 256, 8, 8]]
    # the residual additions run in each block's own forward, in no leaf
    outside = rows[layers.OUTSIDE]
    assert outside["uncounted_ops"] == ["aten.add_"] and outside["saved_bytes"] == 0
    assert {"aten.native_batch_norm_backward", "aten.threshold_backward",
            "aten.max_pool2d_with_indices"} <= set(result["uncounted_ops"])
    assert json.loads(json.dumps(result)) == result


def test_backward_runs_through_every_layer_after_the_first_trainable_one():
    first, frozen = (anatomy(TINY[3], regime)["rows"] for regime in ("first_k",
                                                                        "freeze_first_k"))
    layer_rows = [i for i, row in enumerate(first) if row["name"] != layers.OUTSIDE]
    assert all(first[i]["backward_ran"] for i in layer_rows)
    later = [first[i] for i in layer_rows if int(first[i]["name"][0]) >= 2]
    assert all(row["backward_weight_flops"] == 0 for row in later)
    assert all(row["backward_input_flops"] > 0 for row in later if row["type"] == "Conv2d")
    for row in frozen:
        stage = row["name"].split(".")[0]
        if stage in ("0", "1"):
            assert not row["backward_ran"] and row["backward_flops"] == row["saved_bytes"] == 0


def test_anatomy_leaves_the_callers_model_alone():
    cnn = suite.make_inputs(suite.Case("cnn", 2, 16), "cpu", torch.float32)
    before = [p.clone() for p in cnn.model.parameters()]
    layers.anatomy(cnn, "head", 2)
    layers.weight_changes(cnn, "full", 2)
    assert all(p.requires_grad for p in cnn.model.parameters())
    assert all(torch.equal(p, b) for p, b in zip(cnn.model.parameters(), before))


@pytest.mark.parametrize("case", TINY, ids=lambda c: c.id)
def test_output_size_formulas_hold_for_every_layer(case):
    rows = anatomy(case, "full")["rows"]
    sized = [row for row in rows if row["type"] in
             ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d")]
    assert all(row["output_size_ok"] is True for row in sized)
    assert all(row["output_size_ok"] is None for row in rows if row not in sized)
    assert len(sized) == {"mlp": 0, "cnn": 4, "cnn1d": 6, "resnet18": 21, "resnet50": 54}[
        case.model]


@pytest.mark.parametrize("length, kernel, stride, padding, dilation, ceil_mode, expected", [
    (56, 3, 2, 1, 1, False, ("floor((56 + 2*1 - 1*(3-1) - 1)/2) + 1 = 28", 28)),
    (20, 3, 1, 2, 2, False, ("floor((20 + 2*2 - 2*(3-1) - 1)/1) + 1 = 20", 20)),
    (10, 3, 2, 0, 1, True, ("ceil((10 + 2*0 - 1*(3-1) - 1)/2) + 1 = 5", 5)),
    (5, 2, 2, 1, 1, True, ("ceil((5 + 2*1 - 1*(2-1) - 1)/2) + 1 = 4, "
                           "less the window that would start in the padding = 3", 3)),
    (7, 3, 2, 1, None, False, ("floor((7 + 2*1 - 3)/2) + 1 = 4", 4)),
])
def test_output_length_shows_its_numbers(length, kernel, stride, padding, dilation, ceil_mode,
                                         expected):
    size, text = layers.output_length(length, kernel, stride, padding, dilation, ceil_mode)
    assert (text, size) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2),
       st.integers(1, 3), st.booleans(), st.sampled_from(["max", "avg", "conv"]))
def test_output_length_is_what_pytorch_produces(length, kernel, stride, padding, dilation,
                                               ceil_mode, kind):
    if kind == "max":
        module = nn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    elif kind == "avg":
        module = nn.AvgPool1d(kernel, stride, padding, ceil_mode=ceil_mode)
    else:
        module = nn.Conv1d(1, 1, kernel, stride, padding, dilation)
    try:
        produced = module(torch.zeros(1, 1, length)).shape[-1]
    except RuntimeError:  # PyTorch refuses the settings (padding over half the window, ...)
        return
    expected, _ = layers.size_formulas(module, (1, 1, length))
    assert expected == [produced]


def test_cnn1d_is_a_sequence_of_stages():
    model = suite.cnn1d()
    assert [type(m).__name__ for m in model[0]] == ["Conv1d", "ReLU", "MaxPool1d"]
    assert len(model) == 4 and model(torch.zeros(3, suite.CNN1D_CHANNELS, 40)).shape == (3, 10)
    rows = by_name(anatomy(TINY[2], "full"))
    assert rows["1.0"]["output_size"] == ["floor((16 + 2*2 - 2*(3-1) - 1)/1) + 1 = 16"]
    assert rows["1.0"]["keras_shape"] == [3, 16, 32] and rows["1.2"]["output_shape"] == [2, 32, 8]


@pytest.mark.parametrize("case, regime", [
    *((case, regime) for case in TINY[:3] for regime in suite.REGIMES),
    *((TINY[3], regime) for regime in ("first_k", "freeze_first_k_no_grad", "head"))],
    ids=str)
def test_only_trainable_filters_change(case, regime):
    changes = layers.weight_changes(inputs(case), regime, case.k)
    model = inputs(case).model
    trained = {name.rpartition(".")[0] for name in suite.trainable(model, regime, case.k)}
    assert changes, "the model has parameterised layers"
    for name, change in changes.items():
        assert (change > 0) if name in trained else (change == 0.0), name


def test_weight_changes_grow_with_the_steps():
    case = suite.Case("cnn", 2, 16)
    one, three = (layers.weight_changes(inputs(case), "full", case.k, steps=n) for n in (1, 3))
    assert all(three[name] > one[name] > 0 for name in one)


# --- the figure --------------------------------------------------------------------------------

def flow(case=TINY[1]):
    return {regime: anatomy(case, regime)["rows"] for regime in suite.REGIMES}


def strips(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_layer_flow_draws_a_strip_per_regime_and_a_cell_per_layer():
    rows = flow()
    fig = plot_layer_flow(rows)
    axes = strips(fig)
    assert [ax.get_yticklabels()[0].get_text() for ax in axes] == list(suite.REGIMES)
    assert all(ax.collections[0].get_array().shape == (1, 11) for ax in axes)
    assert len(fig.axes) == len(suite.REGIMES) + 1  # and the colour bar


def test_the_colour_bar_labels_flops_as_plain_text_within_a_decade_too():
    """A scale of 1,000 to 10,000 FLOPs (the least a tenth of the most) had one major label, and
    its minor ones came out as "$\\mathdefault{6\\times10^{3}}$" (mathtext is off in the
    style); now 1, 2 and 5 a decade, as plain text."""
    rows = {regime: [dict(row, backward_flops=flops) for row in rows]
            for (regime, rows), flops in zip(flow().items(), [2_000, 4_000, 10_000] * 3)}
    svg = figure_svg(plot_layer_flow(rows))
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "mathdefault" not in svg and "$" not in "".join(labels)
    assert {"1e+03", "2e+03", "5e+03", "1e+04"} <= set(labels)


def test_layer_flow_is_grey_where_no_backward_runs():
    rows = flow()
    axes = dict(zip(suite.REGIMES, strips(plot_layer_flow(rows))))
    grey, white = to_rgba("lightgrey"), to_rgba("white")

    def colours(regime):
        mesh = axes[regime].collections[0]
        return [tuple(c) for c in mesh.to_rgba(mesh.get_array())[0]]

    assert set(colours("no_grad")) == {grey}
    head = colours("head")
    assert head[:-1] == [grey] * 10 and head[-1] not in (grey, white)
    # first_k: every cell has a backward; the ReLUs and pooling only uncounted ones
    first = colours("first_k")
    assert grey not in first
    assert [c == white for c in first] == [row["backward_flops"] == 0 for row in rows["first_k"]]
    assert not any(np.isnan(c).any() for c in first)
    frozen = colours("freeze_first_k")
    assert frozen[:4] == [grey] * 4 and grey not in frozen[4:]


def test_layer_flow_reads_with_resnet50s_rows():
    rows = flow(TINY[-1])
    fig = plot_layer_flow(rows)
    assert all(ax.collections[0].get_array().shape == (1, 159) for ax in strips(fig))
    labels = [t.get_text() for t in strips(fig)[-1].get_xticklabels()]
    assert labels == ["0", "1", "2", "3", "4", "5"]


def test_a_convolution_s_backward_splits_into_its_input_and_weight_gradients():
    rows = anatomy(suite.Case("cnn", 2, 16), "full")["rows"]
    first, second = [row for row in rows if row["type"] == "Conv2d"][:2]
    assert first["backward_input_flops"] == 0 < first["backward_weight_flops"]  # the image
    assert second["backward_input_flops"] > 0 and second["backward_weight_flops"] > 0


def test_the_weight_change_is_a_ratio_of_norms():
    assert layers._relative_change([torch.tensor([1.0, 2.0])], [torch.tensor([1.0, 0.0])]) \
        == pytest.approx(2.0)  # |(0, 2)| / |(1, 0)|, not its square


def test_a_2d_average_pool_has_a_formula_per_spatial_dimension():
    sizes, texts = layers.size_formulas(nn.AvgPool2d(2), [1, 3, 8, 6])
    assert sizes == [4, 3] and len(texts) == 2
    assert texts[0] == "floor((8 + 2*0 - 2)/2) + 1 = 4"


def test_layer_flow_dots_sit_in_their_cells_and_a_model_of_one_stage_is_ticked_once():
    """Three layers of one stage ("body"), the first and last training: a dot at the middle of
    each of their cells, and one tick, at the first layer (the last layer is of its stage too)."""
    rows = {"full": [{"name": f"body.{n}", "call": 0, "backward_flops": 10 * (n + 1),
                      "trainable": n != 1} for n in range(3)]}
    (ax,) = strips(plot_layer_flow(rows))
    assert ax.collections[1].get_offsets()[:, 0].tolist() == [0.5, 2.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["body"]
    assert list(ax.get_xticks()) == [0.5]

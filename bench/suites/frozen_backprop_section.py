"""The frozen-backprop suite's report section: each regime's cost against full backprop, and the
autograd graphs recorded with the run."""

import pandas as pd

from bench.plots import figure_svg, figures_svg, plot_layer_flow, plot_relative
from bench.report import format as fmt
from bench.report.sections import (
    Fold,
    Section,
    add_profiles,
    by_reason,
    diagram,
    make_table,
    new_section,
)
from bench.schema import OUTSIDE
from bench.tables import add_ratios, by_mode

RATIOS = ["median", "backward_flops", "saved_bytes", "peak_memory", "graph_nodes"]
COLUMNS = {
    "case": ("case", None),
    "regime": ("impl", None),
    "fwd+bwd": ("median_forward_backward", fmt.seconds),
    "× full": ("median_ratio_forward_backward", fmt.ratio),
    "backward": ("median_backward", fmt.seconds),
    "bwd × full": ("median_ratio_backward", fmt.ratio),
    "backward FLOPs": ("backward_flops_forward_backward", lambda v: fmt.si(v, "FLOP")),
    "FLOPs × full": ("backward_flops_ratio_forward_backward", fmt.ratio),
    "saved for backward": ("saved_bytes_forward_backward", lambda v: fmt.si(v, "B")),
    "saved × full": ("saved_bytes_ratio_forward_backward", fmt.ratio),
    "peak memory × full": ("peak_memory_ratio_forward_backward", fmt.ratio),
    "graph nodes": ("graph_nodes_forward_backward", fmt.count),
    "AccumulateGrad": ("accumulate_grad_nodes_forward_backward", fmt.count),
    "error": ("error_forward_backward", fmt.error),
}
BARS = {
    "median_ratio_forward_backward": "fwd+bwd time",
    "median_ratio_backward": "backward time",
    "backward_flops_ratio_forward_backward": "backward FLOPs",
    "saved_bytes_ratio_forward_backward": "saved bytes",
    "peak_memory_ratio_forward_backward": "peak memory",
}


FINDING_REGIMES = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")


def finding(wide: pd.DataFrame, outcomes: dict | None = None) -> str:
    """Which regime saves what, for the last (largest) model of one device and precision."""
    case = wide["case"].iloc[-1]
    rows = wide[wide["case"] == case].set_index("impl")
    device, precision = rows["device"].iloc[0], rows["precision"].iloc[0]
    if "median_forward_backward" not in rows:  # the finding reads that mode alone
        missing = ["forward_backward"]
    else:  # a regime measured in the backward mode alone has a row, but no time to read
        missing = [r for r in FINDING_REGIMES
                   if r not in rows.index or pd.isna(rows.at[r, "median_forward_backward"])]
    if missing:
        # the benchmarks the finding reads: each regime's forward+backward (full's, where the
        # whole mode is missing), and why each was not measured
        row = {"run_id": rows["run_id"].iloc[0], "suite": rows["suite"].iloc[0], "case": case,
               "device": device, "precision": precision, "mode": "forward_backward"}
        whys = by_reason(outcomes or {}, [
            (name, row | {"impl": "full" if name == "forward_backward" else name})
            for name in missing])
        return (f"{case} on {device} {precision}: no finding: " + "; ".join(
            f"{', '.join(names)} not measured here ({why})" for why, names in whys.items())
            + ".")

    def time(regime):
        """Its share of full's forward+backward time, with its 95% interval where the two were
        timed side by side; else the medians' ratio, marked where either row was noisy (its
        interquartile range above 10% of the median twice): a share to read loosely."""
        row = rows.loc[regime]
        share = fmt.percent(row["median_ratio_forward_backward"])
        # absent or NaN unless paired with full's row (add_ratios)
        low, high = (row.get(f"median_ratio_{end}_forward_backward") for end in ("low", "high"))
        if pd.notna(low) and pd.notna(high):
            return f"{share} ({fmt.percent(low)}–{fmt.percent(high)})"
        flags = [rows.loc[r].get("noisy_forward_backward", False) for r in (regime, "full")]
        noisy = any(pd.notna(flag) and bool(flag) for flag in flags)
        return share + (" (noisy)" if noisy else "")

    def cost(regime):
        flops = rows.loc[regime, "backward_flops_ratio_forward_backward"]
        return (f"{time(regime)} of full's forward+backward time"
                + (f" and {fmt.percent(flops)} of its backward FLOPs" if pd.notna(flops) else ""))

    # unknown FLOPs (a run without the counts) are neither the same nor different
    flops = rows.loc[["freeze_first_k", "freeze_first_k_no_grad"],
                     "backward_flops_forward_backward"]
    same = "" if flops.isna().any() else \
        f" ({'the same' if flops.iloc[0] == flops.iloc[1] else 'different'} backward FLOPs)"
    # the reason holds where it explains something: the first layers cost more than the head
    share = rows["median_ratio_forward_backward"]
    first_k = (f"still took {cost('first_k')}, because the gradient has to flow back through "
               "every later layer" if share["first_k"] > share["head"] else
               f"took {cost('first_k')}")
    return (f"{case} on {device} {precision}: training only the head took {cost('head')}; "
            f"training only the first layers {first_k}; freezing the first layers "
            f"took {cost('freeze_first_k')} by requires_grad_(False) and "
            f"{time('freeze_first_k_no_grad')} of the time under torch.no_grad(){same}.")


TIME_NOTE = ("Times × full: each regime timed side by side with full in alternating blocks, "
             "each on a model of its own, where the run did so (baseline_ratio in the JSON; the "
             "finding gives its 95% interval), else the ratio of the two medians, which were "
             "measured apart.")


def wide_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case and regime: each mode's figures, their ratios to full, and the 95%
    interval of the time's ratio where it was timed side by side (`median_ratio_low`, `_high`,
    from add_ratios)."""
    rows = add_ratios(frame, RATIOS)
    ratio_columns = [f"{c}_ratio" for c in RATIOS]
    return by_mode(rows, ["median", "backward_flops", "saved_bytes", "peak_memory",
                          "graph_nodes", "accumulate_grad_nodes", "error", *ratio_columns,
                          "median_ratio_low", "median_ratio_high", "noisy"])


def section(frame: pd.DataFrame, info: dict) -> Section:
    wide = wide_rows(frame)
    groups = wide.groupby(["device", "precision"], sort=False)
    out = new_section(frame, info)
    out.findings = [finding(group, info.get("outcomes")) for _, group in groups]
    out.notes.append(TIME_NOTE)
    for (device, precision), group in groups:
        out.tables.append(make_table(group, COLUMNS,
                                     f"Regimes against full: {device}, {precision}"))
    out.figures.append(("Cost of each regime relative to full (1 = the same as full)",
                        figures_svg(plot_relative(wide, BARS))))
    add_anatomy(out, frame)
    add_profiles(out, frame)
    drawn = set()
    for case, group in frame.groupby("case", sort=False):
        recorded = [a for a in group["artifacts"] if isinstance(a, dict) and a.get("diagrams")]
        if not recorded:
            out.notes.append(f"{case}: counts only; its graph has hundreds of nodes, too many "
                             "for a diagram that can be read.")
        for artifacts in recorded:
            for item in artifacts["diagrams"]:
                if item["caption"] not in drawn:
                    drawn.add(item["caption"])
                    out.diagrams.append(diagram(item["caption"], item["dot"]))
    return out


LAYER_COLUMNS = {
    "layer": ("name", None),
    "type": ("type", None),
    "weight (PyTorch)": ("weight_shape", fmt.text),
    "weight (Keras)": ("keras_shape", fmt.text),
    "parameters": ("params", fmt.count),
    "output": ("output_shape", fmt.text),
    "output size: formula": ("output_size", fmt.text),
    "in this regime": ("state", None),
    "forward FLOPs": ("forward_flops", lambda v: fmt.si(v, "FLOP")),
    "backward: input grad": ("backward_input_flops", lambda v: fmt.si(v, "FLOP")),
    "backward: weight grad": ("backward_weight_flops", lambda v: fmt.si(v, "FLOP")),
    "saved for backward": ("saved_bytes", lambda v: fmt.si(v, "B")),
    "weight change, 3 SGD steps": ("weight_change", lambda v: fmt.text(None if pd.isna(v)
                                                                         else f"{v:.3g}")),
}


def _shape(value) -> str | None:
    return None if value is None else "(" + ", ".join(map(str, value)) + ")"


def layer_rows(found: dict) -> pd.DataFrame:
    """One regime's anatomy as display rows: shapes as tuples, the formulas joined, the state."""
    rows = pd.DataFrame(found["rows"])
    rows["weight_shape"] = rows["weight_shape"].map(_shape)
    rows["keras_shape"] = rows["keras_shape"].map(_shape)
    rows["output_shape"] = rows["output_shape"].map(_shape)
    rows["output_size"] = [None if not f else "; ".join(f) + ("" if ok else " (not as produced)")
                           for f, ok in zip(rows["output_size"], rows["output_size_ok"])]
    rows["state"] = [("trains" if t else "frozen") if t is not None else
                     ("backward runs" if ran else "no backward")
                     for t, ran in zip(rows["trainable"], rows["backward_ran"])]
    rows["weight_change"] = rows["name"].map(found.get("weight_change", {}))
    return rows


def add_anatomy(out: Section, frame: pd.DataFrame) -> None:
    """Per model: the flow of the backward through its layers in every regime, as strips, and
    the per-layer tables, folded; what the FLOP counter does not know is listed, not hidden."""
    recorded = frame[frame["artifacts"].map(lambda a: isinstance(a, dict) and "anatomy" in a)]
    for case, group in recorded.groupby("case", sort=False):
        by_regime = {}
        for _, row in group.iterrows():
            by_regime.setdefault(row["impl"], row["artifacts"]["anatomy"])
        out.figures.append((
            f"{case}: backward FLOPs per layer in each regime (grey: no backward runs through "
            "the layer; dots: its parameters train)",
            [figure_svg(plot_layer_flow({r: a["rows"] for r, a in by_regime.items()}))]))
        uncounted = sorted({op for a in by_regime.values() for op in a["uncounted_ops"]})
        fold = Fold(f"{case}: layer by layer ({len(by_regime)} regimes)")
        fold.notes.append("Weights in PyTorch's order (out, in/groups, kh, kw) and in Keras's "
                          "(kh, kw, in/groups, out); output sizes by floor((L + 2p - d(k-1) - 1)/s)"
                          " + 1, checked against the shape each layer produced. Counted as zero "
                          "FLOPs (no formula in torch's FLOP counter), not free: "
                          + (", ".join(uncounted) or "none") + ".")
        for regime, found in by_regime.items():
            fold.tables.append(make_table(layer_rows(found), LAYER_COLUMNS, f"{case}: {regime}"))
        out.folds.append(fold)
        layers = {r: [row for row in a["rows"] if row["name"] != OUTSIDE]
                  for r, a in by_regime.items()}
        ran = {r: sum(row["backward_ran"] for row in rows) for r, rows in layers.items()}
        total = len(next(iter(layers.values())))
        if "first_k" in ran and "head" in ran:
            out.notes.append(f"{case}: a backward runs through {ran['first_k']} of {total} "
                             f"layer calls when only the first layers train, "
                             f"{ran['head']} when only the head trains.")

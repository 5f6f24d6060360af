"""Every finding sentence by value, on hand-built tables where a wrong winner, an inverted ratio
or two swapped regimes would read differently from the right sentence."""

import pandas as pd

from bench.plots import plot_relative
from bench.report.sections import (
    SPEEDUP_NOTE,
    Section,
    add_profiles,
    fastest_findings,
    generic_section,
    speedup_interval,
)
from bench.suites.frozen_backprop_section import BARS, RATIOS, wide_rows
from bench.suites.frozen_backprop_section import finding as frozen_finding
from bench.suites.roi_spp_pooling_section import finding as roi_finding
from bench.tables import add_ratios, add_speedup, by_mode, fastest

SETTING = {"run_id": "r", "device": "cpu", "precision": "fp32"}


def race(medians_per_case):
    return add_speedup(pd.DataFrame([
        {**SETTING, "suite": "s", "case": case, "impl": impl, "mode": "forward",
         "median": median, "q1": median * 0.97, "q3": median * 1.03, "baseline": "base"}
        for case, medians in medians_per_case.items() for impl, median in medians.items()]))


def test_fastest_names_the_clear_winner_of_most_cases_and_its_speed_against_the_baseline():
    # fast wins a, d and e clearly, b within the runner-up's spread; mid wins c clearly
    findings = fastest_findings(race({"a": {"base": 4.0, "mid": 3.0, "fast": 1.0},
                                      "b": {"base": 4.0, "mid": 2.1, "fast": 2.0},
                                      "c": {"base": 4.0, "mid": 1.0, "fast": 2.0},
                                      "d": {"base": 4.0, "mid": 3.0, "fast": 2.0},
                                      "e": {"base": 3.0, "mid": 2.0, "fast": 1.0}}))
    # fast's speeds against base: 4, 2, 2, 2, 3; their median is 2 (mean 2.6)
    assert findings == ["cpu fp32 forward: fast was clearly fastest in 3 of 5 cases, at a "
                        "median 2× the speed of base (elsewhere: mid clearly in 1; within "
                        "noise: 1)."]


def test_without_a_clear_majority_no_winner_is_named():
    # x wins a clearly, b only within noise (its total wins are the most), base wins c clearly
    findings = fastest_findings(race({"a": {"base": 4.0, "x": 1.0, "y": 3.0},
                                      "b": {"base": 4.0, "x": 2.95, "y": 3.0},
                                      "c": {"base": 0.5, "x": 1.0, "y": 2.0}}))
    assert findings == ["cpu fp32 forward: no implementation was clearly fastest in most of the "
                        "3 cases (clearly fastest: x in 1, base in 1; within noise: 1)."]
    # one case raced, within noise
    assert fastest_findings(race({"a": {"base": 4.0, "x": 3.95}})) == [
        "cpu fp32 forward: no implementation was clearly fastest in its one case (within "
        "noise: 1)."]
    # half the cases is not most
    assert fastest_findings(race({"a": {"base": 4.0, "x": 1.0}, "b": {"base": 1.0, "x": 4.0}})) \
        == ["cpu fp32 forward: no implementation was clearly fastest in most of the 2 cases "
            "(clearly fastest: x in 1, base in 1)."]


def test_quartiles_that_touch_are_no_clear_win():
    # x's q3 is exactly y's q1: its range is not below y's
    frame = pd.DataFrame([{**SETTING, "suite": "s", "case": "a", "impl": impl, "mode": "forward",
                           "median": median, "q1": q1, "q3": q3, "baseline": "y"}
                          for impl, q1, median, q3 in (("x", 0.9, 1.0, 1.0), ("y", 1.0, 1.2, 1.3))])
    assert not fastest(frame).set_index("case").loc["a", "clear"]
    frame.loc[0, "q3"] = 0.99
    assert fastest(frame).set_index("case").loc["a", "clear"]


def test_a_case_with_one_implementation_is_no_race():
    assert fastest_findings(race({"a": {"base": 2.0, "x": 1.0}, "b": {"x": 1.0},
                                  "c": {"x": 1.0}})) == [
        "cpu fp32 forward: x was clearly fastest in 1 of 1 cases, at a median 2× the speed of "
        "base."]
    assert fastest_findings(race({"a": {"x": 1.0}, "b": {"y": 1.0}})) == []


def test_no_speed_is_given_against_a_baseline_that_was_not_measured():
    assert fastest_findings(race({"a": {"x": 1.0, "y": 2.0}})) == [
        "cpu fp32 forward: x was clearly fastest in 1 of 1 cases."]


def test_without_a_majority_the_clear_wins_are_listed_most_first():
    # x is fastest in a, b and c but clearly only in a; y clearly in d and e
    findings = fastest_findings(race({"a": {"base": 4.0, "x": 1.0, "y": 3.0},
                                      "b": {"base": 4.0, "x": 2.95, "y": 3.0},
                                      "c": {"base": 4.0, "x": 2.95, "y": 3.0},
                                      "d": {"base": 4.0, "x": 3.0, "y": 1.0},
                                      "e": {"base": 4.0, "x": 3.0, "y": 1.0}}))
    assert findings == ["cpu fp32 forward: no implementation was clearly fastest in most of the "
                        "5 cases (clearly fastest: y in 2, x in 1; within noise: 2)."]


def test_a_winning_baseline_is_not_given_a_speed_against_itself():
    assert fastest_findings(race({"a": {"base": 1.0, "x": 2.0}, "b": {"base": 1.0, "x": 3.0},
                                  "c": {"base": 2.0, "x": 1.0}})) == [
        "cpu fp32 forward: base was clearly fastest in 2 of 3 cases (elsewhere: x clearly in 1)."]


def frozen_rows(case, medians, flops):
    return [{**SETTING, "suite": "frozen", "case": case, "impl": impl, "mode": mode,
             "median": medians[impl] * (1 if mode == "forward_backward" else 0.6),
             "backward_flops": flops[impl], "saved_bytes": 1.0, "peak_memory": 1.0,
             "graph_nodes": 1, "accumulate_grad_nodes": 1, "error": 0.0, "baseline": "full"}
            for impl in medians for mode in ("forward_backward", "backward")]


def test_frozen_finding_reads_each_regime_of_the_largest_model_against_full():
    regimes = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")
    small = dict.fromkeys(regimes, 1.0)
    medians = dict(zip(regimes, (10.0, 3.0, 8.0, 8.5, 9.0)))
    flops = dict(zip(regimes, (100.0, 10.0, 60.0, 50.0, 50.0)))
    def wide(frame):
        return by_mode(add_ratios(frame, RATIOS), ["median", "backward_flops", "saved_bytes",
                                                   "peak_memory", "graph_nodes",
                                                   "accumulate_grad_nodes", "error",
                                                   *[f"{c}_ratio" for c in RATIOS]])

    frame = pd.DataFrame(frozen_rows("small", small, small) + frozen_rows("big", medians, flops))
    assert frozen_finding(wide(frame)) == (
        "big on cpu fp32: training only the head took 30% of full's forward+backward time and "
        "10% of its backward FLOPs; training only the first layers still took 80% of full's "
        "forward+backward time and 60% of its backward FLOPs, because the gradient has to flow "
        "back through every later layer; freezing the first layers took 85% of full's "
        "forward+backward time and 50% of its backward FLOPs by requires_grad_(False) and 90% "
        "of the time under torch.no_grad() (the same backward FLOPs).")
    # without FLOP counts: the times alone, and no word on whether the FLOPs are the same
    unknown = dict.fromkeys(regimes, float("nan"))
    frame = pd.DataFrame(frozen_rows("big", medians, unknown))
    assert frozen_finding(wide(frame)) == (
        "big on cpu fp32: training only the head took 30% of full's forward+backward time; "
        "training only the first layers still took 80% of full's forward+backward time, "
        "because the gradient has to flow back through every later layer; freezing the first "
        "layers took 85% of full's forward+backward time by requires_grad_(False) and 90% of "
        "the time under torch.no_grad().")
    # one of the two freezing regimes counted: still no word on whether they are the same
    frame = pd.DataFrame(frozen_rows("big", medians, {**unknown, "freeze_first_k": 50.0}))
    assert frozen_finding(wide(frame)).endswith("of the time under torch.no_grad().")


def test_frozen_finding_gives_the_reason_only_where_the_first_layers_cost_more_than_the_head():
    regimes = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")
    medians = dict(zip(regimes, (10.0, 6.0, 5.0, 8.5, 9.0)))  # noise can do this on a busy box
    flops = dict(zip(regimes, (100.0, 10.0, 60.0, 50.0, 50.0)))
    rows = [{**row, "noisy": False} for row in frozen_rows("big", medians, flops)]
    text = frozen_finding(wide_rows(pd.DataFrame(rows)))
    assert "training only the head took 60% of full's forward+backward time and 10% of its " \
        "backward FLOPs; training only the first layers took 50% of full's forward+backward " \
        "time and 60% of its backward FLOPs; freezing" in text


def test_frozen_finding_marks_a_share_of_time_measured_on_a_noisy_row():
    regimes = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")
    medians = dict(zip(regimes, (10.0, 3.0, 8.0, 8.5, 9.0)))
    flops = dict(zip(regimes, (100.0, 10.0, 60.0, 50.0, 50.0)))
    columns = ["median", "backward_flops", *[f"{c}_ratio" for c in RATIOS], "noisy"]
    rows = frozen_rows("big", medians, flops)
    for row in rows:  # head's forward+backward row noisy; its backward row is not in the text
        row["noisy"] = row["impl"] == "head"
    text = frozen_finding(by_mode(add_ratios(pd.DataFrame(rows), RATIOS), columns))
    assert "head took 30% (noisy) of full's" in text and "(noisy)" not in text.replace(
        "head took 30% (noisy)", "")
    for row in rows:  # full noisy: every share of its time is
        row["noisy"] = row["impl"] == "full" and row["mode"] == "forward_backward"
    text = frozen_finding(by_mode(add_ratios(pd.DataFrame(rows), RATIOS), columns))
    assert text.count("(noisy)") == 4 and "90% (noisy) of the time under" in text


def test_frozen_finding_gives_the_side_by_side_share_and_its_interval_where_there_is_one():
    regimes = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")
    medians = dict(zip(regimes, (10.0, 3.0, 8.0, 8.5, 9.0)))
    flops = dict(zip(regimes, (100.0, 10.0, 60.0, 50.0, 50.0)))
    rows = frozen_rows("big", medians, flops)
    for row in rows:
        row["noisy"] = row["impl"] == "full"
    frame = pd.DataFrame(rows)
    # freeze_first_k timed side by side with full: 40% of its time, 35% to 46%, where the
    # medians (measured apart) said 85%; first_k's backward row paired, not in the text
    side_by_side(frame, "big", "freeze_first_k", 0.4, 0.35, 0.46)
    at = (frame["impl"] == "first_k") & (frame["mode"] == "backward")
    frame.loc[at, ["baseline_ratio", "baseline_ratio_low", "baseline_ratio_high"]] = [2, 1, 3]
    text = frozen_finding(wide_rows(frame))
    assert "freezing the first layers took 40% (35%–46%) of full's forward+backward time and " \
        "50% of its backward FLOPs by requires_grad_(False)" in text
    # the others were not paired: the medians' shares, noisy as full's row is
    assert "first layers still took 80% (noisy) of full's" in text
    assert "90% (noisy) of the time under torch.no_grad()" in text
    # without full's row, or another regime's, there is nothing to say: it says why, as the
    # run's outcomes (by benchmark id) tell: full failed, head was never reached
    outcomes = {("r", "frozen-big-cpu-fp32-full-forward_backward"): ("failed", "out of memory"),
                ("r", "frozen-big-cpu-fp32-head-backward"): ("skipped", "not this one")}
    assert frozen_finding(wide_rows(frame[~frame["impl"].isin(["full", "head"])]),
                          outcomes) == (
        "big on cpu fp32: no finding: full not measured here (failed: out of memory); head not "
        "measured here (not selected, or not reached before the run stopped).")
    # nor where a regime's forward+backward was not measured (its backward row alone is)
    lone = (frame["impl"] == "freeze_first_k_no_grad") & (frame["mode"] == "forward_backward")
    outcomes = {("r", "frozen-big-cpu-fp32-freeze_first_k_no_grad-forward_backward"): (
        "skipped", "no reason to")}
    assert frozen_finding(wide_rows(frame[~lone]), outcomes) == (
        "big on cpu fp32: no finding: freeze_first_k_no_grad not measured here (skipped: no "
        "reason to).")
    # nor with the backward alone: the finding reads forward+backward (full's says why)
    outcomes = {("r", "frozen-big-cpu-fp32-full-forward_backward"): ("skipped", "-k backward")}
    assert frozen_finding(wide_rows(frame[frame["mode"] == "backward"]), outcomes) == (
        "big on cpu fp32: no finding: forward_backward not measured here (skipped: -k "
        "backward).")


def test_roi_finding_compares_with_the_baseline_at_the_largest_case_of_each_kind():
    rows = []
    # the largest case listed first (the grid's order is not the regions' order); image-level
    # SPP has no regions: its first case
    for kind, case, regions, ours, theirs in (("pool", "pool-r512", 512, 6.0, 3.0),
                                              ("pool", "pool-r16", 16, 1.0, 4.0),
                                              ("pyramid", "pyr-r128", 128, 2.0, 8.0),
                                              ("image", "img", 0, 1.0, 5.0),
                                              ("image", "img-small", 0, 3.0, 1.0)):
        for impl, median in (("tv", theirs), ("ours", ours)):
            rows.append({**SETTING, "suite": "roi", "mode": "forward", "kind": kind,
                         "case": case, "regions": regions, "impl": impl, "median": median,
                         "baseline": "tv"})
    assert roi_finding(pd.DataFrame(rows)) == (
        "cpu fp32 forward: at pool-r512, time as a multiple of tv's: ours 2×; "
        "at pyr-r128, time as a multiple of tv's: ours 0.25×; "
        "at img, time as a multiple of tv's: ours 0.2×.")
    # timed side by side with tv at pool-r512: that ratio and its interval, not the medians'
    frame = side_by_side(pd.DataFrame(rows), "pool-r512", "ours", 0.7, 0.6, 0.8)
    assert roi_finding(frame) == (
        "cpu fp32 forward: at pool-r512, time as a multiple of tv's: ours 0.7× (0.6×–0.8×); "
        "at pyr-r128, time as a multiple of tv's: ours 0.25×; "
        "at img, time as a multiple of tv's: ours 0.2×.")
    # a setting where the baseline was not measured (torchvision has no bf16) says why, by
    # the run's outcomes at each kind's largest case; a page of two runs names the run too
    without = pd.DataFrame([row for row in rows if row["impl"] != "tv"])
    no_bf16 = ("skipped", "no bf16")
    outcomes = {("r", "roi-pool-r512-cpu-fp32-tv-forward"): no_bf16,
                ("r", "roi-pyr-r128-cpu-fp32-tv-forward"): no_bf16,
                ("r", "roi-pool-r16-cpu-fp32-tv-forward"): ("failed", "not the largest")}
    assert roi_finding(without.assign(device="cpu (run 1)"), outcomes) == (
        "cpu (run 1) fp32 forward: no comparison: tv at pool-r512 and tv at pyr-r128 not "
        "measured (skipped: no bf16); tv at img not measured (not selected, or not reached "
        "before the run stopped).")
    # another run on the same page: run r's outcomes are not its own
    assert roi_finding(without.assign(run_id="r2", device="cpu (run 2)"), outcomes) == (
        "cpu (run 2) fp32 forward: no comparison: tv at pool-r512 and tv at pyr-r128 and tv at img "
        "not measured (not selected, or not reached before the run stopped).")


def side_by_side(frame, case, impl, ratio, low, high):
    """`frame` with (case, impl) timed side by side with its baseline: ratio and interval."""
    at = (frame["case"] == case) & (frame["impl"] == impl)
    frame.loc[at, ["baseline_ratio", "baseline_ratio_low", "baseline_ratio_high"]] = \
        [ratio, low, high]
    return frame


def winners(frame):
    """fastest() per case, the speedups made again from what the frame now holds."""
    return fastest(add_speedup(frame.drop(columns="speedup"))).set_index("case")


def test_side_by_side_intervals_decide_a_clear_win_where_both_have_them():
    # a: the medians' IQRs overlap (x 2.0, y 2.05), but side by side with base x is clearly
    # faster; b: the IQRs do not overlap (x 1.0, y 2.0), but the intervals do: within noise
    frame = race({"a": {"base": 4.0, "x": 2.0, "y": 2.05}, "b": {"base": 4.0, "x": 1.0, "y": 2.0}})
    side = {("a", "x"): (0.45, 0.44, 0.46), ("a", "y"): (0.55, 0.5, 0.6),
            ("b", "x"): (0.5, 0.4, 0.6), ("b", "y"): (0.52, 0.45, 0.7)}
    for (case, impl), values in side.items():
        side_by_side(frame, case, impl, *values)
    wins = winners(frame)
    assert wins.loc["a", "impl"] == "x" and bool(wins.loc["a", "clear"])
    assert wins.loc["b", "impl"] == "x" and not bool(wins.loc["b", "clear"])
    # side by side, y is the faster in b: the ranking follows the paired ratios
    frame.loc[(frame["case"] == "b") & (frame["impl"] == "y"), "baseline_ratio"] = 0.3
    assert winners(frame).loc["b", "impl"] == "y"
    # against the baseline itself (exactly 1): clear when x's interval lies below 1
    wins = winners(side_by_side(race({"c": {"base": 1.0, "x": 1.01}}), "c", "x", 0.9, 0.85, 0.95))
    assert wins.loc["c", "impl"] == "x" and bool(wins.loc["c", "clear"])
    # only the winner paired: the IQRs judge (x 2.0 and y 2.05 overlap: within noise)
    half = race({"d": {"base": 4.0, "x": 2.0, "y": 2.05}})
    wins = winners(side_by_side(half, "d", "x", 0.5, 0.49, 0.51))
    assert wins.loc["d", "impl"] == "x" and not bool(wins.loc["d", "clear"])


def test_a_paired_ratio_without_its_baseline_row_gives_no_speedup():
    frame = race({"a": {"base": 4.0, "x": 2.0, "y": 3.0}})
    frame.loc[frame["impl"] == "x", ["baseline_ratio", "baseline_ratio_low",
                                     "baseline_ratio_high"]] = [0.5, 0.4, 0.6]
    without = add_speedup(frame[frame["impl"] != "base"].drop(columns="speedup"))
    assert without["speedup"].isna().all()
    # nor an interval beside the missing speedup
    assert without[["median_ratio_low", "median_ratio_high"]].isna().all().all()
    assert speedup_interval(without).isna().all()
    assert add_speedup(frame.drop(columns="speedup")).set_index("impl")["speedup"].to_dict() \
        == {"base": 1.0, "x": 2.0, "y": 4.0 / 3.0}


def test_the_layer_call_counts_leave_out_what_ran_outside_any_layer():
    from bench.report.sections import Section
    from bench.schema import OUTSIDE
    from bench.suites.frozen_backprop_section import add_anatomy

    def anatomy(ran):  # three layers, then the residual additions' row
        rows = [{"name": name, "call": 1, "type": "ReLU", "backward_ran": r, "trainable": None,
                 "weight_shape": None, "keras_shape": None, "output_shape": [1], "params": 0,
                 "output_size": None, "output_size_ok": True, "forward_flops": 0.0,
                 "backward_flops": 0.0, "backward_input_flops": 0.0,
                 "backward_weight_flops": 0.0, "saved_bytes": 0}
                for name, r in zip(["a", "b", "c", OUTSIDE], ran)]
        return {"anatomy": {"rows": rows, "uncounted_ops": []}}

    frame = pd.DataFrame([{"case": "net", "impl": "first_k", "artifacts": anatomy([1, 1, 1, 1])},
                          {"case": "net", "impl": "head", "artifacts": anatomy([0, 0, 1, 0])}])
    out = Section("frozen", "Frozen", "", [])
    add_anatomy(out, frame)
    assert out.notes == ["net: a backward runs through 3 of 3 layer calls when only the first "
                         "layers train, 1 when only the head trains."]


def test_frozen_table_gives_each_figure_under_its_own_heading():
    """Each figure of head's row a different share of full's, so that a column read from the
    wrong field, mode or ratio shows another number."""
    from bench.report.sections import make_table
    from bench.suites.frozen_backprop_section import COLUMNS

    # (forward+backward, backward) per field; full's, then head's
    fields = {"full": {"median": (10.0, 4.0), "backward_flops": (1e9, 2e9),
                       "saved_bytes": (3e6, 3e6), "peak_memory": (8e6, 8e6),
                       "graph_nodes": (100, 100), "accumulate_grad_nodes": (60, 60)},
              "head": {"median": (5.0, 1.6), "backward_flops": (3e8, 1.4e9),
                       "saved_bytes": (6e5, 6e5), "peak_memory": (2e6, 2e6),
                       "graph_nodes": (50, 50), "accumulate_grad_nodes": (2, 2)}}
    frame = pd.DataFrame([{**SETTING, "suite": "frozen", "case": "big", "impl": impl,
                           "mode": mode, "error": 1e-7, "baseline": "full", "noisy": False,
                           **{field: pair[i] for field, pair in values.items()}}
                          for impl, values in fields.items()
                          for i, mode in enumerate(("forward_backward", "backward"))])
    table = make_table(wide_rows(frame), COLUMNS, "t")
    head = dict(zip(table.columns, (text for text, _ in table.rows[1])))
    assert head == {"case": "big", "regime": "head", "fwd+bwd": "5 s", "× full": "0.5×",
                    "backward": "1.6 s", "bwd × full": "0.4×", "backward FLOPs": "300 MFLOP",
                    "FLOPs × full": "0.3×", "saved for backward": "600 kB",
                    "saved × full": "0.2×", "peak memory × full": "0.25×", "graph nodes": "50",
                    "AccumulateGrad": "2", "error": "1.00e-07"}


def test_frozen_bars_carry_the_label_of_the_figure_they_show():
    # every metric a different share of full's, so that a label on another metric's bars shows
    shares = {"median": 0.5, "backward_flops": 0.4, "saved_bytes": 0.3, "peak_memory": 0.6}
    rows = [{**SETTING, "suite": "frozen", "case": "m", "impl": impl, "mode": mode,
             **{metric: share if impl == "head" else 1.0 for metric, share in shares.items()},
             "graph_nodes": 1, "accumulate_grad_nodes": 1, "error": 0.0, "noisy": False,
             "baseline": "full"}
            for impl in ("full", "head") for mode in ("forward_backward", "backward")]
    axes = plot_relative(wide_rows(pd.DataFrame(rows)), BARS)[0].axes[0]
    heights = {bars.get_label(): [bar.get_height() for bar in bars] for bars in axes.containers}
    assert heights == {"fwd+bwd time": [1.0, 0.5], "backward time": [1.0, 0.5],
                       "backward FLOPs": [1.0, 0.4], "saved bytes": [1.0, 0.3],
                       "peak memory": [1.0, 0.6]}
    # the line that reads "as much as full" is at 1, not on the bars' base
    assert [list(line.get_ydata()) for line in axes.lines] == [[1.0, 1.0]]


def test_a_setting_of_lone_cases_says_so_beside_settings_that_raced():
    raced = race({"a": {"base": 4.0, "x": 1.0}, "b": {"base": 4.0, "x": 2.0}})
    lone = race({"a": {"base": 4.0}, "b": {"x": 2.0}}).assign(mode="backward")
    assert fastest_findings(pd.concat([lone, raced], ignore_index=True)) == [
        "cpu fp32 backward: no case was measured with two implementations, so none is compared.",
        "cpu fp32 forward: x was clearly fastest in 2 of 2 cases, at a median 3× the speed of "
        "base."]
    # where nothing raced anywhere, no finding: the section says it once for the page
    assert fastest_findings(lone) == []


def test_a_setting_of_mostly_host_bound_rows_says_its_wall_times_weigh_launches():
    frame = race({"a": {"base": 4.0, "x": 1.0}, "b": {"base": 4.0, "x": 2.0}})
    frame["host_bound"] = [True, True, True, False]  # 3 of 4: most
    assert fastest_findings(frame) == [
        "cpu fp32 forward: x was clearly fastest in 2 of 2 cases, at a median 3× the speed of "
        "base. 3 of its 4 rows are host-bound (wall time above twice the device time): these "
        "wall times weigh launches more than kernels."]
    frame["host_bound"] = [True, True, None, False]  # 2 of 4, one unknown: not most
    assert fastest_findings(frame)[0].endswith("the speed of base.")


def test_the_host_bound_sentence_goes_to_its_own_setting_with_its_own_counts():
    forward = race({"a": {"base": 4.0, "x": 1.0}, "b": {"base": 4.0, "x": 2.0}})
    backward = forward.assign(mode="backward")
    forward["host_bound"], backward["host_bound"] = [True, True, True, False], [False] * 4
    findings = fastest_findings(pd.concat([backward, forward], ignore_index=True))
    assert "host-bound" not in findings[0]
    assert findings[1].endswith(" 3 of its 4 rows are host-bound (wall time above twice the "
                                "device time): these wall times weigh launches more than kernels.")


def test_a_kind_without_its_baseline_does_not_hide_the_others_comparison():
    rows = [{**SETTING, "suite": "roi", "mode": "forward", "kind": kind, "case": case,
             "regions": regions, "impl": impl, "median": median, "baseline": base}
            for kind, case, regions, impl, median, base in (
                ("pool", "pool-r16", 16, "ours", 1.0, "tv"),  # tv has no bf16, say
                ("image", "img", 0, "per_level", 2.0, "per_level"),
                ("image", "img", 0, "ours_spp", 1.0, "per_level"))]
    assert roi_finding(pd.DataFrame(rows)) == (
        "cpu fp32 forward: at img, time as a multiple of per_level's: ours_spp 0.5×.")
    # only the baseline measured, nothing missing: nothing to compare, said plainly
    alone = pd.DataFrame(rows[1:2])
    assert roi_finding(alone) == "cpu fp32 forward: no comparison."


def test_the_roi_section_plots_scaling_where_counts_vary_and_each_case_s_time_otherwise():
    from bench.suites.roi_spp_pooling_section import section

    rows = [{**SETTING, "suite": "roi", "mode": "forward", "kind": "pool", "fmap": "small",
             "output": 7, "case": f"pool-r{n}", "regions": n, "impl": impl,
             "median": n * 1e-6 * (2 if impl == "tv" else 1), "baseline": "tv",
             "artifacts": None}
            for n in (16, 128) for impl in ("tv", "ours")]
    captions = [caption for caption, _ in section(pd.DataFrame(rows), {}).figures]
    assert captions[0].startswith("Median time against the number of regions (log-log)")
    one = pd.DataFrame([row for row in rows if row["regions"] == 16])  # the smoke grid's kind
    captions = [caption for caption, svgs in section(one, {}).figures if svgs]
    assert captions == ["Median time per case and implementation (log scale)"]


def test_side_by_side_intervals_that_touch_are_no_clear_win():
    frame = race({"a": {"base": 4.0, "x": 2.0, "y": 2.05}})
    side_by_side(frame, "a", "x", 0.45, 0.40, 0.50)
    side_by_side(frame, "a", "y", 0.55, 0.50, 0.60)  # its low end is x's high end
    wins = winners(frame)
    assert wins.loc["a", "impl"] == "x" and not bool(wins.loc["a", "clear"])


def test_frozen_finding_gives_no_reason_where_the_first_layers_cost_as_much_as_the_head():
    regimes = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")
    medians = dict(zip(regimes, (10.0, 5.0, 5.0, 8.5, 9.0)))
    rows = [{**row, "noisy": False}
            for row in frozen_rows("big", medians, dict.fromkeys(regimes, 1.0))]
    text = frozen_finding(wide_rows(pd.DataFrame(rows)))
    assert "training only the first layers took 50%" in text and "because" not in text


def test_frozen_finding_says_the_freezing_regimes_flops_differ_whichever_is_lower():
    regimes = ("full", "head", "first_k", "freeze_first_k", "freeze_first_k_no_grad")
    medians = dict(zip(regimes, (10.0, 3.0, 8.0, 8.5, 9.0)))
    for frozen, under_no_grad in ((40.0, 50.0), (50.0, 40.0)):
        flops = dict(zip(regimes, (100.0, 10.0, 60.0, frozen, under_no_grad)))
        rows = [{**row, "noisy": False} for row in frozen_rows("big", medians, flops)]
        assert frozen_finding(wide_rows(pd.DataFrame(rows))).endswith(
            "of the time under torch.no_grad() (different backward FLOPs).")


def profiled(case_classes):
    """Rows of (case, {impl: time per class}), each with a profile artifact."""
    return pd.DataFrame([
        {**SETTING, "suite": "s", "mode": "forward", "case": case, "impl": impl,
         "baseline": "base", "median": 1.0,
         "artifacts": {"profile": {"classes": classes,
                                   "operators": [{"name": "aten::op", "share": 1.0}]}}}
        for case, by_impl in case_classes for impl, classes in by_impl.items()])


def test_profiles_are_shown_at_the_last_case_of_the_grid():
    out = Section("s", "S", "", [])
    add_profiles(out, profiled([("small", {"base": {"compute": 1.0}}),
                                ("big", {"base": {"compute": 1.0}})]))
    assert [table.caption for table in out.tables] == [
        "What each implementation runs, big: cpu, fp32, forward"]


def test_profile_shares_are_of_the_total_and_ten_percent_of_copies_is_called_out():
    out = Section("s", "S", "", [])
    add_profiles(out, profiled([("c", {"base": {"compute": 9.0, "copy / layout": 1.0}})]))
    cells = dict(zip(out.tables[0].columns, (text for text, _ in out.tables[0].rows[0])))
    assert cells["compute"] == "90%" and cells["copy / layout"] == "10%"
    assert out.notes[0] == ("base spends 10% of its profiled time at c: cpu, fp32, forward "
                            "copying or changing the layout of tensors.")


def test_the_speedup_figure_stays_when_one_case_has_no_baseline():
    frame = race({"a": {"base": 4.0, "x": 1.0}, "b": {"x": 2.0}}).assign(
        peak_flops=float("nan"), flops=float("nan"), artifacts=None)
    assert frame["speedup"].isna().any() and frame["speedup"].notna().any()
    out = generic_section(frame, {})
    assert "Speedup against the baseline (above 1: faster)" in [c for c, _ in out.figures]
    assert SPEEDUP_NOTE in out.notes

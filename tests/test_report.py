"""The HTML report: content, escaping of everything that comes from a JSON, the index."""

import json
import re
import shutil
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from bench.errors import UserError
from bench.records import outcomes_frame
from bench.report import format as fmt
from bench.report.publish import publish
from bench.report.render import SMOKE_NOTE, render_compare, render_index, render_report

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"


def test_page_has_the_sections_a_reader_needs(tmp_path):
    html = render_report([SAMPLE], tmp_path).read_text()
    for text in ("Environment", "How it was measured", "1x1 convolution versus",
                 "Speedup against conv_nchw", "<svg", "linear_nhwc was clearly fastest in 1 of 1",
                 "1 failed", "RuntimeError: out of memory",
                 '<p class="warning">1 skipped: CUDA is not available</p>',
                 "interrupted after 5 of 6 benchmarks"):
        assert text in html, text
    assert "<li>1: CUDA is not available</li>" not in html  # its one reason said once
    # the first screen: the run's status, then the findings, then the folded warnings
    summary = html[html.index('<section id="summary">'):html.index("</section>")]
    assert summary.index("interrupted after") < summary.index("linear_nhwc was clearly fastest") \
        < summary.index('class="warning">1 failed')
    assert "<details open" not in html
    assert "Run <code>sample-run</code>, 2026-" in summary  # a date, not an ISO stamp
    # a CPU-only run's TF32 flags explained
    assert "Of these flags only the float32 matmul precision (oneDNN" in html
    # what the machine lacks or the JSON does not record is a dash, not Python's None
    assert "<dt>gpu</dt><dd>—</dd>" in html and "<dt>triton</dt><dd>—</dd>" in html
    assert "<dd>None</dd>" not in html
    # the TF32 flags as names and values, and torch's CUDA version as its build's, not a GPU's
    assert ("<dt>tf32_flags</dt><dd>matmul_allow_tf32=False, cudnn_allow_tf32=True, "
            "float32_matmul_precision=highest</dd>") in html
    assert "<dt>cuda</dt><dd>13.0 (the torch build&#39;s; no GPU in this run)</dd>" in html
    summary = json.loads((tmp_path / "summary.json").read_text())  # the dash is the page's
    assert summary["gpus"] == [] and summary["machines"] == ["vm (Intel(R) Xeon(R) Processor)"]
    # self-contained: nothing to fetch (XML namespace names in the SVGs are not fetched)
    for fetching in ("<link", "src=", 'href="http', "@import", "url(http"):
        assert fetching not in html, fetching


def test_markup_from_the_json_is_never_live(tmp_path):
    data = json.loads(SAMPLE.read_text())
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    data["machine_info"]["node"] = evil
    data["machine_info"]["cpu_model"] = evil
    for bench in data["benchmarks"]:
        bench["name"] += evil
        bench["extra_info"]["impl"] += evil
        bench["extra_info"]["case"] = evil
    data["outcomes"][-2]["reason"] = evil
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    html = render_report([path], tmp_path / "out").read_text()
    assert "<img" not in html
    # the only scripts are the page's own sorting script
    assert len(re.findall(r"<script", html)) == 1
    assert "&lt;script&gt;alert" in html


def test_the_terminal_gets_the_findings_of_the_first_screen_then_the_page(tmp_path):
    lines = publish({"reports": tmp_path, "out": tmp_path / "out", "json": {}}, SAMPLE)
    # the sample run was interrupted: said first, as the page does; then its grid, the smoke
    # grid, not one to rank by
    assert lines == ["interrupted after 5 of 6 benchmarks: the page has what was measured",
                     "the smoke grid: tiny cases that check that everything runs, their times "
                     "not for ranking implementations",
                     "1x1 convolution versus per-pixel Linear:",
                     "  cpu fp32 forward: linear_nhwc was clearly fastest in 1 of 1 cases, at a "
                     "median 6.19× the speed of conv_nchw.",
                     f"report {tmp_path / 'out' / 'index.html'}"]


@pytest.mark.parametrize("grid", ["smoke", "default", None])
def test_a_smoke_run_s_page_says_first_that_its_times_are_not_for_ranking(tmp_path, write_json,
                                                                           grid):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["grid"] = grid
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    # under the run's status, above the findings it qualifies
    summary = html[html.index('<p class="status">'):html.index('<div class="finding">')]
    assert (f'<p class="warning">{SMOKE_NOTE}</p>' in summary) is (grid == "smoke")
    assert (SMOKE_NOTE in html) is (grid == "smoke")


def test_a_bare_bench_report_gets_a_run_folder_listed_with_the_others(tmp_path):
    lines = publish({"reports": tmp_path, "out": None, "dir": None, "json": {}}, SAMPLE)
    (folder,) = (tmp_path / "runs").iterdir()
    assert lines[-2:] == [f"report {folder / 'index.html'}", f"all runs {tmp_path / 'index.html'}"]
    assert f'href="runs/{folder.name}/index.html"' in (tmp_path / "index.html").read_text()


def test_the_terminal_gives_a_section_s_title_once_above_its_findings(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    for bench in json.loads(SAMPLE.read_text())["benchmarks"]:  # the same run again in bf16
        bench["extra_info"]["precision"] = "bf16"
        bench["name"] = bench["name"].replace("fp32", "bf16")
        data["benchmarks"].append(bench)
        data["outcomes"].append({"name": f"x.py::{bench['name']}", "outcome": "passed",
                                 "reason": ""})
    lines = publish({"reports": tmp_path, "out": tmp_path / "out", "json": {}},
                    write_json("two.json", data))
    assert [line for line in lines
            if not line.startswith(("interrupted", "report", "the smoke grid"))] == [
        "1x1 convolution versus per-pixel Linear:",
        "  cpu fp32 forward: linear_nhwc was clearly fastest in 1 of 1 cases, at a median 6.19× "
        "the speed of conv_nchw.",
        "  cpu bf16 forward: linear_nhwc was clearly fastest in 1 of 1 cases, at a median 6.19× "
        "the speed of conv_nchw."]


def test_a_json_the_page_cannot_use_is_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    run = {"reports": tmp_path, "out": tmp_path / "out", "json": {"benchmarks": []}}
    (line,) = publish(run, None)
    assert line.startswith("no report: ") and "not a pytest-benchmark JSON" in line
    assert (tmp_path / "out" / "benchmark.json").exists()  # what was measured is kept

    def broken(*args):
        raise ValueError("a bug in the page")

    with mock.patch("bench.report.render.render_report", broken):
        with pytest.raises(ValueError, match="a bug in the page"):
            publish({**run, "json": {}}, SAMPLE)


def test_sections_get_each_benchmark_s_outcome_by_its_id(tmp_path):
    """For a finding to say why a row it needs is missing (bench.report.sections.why_missing)."""
    from bench.report.sections import generic_section

    seen = []

    def spy(frame, info):
        seen.append(info["outcomes"])
        return generic_section(frame, info)

    with mock.patch("bench.report.render.load_section", lambda name: spy):
        render_report([SAMPLE], tmp_path)
    (outcomes,) = seen  # by run and id: a page of several runs has one id in each
    assert outcomes["sample-run", "b2-c64x32-8x8-nobias-cpu-fp32-einsum-forward"] == (
        "failed", "RuntimeError: out of memory")
    assert outcomes["sample-run", "b2-c64x32-8x8-nobias-cuda-fp32-einsum-forward"] == (
        "skipped", "CUDA is not available")
    assert len(outcomes) == 5


def test_index_lists_runs(tmp_path):
    render_report([SAMPLE], tmp_path / "runs" / "r1")
    html = render_index(tmp_path).read_text()
    assert 'href="runs/r1/index.html"' in html
    assert "conv1x1" in html and ">r1<" in html


def test_formatting_picks_units_and_three_figures():
    assert fmt.seconds(1.2345e-5) == "12.3 µs"
    assert fmt.seconds(0.5) == "500 ms"
    assert fmt.seconds(2.0) == "2 s"
    assert fmt.si(1.234e9, "FLOP/s") == "1.23 GFLOP/s"
    assert fmt.ratio(1.5) == "1.5×"
    assert fmt.percent(0.1234) == "12.3%"
    assert fmt.seconds(float("nan")) == "–"
    # rounded to three figures before the unit is chosen, not "1e+03 ms"
    assert [fmt.seconds(0.9996), fmt.seconds(0.0009996), fmt.si(999_600, "B")] == [
        "1 s", "1 ms", "1 MB"]
    assert fmt.seconds(0.9994) == "999 ms"
    assert [fmt.ratio(1184.0), fmt.ratio(999.4), fmt.percent(4.6)] == ["1,180×", "999×", "460%"]
    assert fmt.percent(12.345) == "1,230%"
    # a B200-class peak, and a run of twenty minutes
    assert [fmt.si(2.25e15, "FLOP/s"), fmt.seconds(1234.0), fmt.seconds(999.4),
            fmt.seconds(999.6)] == ["2.25 PFLOP/s", "1,230 s", "999 s", "1,000 s"]
    # below a nanosecond (a difference of two medians, say) still with a prefix
    assert [fmt.seconds(5e-10), fmt.seconds(-3.21e-11), fmt.seconds(0.0), fmt.seconds(1.5e-13),
            fmt.seconds(-1.5e-13)] == ["500 ps", "-32.1 ps", "0 s", "0.15 ps", "-0.15 ps"]


def test_every_suite_renders_from_the_committed_example(tmp_path):
    example = Path(__file__).parent.parent / "reports" / "examples" / "cpu-2core-xeon"
    html = render_report([example / "benchmark.json"], tmp_path).read_text()
    for text in ("1x1 convolution versus per-pixel Linear", "Frozen versus full backprop",
                 "RoI pooling and spatial pyramid pooling", "Timer self-check",
                 "training only the head took", "time as a multiple of tv_roi_pool&#39;s: ",
                 "ours_roi_pool ", "operations met the target",
                 "greyed where first_k runs nothing", "counts only", "layer by layer",
                 "backward FLOPs per layer in each regime", "Case ids read as in this example: ",
                 "each regime timed side by side with full in alternating blocks"):
        assert text in html, text
    # what the page shows beyond timings comes from the JSON, as the run recorded it
    assert "<svg" in html and "resnet50-b4-224: layer by layer (7 regimes)" in html
    # the RoI table's rates, from the JSON's own figures: bytes over the median, over the peak
    bench = next(b for b in json.loads((example / "benchmark.json").read_text())["benchmarks"]
                 if b["name"].endswith("[roi-pool-small-r512-o7-cpu-fp32-ours_roi_pool-forward]"))
    rate = bench["extra_info"]["bytes"] / bench["stats"]["median"]
    row = next(r for r in table_rows(html, "cpu, fp32, forward")
               if r[:2] == ["pool-small-r512-o7", "ours_roi_pool"])
    assert row[6:8] == [fmt.si(rate, "B/s"),
                        fmt.percent(rate / bench["extra_info"]["peak_bandwidth"])]


def test_each_section_says_what_its_implementations_measured_are(tmp_path):
    example = Path(__file__).parent.parent / "reports" / "examples" / "cpu-2core-xeon"
    html = render_report([example / "benchmark.json"], tmp_path).read_text()
    sections = {part.partition('"')[0]: part for part in html.split('<section id="')[1:]}
    for suite, said, unsaid in (
            ("roi", "tv_roi_pool_per_level: torchvision.ops.roi_pool once per pyramid level",
             "ours_roi_pool_torch:"),  # CUDA only: not measured on this CPU
            ("frozen", "freeze_first_k_no_grad: the first k stages run under torch.no_grad()",
             "conv_nchw:"),
            ("conv1x1", "linear_nhwc: nn.Linear on an NHWC tensor", "full:")):
        assert said in sections[suite] and unsaid not in sections[suite], suite


def test_any_pytest_benchmark_json_gets_a_generic_page(tmp_path):
    data = json.loads(SAMPLE.read_text())
    for bench, name in zip(data["benchmarks"], ("test_sort[100]", "test_sort[1000]", "test_x")):
        bench.update(name=name, fullname=f"tests/test_s.py::{name}", group="sorting",
                     extra_info={}, param=name.partition("[")[2].rstrip("]") or None)
    for key in ("outcomes", "collected", "suites"):
        data.pop(key)
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(data))
    html = render_report([path], tmp_path / "out").read_text()
    for text in ("sorting", "test outcomes not recorded in this file", "Every measurement"):
        assert text in html, text
    assert "Speedup against" not in html  # no baseline, so no speedups
    # each case (a parameter) has one test: nothing raced, so nothing was fastest
    assert "fastest" not in html
    assert "No case was measured with two implementations, so none is compared" in html
    # no device, precision or mode to name; none of this harness's checks to describe
    assert "<caption>Every measurement</caption>" in html
    method = html[html.index('<section id="method">'):]
    assert "not this harness's suites" in method and "float64" not in method
    assert "TF32" not in html  # the devices are unknown: nothing to explain away


@pytest.mark.parametrize("share, said", [(0.45, True), (0.10, True), (0.09, False),
                                         (None, False), ("busy", False), (True, False)])
def test_the_status_says_when_other_processes_took_the_cpus(tmp_path, write_json, share, said):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["others_cpu_share"] = share
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    if said:
        assert (f"other processes took {fmt.percent(share)} of the CPUs&#39; time during the "
                "run, so its times may be slower and noisier than on an idle machine.</p>") in html
    else:
        assert "other processes took" not in html
    # the terminal says it too, after the interruption (the sample run was interrupted)
    lines = publish({"reports": tmp_path, "out": tmp_path / "out", "json": {}},
                    write_json("b.json", data))
    assert lines[:2] == ["interrupted after 5 of 6 benchmarks: the page has what was measured",
                         f"other processes took {fmt.percent(share)} of the CPUs' time during "
                         "the run, so its times may be slower and noisier than on an idle "
                         "machine" if said else SMOKE_NOTE]
    shown = fmt.percent(share) if isinstance(share, float) else "—"
    assert f"<dt>CPU time taken by other processes</dt><dd>{shown}</dd>" in html


def test_two_runs_saved_in_one_folder_are_two_runs_on_the_page(tmp_path, write_json):
    """As pytest-benchmark's autosave keeps them: no run id of ours, one folder. In the second
    run linear_nhwc took twice as long; each run's speedups are its own. The page numbers the
    runs in the order they were given, and names each row's device with that number."""
    paths = []
    for n, scale in enumerate((1, 2)):
        data = json.loads(SAMPLE.read_text())
        del data["machine_info"]["run_id"]
        data["datetime"] = f"2026-11-2{4 + n}T10:00:00+00:00"
        for bench in data["benchmarks"]:
            for key in ("median", "q1", "q3", "iqr", "min", "max", "mean"):
                bench["stats"][key] *= scale if "linear_nhwc" in bench["name"] else 1
        paths.append(write_json(f"autosave/000{n}_run.json", data))
    render_report(paths[::-1], tmp_path / "out")  # the later run first: it is run 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["run_ids"] == ["autosave/0001_run", "autosave/0000_run"]  # run 1, run 2
    assert summary["datetime"] == "2026-11-24T10:00:00+00:00"  # the earlier
    assert summary["devices"] == ["cpu"]
    assert [finding for _, finding in summary["findings"]] == [
        f"cpu (run {n}) fp32 forward: linear_nhwc was clearly fastest in 1 of 1 cases, at a "
        f"median {speedup}× the speed of conv_nchw." for n, speedup in ((1, "3.09"), (2, "6.19"))]
    html = (tmp_path / "out" / "index.html").read_text()
    assert re.findall(r"Run (\d), <code>([^<]+)</code>", html) == [
        ("1", "autosave/0001_run"), ("2", "autosave/0000_run")]
    # a file that recorded no time leaves the other's
    data = json.loads(paths[0].read_text())
    del data["datetime"]
    render_report([write_json("autosave/undated.json", data), paths[1]], tmp_path / "undated")
    summary = json.loads((tmp_path / "undated" / "summary.json").read_text())
    assert summary["datetime"] == "2026-11-25T10:00:00+00:00"
    assert "@" not in html.partition('id="environment"')[0]


def test_a_run_on_a_gpu_shows_its_cuda_version_plainly():
    from bench.report.render import _field

    info = {"cuda": "13.0", "gpu": "NVIDIA H200"}
    assert _field(info, "cuda") == "13.0" and _field({}, "cuda") is None


def test_a_gpu_run_is_said_to_run_on_its_gpu_and_listed_with_it(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["gpu"] = "NVIDIA H200"
    html = render_report([write_json("a.json", data)], tmp_path / "runs" / "gpu").read_text()
    assert ("<code>sample-run</code>, 2026-11-25 20:03 UTC, on NVIDIA H200 (2 threads, torch "
            "2.14.1+cu130): interrupted") in html
    # the list of runs gives the GPU beside the devices
    index = render_index(tmp_path).read_text()
    assert re.findall(r"<td data-sort=\"\">(cpu[^<]*)</td>", index) == ["cpu, NVIDIA H200"]
    # the sample names no commit: none is listed, not "None"
    assert json.loads((tmp_path / "runs" / "gpu" / "summary.json").read_text())["commits"] == []
    assert ">None<" not in index


def test_the_tf32_flags_are_the_default_rows_on_cuda_and_explained_away_without_it(
        tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    data["benchmarks"][0]["extra_info"]["device"] = "cuda"
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    assert "they changed nothing here" not in html
    # on CUDA they are the default rows' flags, not the fp32 or tf32 rows'
    assert "The TF32 flags above are the process&#39;s own: rows of the default precision " \
        "mode ran under them, fp32 rows with TF32 off and tf32 rows with it on, " \
        "whatever these say." in html
    # on the CPU the float32 matmul precision also sets oneDNN's; the new switches do not
    data["benchmarks"][0]["extra_info"]["device"] = "cpu"
    for flags, said in (
            ({"matmul_allow_tf32": False, "cudnn_allow_tf32": True,
              "float32_matmul_precision": "medium"},
             "Of these flags only the float32 matmul precision (oneDNN&#39;s float32 matmuls: "
             "highest is IEEE float32, high allows TF32, medium bfloat16) reaches the CPU: rows "
             "of the default precision mode ran under it, fp32 rows in IEEE float32, whatever "
             "it says; the others govern CUDA only."),
            ({"cuda.matmul.fp32_precision": "tf32", "cudnn.conv.fp32_precision": "tf32"},
             "this run measured no CUDA device, so they changed nothing here"),
            # oneDNN's own switches reach the CPU, whichever API recorded them
            ({"cuda.matmul.fp32_precision": "tf32", "mkldnn.conv.fp32_precision": "bf16"},
             "Of these flags only the mkldnn switches (oneDNN&#39;s own, which decide where set: "
             "ieee is IEEE float32, tf32 allows TF32, bf16 bfloat16, none leaves it to "
             "oneDNN&#39;s general switch, IEEE float32 as shipped) reach the CPU"),
            ({"float32_matmul_precision": "highest", "mkldnn.conv.fp32_precision": "bf16"},
             "Of these flags only the float32 matmul precision (oneDNN&#39;s float32 matmuls: "
             "highest is IEEE float32, high allows TF32, medium bfloat16) and the mkldnn "
             "switches (oneDNN&#39;s own, which decide where set: ieee is IEEE float32, tf32 "
             "allows TF32, bf16 bfloat16, none leaves it to oneDNN&#39;s general switch, IEEE "
             "float32 as shipped) reach the CPU: "
             "rows of the default precision mode ran under them, fp32 rows in IEEE float32, "
             "whatever they say")):
        data["machine_info"]["tf32_flags"] = flags
        html = render_report([write_json("b.json", data)], tmp_path / "b").read_text()
        assert said in html, flags


def test_the_precision_note_follows_the_devices_the_run_measured():
    from bench.report.render import tf32_note
    legacy = {"matmul_allow_tf32": False, "cudnn_allow_tf32": True,
              "float32_matmul_precision": "highest"}
    for devices in ({"cuda"}, {"cuda", "cpu"}):  # CUDA's rows, whatever else ran
        assert tf32_note(legacy, devices).startswith("The TF32 flags above are the process's own")
    assert tf32_note(legacy, {"cpu"}).startswith("Of these flags only the float32 matmul")
    assert tf32_note({"cuda.matmul.fp32_precision": "tf32"}, {"cpu"}).endswith(
        "so they changed nothing here.")
    assert tf32_note(legacy, set()) is None  # another project's JSON: no devices known


def test_an_unknown_suite_gets_the_generic_section(tmp_path):
    data = json.loads(SAMPLE.read_text())
    for bench in data["benchmarks"]:
        bench["extra_info"]["suite"] = "depthwise"
    data["suites"] = {"depthwise": {"title": "Depthwise versus grouped"}}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    html = render_report([path], tmp_path / "out").read_text()
    assert "Depthwise versus grouped" in html and "Speedup against conv_nchw" in html


def test_a_suite_section_that_cannot_read_the_file_falls_back(tmp_path):
    data = json.loads(SAMPLE.read_text())
    for bench in data["benchmarks"]:
        bench["extra_info"]["suite"] = "roi"  # the roi section needs kind, regions, ...
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(data))
    html = render_report([path], tmp_path / "out").read_text()
    assert "The roi section could not be drawn from this file" in html


def history(tmp_path, slowed, last: float) -> str:
    """The index of three runs of one machine, matmul `last` times as slow in the last."""
    for n, (day, factor) in enumerate([("24", 1.0), ("25", 1.0), ("26", last)]):
        data = slowed(json.loads(SAMPLE.read_text()), "matmul", factor)
        data["datetime"] = f"2026-11-{day}T10:00:00+00:00"
        data["machine_info"]["run_id"] = f"run{n}"
        path = tmp_path / f"in{n}.json"
        path.write_text(json.dumps(data))
        render_report([path], tmp_path / "runs" / f"run{n}")
        (tmp_path / "runs" / f"run{n}" / "benchmark.json").write_text(json.dumps(data))
    return render_index(tmp_path).read_text()


# how the verdicts are decided, as the compare page and the list of runs both say it
RULE = ("Slower or faster means a ratio of medians past 5% <em>and</em> raw rounds that differ "
        "(Mann-Whitney rank test, p &lt; 0.05; where the rounds were not saved, non-overlapping "
        "interquartile ranges); unclear, a ratio past it that the rounds do not show: too few, or "
        "too scattered, to tell a change from noise. The rank test has each run's own rounds: it "
        "cannot see how far runs of unchanged code land apart (on a shared machine that can pass "
        "the threshold: <code>python -m bench repeat</code> measures it, and a comparison of two "
        "later runs of that machine, grid and seconds per benchmark takes it as its threshold "
        "where it is larger)")


def test_the_list_of_runs_shows_each_machines_history_and_what_changed(tmp_path, slowed):
    html = history(tmp_path, slowed, 2.0)
    assert "3 runs" in html and "The latest run against the last one before it with benchmarks " \
        "in common (run1 then run2): 1 slower" in html
    changed = html[html.index("Changed since that run"):]
    assert "matmul" in changed and "conv_nchw" not in changed.split("</table>")[0]
    assert "2×" in changed and html.count("<svg") == 1  # one suite: one trend figure
    assert f"{RULE}. Only the slower and faster rows are listed." in " ".join(html.split())


def test_the_list_of_runs_takes_the_machine_s_run_to_run_spread_as_its_threshold(tmp_path,
                                                                                   slowed):
    """matmul 2x as slow in the last run: a change at 5%, not where runs of unchanged code moved
    by 150% (each run records the spread `bench repeat` measured); one within the threshold is
    quoted as such."""
    def index(spread):
        for n in range(3):
            path = tmp_path / "runs" / f"run{n}" / "benchmark.json"
            data = json.loads(path.read_text())
            data["machine_info"]["expected_spread"] = spread
            path.write_text(json.dumps(data))
        return " ".join(render_index(tmp_path).read_text().split())

    history(tmp_path, slowed, 2.0)
    html = index(1.5)
    assert "(run1 then run2): 0 slower, 0 faster, 3 same" in html
    assert ("past 150% (the run-to-run spread that <code>python -m bench repeat</code> measured "
            "on vm, more than the 5% asked)") in html
    assert "cannot see how far runs of unchanged code land apart, hence that threshold." in html
    html = index(0.02)
    assert "(run1 then run2): 1 slower" in html and "past 5% <em>and</em>" in html
    assert "(<code>python -m bench repeat</code> measured 2% on vm: within the threshold)" in html
    assert "(<code>python -m bench repeat</code> measured 0% on vm" in index(0.0)
    # the earlier run's spread counts as much as the latest's
    for run, spread in (("run1", 1.5), ("run2", None)):
        path = tmp_path / "runs" / run / "benchmark.json"
        data = json.loads(path.read_text())
        data["machine_info"]["expected_spread"] = spread
        path.write_text(json.dumps(data))
    assert "(run1 then run2): 0 slower, 0 faster, 3 same" in render_index(tmp_path).read_text()


def test_the_rule_names_the_spread_as_the_threshold_only_where_the_page_shows_them_apart():
    from bench.report.render import verdict_rule
    # 5.004% shows as 5%: "past 5% (... more than the 5% asked)" would contradict itself
    assert verdict_rule(0.05004, 0.05, 0.05004, "vm")["by_spread"] is False
    assert verdict_rule(0.12, 0.05, 0.12, None) == {
        "threshold": "12%", "asked": "5%", "node": "their machine", "spread": "12%",
        "by_spread": True}


def test_a_suite_one_run_measured_has_no_trend_figure(tmp_path, slowed, write_json):
    history(tmp_path, slowed, 2.0)
    data = json.loads(SAMPLE.read_text())
    data["datetime"], data["machine_info"]["run_id"] = "2026-11-27T10:00:00+00:00", "run3"
    for bench in data["benchmarks"]:
        bench["extra_info"]["suite"] = "other"
    render_report([write_json("in3.json", data)], tmp_path / "runs" / "run3")
    write_json("runs/run3/benchmark.json", data)
    html = render_index(tmp_path).read_text()
    assert "4 runs" in html and html.count("<svg") == 1  # conv1x1's, not other's
    # no suite measured twice: no figure, nor its caption over nothing
    for run in ("run1", "run2"):
        shutil.rmtree(tmp_path / "runs" / run)
    html = render_index(tmp_path).read_text()
    assert "2 runs" in html and "<figure>" not in html and "thin lines" not in html


def test_a_run_folder_without_its_json_is_listed_but_left_out_of_the_history(tmp_path, slowed):
    """As `bench report x.json -o reports/runs/<name>` leaves it: a page, no benchmark.json."""
    history(tmp_path, slowed, 2.0)
    (tmp_path / "runs" / "run2" / "benchmark.json").unlink()
    html = render_index(tmp_path).read_text()
    assert 'href="runs/run2/index.html"' in html
    assert "2 runs" in html and "in common (run0 then run1): 0 slower, 0 faster, 3 same." \
        in html


def test_runs_of_the_same_time_are_ordered_by_their_folders(tmp_path):
    for name in ("b-run", "a-run"):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(SAMPLE.read_text())
        render_report([folder / "benchmark.json"], folder)
    assert "in common (a-run then b-run)" in render_index(tmp_path).read_text()


def test_the_latest_run_is_compared_with_the_last_that_shares_benchmarks(tmp_path, slowed):
    """run0 and run2 measured conv1x1 (matmul twice as slow in run2), run1 another suite."""
    def run(n, suite, factor, torch="2.14.1+cu130"):
        data = slowed(json.loads(SAMPLE.read_text()), "matmul", factor)
        data["datetime"] = f"2026-11-2{n}T10:00:00+00:00"
        data["machine_info"]["run_id"] = f"run{n}"
        data["machine_info"]["torch"] = torch
        for bench in data["benchmarks"]:
            bench["extra_info"]["suite"] = suite
        folder = tmp_path / "runs" / f"run{n}"
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(data))
        render_report([folder / "benchmark.json"], folder)

    run(0, "conv1x1", 1.0)
    run(1, "other", 1.0)
    html = render_index(tmp_path).read_text()
    assert "The latest run has no benchmark in common with an earlier run" in html
    run(2, "conv1x1", 2.0)
    html = render_index(tmp_path).read_text()
    assert "in common (run0 then run2): 1 slower, 0 faster, 2 same." in html
    assert "a ratio of medians past 5% <em>and</em> raw rounds" in html
    assert "The two differ in" not in html
    run(3, "conv1x1", 2.0, torch="2.15.0")  # another torch: the change may be its
    html = render_index(tmp_path).read_text()
    assert "in common (run2 then run3): 0 slower, 0 faster, 3 same." in html
    assert ("The two differ (earlier → latest): torch 2.14.1+cu130 → 2.15.0. A change may come "
            "from any of these.") in html


def test_a_run_that_got_faster_is_listed_among_the_changes(tmp_path, slowed):
    html = history(tmp_path, slowed, 0.5)
    assert "in common (run1 then run2): 0 slower, 1 faster, 2 same." in html
    changed = html[html.index("Changed since that run"):].split("</table>")[0]
    assert "matmul" in changed and "0.500×" in changed and "conv_nchw" not in changed


def test_the_compare_page_names_each_run_s_machine_and_counts_the_missing(tmp_path, write_json):
    from bench.report.render import render_compare
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["node"], data["machine_info"]["run_id"] = "other-vm", "other"
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["impl"] != "matmul"]
    page, tally, _, _ = render_compare(SAMPLE, write_json("b.json", data), tmp_path / "out")
    html = page.read_text()
    assert tally == "0 slower, 0 faster, 2 same; 1 measured in one run only (missing)"
    assert "(vm, Intel(R) Xeon(R) Processor)<br>" in html
    assert "(other-vm, Intel(R) Xeon(R) Processor)</p>" in html
    assert "0 slower, 0 faster, 2 same; 1 measured in one run only (missing)" in html
    assert "other processes took" not in html  # neither run recorded a busy machine
    # a machine is read from the rows that have it: B lacks A's first benchmark, A its host
    data["benchmarks"] = data["benchmarks"][1:]
    a = json.loads(SAMPLE.read_text())
    del a["machine_info"]["node"]
    page, _, _, _ = render_compare(write_json("a.json", a), write_json("b1.json", data),
                                   tmp_path / "first")
    html = page.read_text()
    assert "A: <code>" in html and "(—, Intel(R) Xeon(R) Processor)<br>" in html
    assert "(other-vm, Intel(R) Xeon(R) Processor)</p>" in html
    assert f"missing). {RULE}." in " ".join(html.split())
    # A's first benchmark and its last, which B lacks, come after the one both measured
    assert re.findall(r">(same|missing)</td>", html) == ["same", "missing", "missing"]
    page, *_ = render_compare(SAMPLE, write_json("b.json", data), tmp_path / "t", threshold=0.1)
    assert RULE.replace("5%", "10%") in " ".join(page.read_text().split())
    # B ran beside other work, A beside a little: B's is said
    data["machine_info"]["others_cpu_share"] = 0.448
    a = json.loads(SAMPLE.read_text())
    a["machine_info"]["others_cpu_share"] = 0.05
    page, _, _, _ = render_compare(write_json("a.json", a), write_json("b.json", data),
                                   tmp_path / "busy")
    assert re.findall(r'<p class="warning">(.*?)</p>', page.read_text()) == [
        "Run B: other processes took 44.8% of the CPUs&#39; time during the run, so its times "
        "may be slower and noisier than on an idle machine.",
        "The runs differ (A → B): node vm → other-vm. A change may come from any of these."]


def test_the_compare_page_says_what_the_runs_conditions_differ_in(tmp_path, write_json):
    from bench.report.render import render_compare
    a, b = json.loads(SAMPLE.read_text()), json.loads(SAMPLE.read_text())
    b["datetime"] = "2026-11-26T10:00:00"
    page, _, differ, _ = render_compare(write_json("a.json", a), write_json("b.json", b),
                                        tmp_path / "same")
    assert differ == "" and "The runs differ" not in page.read_text()
    a["machine_info"]["dirty"], b["machine_info"]["dirty"] = False, True
    b["machine_info"].update(threads=1, torch="2.15.0")
    for bench in b["benchmarks"]:
        bench["options"]["max_time"] = 1.0
    page, _, differ, _ = render_compare(write_json("a.json", a), write_json("b.json", b),
                                        tmp_path / "apart")
    assert differ == ("threads 2 → 1; torch 2.14.1+cu130 → 2.15.0; dirty False → True; "
                      "max_time 0.2 → 1.0")
    assert f"The runs differ (A → B): {differ}. A change may come from any of these" in \
        page.read_text()
    # a mapping by its entries: only those that differ
    b["machine_info"]["tf32_flags"] = {**a["machine_info"]["tf32_flags"],
                                       "float32_matmul_precision": "high"}
    _, _, differ, _ = render_compare(write_json("a.json", a), write_json("b.json", b),
                                     tmp_path / "flags")
    assert "tf32_flags float32_matmul_precision highest → high" in differ
    assert "matmul_allow_tf32" not in differ
    # how the rounds were timed, the profiler and Python, each by name
    b["machine_info"] = a["machine_info"] | {"profile": "table", "python_version": "3.12.1"}
    for bench in b["benchmarks"]:
        bench["options"] = {**bench["options"], "max_time": 0.2, "min_rounds": 9,
                            "disable_gc": True}
    b["benchmarks"][0]["options"]["timer"] = "CudaSyncTimer"
    _, _, differ, _ = render_compare(write_json("a.json", a), write_json("b.json", b),
                                     tmp_path / "timer")
    assert differ == ("python_version 3.11.7 → 3.12.1; profile — → table; timer perf_counter → "
                      "CudaSyncTimer and perf_counter; min_rounds 5 → 9; disable_gc False → True")
    b["machine_info"] = a["machine_info"]
    b["benchmarks"] = [bench | {"options": {**bench["options"], "warmup": True, "min_time": 1e-3}}
                       for bench in a["benchmarks"]]
    _, _, differ, _ = render_compare(write_json("a.json", a), write_json("b.json", b),
                                     tmp_path / "warm")
    assert differ == "min_time 5e-06 → 0.001; warmup False → True"


def test_repeat_reports_each_benchmarks_spread_and_keeps_the_typical_one(tmp_path):
    from bench.report.render import render_repeat

    paths = []
    for n, scale in enumerate([1.0, 1.1, 1.3]):
        data = json.loads(SAMPLE.read_text())
        data["machine_info"]["run_id"] = f"r{n}"
        for bench in data["benchmarks"]:
            if bench["extra_info"]["impl"] == "matmul":
                bench["stats"]["median"] *= scale
        paths.append(tmp_path / f"r{n}.json")
        paths[-1].write_text(json.dumps(data))
    out = tmp_path / "reports" / "repeat" / "x"
    out.mkdir(parents=True)
    (out / "index.html").write_text("the list of the repeated runs")
    page, typical = render_repeat(paths, out)
    assert page == out / "repeatability.html"
    assert (out / "index.html").read_text() == "the list of the repeated runs"
    assert typical == 0.0  # two of three benchmarks did not move; matmul moved by 30%
    html = page.read_text()
    assert "30%" in html and "3 times" in html
    # the 90th percentile of 0, 0 and 30%: 24%
    assert "nine in ten by 24% or less" in html and "half of them moved by 0% or less" in html
    rows = table_rows(html, "Each benchmark over the runs, widest first")
    assert rows[0][2] == "matmul" and rows[0][6:] == ["3", "23 µs", "29.8 µs", "30%"]
    known = json.loads((tmp_path / "reports" / "repeatability.json").read_text())
    assert known[data["machine_info"]["node"]]["median_spread"] == 0.0
    # what a later run must match to quote it: the grid and the seconds per benchmark
    assert known[data["machine_info"]["node"]]["grid"] == data["machine_info"]["grid"]
    assert known[data["machine_info"]["node"]]["max_time"] == 0.2
    # a later run on this machine quotes it
    data["machine_info"]["expected_spread"] = 0.042
    later = tmp_path / "later.json"
    later.write_text(json.dumps(data))
    assert "runs of this grid on this machine moved by 4.2%" in \
        render_report([later], tmp_path / "later").read_text()


def test_the_report_is_made_without_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from bench.report.render import render_report; "
            f"render_report([{str(SAMPLE)!r}], {str(tmp_path)!r}); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr[-500:]


def test_the_environment_gives_the_warm_up_calls_or_their_range(tmp_path):
    data = json.loads(SAMPLE.read_text())
    counts = [entry["extra_info"].setdefault("warmup_calls", 3) for entry in data["benchmarks"]]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data))
    assert "<dt>warm-up_calls</dt><dd>3</dd>" in render_report([path], tmp_path / "a").read_text()
    data["benchmarks"][-1]["extra_info"]["warmup_calls"] = 1  # a long step: one call was enough
    path.write_text(json.dumps(data))
    html = render_report([path], tmp_path / "b").read_text()
    assert "<dt>warm-up_calls</dt><dd>1 to 3</dd>" in html and len(counts) > 1


def test_host_bound_rows_are_listed_with_both_times_and_whether_they_wait(tmp_path, write_json):
    """Wall above twice the device time is host-bound; a row that waits for the device within a
    call says so (its device time is its kernels' time, not the events')."""
    data = json.loads(SAMPLE.read_text())
    conv, linear, matmul = data["benchmarks"]
    conv["extra_info"].update(device_time=20e-6, host_bound=True, synchronises=True)
    # not recorded (another harness's JSON): unknown, so not said to wait
    linear["extra_info"].update(device_time=4e-6, host_bound=True)
    linear["extra_info"].pop("synchronises", None)
    # no kernel recorded by the profiler: its device time and host-boundness unknown
    matmul["extra_info"].update(device_time=None, host_bound=None, synchronises=True)
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    assert "2 host-bound: wall time above twice the device time" in html
    name = "test_conv1x1[b2-c64x32-8x8-nobias-cpu-fp32-{}-forward]"
    assert (f"<li>{name.format('conv_nchw')} (wall 63.6 µs, device 20 µs; waits for the device "
            "within a call)</li>\n"
            f"<li>{name.format('linear_nhwc')} (wall 10.3 µs, device 4 µs)</li>\n</ul>") in html


def test_repeat_s_typical_spread_counts_only_benchmarks_measured_more_than_once(tmp_path):
    """conv_nchw moved by 40% over three runs; the others ran in the first run alone."""
    from bench.report.render import render_repeat

    paths = []
    for n, scale in enumerate([1.0, 1.2, 1.4]):
        data = json.loads(SAMPLE.read_text())
        data["machine_info"]["run_id"] = f"r{n}"
        data["benchmarks"] = [b for b in data["benchmarks"]
                              if n == 0 or b["extra_info"]["impl"] == "conv_nchw"]
        data["benchmarks"][0]["stats"]["median"] *= scale
        paths.append(tmp_path / f"r{n}.json")
        paths[-1].write_text(json.dumps(data))
    out = tmp_path / "reports" / "repeat" / "x"
    out.mkdir(parents=True)
    page, typical = render_repeat(paths, out)
    assert typical == pytest.approx(0.4)
    html = page.read_text()
    assert "nine in ten by 40% or less" in html
    rows = {row[2]: row[6:] for row in table_rows(html, "Each benchmark over the runs, widest "
                                                       "first")}
    assert rows["conv_nchw"] == ["3", "63.6 µs", "89.1 µs", "40%"]
    assert rows["matmul"] == ["1", "23 µs", "23 µs", "–"]  # one run: no spread to tell
    # where no benchmark ran twice there is no spread at all: one line, not a page of "nan%"
    with pytest.raises(UserError, match="no benchmark was measured in more than one of the runs"):
        render_repeat(paths[:1], out)


@pytest.mark.parametrize("spread, said", [(0.0, "moved by 0%"), ("4%", None), (None, None)])
def test_a_recorded_spread_is_quoted_only_when_it_is_a_number(tmp_path, write_json, spread,
                                                              said):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["expected_spread"] = spread
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    assert (said in html) if said else "on this machine moved" not in html


def test_the_noisy_warning_gives_each_row_s_spread_and_its_second_measurement(tmp_path,
                                                                             write_json):
    data = json.loads(SAMPLE.read_text())
    conv, linear, matmul = data["benchmarks"]
    # matmul is noisy in the sample (IQR 10.3% of its median) and was not measured again;
    # conv_nchw noisy, then noisy again when re-measured; linear_nhwc re-measured quiet
    conv["stats"]["iqr"] = 0.2 * conv["stats"]["median"]
    conv["extra_info"].update(remeasured_median=6e-5, remeasured_iqr=1.5e-5, remeasured_rounds=9)
    linear["stats"]["iqr"] = 0.2 * linear["stats"]["median"]
    linear["extra_info"].update(remeasured_median=1e-5, remeasured_iqr=1e-7, remeasured_rounds=5)
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    assert "2 noisy: interquartile range above 10% of the median</summary>" in html
    name = "test_conv1x1[b2-c64x32-8x8-nobias-cpu-fp32-{}-forward]"
    assert (f"<li>{name.format('conv_nchw')} (IQR 12.7 µs is 20% of the median; re-measured, "
            f"25% over 9 rounds)</li>\n<li>{name.format('matmul')} (IQR 2.36 µs is 10.3% of the "
            "median)</li>") in html
    assert name.format("linear_nhwc") + " (IQR" not in html
    # linear_nhwc's quiet second measurement is the one used, and said so, with the first's
    assert ("1 noisy, then quiet when measured again right after: the second measurement is the "
            "one used</summary>") in html
    first = linear["stats"]["median"]
    assert (f"<li>{name.format('linear_nhwc')} (median {fmt.seconds(first)}, IQR 20% of it; "
            "then 10 µs, IQR 1%)</li>") in html


def test_a_foreign_json_s_cpu_is_named_and_compare_needs_no_host(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    del data["machine_info"]["cpu_model"]
    data["machine_info"]["cpu"] = {"brand_raw": "Some CPU 9000"}
    html = render_report([write_json("a.json", data)], tmp_path / "page").read_text()
    assert "<dt>cpu_model</dt><dd>Some CPU 9000</dd>" in html
    assert json.loads((tmp_path / "page" / "summary.json").read_text())["machines"] == [
        "vm (Some CPU 9000)"]
    for key in ("cpu", "node"):
        del data["machine_info"][key]
    b = write_json("b.json", data)
    data["datetime"] = "2026-11-26T20:03:00+00:00"
    page, _, _, _ = render_compare(b, write_json("c.json", data), tmp_path / "compare")
    assert "0 slower, 0 faster, 3 same" in page.read_text()


def table_rows(html: str, caption: str) -> list[list[str]]:
    """The cells of the table with this caption, row by row, as the page shows them."""
    table = re.search(f"<caption>{re.escape(caption)}</caption>.*?<tbody>(.*?)</tbody>", html,
                      re.S)
    return [re.findall(r">([^<>]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>",
                                                                      table.group(1), re.S)]


PEAKS = ("Measured peaks (fractions of peak are against these: one large matmul's rate in each "
         "precision, not the hardware's limit, so a kernel that uses the hardware better passes "
         "100%)")


def test_the_sample_page_s_tables_and_status_by_value(tmp_path, write_json):
    """Each cell where a swapped column or an inverted ratio would read differently."""
    data = json.loads(SAMPLE.read_text())
    skip = {**data["outcomes"][-1], "name": "another"}
    data["outcomes"] += [{**data["outcomes"][0], "name": "a second pass"}, skip]
    data["collected"] = 7
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    assert ("Run <code>sample-run</code>, 2026-11-25 20:03 UTC, on Intel(R) Xeon(R) Processor "
            "(2 threads, torch 2.14.1+cu130): "
            "complete; 4 passed, 1 failed, 2 skipped.</p>") in html
    assert "2 skipped: CUDA is not available" in html
    assert table_rows(html, "Speedup against conv_nchw: cpu, fp32, forward") == [
        ["b2-c64x32-8x8-nobias", "1×", "6.19×", "2.77×"]]
    # case, impl, median, IQR, rounds, speedup, error, rate, fraction of peak
    assert table_rows(html, "Every measurement: cpu, fp32, forward") == [
        ["b2-c64x32-8x8-nobias", "conv_nchw", "63.6 µs", "2.87 µs", "2,745", "1×", "1.42e-07",
         "8.24 GFLOP/s", "4.24%"],
        ["b2-c64x32-8x8-nobias", "linear_nhwc", "10.3 µs", "463 ns", "12,098", "6.19×",
         "1.42e-07", "51 GFLOP/s", "26.2%"],
        ["b2-c64x32-8x8-nobias", "matmul", "23 µs", "2.36 µs", "7,212", "2.77×", "1.42e-07",
         "22.8 GFLOP/s", "11.7%"]]
    assert table_rows(html, PEAKS) == [
        ["sample-run", "cpu", "fp32", "194 GFLOP/s", "17.7 GB/s"]]
    # timed side by side: the speedup is the paired one, its interval beside it (the time
    # ratio's 0.125-0.25 inverted); none for the baseline, nor for a row timed apart
    # (a bound of 0, in a hand-edited file, gives none: it is no ratio of two times)
    paired = json.loads(json.dumps(data))
    for bench in paired["benchmarks"]:
        if bench["extra_info"]["impl"] == "linear_nhwc":
            bench["extra_info"] |= {"baseline_ratio": 0.16, "baseline_ratio_low": 0.125,
                                    "baseline_ratio_high": 0.25}
        if bench["extra_info"]["impl"] == "matmul":
            bench["extra_info"] |= {"baseline_ratio": 0.4, "baseline_ratio_low": 0.0,
                                    "baseline_ratio_high": 0.5}
    html = render_report([write_json("p.json", paired)], tmp_path / "p").read_text()
    assert [row[5:7] for row in table_rows(html, "Every measurement: cpu, fp32, forward")] == [
        ["1×", "–"], ["6.25×", "4–8×"], ["2.5×", "–"]]
    # one peak row per device and precision
    bf16 = [{**b, "extra_info": {**b["extra_info"], "precision": "bf16", "peak_flops": 1e12}}
            for b in data["benchmarks"]]
    data["benchmarks"] += bf16
    html = render_report([write_json("b.json", data)], tmp_path / "b").read_text()
    assert table_rows(html, PEAKS) == [
        ["sample-run", "cpu", "fp32", "194 GFLOP/s", "17.7 GB/s"],
        ["sample-run", "cpu", "bf16", "1 TFLOP/s", "17.7 GB/s"]]
    # a page of two runs: the device column names the device, the run column the run
    data["machine_info"]["run_id"] = "later-run"
    html = render_report([write_json("b.json", data), SAMPLE], tmp_path / "c").read_text()
    assert ["later-run", "cpu", "bf16", "1 TFLOP/s", "17.7 GB/s"] in table_rows(html, PEAKS)


def test_the_compare_page_s_rows_by_value(tmp_path, write_json, slowed):
    data = slowed(json.loads(SAMPLE.read_text()), "matmul", 2)
    data["machine_info"]["run_id"] = "a later run"
    page, _, _, _ = render_compare(SAMPLE, write_json("b.json", data), tmp_path / "out")
    # the fields every row shares are said once, in the caption: impl is the one column left
    rows = table_rows(page.read_text(), "B against A (suite conv1x1, case b2-c64x32-8x8-nobias, "
                      "device cpu, precision fp32, mode forward); ratio above 1 means B is slower")
    # the verdict and the ratio first, seen where a narrow screen scrolls the table; what
    # changed before what did not (matmul is the sample's last benchmark)
    assert rows[0] == ["matmul", "slower", "2.000×", "23 µs", "45.9 µs", "3.23e-05"]
    assert rows[1] == ["conv_nchw", "same", "1.000×", "63.6 µs", "63.6 µs", "1"]
    assert rows[2][:2] == ["linear_nhwc", "same"]
    # two suites: the suite column is kept, the shared fields still said once
    data["benchmarks"][0]["extra_info"]["suite"] = "other"
    page, _, _, _ = render_compare(SAMPLE, write_json("c.json", data), tmp_path / "two")
    rows = table_rows(page.read_text(), "B against A (case b2-c64x32-8x8-nobias, device cpu, "
                      "precision fp32, mode forward); ratio above 1 means B is slower")
    assert [row[:2] for row in rows if row[1] == "matmul"] == [["conv1x1", "matmul"]]
    # one row: its fields stay in their columns, a caption of them all would be no table
    one = {**data, "benchmarks": [b for b in data["benchmarks"] if "matmul" in b["name"]]}
    only = json.loads(SAMPLE.read_text())
    only["benchmarks"] = [b for b in only["benchmarks"] if "matmul" in b["name"]]
    page, _, _, _ = render_compare(write_json("e.json", only), write_json("d.json", one),
                                   tmp_path / "one")
    assert "<th>case</th>" in page.read_text() and "<th>impl</th>" in page.read_text()


def write_runs(reports: Path, runs: list[dict]) -> None:
    """Each run (a parsed JSON) as reports/runs/run<n>, a day after the one before, with its
    page."""
    for n, data in enumerate(runs):
        data["datetime"] = f"2026-11-2{n}T10:00:00+00:00"
        data["machine_info"]["run_id"] = f"run{n}"
        folder = reports / "runs" / f"run{n}"
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(data))
        render_report([folder / "benchmark.json"], folder)


def test_the_list_of_runs_lists_the_biggest_change_first(tmp_path, slowed):
    """matmul twice as slow in the last run, linear_nhwc three times."""
    write_runs(tmp_path, [
        slowed(slowed(json.loads(SAMPLE.read_text()), "matmul", 2.0 if last else 1.0),
               "linear_nhwc", 3.0 if last else 1.0) for last in (False, False, True)])
    rows = table_rows(render_index(tmp_path).read_text(), (
        "Changed since that run (suite conv1x1, case b2-c64x32-8x8-nobias, device cpu, precision "
        "fp32, mode forward); ratio above 1 means the latest run is slower"))
    assert [row[:4] for row in rows] == [["linear_nhwc", "slower", "3.000×", "10.3 µs"],
                                         ["matmul", "slower", "2.000×", "23 µs"]]


def test_the_summary_of_two_runs_gives_the_first_date_and_short_commits(tmp_path, write_json):
    paths = []
    for n, (day, commit) in enumerate((("25", "0123456789abcdef"), ("24", "fedcba9876543210"))):
        data = json.loads(SAMPLE.read_text())
        data["datetime"] = f"2026-11-{day}T10:00:00+00:00"
        data["machine_info"].update(run_id=f"r{n}", commit=commit)
        paths.append(write_json(f"r{n}.json", data))
    render_report(paths, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["datetime"] == "2026-11-24T10:00:00+00:00"
    assert summary["commits"] == ["0123456789", "fedcba9876"]


def test_the_list_of_runs_keeps_each_machine_s_history_apart(tmp_path):
    """Two machines, each with two runs on its CPU: two histories, not one of four runs."""
    for n, node in enumerate(("box-a", "box-a", "box-b", "box-b")):
        data = json.loads(SAMPLE.read_text())
        data["datetime"] = f"2026-11-2{n}T10:00:00+00:00"
        data["machine_info"].update(run_id=f"run{n}", node=node)
        folder = tmp_path / "runs" / f"run{n}"
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(data))
        render_report([folder / "benchmark.json"], folder)
    html = render_index(tmp_path).read_text()
    assert "box-a (Intel(R) Xeon(R) Processor): 2 runs" in html
    assert "box-b (Intel(R) Xeon(R) Processor): 2 runs" in html
    assert "in common (run0 then run1)" in html and "in common (run2 then run3)" in html


def test_a_benchmark_stopped_while_it_was_timed_is_left_out_and_said(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    # matmul was being timed when the signal came: pytest-benchmark kept its rounds, and it
    # has no outcome; 4 of 6 ended
    data["outcomes"] = [o for o in data["outcomes"] if "-matmul-" not in o["name"]]
    html = render_report([write_json("stopped.json", data)], tmp_path / "page").read_text()
    summary = json.loads((tmp_path / "page" / "summary.json").read_text())
    assert summary["status"] == ("interrupted after 4 of 6 benchmarks; 2 passed, 1 failed, "
                                 "1 skipped; 1 more stopped while it was timed: left out")
    assert summary["notices"] == ["interrupted after 4 of 6 benchmarks (1 more stopped while it "
                                  "was timed, left out): the page has what was measured",
                                  SMOKE_NOTE]
    assert ">matmul<" not in html and ">matmul<" in render_report(
        [SAMPLE], tmp_path / "whole").read_text()
    csv = (tmp_path / "page" / "results.csv").read_text()
    assert "matmul" not in csv and csv.count("\n") == 1 + len(data["benchmarks"]) - 1
    # where the run was not stopped, every benchmark of the JSON has its outcome
    assert "stopped while" not in (tmp_path / "whole" / "index.html").read_text()


def test_a_finished_json_without_outcomes_has_nothing_cut_short(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    for key in ("outcomes", "collected"):
        data.pop(key)
    render_report([write_json("old.json", data)], tmp_path / "page")
    status = json.loads((tmp_path / "page" / "summary.json").read_text())["status"]
    assert status == "test outcomes not recorded in this file"


def test_the_warnings_list_skip_reasons_most_first_and_the_warm_up_range_ends_at_the_most(
        tmp_path, write_json):
    from bench.report.render import _describe_run, _warnings

    outcomes = pd.DataFrame([{"name": f"t{n}", "outcome": "skipped", "reason": reason}
                             for n, reason in enumerate(["bf16 not here"] + ["no CUDA"] * 3)])
    frame = pd.DataFrame({"noisy": [False], "host_bound": [False], "first_median": [None]})
    # most first, not in the alphabet's order
    assert _warnings(frame, outcomes) == [("4 skipped, for 2 reasons",
                                           ["3: no CUDA", "1: bf16 not here"])]
    data = json.loads(SAMPLE.read_text())
    for bench, calls in zip(data["benchmarks"], (3, 10, 1)):
        bench["extra_info"]["warmup_calls"] = calls
    about = _describe_run("x.json", data, outcomes_frame([("x.json", data)]))
    assert about["fields"]["warm-up_calls"] == "1 to 10"


def test_the_tally_counts_each_verdict_under_its_own_name():
    from bench.report.render import tally

    verdicts = ["slower", "faster", "faster", "same", "same", "same", "unclear", "missing"]
    assert tally(pd.DataFrame({"verdict": verdicts})) == (
        "1 slower, 2 faster, 3 same, 1 unclear; 1 measured in one run only (missing)")
    assert tally(pd.DataFrame({"verdict": ["same"]})) == "0 slower, 0 faster, 1 same"


def test_compare_refuses_two_runs_that_share_no_benchmark(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    for bench in data["benchmarks"]:
        bench["extra_info"]["suite"] = "other"
    data["datetime"] = "2026-11-26T20:03:00+00:00"
    with pytest.raises(UserError, match="share no benchmark; nothing to compare"):
        render_compare(SAMPLE, write_json("b.json", data), tmp_path / "out")
    assert not (tmp_path / "out" / "index.html").exists()


def test_the_list_of_runs_does_not_list_an_unclear_change(tmp_path):
    """matmul 10% slower in the second run, neither keeping its rounds: quartiles overlap."""
    runs = [json.loads(SAMPLE.read_text()) for _ in range(2)]
    for bench in runs[0]["benchmarks"] + runs[1]["benchmarks"]:
        bench["stats"].pop("data", None)
    for bench in runs[1]["benchmarks"]:
        if bench["extra_info"]["impl"] == "matmul":
            for key in ("median", "q1", "q3"):
                bench["stats"][key] *= 1.1
    write_runs(tmp_path, runs)
    html = render_index(tmp_path).read_text()
    assert "0 slower, 0 faster, 2 same, 1 unclear" in html
    assert "Changed since that run" not in html


def test_small_numbers_keep_their_figures_and_negative_ones_their_unit():
    # an exponent below one is kept: only from 1000 on is a number written out
    assert [fmt.ratio(1.23e-5), fmt.percent(1.5e-7)] == ["1.23e-05×", "1.5e-05%"]
    assert [fmt.seconds(-0.002), fmt.si(-2.5e9, "FLOP/s")] == ["-2 ms", "-2.5 GFLOP/s"]


def test_the_list_of_runs_lists_the_newest_folder_first(tmp_path):
    for name in ("2026-11-24-run", "2026-11-25-run"):  # stopped before they wrote anything
        (tmp_path / "runs" / name).mkdir(parents=True)
    html = render_index(tmp_path).read_text()
    assert re.findall(r'href="runs/([^/]+)/index.html"', html) == [
        "2026-11-25-run", "2026-11-24-run"]


def test_a_machine_s_history_goes_by_date_not_by_folder_name(tmp_path, slowed):
    """b-first measured on the 24th, a-second on the 25th with matmul twice as slow."""
    for name, day, factor in (("b-first", "24", 1.0), ("a-second", "25", 2.0)):
        data = slowed(json.loads(SAMPLE.read_text()), "matmul", factor)
        data["datetime"] = f"2026-11-{day}T10:00:00+00:00"
        data["machine_info"]["run_id"] = name
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(data))
        render_report([folder / "benchmark.json"], folder)
    html = render_index(tmp_path).read_text()
    assert "in common (b-first then a-second): 1 slower, 0 faster, 2 same." in html


def test_the_compare_page_lists_an_unclear_change_before_the_unchanged(tmp_path, write_json):
    """matmul 10% slower without its rounds: unclear, listed before conv_nchw and linear_nhwc."""
    a, b = (json.loads(SAMPLE.read_text()) for _ in range(2))
    for bench in a["benchmarks"] + b["benchmarks"]:
        bench["stats"].pop("data", None)
    for bench in b["benchmarks"]:
        if bench["extra_info"]["impl"] == "matmul":
            for key in ("median", "q1", "q3"):
                bench["stats"][key] *= 1.1
    page, tally, _, _ = render_compare(write_json("a.json", a), write_json("b.json", b),
                                       tmp_path / "out")
    assert tally == "0 slower, 0 faster, 2 same, 1 unclear"
    assert re.findall(r">(same|unclear)</td>", page.read_text()) == ["unclear", "same", "same"]


def two_runs_of_the_sample(write_json) -> list[Path]:
    """The sample run twice, as runs r0 and r1."""
    paths = []
    for n in range(2):
        data = json.loads(SAMPLE.read_text())
        data["machine_info"]["run_id"] = f"r{n}"
        paths.append(write_json(f"r{n}.json", data))
    return paths


def test_a_page_of_two_runs_gives_each_run_the_status_of_its_own_outcomes(tmp_path, write_json):
    render_report(two_runs_of_the_sample(write_json), tmp_path / "out")
    status = json.loads((tmp_path / "out" / "summary.json").read_text())["status"]
    assert status == "; ".join(["interrupted after 5 of 6 benchmarks; 3 passed, 1 failed, "
                                "1 skipped"] * 2)


def test_a_timestamp_that_is_missing_reads_as_date_unknown():
    from bench.report.render import readable_date

    assert [readable_date(None), readable_date(""), readable_date("last night")] == [
        "date unknown", "date unknown", "last night"]


def test_a_suite_section_that_meets_a_value_of_the_wrong_type_falls_back(tmp_path):
    def section(frame, info):
        raise TypeError("'<' not supported between instances of 'str' and 'int'")

    with mock.patch("bench.report.render.load_section", lambda name: section):
        html = render_report([SAMPLE], tmp_path).read_text()
    assert ("The conv1x1 section could not be drawn from this file (TypeError: &#39;&lt;&#39; not "
            "supported between instances of &#39;str&#39; and &#39;int&#39;); shown "
            "generically.") in html


def test_the_environment_gives_the_timer_settings_and_every_timer_used(tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    html = render_report([write_json("a.json", data)], tmp_path / "a").read_text()
    for field in ("<dt>timers</dt><dd>perf_counter</dd>", "<dt>min_rounds</dt><dd>5</dd>",
                  "<dt>max_time_per_benchmark</dt><dd>0.2</dd>"):
        assert field in html, field
    data["benchmarks"][-1]["options"]["timer"] = "CudaSyncTimer"  # a CUDA row's own timer
    html = render_report([write_json("b.json", data)], tmp_path / "b").read_text()
    assert "<dt>timers</dt><dd>CudaSyncTimer, perf_counter</dd>" in html


def test_the_repeat_page_names_the_machine_by_its_node(tmp_path, write_json):
    from bench.report.render import render_repeat

    out = tmp_path / "reports" / "repeat" / "x"
    out.mkdir(parents=True)
    page, _ = render_repeat(two_runs_of_the_sample(write_json), out)
    assert "<h1>Run-to-run spread on vm</h1>" in page.read_text()


def test_the_runs_conditions_are_compared_entry_by_entry():
    """The TF32 flags by the one that changed, not two whole mappings; a GPU in one run only
    named (torch's CUDA version is the same build's in both)."""
    from bench.report.render import conditions_apart

    a, b = json.loads(SAMPLE.read_text()), json.loads(SAMPLE.read_text())
    b["machine_info"]["tf32_flags"]["float32_matmul_precision"] = "high"
    assert conditions_apart(a, b) == "tf32_flags float32_matmul_precision highest → high"
    b = json.loads(SAMPLE.read_text())
    b["machine_info"]["gpu"] = "NVIDIA H200"
    assert conditions_apart(a, b) == "gpu — → NVIDIA H200"


def test_a_run_that_recorded_no_thread_count_is_said_to_run_under_its_torch_alone(
        tmp_path, write_json):
    data = json.loads(SAMPLE.read_text())
    del data["machine_info"]["threads"]
    html = render_report([write_json("a.json", data)], tmp_path).read_text()
    assert ("<code>sample-run</code>, 2026-11-25 20:03 UTC, on Intel(R) Xeon(R) Processor (torch "
            "2.14.1+cu130): interrupted") in html

"""The pytest plugin and the run it drives, in real child processes: `pytest --benchmark`, the
toy suite carried through pytest-benchmark to a page with the generic section, and runs stopped
by real signals that still end in their page."""

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import bench.benchmarks
from bench.plugin import JsonTarget
from bench.timing import CUDA_MIN_ROUND

ROOT = Path(__file__).parent.parent
TOY = Path(__file__).parent / "toy"
BENCHMARKS = Path(bench.benchmarks.__file__)


def env():
    return {**os.environ, "BENCH_SUITES": "toy=toy_suite",
            "PYTHONPATH": os.pathsep.join([str(TOY), os.environ.get("PYTHONPATH", "")])}


def run_folder(reports: Path) -> Path:
    (folder,) = (reports / "runs").iterdir()
    return folder


def test_pytest_benchmark_measures_and_ends_in_the_page(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "--benchmark", "--suite", "toy",
         "--grid", "smoke", "--benchmark-max-time=0.01", f"--bench-reports={tmp_path}",
         "-p", "no:cacheprovider"], cwd=ROOT, env=env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    folder = run_folder(tmp_path)
    assert {p.name for p in folder.iterdir()} >= {"benchmark.json", "results.csv", "index.html"}
    assert f"bench: report {folder / 'index.html'}" in result.stdout
    assert (tmp_path / "index.html").exists()
    html = (folder / "index.html").read_text()
    # the toy suite has no section of its own: the generic one, titled from the run's record
    for text in ("Toy: two ways to sum a vector", "Speedup against sum", "torch.cumsum",
                 "clearly fastest in", "timed side by side in alternating blocks"):
        assert text in html, text
    data = json.loads((folder / "benchmark.json").read_text())
    # plain parameters, so that pytest-benchmark's own tools show them
    assert {b["params"]["case"] for b in data["benchmarks"]} == {"n1000", "n100000",
                                                                 "n10-jitter"}
    assert all(b["extra_info"]["case_fields"]["n"] in (1000, 100000, 10)
               for b in data["benchmarks"])
    # the jittery case is noisy: measured a second time, with as many rounds
    jittery = [b for b in data["benchmarks"] if b["params"]["case"] == "n10-jitter"]
    assert all(b["extra_info"]["remeasured_rounds"] == b["stats"]["rounds"] for b in jittery)
    assert data["machine_info"]["run_id"] == folder.name
    assert 0 <= data["machine_info"]["others_cpu_share"] <= 1  # measured over the run
    # cumsum timed side by side with its baseline, sum (the baseline) not
    for entry in data["benchmarks"]:
        extra = entry["extra_info"]
        paired = {"baseline_ratio", "baseline_ratio_low", "baseline_ratio_high"} & set(extra)
        assert len(paired) == (3 if extra["impl"] == "cumsum" else 0)
        assert extra.get("baseline_ratio_blocks") == (10 if paired else None)
    # without --profile nothing is profiled and no trace is written
    assert not any("artifacts" in b["extra_info"] for b in data["benchmarks"])
    assert not (folder / "traces").exists()


def test_profile_trace_records_profiles_and_writes_traces(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "--benchmark", "--suite", "toy",
         "--grid", "smoke", "--benchmark-max-time=0.01", f"--bench-reports={tmp_path}",
         "--profile=trace", "-p", "no:cacheprovider"], cwd=ROOT, env=env(), capture_output=True,
        text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    folder = run_folder(tmp_path)
    data = json.loads((folder / "benchmark.json").read_text())
    traces = sorted(p.name for p in (folder / "traces").iterdir())
    assert len(traces) == len(data["benchmarks"]) == 6
    for entry in data["benchmarks"]:
        found = entry["extra_info"]["artifacts"]["profile"]
        assert found["trace"] in traces and found["operators"]
    assert "What each implementation runs" in (folder / "index.html").read_text()


def test_benchmark_and_benchmark_disable_are_refused_together(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark", "--benchmark-disable",
         f"--bench-reports={tmp_path}", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 4
    assert "--benchmark measures and --benchmark-disable turns measuring off" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_bench_report_makes_the_page_of_a_json_run(tmp_path):
    json_path = tmp_path / "mine.json"
    # ours registered after pytest-benchmark, so that its hook would run first were it not
    # `trylast` (loaded from entry points, the order happens to put ours last anyway)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS), "-p", "pytest_benchmark.plugin",
         "-p", "bench.plugin", "--benchmark-only", "--suite", "toy",
         "--benchmark-max-time=0.01", f"--benchmark-json={json_path}",
         f"--bench-report={tmp_path / 'page'}", "-p", "no:cacheprovider"],
        cwd=tmp_path, env={**env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, capture_output=True,
        text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert json_path.exists() and (tmp_path / "page" / "index.html").exists()
    assert f"bench: report {tmp_path / 'page' / 'index.html'}" in result.stdout
    # after pytest-benchmark's tables, which would otherwise scroll it away
    assert result.stdout.index("bench: report") > result.stdout.index("Legend:")


def toy_run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark", "--suite", "toy",
         "--grid", "smoke", "--benchmark-max-time=0.01", "--bench-reports=reports",
         "-p", "no:cacheprovider", *args], cwd=cwd, env=env(), capture_output=True, text=True)


@pytest.mark.parametrize("target", ["missing/out.json", "folder"])
def test_a_benchmark_json_that_cannot_be_written_is_refused_before_anything_runs(
        tmp_path, target):
    (tmp_path / "folder").mkdir()
    result = toy_run(tmp_path, f"--benchmark-json={target}")
    assert result.returncode == 4
    problem = (f"its folder {tmp_path / 'missing'} does not exist; create it or choose another "
               "path" if target.startswith("missing") else
               "is a folder; name a file, such as folder/benchmark.json")
    assert result.stderr.strip() == f"ERROR: --benchmark-json {target}: {problem}"
    assert not (tmp_path / "reports").exists()


def test_the_check_of_the_benchmark_json_leaves_no_file_and_keeps_one_that_is_there(tmp_path):
    (tmp_path / "old.json").write_text("kept")
    (tmp_path / "link.json").symlink_to("elsewhere.json")  # a link to a file not made yet
    for name in ("old.json", "new.json", "link.json"):  # nothing selected: nothing written
        result = toy_run(tmp_path, f"--benchmark-json={name}", "-k", "none")
        assert result.returncode == 5
        # said once, in our words, not again by pytest-benchmark's warning with its source line
        assert "bench: no benchmark was measured, so no report was written" in result.stdout
        assert "Not saving anything" not in result.stdout + result.stderr
    assert (tmp_path / "old.json").read_text() == "kept"
    assert not (tmp_path / "new.json").exists() and not (tmp_path / "elsewhere.json").exists()
    assert (tmp_path / "link.json").is_symlink()


full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")


@full
def test_a_json_the_disk_cannot_take_goes_into_the_run_folder_with_its_page(tmp_path):
    result = toy_run(tmp_path, "--benchmark-json=/dev/full")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    folder = run_folder(tmp_path / "reports")
    out = result.stdout.replace("\nbench:   ", " ")
    assert f"bench: could not write /dev/full: No space left on device; its JSON went into " \
        f"{folder} instead\n" in out
    assert f"bench: report {folder / 'index.html'}" in out
    assert "6 passed" in out and "Traceback" not in result.stdout + result.stderr
    data = json.loads((folder / "benchmark.json").read_text())
    assert len(data["benchmarks"]) == 6 and "outcomes" in data
    assert (folder / "index.html").exists()


def small_files(size: int = 20_000):
    """In the child: files stop growing at `size` bytes, as on a full disk (EFBIG for ENOSPC)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_run_no_disk_takes_says_nothing_was_saved_and_leaves_no_truncated_json(tmp_path):
    command = [sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark", "--suite", "toy",
               "--grid", "smoke", "--benchmark-max-time=0.01", "--bench-reports=reports",
               "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=tmp_path, env=env(), capture_output=True, text=True,
                            preexec_fn=small_files)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout.replace("\nbench:   ", " ")
    said = re.search(r"bench: could not write (\S+): File too large; writing into (\S+) then "
                     r"failed too: File too large; nothing was saved: make room, or choose "
                     r"another path, and run again\n", out)
    assert said, out[-2000:]
    folder = Path(said[2])
    assert Path(said[1]) == folder / "benchmark.json" and folder.parent == tmp_path / "reports/runs"
    assert "6 passed" in out and "Traceback" not in result.stdout + result.stderr
    assert not folder.exists()  # nor the truncated JSON that was in it


def test_a_bare_bench_report_on_a_full_disk_names_the_run_folder_its_json_went_into(tmp_path):
    # 5 rounds a benchmark, pytest-benchmark's least, at this tiny time: the JSONs' sizes then
    # hardly depend on how many benchmarks were noisy and measured again, their rounds kept
    command = [sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark-only", "--suite",
               "toy", "--benchmark-max-time=0.0001", "--bench-reports=reports",
               "--benchmark-json=out.json", "--bench-report", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=tmp_path, env=env(), capture_output=True, text=True,
                            preexec_fn=lambda: small_files(21_000))
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    folder = run_folder(tmp_path / "reports")
    # pytest-benchmark's JSON did not fit (24.5-25.3 kB on the 2-core VM); ours, indented less,
    # did (16.7-17.3 kB), the page (69-70 kB) did not
    assert "bench: could not write out.json: File too large; writing into " \
        f"{folder} then failed too: File too large; the measurements are in its " \
        f"benchmark.json, and `python -m bench report {folder}` makes their page once there is " \
        "room\n" in result.stdout.replace("\nbench:   ", " ")
    assert not (tmp_path / "out.json").exists()
    assert len(json.loads((folder / "benchmark.json").read_text())["benchmarks"]) == 6


@full
@pytest.mark.parametrize("full, kept, named", [
    ("results.csv", Path("page", "benchmark.json"), "page"),  # the page, after the JSON's copy
    ("benchmark.json.partial", Path("out.json"), "out.json"),  # the copy: pytest-benchmark's
])
def test_a_page_the_disk_cannot_take_names_the_whole_json_and_how_to_make_the_page(
        tmp_path, full, kept, named):
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / full).symlink_to("/dev/full")
    result = toy_run(tmp_path, "--benchmark-json=out.json", "--bench-report=page")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "bench: could not write the page: No space left on device; the measurements are in " \
        f"{kept}, and `python -m bench report {named}` makes their page once there is room\n" \
        in result.stdout.replace("\nbench:   ", " ")
    assert json.loads((tmp_path / kept).read_text()) == json.loads(
        (tmp_path / "out.json").read_text())


def test_cuda_benchmarks_get_the_synchronising_timer_by_the_marker():
    seen = {}

    class Spy:
        def pytest_collection_finish(self, session):
            for item in session.items:
                seen[item.callspec.params["device"]] = item.get_closest_marker("benchmark")

    pytest.main([str(BENCHMARKS), "--collect-only", "-q", "--device", "cuda",
                 "--suite", "selfcheck", "-p", "no:cacheprovider"], plugins=[Spy()])
    assert set(seen) == {"cuda"}
    assert type(seen["cuda"].kwargs["timer"]).__name__ == "CudaSyncTimer"
    assert seen["cuda"].kwargs["min_time"] == CUDA_MIN_ROUND == 1e-3


def test_benchmark_ids_are_the_ones_findings_look_outcomes_up_by():
    from bench.schema import bench_id

    seen = {}

    class Spy:
        def pytest_collection_finish(self, session):
            seen.update({item.callspec.id: item.callspec.params for item in session.items})

    pytest.main([str(BENCHMARKS), "--collect-only", "-q", "--suite", "roi", "--grid", "smoke",
                 "--device", "cpu", "-p", "no:cacheprovider"], plugins=[Spy()])
    assert "roi-pool-tiny-r16-o7-cpu-fp32-tv_roi_pool-forward" in seen
    assert all(bench_id(params) == name for name, params in seen.items())


def test_the_json_target_is_a_path_and_an_open_file_as_each_pytest_benchmark_wants(tmp_path):
    target = JsonTarget(tmp_path / "benchmark.json")
    assert not target.path.exists()  # a run that measures nothing leaves no file
    with open(target, "wb") as fh:  # pytest-benchmark 5.3 and later
        fh.write(b"new")
    assert target.path.read_bytes() == b"new" and str(target) == str(tmp_path / "benchmark.json")
    with target as fh:  # before 5.3
        fh.write(b"old")
    assert fh.closed and target.path.read_bytes() == b"old"


def interrupted_run(tmp_path, command, signum, sigint=signal.SIG_DFL, again=0, delay=0.0):
    """Start `command` with SIGINT at `sigint`, send `signum` to it alone `delay` seconds after
    the first benchmark has finished (and `again` times more, a tenth of a second apart, as an
    impatient user does), and return (exit status, its output, the run folder)."""
    # SIGINT at its default unless asked: a test run started in the background (`make test &`)
    # ignores it, and the child would inherit that
    process = subprocess.Popen(command, cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    output = ""
    while not re.search(r"(^|\n)\.", re.sub(r"(^|\n)bench:[^\n]*", "", output)):
        char = process.stdout.read(1)  # pytest -q prints a dot when a benchmark passes
        assert char, output
        output += char
    time.sleep(delay)
    process.send_signal(signum)
    for _ in range(again):
        time.sleep(0.1)
        process.send_signal(signum)
    output += process.stdout.read()
    return process.wait(timeout=120), output, run_folder(tmp_path)


@pytest.mark.parametrize("signum, status, again", [(signal.SIGINT, 130, 0),
                                                   (signal.SIGTERM, 143, 0),
                                                   (signal.SIGINT, 130, 8)])
def test_a_signal_to_bench_run_alone_keeps_what_was_measured(tmp_path, signum, status, again):
    # started with SIGINT ignored, as a job in the background of a script is: bench run
    # forwards the signal, and its pytest heeds it all the same (and the first only)
    code, output, folder = interrupted_run(
        tmp_path, [sys.executable, "-m", "bench", "run", "--suite", "toy", "--max-time", "0.05",
                   "--reports", str(tmp_path), "--", "-q"], signum, sigint=signal.SIG_IGN,
        again=again)
    assert code == status, output[-3000:]
    html = (folder / "index.html").read_text()
    assert "interrupted after" in html and "of 10 benchmarks" in html
    assert (tmp_path / "index.html").exists()


@pytest.mark.parametrize("again", [0, 8])
def test_ctrl_c_in_pytest_benchmark_keeps_what_was_measured(tmp_path, again):
    # benchmarks of a second, and the signal half a second into the second: in a test, where
    # pytest captures the output
    code, output, folder = interrupted_run(
        tmp_path, [sys.executable, "-m", "pytest", "tests/benchmarks", "--benchmark", "-q",
                   "--suite", "toy", "--benchmark-max-time=1", f"--bench-reports={tmp_path}",
                   "-p", "no:cacheprovider"], signal.SIGINT, again=again, delay=0.5)
    assert code == 2, output[-3000:]  # pytest's status for an interrupted session
    # said at once, and once; the later signals, ignored, once more
    assert output.count("bench: stopping; writing what was measured and its page\n") == 1
    assert output.count("bench: stopping already; writing") == (again > 0)
    # where the run was when it stopped, not the signal handler
    assert "KeyboardInterrupt" in output and not re.search(r"plugin\.py:\d+: Keyboard", output)
    assert "interrupted after" in (folder / "index.html").read_text()
    assert re.search(r"\nbench: interrupted after \d+ of 10 benchmarks( \(1 more stopped while "
                     r"it was timed, left out\))?: the page has what was measured\n",
                     output.replace("\nbench:   ", " ")), output[-3000:]
    assert f"bench: report {folder / 'index.html'}" in output


def test_an_interruption_report_survives_a_frame_without_a_line_number():
    """Python 3.11 can leave a frame's tb_lineno None where a signal lands; pytest's report of
    the KeyboardInterrupt crashed on it (an internal error, and no status 2)."""
    from _pytest._code.code import Traceback, TracebackEntry

    from bench.plugin import pytest_keyboard_interrupt

    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        info = pytest.ExceptionInfo.from_current()

    class NoLine:  # a raw traceback entry as such a frame leaves it
        tb_frame, tb_lineno, tb_next = info.tb.tb_frame, None, None

    info.traceback = Traceback([*info.traceback, TracebackEntry(NoLine())])
    with pytest.raises(TypeError):
        info.getrepr(funcargs=True)
    pytest_keyboard_interrupt(info)
    assert "KeyboardInterrupt" in str(info.getrepr(funcargs=True))


def bench_item(name: str, skip: bool = False):
    """A collected benchmark as Progress sees it: t[<name>], its suite the name's first part."""
    return SimpleNamespace(name=f"t[{name}]", callspec=SimpleNamespace(
        params={"suite": name.split("-")[0]}), get_closest_marker=lambda mark: mark == "bench"
        or skip)


def call_report(name: str, took: float, skipped: bool = False, when: str = "call"):
    """pytest's report of benchmark t[<name>]'s `when` phase."""
    return SimpleNamespace(keywords={"bench": 1}, when=when, passed=not skipped,
                           skipped=skipped, duration=took, nodeid=f"bench/benchmarks.py::t[{name}]")


def test_progress_estimates_from_the_last_run_scaled_by_this_one(monkeypatch):
    """The last run took 10, 20 and 30 s for x, y and z; this one took 20 s for x: twice as
    slow, so y and z should take 100 s more (the run's average alone would say 40)."""
    from bench import plugin

    lines, now = [], [0.0]
    monkeypatch.setattr(plugin.time, "monotonic", lambda: now[0])
    last = {"t[a-x]": 10.0, "t[b-y]": 20.0, "t[b-z]": 30.0}
    asked = []  # the run's --benchmark-max-time, to which the history is held
    monkeypatch.setattr(plugin, "history",
                        lambda reports, node, wanted, max_time: asked.append(max_time) or last)
    progress = plugin.Progress(SimpleNamespace(write_line=lines.append), Path("reports"),
                               max_time=0.5)
    items = [bench_item("a-x"), bench_item("b-y"), bench_item("b-z"),
             bench_item("b-s", skip=True)]
    plugin.Progress(SimpleNamespace(write_line=lines.append), None).pytest_collection_finish(
        SimpleNamespace(items=[]))
    assert lines.pop() == ("bench: no benchmark selected (the paths, -k, --suite, --grid, "
                           "--device and --precision leave none)")
    # a Ctrl-C during collection leaves none either, and selected nothing: no such line
    stopped = plugin.Stop()
    with pytest.raises(KeyboardInterrupt):
        stopped(signal.SIGINT, None)
    stopped.close()
    plugin.Progress(SimpleNamespace(write_line=lines.append), None, stopped) \
        .pytest_collection_finish(SimpleNamespace(items=[]))
    assert lines == []
    progress.pytest_collection_finish(SimpleNamespace(items=items))
    # the skipped benchmark takes no time and counts for nothing in the estimate
    assert lines[-1] == ("bench: 4 benchmarks (a 1, b 3); about 60 s by the last run on this "
                         "machine; the page is written at the end")
    assert asked == [0.5]
    now[0] = 25.0  # 5 s of start-up, then x's 20 s
    progress.pytest_runtest_logreport(call_report("a-x", 20.0))
    assert lines[-1] == ("bench: a done, 25 s into the run; 3 benchmarks left, about 1.7 min "
                         "more")
    for case, skipped in (("y", False), ("s", True), ("z", False)):
        progress.pytest_runtest_logreport(call_report(
            f"b-{case}", 20.0, skipped, when="setup" if skipped else "call"))
    # the last suite done: pytest's own summary says the rest
    assert len(lines) == 2
    assert progress.left == {"a": 0, "b": 0}  # the skipped one counted down too


def test_progress_history_is_the_latest_run_of_this_machine_that_recorded_each(tmp_path):
    from bench.plugin import history

    def run(name, node, benchmarks):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(
            {"machine_info": {"node": node}, "benchmarks": benchmarks}))

    run("20260101-000000-vm", "vm", [{"name": "t[a]", "extra_info": {"wall_seconds": 1.5}},
                                       {"name": "t[b]", "extra_info": {"wall_seconds": True}}])
    run("20260102-000000-vm", "vm", [{"name": "t[a]", "extra_info": {}}])  # before seconds
    run("20260103-000000-gpu", "gpu", [{"name": "t[a]", "extra_info": {"wall_seconds": 9.0}}])
    run("20260104-000000-vm-2", "vm", 5)  # odd JSON of every kind is passed over
    run("20260105-000000-vm", "vm", [{"name": ["a"], "extra_info": {"wall_seconds": 1.0}}])
    run("20260106-000000-vm", "vm", [{"name": "t[a]", "extra_info": [1]}])
    (tmp_path / "runs" / "20260107-000000-vm").mkdir()
    (tmp_path / "runs" / "20260107-000000-vm" / "benchmark.json").write_text("{broken")
    assert history(tmp_path, "vm", {"t[a]", "t[b]"}, runs=10) == {"t[a]": 1.5}
    assert history(tmp_path, "gpu", {"t[a]"}) == {"t[a]": 9.0}
    assert history(tmp_path, "other", {"t[a]"}) == {}
    assert history(tmp_path / "none", "vm", {"t[a]"}) == {}
    # a later run of a few benchmarks (a self-check) does not hide the full run before it
    run("20260108-000000-vm", "vm", [{"name": "t[s]", "extra_info": {"wall_seconds": 0.5}},
                                       {"name": "t[a]", "extra_info": {"wall_seconds": 2.0}}])
    assert history(tmp_path, "vm", {"t[a]", "t[s]", "t[x]"}) == {"t[s]": 0.5, "t[a]": 2.0}
    run("20260109-000000-vm", "vm", [{"name": "t[s]", "extra_info": {"wall_seconds": 0.7}}])
    assert history(tmp_path, "vm", {"t[a]", "t[s]"}, runs=3) == {"t[s]": 0.7, "t[a]": 2.0}
    assert history(tmp_path, "vm", {"t[s]"}, runs=1) == {"t[s]": 0.7}
    # a folder the glob takes for this machine's (vm2 starts with vm): its JSON's node decides
    run("20260110-000000-vm2", "vm2", [{"name": "t[s]", "extra_info": {"wall_seconds": 99.0}}])
    assert history(tmp_path, "vm", {"t[s]"}, runs=1) == {}
    assert history(tmp_path, "vm2", {"t[s]"}, runs=1) == {"t[s]": 99.0}
    # under another --benchmark-max-time, a run says nothing of this one's pace
    run("20260111-000000-vm", "vm", [
        {"name": "t[s]", "extra_info": {"wall_seconds": 3.0}, "options": {"max_time": 0.5}},
        {"name": "t[a]", "extra_info": {"wall_seconds": 0.3}, "options": {"max_time": 0.05}}])
    assert history(tmp_path, "vm", {"t[s]", "t[a]"}, max_time=0.5) == {"t[s]": 3.0}
    assert history(tmp_path, "vm", {"t[s]", "t[a]"}) == {"t[s]": 3.0, "t[a]": 0.3}


def test_findings_fold_to_the_terminal_s_width_and_paths_stay_whole():
    from bench.plugin import wrapped

    path = "report /a/path with spaces/long enough to pass the terminal s edge/index.html"
    lines = wrapped(["other processes took 47.9% of the CPUs' time", "Suite:",
                     "  cpu fp32 forward: linear_nhwc was clearly fastest in 6 of 10",
                     path, "all runs /another/path/long/enough/to/pass/the/edge/index.html"],
                    width=40)
    assert lines == ["bench: other processes took 47.9% of the",
                     "bench:   CPUs' time",
                     "bench: Suite:",
                     "bench:   cpu fp32 forward: linear_nhwc",
                     "bench:     was clearly fastest in 6 of",
                     "bench:     10",
                     f"bench: {path}",
                     "bench: all runs /another/path/long/enough/to/pass/the/edge/index.html"]


def test_progress_estimates_unknown_benchmarks_by_their_suite_and_needs_nine_in_ten(
        monkeypatch):
    from bench import plugin

    lines = []
    # 9 of 10 known is enough for a total "by the last run"; 8 of 10 is too few
    monkeypatch.setattr(plugin, "history",
                        lambda reports, node, wanted, max_time: {f"t[a-{n}]": 1.0
                                                                 for n in range(9)})
    plugin.Progress(SimpleNamespace(write_line=lines.append), Path("reports")) \
        .pytest_collection_finish(SimpleNamespace(items=[bench_item(f"a-{n}")
                                                         for n in range(10)]))
    assert lines.pop() == ("bench: 10 benchmarks (a 10); about 9 s by the last run on this "
                           "machine; the page is written at the end")
    last = {f"t[a-{n}]": 1.0 for n in range(8)}
    monkeypatch.setattr(plugin, "history", lambda reports, node, wanted, max_time: last)
    progress = plugin.Progress(SimpleNamespace(write_line=lines.append), Path("reports"))
    items = [bench_item(f"a-{n}") for n in range(10)]
    progress.pytest_collection_finish(SimpleNamespace(items=items))
    assert lines[-1] == "bench: 10 benchmarks (a 10); the page is written at the end"
    # folded to the terminal's width
    plugin.Progress(SimpleNamespace(write_line=lines.append), Path("reports"), None, 30) \
        .pytest_collection_finish(SimpleNamespace(items=items))
    assert lines[-3:] == ["bench: 10 benchmarks (a 10);", "bench:   the page is written",
                          "bench:   at the end"]
    for n, took in ((0, 2.0), (9, 6.0)):  # a known one at twice its last time, an unknown one
        progress.pytest_runtest_logreport(call_report(f"a-{n}", took))
    # 7 known left at the pace of 2: 14 s; 1 unknown at the average of the two done, 4 s
    assert progress.estimate() == (18.0, {})


def test_progress_names_the_suites_nothing_has_timed_instead_of_guessing(monkeypatch):
    """Suite a (1 s a benchmark last time) is done at twice that; b is timed by no run; c by
    the last one for one of its two. An average over a said 2 s each for b's, whatever they
    take."""
    from bench import plugin

    lines = []
    monkeypatch.setattr(plugin, "history", lambda reports, node, wanted, max_time: {
        "t[a-0]": 1.0, "t[a-1]": 1.0, "t[c-0]": 10.0})
    progress = plugin.Progress(SimpleNamespace(write_line=lines.append), Path("reports"))
    session = SimpleNamespace(items=[bench_item(name) for name in (
        "a-0", "a-1", "b-0", "b-1", "b-2", "c-0", "c-1")])
    progress.pytest_collection_finish(session)

    def finish(name, took):
        progress.pytest_runtest_logreport(call_report(name, took))
        return lines[-1].partition(" into the run; ")[2]

    assert finish("a-0", 2.0) == "" and finish("a-1", 2.0) == (
        "5 benchmarks left, about 20 s more besides b's 3 and c's 1, with no earlier time to "
        "go by")  # c-0 at the pace of 2
    for name in ("b-0", "b-1"):
        finish(name, 1.0)
    assert finish("b-2", 4.0) == ("2 benchmarks left, about 20 s more besides c's 1, with no "
                                  "earlier time to go by")  # not at b's average
    finish("c-0", 30.0)
    assert progress.estimate() == (30.0, {})  # c-1 at c's own average, not the run's
    # nothing to go by for any of those left
    monkeypatch.setattr(plugin, "history", lambda reports, node, wanted, max_time: {})
    progress = plugin.Progress(SimpleNamespace(write_line=lines.append), Path("reports"))
    progress.pytest_collection_finish(session)
    finish("a-0", 2.0)
    assert finish("a-1", 2.0) == ("5 benchmarks left, none with an earlier time to go by, so "
                                  "no estimate yet")


def test_the_json_records_the_share_of_the_cpus_others_took_since_the_run_began(monkeypatch):
    from bench import load, plugin

    # read at the start: 100 s busy, 10 of them ours; at the end, 20 s later: 130 and 20
    readings = iter([(130.0, 20.0)])
    monkeypatch.setattr(plugin, "cpu_times", lambda: next(readings))
    monkeypatch.setattr(load.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(plugin.time, "monotonic", lambda: 1020.0)
    config = SimpleNamespace(stash={plugin.RUN: {"cpu_start": (1000.0, (100.0, 10.0))},
                                    plugin.COLLECTED: 1}, getoption=lambda name: None)
    info = {}
    plugin.pytest_benchmark_update_machine_info(config, info)
    assert info["others_cpu_share"] == 0.5  # 30 s busy, 20 not ours, of 2 x 20 s


def test_under_benchmark_only_files_that_import_the_benchmark_are_collected(tmp_path):
    # without CUDA or Triton's interpreter, test_roi_triton.py skips itself when imported
    bare = {k: v for k, v in env().items() if k != "TRITON_INTERPRET"} | {
        "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--benchmark", "--suite", "toy", "--collect-only", "-q",
         f"--bench-reports={tmp_path}", "-p", "no:cacheprovider"],
        cwd=ROOT, env=bare, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "tests/benchmarks/test_suites.py::test_benchmark[toy-" in result.stdout
    # so a module that does not import the benchmark is not imported: not listed as skipped
    assert "test_roi_triton" not in result.stdout + result.stderr


def test_another_project_s_benchmarks_get_a_json_and_page_without_our_fields(tmp_path):
    # installed, the plugin loads in every pytest of the environment: a project of its own
    # benchmarks must not be told "0 passed" or given our machine's torch and grid
    (tmp_path / "test_theirs.py").write_text(
        "def test_sort(benchmark):\n    benchmark(sorted, [3, 1, 2])\n")
    json_path = tmp_path / "theirs.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "test_theirs.py", "-p", "bench.plugin",
         "--benchmark-max-time=0.01", f"--benchmark-json={json_path}",
         f"--bench-report={tmp_path / 'page'}", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    data = json.loads(json_path.read_text())
    assert not {"outcomes", "collected", "suites"} & set(data)
    assert not {"grid", "run_id", "torch"} & set(data["machine_info"])
    html = (tmp_path / "page" / "index.html").read_text()
    assert "test outcomes not recorded in this file" in html and "0 passed" not in html


def test_a_benchmark_s_outcome_is_recorded_once_with_the_skip_reason_bare():
    """A passed setup says nothing yet: its call settles it (two records would double the
    counts and "interrupted after N"); a skipped setup settles it, its reason without pytest's
    "Skipped: "."""
    from bench.plugin import OutcomeRecorder

    def report(when, outcome, longrepr=None):
        return SimpleNamespace(keywords={"bench": 1}, when=when, outcome=outcome,
                               passed=outcome == "passed", skipped=outcome == "skipped",
                               failed=outcome == "failed", longrepr=longrepr,
                               nodeid=f"b.py::t[{when}-{outcome}]")

    outcomes = []
    recorder = OutcomeRecorder(outcomes)
    for each in (report("setup", "passed"), report("call", "passed"),
                 report("teardown", "passed"),
                 report("setup", "skipped", ("b.py", 1, "Skipped: CUDA is not available"))):
        recorder.pytest_runtest_logreport(each)
    assert outcomes == [{"name": "b.py::t[call-passed]", "outcome": "passed", "reason": ""},
                        {"name": "b.py::t[setup-skipped]", "outcome": "skipped",
                         "reason": "CUDA is not available"}]


def test_a_benchmark_that_skips_while_it_runs_is_not_in_its_suite_s_average(monkeypatch):
    from bench import plugin

    monkeypatch.setattr(plugin, "history", lambda reports, node, wanted, max_time: {})
    progress = plugin.Progress(SimpleNamespace(write_line=lambda line: None), Path("reports"))
    progress.pytest_collection_finish(SimpleNamespace(items=[bench_item(f"a-{n}")
                                                             for n in range(3)]))
    for n, skipped, took in ((0, False, 10.0), (1, True, 0.0)):  # the second skips in its call
        progress.pytest_runtest_logreport(call_report(f"a-{n}", took, skipped))
    assert progress.estimate() == (10.0, {})  # the one left takes the passed one's 10 s, not 5


def test_a_recorded_time_of_zero_is_a_time_to_go_by(tmp_path):
    from bench import plugin

    folder = tmp_path / "runs" / "20260101-000000-vm"
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(
        {"machine_info": {"node": "vm"},
         "benchmarks": [{"name": "t[a]", "extra_info": {"wall_seconds": 0.0}}]}))
    assert plugin.history(tmp_path, "vm", {"t[a]"}) == {"t[a]": 0.0}


def test_without_benchmark_json_the_first_file_written_is_the_autosave():
    from bench import plugin

    config = SimpleNamespace(getoption=lambda name: None, stash={})
    plugin.pytest_benchmark_update_json(config, [], {})
    assert config.stash[plugin.WRITING] == "autosave"  # what a full disk's line names


def options(**given):
    return lambda name: given.get(name)


def test_the_grid_is_default_under_benchmark_and_smoke_otherwise_unless_named():
    from bench.plugin import grid

    assert grid(SimpleNamespace(getoption=options(benchmark=True))) == "default"
    assert grid(SimpleNamespace(getoption=options(benchmark=False))) == "smoke"
    assert grid(SimpleNamespace(getoption=options(benchmark=True, grid="full"))) == "full"


def test_machine_info_records_the_grid_run_and_the_spread_this_machine_showed(
        tmp_path, monkeypatch):
    from bench import machine, plugin

    monkeypatch.setattr(machine, "machine_info", lambda: {"node": "vm"})
    run = {"reports": tmp_path, "dir": tmp_path / "runs" / "20260101-000000-vm"}
    config = SimpleNamespace(stash={plugin.RUN: run, plugin.COLLECTED: 1},
                             getoption=options(benchmark=True, benchmark_max_time="0.5"))
    # quoted where the repeated runs were of this grid and seconds per benchmark (--grid not
    # given: default under --benchmark)
    for spread, said in ({"grid": "default", "max_time": 0.5}, 0.04), \
            ({"grid": "smoke", "max_time": 0.5}, None), \
            ({"grid": "default", "max_time": 1.0}, None), ({}, None):
        (tmp_path / "repeatability.json").write_text(json.dumps(
            {"vm": {"median_spread": 0.04, "runs": 3, **spread},
             "other": {"median_spread": 0.5, "grid": "default", "max_time": 0.5}}))
        info = {}
        plugin.pytest_benchmark_update_machine_info(config, info)
        assert info["grid"] == "default"  # what was run, not the option's None
        assert info["run_id"] == "20260101-000000-vm"
        assert info.get("expected_spread") == said, spread
        assert info["profile"] is None  # not profiled
    # a profiled run says so: its profiler may slow what comes after
    config.getoption = options(benchmark=True, benchmark_max_time="0.5", profile="table")
    info = {}
    plugin.pytest_benchmark_update_machine_info(config, info)
    assert info["profile"] == "table"


def test_the_json_and_then_the_autosave_are_named_as_written_and_the_first_is_kept():
    """With --benchmark-json and --benchmark-autosave, pytest-benchmark writes twice: the second
    write is the autosave's (a failure there must not delete the whole --benchmark-json file),
    and the run's page is made from the first, which holds the raw rounds."""
    from bench import plugin

    run = {}
    config = SimpleNamespace(getoption=options(benchmark_json="out.json"),
                             stash={plugin.RUN: run})
    first, second = {"which": "json"}, {"which": "autosave"}
    plugin.pytest_benchmark_update_json(config, [], first)
    assert config.stash[plugin.WRITING] == "json"
    plugin.pytest_benchmark_update_json(config, [], second)
    assert config.stash[plugin.WRITING] == "autosave"
    assert run["json"] is first


def test_a_failed_benchmark_s_outcome_keeps_the_first_line_of_its_failure():
    from bench.plugin import OutcomeRecorder

    outcomes = []
    crash = SimpleNamespace(message="AssertionError: relative error 1e-01 above tolerance\n"
                                    "assert 0.1 <= 0.001")
    OutcomeRecorder(outcomes).pytest_runtest_logreport(SimpleNamespace(
        keywords={"bench": 1}, when="call", outcome="failed", passed=False, skipped=False,
        failed=True, longrepr=SimpleNamespace(reprcrash=crash), nodeid="b.py::t[x]"))
    assert outcomes == [{"name": "b.py::t[x]", "outcome": "failed",
                         "reason": "AssertionError: relative error 1e-01 above tolerance"}]


def test_a_cuda_only_precision_asked_for_on_the_cpu_is_skipped_with_its_reason():
    from bench import plugin

    seen = {}
    metafunc = SimpleNamespace(
        function=bench.benchmarks.test_benchmark,
        config=SimpleNamespace(getoption=options(device="cpu", suite="conv1x1",
                                                 precision="fp16", grid="smoke")),
        parametrize=lambda names, params: seen.update(params=params))
    plugin.pytest_generate_tests(metafunc)
    assert seen["params"]
    for param in seen["params"]:
        reasons = [mark.kwargs.get("reason") for mark in param.marks if mark.name == "skip"]
        assert reasons == ["precision fp16 is a CUDA mode"], param.id


def test_the_end_of_a_session_puts_sigterm_back_to_its_default():
    from bench import plugin

    stop = plugin.Stop()
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, stop)
    try:
        plugin.pytest_unconfigure(SimpleNamespace(stash={plugin.STOP: stop}))
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, before)


def test_bench_report_takes_a_run_that_saves_its_json_with_benchmark_save(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS), "--suite", "toy", "--collect-only",
         "-q", "--benchmark-save=mine", f"--bench-report={tmp_path / 'page'}",
         f"--bench-reports={tmp_path}", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "--bench-report needs" not in result.stderr


def test_under_benchmark_the_tests_that_are_not_benchmarks_are_counted_as_deselected(tmp_path):
    (tmp_path / "test_mixed.py").write_text(
        "from bench.benchmarks import test_benchmark  # noqa: F401\n\n\n"
        "def test_other():\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "test_mixed.py", "--benchmark", "--suite", "toy",
         "--grid", "smoke", "--collect-only", "-q", f"--bench-reports={tmp_path / 'r'}",
         "-p", "no:cacheprovider"], cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 deselected" in result.stdout, result.stdout[-2000:]
    assert "test_other" not in result.stdout


def test_traces_go_into_the_run_folder_even_where_the_json_goes_elsewhere(tmp_path):
    from bench import plugin

    fixture = getattr(plugin.bench_profile, "__wrapped__", plugin.bench_profile)
    run_dir = tmp_path / "reports" / "runs" / "20260101-000000-vm"
    config = SimpleNamespace(stash={plugin.RUN: {"dir": run_dir}}, getoption=options(
        profile="trace", benchmark_json=str(tmp_path / "elsewhere" / "out.json")))
    assert fixture(SimpleNamespace(config=config)) == ("trace", run_dir / "traces")
    # without a run folder: beside the JSON
    config.stash = {}
    assert fixture(SimpleNamespace(config=config)) == ("trace", tmp_path / "elsewhere" / "traces")

"""The pytest plugin: options, parametrisation of the one benchmark, outcomes, machine info, and
`pytest --benchmark`, which measures and ends in the HTML report.

Registered through the `pytest11` entry point, so every pytest of the environment where the
package is installed has it (`-p bench.plugin` where the package is on PYTHONPATH only). It imports
nothing heavy at start-up: torch comes with the first benchmark collected.
"""

import argparse
import errno
import glob
import json
import math
import os
import platform
import signal
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from bench.errors import UserError
from bench.load import cpu_times, others_share  # the standard library's only
from bench.precision import MEANINGS, skip_reason
from bench.report.publish import PATH_LINES, check_folder, new_run_dir
from bench.schema import HARNESS, bench_id, is_number
from bench.suite import GRID_NAMES
from bench.suites import REGISTRY, check_selection, describe, load_suite

OUTCOMES = pytest.StashKey[list]()
COLLECTED = pytest.StashKey[int]()
RUN = pytest.StashKey[dict]()
STOP = pytest.StashKey["Stop"]()
RESULT = pytest.StashKey[list]()  # the lines that end the run: its pages, or what was not saved
WRITING = pytest.StashKey[str]()  # what the session writes now: "json", "autosave" or "page"
PARAMS = HARNESS


def pytest_addoption(parser):
    group = parser.getgroup("bench", "benchmark harness (bench)")
    group.addoption("--benchmark", action="store_true",
                    help="run only the benchmarks, on the default grid unless --grid says "
                         "otherwise, and write the HTML report under --bench-reports/runs/")
    group.addoption("--bench-report", nargs="?", const="", default=None, metavar="DIR",
                    help="also write the HTML report of the benchmark JSON this run writes "
                         "(--benchmark-json or --benchmark-autosave) into DIR (default: a new "
                         "run folder under --bench-reports/runs/)")
    group.addoption("--bench-reports", default="reports", metavar="DIR",
                    help="the reports folder (default: reports)")
    group.addoption("--grid", default=None,
                    help=f"case grid of the suites: {', '.join(GRID_NAMES)} (default: smoke; "
                         "default with --benchmark)")
    group.addoption("--suite", default=None,
                    help=f"comma-separated suites to run: {', '.join(REGISTRY)} (default: all)")
    group.addoption("--precision", default=None,
                    help="comma-separated precision modes, by default each suite's own list "
                         f"per device: {MEANINGS}")
    group.addoption("--profile", nargs="?", const="table", default=None,
                    choices=("table", "trace"),
                    help="profile one extra call of every benchmark, outside the timing: "
                         "the top operators and kernels into its JSON; --profile=trace also "
                         "writes each Chrome trace, gzipped, under the run folder's traces/")
    group.addoption("--device", default="auto",
                    help="cpu, cuda, or auto: the CPU, and CUDA where it is available "
                         "(default: auto)")
    # `python -m bench run` has pytest read the options it passes on, and stop there, so that
    # a mistake among them is told in one line before the run (bench.cli)
    group.addoption("--bench-options-only", action="store_true", help=argparse.SUPPRESS)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if config.getoption("bench_options_only"):
        return 0


def grid(config) -> str:
    return config.getoption("grid") or ("default" if config.getoption("benchmark") else "smoke")


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: a test or benchmark that needs a CUDA device")
    config.addinivalue_line("markers", "bench: one benchmark of a bench suite")
    config.stash[OUTCOMES] = []
    config.pluginmanager.register(OutcomeRecorder(config.stash[OUTCOMES]), "bench-outcomes")
    config.pluginmanager.register(Unsaved(), "bench-unsaved")
    try:
        check_selection(grid(config), config.getoption("suite"), config.getoption("precision"),
                        config.getoption("device"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    _check_folders(config)
    if config.getoption("benchmark"):
        _start_run(config)
    elif config.getoption("bench_report") is not None:
        if not (config.getoption("benchmark_json") or config.getoption("benchmark_autosave")
                or config.getoption("benchmark_save")):
            raise pytest.UsageError("--bench-report needs a run that writes a benchmark JSON: add "
                                    "--benchmark-json=PATH or --benchmark-autosave")
        config.stash[RUN] = {"reports": _reports(config), "dir": None,
                             "out": config.getoption("bench_report") or None}


def _check_folders(config) -> None:
    """Before anything is measured: the folders pages will go to can take them. --bench-report
    DIR gets the page; otherwise a new run folder under --bench-reports does, and under
    --benchmark that folder's index.html, the list of runs, is rewritten too."""
    out, measured = config.getoption("bench_report"), config.getoption("benchmark")
    try:
        if out:
            check_folder(Path(out))
        if measured or out == "":
            check_folder(_reports(config), page=measured and not out)
    except UserError as error:
        raise pytest.UsageError(str(error)) from None
    _check_json_target(_json_path(config))


def _check_json_target(path: Path | None) -> None:
    """--benchmark-json is opened only once everything is measured: a path that cannot be
    written (a folder, a missing folder, one without permission) is refused before the run, not
    after it. Nothing is opened or made here (a link, a FIFO, a file: all left as they are);
    what these checks cannot tell (as root, everything looks writable) is met at the end, where
    the JSON then goes into the run's folder, if it has one (--benchmark, --bench-report)."""
    if path is None:
        return
    target = path.resolve()  # through a link, to the file that would be written
    if target.is_dir():
        problem = f"is a folder; name a file, such as {path / 'benchmark.json'}"
    elif not target.parent.is_dir():
        problem = f"its folder {target.parent} does not exist; create it or choose another path"
    else:
        written = target if target.exists() else target.parent
        if os.access(written, os.W_OK | (0 if written is target else os.X_OK)):
            return
        problem = f"{written} is not writable; choose another path"
    raise pytest.UsageError(f"--benchmark-json {path}: {problem}")


def _reports(config) -> Path:
    return Path(config.invocation_params.dir, config.getoption("bench_reports"))


def _start_run(config) -> None:
    """--benchmark: benchmarks only, their JSON in a new run folder, SIGTERM handled as Ctrl-C."""
    if config.getoption("benchmark_disable"):
        raise pytest.UsageError("--benchmark measures and --benchmark-disable turns measuring "
                                "off; use one of them")
    config.option.benchmark_only = True
    config.option.benchmark_quiet = True  # the page has the tables, hundreds of them
    try:
        run_dir = new_run_dir(_reports(config))
    except OSError as error:
        raise pytest.UsageError(str(error)) from None
    if config.getoption("benchmark_json") is None:
        config.option.benchmark_json = JsonTarget(run_dir / "benchmark.json")
    config.stash[RUN] = {"reports": _reports(config), "dir": run_dir,
                         "out": config.getoption("bench_report") or None,
                         "cpu_start": (time.monotonic(), cpu_times())}
    # A scheduler or container stop sends SIGTERM: end the session as Ctrl-C does, so pytest
    # and pytest-benchmark write what was measured and the page is still made. SIGINT left
    # ignored where it is (a pytest started in the background of a script), as pytest does.
    stop = config.stash[STOP] = Stop()
    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stop)


class Stop:
    """The handler of SIGINT and SIGTERM under --benchmark: the first ends the session as Ctrl-C
    does; those after it are ignored, with one line to say so. They come while pytest-benchmark
    writes its JSON and the page is made, seconds for a large run, and a second Ctrl-C there
    lost the whole run."""

    def __init__(self):
        self.seen = 0
        # the terminal's stderr, kept while pytest's capture is suspended (as it is while the
        # plugins are configured): during a test, fd 2 is a capture file nobody would read
        try:
            self.stderr = os.dup(2)
        except OSError:  # no stderr at all: nothing to say it on
            self.stderr = None

    def __call__(self, signum, frame):
        __tracebackhide__ = True  # pytest's report names the line the run was at, not this one
        self.seen += 1
        if self.seen == 1:
            # said now: the JSON and the page take seconds, and pytest speaks only after them
            self.say(b"stopping; writing what was measured and its page")
            raise KeyboardInterrupt() if signum == signal.SIGINT else \
                KeyboardInterrupt(f"signal {signum}")
        if self.seen == 2:
            self.say(b"stopping already; writing what was measured and its page first")

    def say(self, text: bytes) -> None:
        try:
            os.write(self.stderr, b"\nbench: " + text + b"\n")
        except (OSError, TypeError):  # a pipe whose reader the same Ctrl-C ended: the stop goes on
            pass

    def close(self) -> None:
        if self.stderr is not None:
            os.close(self.stderr)
            self.stderr = None


class Progress:
    """Under --benchmark, a line when a suite is done, with how much is left and about how
    long it will take: a run of the default grid takes minutes, its dots say little.

    The estimate comes from the last runs on this machine that measured the benchmarks (each
    records its own seconds), scaled by how this run compares so far on the ones done; for the
    others, the average so far of their own suite. Suites differ a lot: a frozen ResNet-50
    benchmark takes a hundred times a 1x1-convolution one, so the run's average said 2 minutes
    where 6 were left, and the self-check's, 25 s for 3 s of RoI benchmarks. A suite with
    neither is named as such, not guessed at."""

    def __init__(self, reporter, reports: Path | None, stop: Stop | None = None,
                 width: int = 10**6, max_time: float | None = None):
        self.reporter, self.reports, self.stop, self.width = reporter, reports, stop, width
        self.max_time = max_time
        self.history = {}
        self.left, self.start = {}, time.monotonic()
        self.pending: dict[str, str] = {}  # benchmark -> its suite
        # each suite's benchmarks done and the seconds they took; for those the last run knows:
        # the seconds they took now and then (the pace compares test bodies, not this run's
        # start-up)
        self.done, self.took, self.known_now, self.known_before = {}, {}, 0.0, 0.0

    # trylast: after the terminal's own "collected" line and a benchmark's status letter, so
    # that ours does not join the first or strand the second on a line of its own
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        for item in session.items:
            if item.get_closest_marker("bench"):
                suite = item.callspec.params["suite"]
                self.left[suite] = self.left.get(suite, 0) + 1
                if not item.get_closest_marker("skip"):  # takes no time, is in no JSON
                    self.pending[item.name] = suite
        if self.stop is not None and self.stop.seen:  # stopped while collecting: not a filter
            return
        if not self.left:
            self.say("no benchmark selected (the paths, -k, --suite, --grid, --device and "
                     "--precision leave none)")
            return
        counts = ", ".join(f"{suite} {n}" for suite, n in self.left.items())
        if self.reports is not None:
            self.history = history(self.reports, platform.node(), set(self.pending),
                                   max_time=self.max_time)
        known = [self.history[name] for name in self.pending if name in self.history]
        before = f"; about {_minutes(sum(known))} by the last run on this machine" \
            if self.pending and len(known) >= 0.9 * len(self.pending) else ""
        self.say(f"{sum(self.left.values())} benchmarks ({counts}){before}; the page is "
                 "written at the end")

    def say(self, text: str) -> None:
        for line in wrapped([text], self.width):
            self.reporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        if not _settles_a_benchmark(report):
            return
        suite = report.nodeid.partition("[")[2].partition("-")[0]
        if suite not in self.left:
            return
        name = report.nodeid.rpartition("::")[2]
        self.pending.pop(name, None)
        self.left[suite] -= 1
        if not report.skipped:
            self.done[suite] = self.done.get(suite, 0) + 1
            self.took[suite] = self.took.get(suite, 0.0) + report.duration
            if name in self.history:
                self.known_now += report.duration
                self.known_before += self.history[name]
        remaining = sum(self.left.values())
        # none left: pytest's summary follows (a line here would strand its "[100%]")
        if self.left[suite] == 0 and remaining:
            elapsed = time.monotonic() - self.start
            seconds, unknown = self.estimate()
            if not unknown:
                rest = f"about {_minutes(seconds)} more"
            elif sum(unknown.values()) < len(self.pending):
                untimed = " and ".join(f"{suite}'s {n}" for suite, n in unknown.items())
                rest = (f"about {_minutes(seconds)} more besides {untimed}, with no earlier "
                        "time to go by")
            else:
                rest = "none with an earlier time to go by, so no estimate yet"
            self.say(f"{suite} done, {_minutes(elapsed)} into the run; {remaining} benchmarks "
                     f"left, {rest}")

    def estimate(self) -> tuple[float, dict[str, int]]:
        """Seconds the pending benchmarks will take, as far as known; and per suite, how many
        have nothing to go by: no time of their own from an earlier run, and no benchmark of
        their suite done in this one."""
        pace = self.known_now / self.known_before if self.known_before else 1.0
        seconds, unknown = 0.0, {}
        for name, suite in self.pending.items():
            if name in self.history:
                seconds += self.history[name] * pace
            elif self.done.get(suite):
                seconds += self.took[suite] / self.done[suite]
            else:
                unknown[suite] = unknown.get(suite, 0) + 1
        return seconds, unknown


def history(reports: Path, node: str, wanted: set[str], runs: int = 10,
            max_time: float | None = None) -> dict[str, float]:
    """Seconds each of the `wanted` benchmarks took in the latest run that recorded it, among
    this machine's last `runs` runs under `reports` (reading stops once all are known): a
    selfcheck-only run must not hide the full run before it. With `max_time`, only where the
    benchmark ran under that --benchmark-max-time: a run at 0.05 s said "about 8 s" to one at
    0.5 s that took minutes. A file it cannot use is passed over: the estimate is a
    convenience, never a reason for a run to fail."""
    # run folders are <time>-<host>[-n]: this machine's first, the JSON's node decides
    folders = sorted((reports / "runs").glob(f"*-{glob.escape(node)}*/benchmark.json"),
                     reverse=True)
    found: dict[str, float] = {}
    for path in folders[:runs]:
        if wanted <= found.keys():
            break
        try:
            data = json.loads(path.read_text())
            if (data.get("machine_info") or {}).get("node") != node:
                continue
            seconds = {bench["name"]: bench["extra_info"]["wall_seconds"]
                       for bench in data["benchmarks"] if "wall_seconds" in bench["extra_info"]
                       and (max_time is None
                            or (bench.get("options") or {}).get("max_time") == max_time)}
        except (OSError, ValueError, RecursionError, TypeError, KeyError, AttributeError):
            continue
        for name, value in seconds.items():
            if name in wanted and name not in found and type(value) in (int, float) \
                    and math.isfinite(value) and value >= 0:
                found[name] = value
    return found


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo):
    """A signal can land where Python keeps no line number for a frame (tb_lineno None, seen on
    Python 3.11); pytest's report of the interruption then crashes on it, and the run ends with
    an internal error instead of status 2. Such frames are left out of the report."""
    excinfo.traceback = excinfo.traceback.filter(_has_line)


def _has_line(entry) -> bool:
    try:
        return entry.lineno >= 0
    except TypeError:  # tb_lineno is None
        return False


def _devices(config):
    """(device, marks) for each device the run measures."""
    import torch

    has_cuda = torch.cuda.is_available()
    chosen = config.getoption("device")
    if chosen in ("auto", "cpu"):
        yield "cpu", ()
    if chosen == "cuda" or (chosen == "auto" and has_cuda):
        from bench.timing import CUDA_MIN_ROUND, CudaSyncTimer

        # pytest-benchmark's documented per-test timer: it synchronises before each reading;
        # rounds long enough that the synchronisation is a small part of each.
        min_time = max(CUDA_MIN_ROUND, float(config.getoption("benchmark_min_time")))
        marker = pytest.mark.benchmark(timer=CudaSyncTimer("cuda"), min_time=min_time)
        yield "cuda", (pytest.mark.cuda, marker,
                       pytest.mark.skipif(not has_cuda, reason="CUDA is not available"))


def pytest_generate_tests(metafunc):
    """Parametrise the one benchmark with plain strings: every selected suite's cases, devices,
    precisions, implementations and modes, with the suite's skip reasons as skip marks."""
    if not getattr(metafunc.function, "bench_benchmark", False):
        return
    config = metafunc.config
    chosen = config.getoption("precision")
    suites = (config.getoption("suite") or ",".join(REGISTRY)).split(",")
    params = []
    for device, marks in _devices(config):
        for name in suites:
            suite = load_suite(name)
            for precision in chosen.split(",") if chosen else suite.precisions.get(device, ()):
                for case in suite.cases(grid(config), device):
                    for impl in suite.impls_for(case):
                        for mode in suite.modes:
                            reason = skip_reason(precision, device) or suite.skip_reason(
                                case, impl, device, precision, mode)
                            skip = (pytest.mark.skip(reason=reason),) if reason else ()
                            values = dict(zip(PARAMS, (name, case.id, impl, device,
                                                       precision, mode)))
                            params.append(pytest.param(
                                *values.values(), marks=(pytest.mark.bench, *marks, *skip),
                                id=bench_id(values)))
    metafunc.parametrize(",".join(PARAMS), params)


def pytest_sessionstart(session):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if session.config.getoption("benchmark") and reporter is not None:
        run = session.config.stash.get(RUN, None) or {}
        session.config.pluginmanager.register(
            Progress(reporter, run.get("reports"), session.config.stash.get(STOP, None),
                     session.config.get_terminal_writer().fullwidth,
                     float(session.config.getoption("benchmark_max_time"))),
            "bench-progress")


def pytest_ignore_collect(collection_path, config):
    """Under --benchmark, a test file that does not import the package's benchmark holds none,
    and is not imported at all: collecting every test of this project took 9 s, and a module
    that skips itself showed in the summary."""
    if not config.getoption("benchmark") or collection_path.suffix != ".py" \
            or not collection_path.name.startswith("test_"):
        return None
    try:
        text = collection_path.read_text(errors="replace")
    except OSError:
        return None
    return None if "bench.benchmarks" in text else True


def pytest_collection_modifyitems(config, items):
    """Under --benchmark only the benchmarks run: the rest is deselected, not skipped."""
    if not config.getoption("benchmark"):
        return
    keep = [item for item in items if item.get_closest_marker("bench")]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if not i.get_closest_marker("bench")])
        items[:] = keep


def pytest_collection_finish(session):
    session.config.stash[COLLECTED] = sum(
        item.get_closest_marker("bench") is not None for item in session.items)


class OutcomeRecorder:
    """Keeps each benchmark's outcome, so the report can list failures and skips with reasons."""

    def __init__(self, outcomes: list):
        self.outcomes = outcomes

    def pytest_runtest_logreport(self, report):
        if not _settles_a_benchmark(report):
            return
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            reason = str(crash.message if crash else report.longrepr).splitlines()[0]
        self.outcomes.append({"name": report.nodeid, "outcome": report.outcome,
                              "reason": reason})


def _settles_a_benchmark(report) -> bool:
    """Whether `report` is a benchmark's last word: its call, or a setup that skipped or failed."""
    return "bench" in report.keywords and (
        report.when == "call" or (report.when == "setup" and not report.passed))


@pytest.fixture
def bench_profile(request):
    """(None, "table" or "trace"; the folder for traces) as --profile asked."""
    config = request.config
    mode = config.getoption("profile")
    run = config.stash.get(RUN, None) or {}
    json_path = _json_path(config)
    base = run.get("dir") or (Path(json_path).parent if json_path else Path.cwd())
    return mode, Path(base) / "traces"


def _measures_ours(config) -> bool:
    """Whether the session collected a benchmark of ours: installed, this plugin is loaded by
    every pytest of the environment, and another project's JSON is not ours to add to."""
    return config.stash.get(COLLECTED, 0) > 0


def pytest_benchmark_update_machine_info(config, machine_info: dict):
    if not _measures_ours(config):
        return
    from bench import machine

    machine_info.update(machine.machine_info())
    machine_info["grid"] = grid(config)
    # a profiled call follows each timing; the profiler may linger and slow what comes after
    machine_info["profile"] = config.getoption("profile")
    run = config.stash.get(RUN, None) or {}
    machine_info["run_id"] = run["dir"].name if run.get("dir") else None
    if run.get("cpu_start"):
        start, times = run["cpu_start"]
        machine_info["others_cpu_share"] = others_share(times, cpu_times(),
                                                        time.monotonic() - start)
    if run.get("reports"):  # what `python -m bench repeat` found on this machine, if it ran
        from bench.report.render import read_mapping

        known = read_mapping(run["reports"] / "repeatability.json").get(machine_info.get("node"))
        # a spread of other cases or other rounds says little of this run's
        if isinstance(known, dict) and known.get("grid") == machine_info["grid"] and \
                is_number(known.get("max_time")) and math.isclose(
                    known["max_time"], float(config.getoption("benchmark_max_time"))):
            machine_info["expected_spread"] = known.get("median_spread")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    # called before each file pytest-benchmark writes: --benchmark-json's, then the autosaved
    first = _json_path(config) is not None and WRITING not in config.stash
    config.stash[WRITING] = "json" if first else "autosave"
    run = config.stash.get(RUN, None)
    if run is not None:
        # the first call is the one for --benchmark-json, which holds the raw rounds
        run.setdefault("json", output_json)
    if not _measures_ours(config):
        return
    output_json["outcomes"] = config.stash[OUTCOMES]
    output_json["collected"] = config.stash.get(COLLECTED, None)
    names = {bench.extra_info.get("suite") for bench in benchmarks} & set(REGISTRY)
    output_json["suites"] = {name: describe(load_suite(name)) for name in sorted(names)}


def pytest_sessionfinish(session, exitstatus):
    """Write the page of what was measured (pytest-benchmark wrote its JSON just before)."""
    session.config.stash[WRITING] = "page"
    run = session.config.stash.get(RUN, None)
    if run is None:
        return
    from bench.report.publish import publish

    session.config.stash[RESULT] = publish(run, _json_path(session.config))


# How a full disk, a quota, a file-size limit or a read-only remount fails a write. Any error
# of pytest-benchmark's write of the JSON is the disk's; one of the page's is where it is one
# of these, a bug otherwise.
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


class Unsaved:
    """A run whose files cannot be written at the end (a full disk; for the JSON, a folder
    removed while it ran too) ends in one line that says what was kept, and exit status 3,
    instead of a 60-line traceback and a truncated JSON. Registered in pytest_configure, after
    pytest-benchmark and before the terminal reporter, so that its wrapper sits between theirs:
    it catches the error of pytest-benchmark's write, and the terminal's summary, with that
    line, still follows. Under --benchmark it also quiets pytest-benchmark's warning that it
    saved nothing, which printed its source line after ours had said so."""

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session):
        try:
            with warnings.catch_warnings():
                if session.config.getoption("benchmark"):  # where ours says so in words
                    warnings.filterwarnings("ignore", "Not saving anything, no benchmarks")
                return (yield)
        except OSError as error:
            config = session.config
            writing = config.stash.get(WRITING, None)
            if not _measures_ours(config) or writing is None or (
                    writing == "page" and error.errno not in NO_ROOM):  # a bug: its traceback
                raise
            config.stash[RESULT] = _unsaved(config, writing, error)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return None


def _unsaved(config, writing: str, error: OSError) -> list[str]:
    """What the user is told after `error` stopped the writing of `writing`. The JSON that
    pytest-benchmark could not write is written into the run's folder, with its page."""
    from bench.report.publish import publish, remove_if_empty

    run, json_path = config.stash.get(RUN, None), _json_path(config)
    if writing == "json" and json_path is not None and json_path.is_file():
        json_path.unlink()  # cut short: no JSON is better than a truncated one
    # pytest-benchmark's storage: the file it names itself may be left cut short there
    saved = "the JSON of --benchmark-save or -autosave (a file there may be cut short)"
    where = {"json": json_path, "autosave": saved}.get(writing, error.filename or "the page")
    said = f"could not write {where}: {error.strerror or error}"
    if run is None:
        return [said]

    def folder():  # the page's folder: publish makes a run folder for a bare --bench-report
        return Path(run["out"]) if run.get("out") else run.get("dir")

    tried = None  # the folder a failed second write named
    if writing != "page" and run.get("json") is not None:
        try:
            lines = publish(run, None)
            same = json_path is not None and json_path.parent.resolve() == folder().resolve()
            return [f"{said}; " + ("written again, whole" if same else
                                   f"its JSON went into {folder()} instead"), *lines]
        except OSError as again:
            tried = folder()
            said += f"; writing into {tried or 'a new run folder'} then failed too: " \
                f"{again.strerror or again}"
    remove_if_empty(run.get("dir"))
    # a whole JSON: in the page's folder (publish copied it), or where pytest-benchmark wrote it
    kept = [path for path in (folder() and folder() / "benchmark.json",
                              json_path if writing != "json" else None)
            if path is not None and path.is_file()]
    if kept:  # a run folder's JSON by its folder, which `report` takes too
        name = kept[0].parent if kept[0].name == "benchmark.json" else kept[0]
        # in the folder named just before: its path once is enough on an 80-column terminal
        told = "its benchmark.json" if tried and kept[0] == tried / "benchmark.json" \
            else kept[0]
        return [f"{said}; the measurements are in {told}, and `python -m bench report "
                f"{name}` makes their page once there is room"]
    return [f"{said}; nothing was saved: make room, or choose another path, and run again"]


class JsonTarget(os.PathLike):
    """Where pytest-benchmark writes its JSON, in the form every version takes: 5.3 and later
    open the path; earlier ones (5.2.3 on the GPU machine) write into `with target as file`,
    the open file that their --benchmark-json option would have made. Opened only then, so a
    run that measures nothing leaves no empty file."""

    def __init__(self, path: Path):
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)

    __str__ = __fspath__

    def __enter__(self):
        self.file = open(self.path, "wb")  # noqa: SIM115 - closed by __exit__
        return self.file

    def __exit__(self, *exc):
        self.file.close()


def _json_path(config) -> Path | None:
    """--benchmark-json as a path (before pytest-benchmark 5.3, the option is an open file)."""
    value = config.getoption("benchmark_json")
    if value is None:
        return None
    # a Path has a `name` too, its last part only
    return Path(value if isinstance(value, (str, os.PathLike)) else value.name)


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables, which would scroll it away
def pytest_terminal_summary(terminalreporter, config):
    for line in wrapped(config.stash.get(RESULT, []), config.get_terminal_writer().fullwidth):
        terminalreporter.write_line(line)


def wrapped(lines: list[str], width: int) -> list[str]:
    """`lines` prefixed with "bench: " and folded to the terminal's width, each continuation two
    columns further in than its line; the pages' paths, to copy, are kept whole."""
    out = []
    for line in lines:
        if line.startswith(PATH_LINES):
            out.append(f"bench: {line}")
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")))
        out += textwrap.wrap(line, width, initial_indent="bench: ",
                             subsequent_indent=f"bench: {indent}  ", break_long_words=False,
                             break_on_hyphens=False)
    return out


def pytest_unconfigure(config):
    if STOP in config.stash:  # in a process that goes on (pytest.main), signals as they were
        config.stash[STOP].close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if signal.getsignal(signal.SIGINT) is config.stash[STOP]:
            signal.signal(signal.SIGINT, signal.default_int_handler)


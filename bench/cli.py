"""The command line: `python -m bench run | report | ...`; user mistakes end in one line, exit 2."""

import argparse
import contextlib
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.errors import UserError
from bench.precision import MEANINGS
from bench.report.publish import check_folder
from bench.suites import GRID_NAMES, REGISTRY, check_selection

REPORTS = Path("reports")
BENCHMARKS = Path(__file__).with_name("benchmarks.py")


class UsageError(UserError):
    """A mistake on the command line, reported in one line."""


# glibc maps every block over its mmap threshold afresh and unmaps it when freed: a 64 MB output
# then costs 16,384 page faults per call, which took 3x the add itself and drifted 25% between
# two runs (timer_selfcheck's docstring has the figures). Kept memory measures the operation.
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**36)}


def allocator_env() -> dict:
    """The environment of a run: glibc keeps freed memory, unless the user chose otherwise."""
    return {**ALLOCATOR, **os.environ}


def cmd_run(args) -> int:
    """`pytest --benchmark` on the package's benchmark, in a child process that gets the signals
    sent to this one: the child writes what it measured and the page, whatever stopped it."""
    check_selection(args.grid, args.suite, args.precision, args.device)
    if not args.reports.strip():
        raise UsageError("--reports is empty; name a folder, such as --reports reports")
    check_folder(Path(args.reports))  # its index.html lists the runs: rewritten after each
    if args.device == "cuda":  # pytest --device cuda skips instead: the GPU check's tests do
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: CUDA is not available on this machine (torch "
                             f"{torch.__version__}); use --device cpu or auto")
    command = [sys.executable, "-m", "pytest", "-p", "bench.plugin", str(BENCHMARKS),
               "--benchmark", f"--bench-reports={Path(args.reports).resolve()}",
               f"--benchmark-max-time={args.max_time}", f"--grid={args.grid}",
               f"--device={args.device}", "-p", "no:cacheprovider"]
    command += [f"--suite={args.suite}"] * bool(args.suite)
    command += [f"--precision={args.precision}"] * bool(args.precision)
    if args.profile:
        command.append(f"--profile={args.profile}")
    command += args.pytest_args
    if args.pytest_args:
        check_pytest_options(command)
    # Last, since it makes the folder. As root, os.access says yes to /proc too: made here,
    # it fails here, in one line, not in the child.
    runs = Path(args.reports) / "runs"
    made = [folder for folder in (runs, *runs.parents) if not folder.exists()]
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {runs}: {error.strerror or error}") from None
    # what runs, to rerun by hand (with ALLOCATOR's settings in its environment)
    print(f"bench: {shlex.join(command)}", flush=True)
    received, child, early = [], [], []

    def forward(signum, frame):
        received.append(signum)
        if child:
            child[0].send_signal(signum)
        else:  # sent once the child exists, by the loop below: each signal once
            early.append(signum)

    # Handled before the child starts: a handled signal is at its default in the child, so a
    # run started with SIGINT ignored (in the background of a script) heeds the one forwarded.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Its own session, so that a Ctrl-C at the terminal reaches it once, through `forward`,
        # and not a second time while it writes the report.
        child.append(subprocess.Popen(command, start_new_session=True, env=allocator_env()))
        while early:
            child[0].send_signal(early.pop(0))
        code = child[0].wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for folder in made:  # a run the child refused (a bad option) leaves nothing behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    if received:  # the shell's convention: 128 + the signal's number
        return 128 + received[0]
    return code


def check_pytest_options(command: list[str]) -> None:
    """The options passed on to pytest, read by a pytest that stops there (a fraction of a
    second): a mistake among them told in one line before anything is made, not pytest's block
    of usage after the run's first line."""
    import pytest

    done = subprocess.run([*command, "--bench-options-only"], capture_output=True, text=True,
                          env=allocator_env())
    if done.returncode == pytest.ExitCode.USAGE_ERROR:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        said = next((line.partition(": error: ")[2] for line in lines if ": error: " in line),
                    lines[0].removeprefix("ERROR: ") if lines else "refused")
        raise UsageError(f"pytest: {said} (pytest --help lists its options)")


def cmd_selfcheck(args) -> int:
    args.suite, args.precision, args.max_time, args.pytest_args = "selfcheck", None, 0.5, []
    args.device, args.profile = "auto", None
    return cmd_run(args)


def cmd_repeat(args) -> int:
    """The same small run `times` times in a row, then a page of how far each benchmark's
    median moved between them; the spread is kept in reports/repeatability.json, which later
    runs on this machine quote as what to expect."""
    if args.times < 2:
        raise UsageError(f"--times must be 2 or more, got {args.times}")
    folder = Path(args.reports) / "repeat" / time.strftime("%Y%m%d-%H%M%S")
    for n in range(args.times):
        print(f"bench: repeat {n + 1} of {args.times}", flush=True)
        sub = argparse.Namespace(**{**vars(args), "reports": str(folder), "pytest_args": [],
                                    "device": "auto", "precision": None, "profile": None})
        code = cmd_run(sub)
        if code != 0:
            return code
    runs = sorted((folder / "runs").glob("*/benchmark.json"))
    from bench.report.render import render_repeat

    page, spread = render_repeat(runs, folder)
    print(f"bench: repeatability {page}\nbench: median spread of the medians {spread:.1%}")
    return 0


def check_output(folder: str, force: bool = False) -> Path:
    """The folder a page goes to, checked before any work (and made only once the inputs have
    been read): not empty, and as `check_folder` wants it."""
    if not folder.strip():
        raise UsageError("the output folder is empty; name one, such as -o reports/mine")
    path = Path(folder)
    check_folder(path, force)
    return path


@contextlib.contextmanager
def writing(out: Path):
    """A folder check_output passed that still cannot be written (as root, os.access says yes
    to anything; /proc refuses all the same): one line, not a traceback."""
    try:
        yield
    except OSError as error:  # the file that failed: the page's, or the list of runs beside it
        raise UsageError(f"cannot write {error.filename or out}: {error.strerror or error}") \
            from None


def _json_of(path: str, runs: Path | None = None) -> Path:
    """A run folder stands for the benchmark.json inside it, and a run's name (as the list of
    runs shows it) for its folder under `runs`; refused at once if missing."""
    path = Path(path)
    if not path.exists() and runs is not None and (runs / path).is_dir():
        path = runs / path
    if path.is_dir():
        plain, packed = path / "benchmark.json", path / "benchmark.json.gz"
        if not plain.is_file() and not packed.is_file():
            raise UsageError(f"{path} is a folder without a benchmark.json: name a JSON file, "
                             "or a run folder (reports/runs/<run>)")
        path = plain if plain.is_file() else packed
    if not path.is_file():
        raise UsageError(f"{path}: no such file" + (
            f", nor a run of that name in {runs} (--reports names another folder of runs)"
            if runs is not None else ""))
    return path


def _run_name(path: Path) -> str:
    """A short name for the run a JSON holds: its run folder's name, else the file's stem."""
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    return path.parent.name if stem == "benchmark" and path.parent.name else stem


def _report_folder(paths: list[Path]) -> Path:
    """Where `report` writes without -o: a run folder's JSON into its folder, another JSON into
    reports/<its run's name> (not beside it: the repository's root, say)."""
    if len(paths) > 1:
        raise UsageError("several JSON files make one page: name its folder with -o")
    path = paths[0].absolute()
    if path.name in ("benchmark.json", "benchmark.json.gz") and path.parent.parent.name == "runs":
        return paths[0].parent
    return REPORTS / _run_name(path)


def cmd_report(args) -> int:
    paths = [_json_of(path) for path in args.json]
    out = check_output(str(_report_folder(paths)) if args.output is None else args.output,
                       args.force)
    if out.parent.name == "runs":  # the list of runs beside it is rewritten too
        check_folder(out.parent.parent, args.force)
    from bench.report.render import render_index, render_report

    with writing(out):  # the lines `run` ends with
        print(f"bench: report {render_report(paths, out)}")
        if out.parent.name == "runs":  # a run folder: the list of runs beside it changes too
            print(f"bench: all runs {render_index(out.parent.parent)}")
    return 0


def cmd_compare(args) -> int:
    if not 0 <= args.threshold < 1:  # 5 would be 500%: meant as 5%, most likely
        raise UsageError("--threshold is a fraction, at least 0 and below 1 (0.05 for 5%), "
                         f"got {args.threshold:g}")
    a, b = (_json_of(run, Path(args.reports) / "runs") for run in (args.a, args.b))
    if a.samefile(b):
        raise UsageError(f"A and B are the same file ({a}): name two runs to compare")
    if args.output is None:
        names = [_run_name(a), _run_name(b)]
        if names[0] == names[1]:
            names = [f"{name}-{i}" for i, name in zip("AB", names)]
        args.output = str(Path(args.reports) / "compare" / "-vs-".join(names))
    out = check_output(args.output, args.force)
    from bench.report.render import render_compare

    with writing(out):
        page, tally, differ, rule = render_compare(a, b, out, args.threshold)
    print(f"bench: B against A: {tally} (threshold {rule['threshold']}"
          + (f": the run-to-run spread `python -m bench repeat` measured on {rule['node']}, "
             f"more than the {rule['asked']} asked)" if rule["by_spread"] else ")"))
    if differ:
        print(f"bench: the runs differ (A → B): {differ}. A change may come from any of these")
    print(f"bench: compare {page}")
    return 0


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """A mistake on the command line in one line, as the harness's own errors are, not under
    argparse's block of usage."""

    def error(self, message):
        self.exit(2, f"bench: error: {message} ({self.prog} --help lists the options)\n")


PROG = "python -m bench"


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog=PROG, description="Measure convolutional-network building blocks "
        "and write HTML reports of what was measured (make bench runs `run`).")
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the benchmarks and write a report under reports/runs/")
    run.add_argument("--grid", default="default",
                     help=f"{', '.join(GRID_NAMES)} (default: default)")
    run.add_argument("--suite", help=f"comma-separated: {', '.join(REGISTRY)} (default: all)")
    run.add_argument("--precision", help=f"comma-separated: {MEANINGS}")
    run.add_argument("--device", default="auto",
                     help="cpu, cuda, or auto: the CPU and CUDA where available (default)")
    run.add_argument("--max-time", type=positive_seconds, default=0.5,
                     help="seconds pytest-benchmark spends on each benchmark's rounds "
                          "(default 0.5); its warm-up, checks and side-by-side timing come on "
                          "top")
    run.add_argument("--profile", nargs="?", const="table", choices=("table", "trace"),
                     help="profile one extra call of each benchmark after its timing; "
                          "=trace also saves each Chrome trace (gzipped) in the run folder")
    run.add_argument("--reports", default=str(REPORTS), help="reports folder (default reports)")
    run.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="build a report from benchmark JSON files")
    report.add_argument("json", nargs="+",
                        help="files written by pytest --benchmark-json (or gzipped)")
    report.add_argument("-o", "--output", help="folder to write index.html into (default: a "
                        "run folder's JSON into that folder, another into reports/<its name>)")
    report.add_argument("--force", action="store_true",
                        help="replace an index.html there that this harness did not write")
    report.set_defaults(func=cmd_report)

    repeat = sub.add_parser("repeat", help="run a small grid several times and report how far "
                            "each median moves between runs")
    repeat.add_argument("--times", type=int, default=3, help="runs (default 3)")
    repeat.add_argument("--grid", default="smoke", help=f"{', '.join(GRID_NAMES)} (default: smoke)")
    repeat.add_argument("--suite", help=f"comma-separated: {', '.join(REGISTRY)} (default: all)")
    repeat.add_argument("--max-time", type=positive_seconds, default=0.5,
                        help="seconds pytest-benchmark spends on each benchmark's rounds "
                             "(default 0.5)")
    repeat.add_argument("--reports", default=str(REPORTS), help="reports folder")
    repeat.set_defaults(func=cmd_repeat)

    selfcheck = sub.add_parser("selfcheck", help="time reference operations three ways and "
                               "report how the timers agree")
    selfcheck.add_argument("--grid", default="default",
                           help=f"{', '.join(GRID_NAMES)} (default: default)")
    selfcheck.add_argument("--reports", default=str(REPORTS), help="reports folder")
    selfcheck.set_defaults(func=cmd_selfcheck)

    compare = sub.add_parser("compare", help="compare run B against run A, case by case")
    compare.add_argument("a", metavar="A", help="benchmark JSON, run folder, or a run's name "
                         "under reports/runs (the reference)")
    compare.add_argument("b", metavar="B", help="the same, for the run judged")
    compare.add_argument("--threshold", type=float, default=0.05,
                         help="smallest change of the median called slower or faster, as a "
                         "fraction, at least 0 and below 1 (default 0.05: 5%%)")
    compare.add_argument("-o", "--output", help="folder for index.html "
                         "(default reports/compare/A-vs-B, from the runs' names)")
    compare.add_argument("--force", action="store_true",
                         help="replace an index.html there that this harness did not write")
    compare.add_argument("--reports", default=str(REPORTS),
                         help="reports folder: where a run's name is looked up, and the page goes "
                         "without -o (default reports)")
    compare.set_defaults(func=cmd_compare)
    return top


def main(argv=None) -> int:
    top = parser()
    args, unknown = top.parse_known_args(argv)
    if unknown:  # named by the command's own help, which lists its options
        hint = "; pytest's own options go after --, as in python -m bench run -- -k name" \
            if args.command == "run" else ""
        top.exit(2, f"bench: error: unrecognized arguments: {' '.join(unknown)}{hint} "
                    f"({PROG} {args.command} --help lists the options)\n")
    try:
        return args.func(args)
    except UserError as error:  # anything else is a bug: its traceback stays
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130

"""The command line: `python -m bench run | report | ...`; user mistakes end in one line, exit 2."""

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from bench.precision import PRECISIONS
from bench.suites import GRID_NAMES, REGISTRY, check_selection

REPORTS = Path("reports")
BENCHMARKS = Path(__file__).with_name("benchmarks.py")


class UsageError(Exception):
    """A mistake on the command line, reported in one line."""


def cmd_run(args) -> int:
    """`pytest --benchmark` on the package's benchmark, in a child process that gets the signals
    sent to this one: the child writes what it measured and the page, whatever stopped it."""
    check_selection(args.grid, args.suite, args.precision, args.device)
    command = [sys.executable, "-m", "pytest", "-p", "bench.plugin", str(BENCHMARKS),
               "--benchmark", f"--bench-reports={Path(args.reports).resolve()}",
               f"--benchmark-max-time={args.max_time}", f"--grid={args.grid}",
               f"--device={args.device}", "-p", "no:cacheprovider"]
    command += [f"--suite={args.suite}"] * bool(args.suite)
    command += [f"--precision={args.precision}"] * bool(args.precision)
    command += args.pytest_args
    print(f"bench: {' '.join(command[3:])}", flush=True)
    # Its own session, so that a Ctrl-C at the terminal reaches it once, through `forward`,
    # and not a second time while it writes the report.
    process = subprocess.Popen(command, start_new_session=True)
    received = []

    def forward(signum, frame):
        received.append(signum)
        process.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:  # the shell's convention: 128 + the signal's number
        return 128 + received[0]
    return code


def cmd_selfcheck(args) -> int:
    args.suite, args.precision, args.max_time, args.pytest_args = "selfcheck", None, 0.5, []
    args.device = "auto"
    return cmd_run(args)


def cmd_report(args) -> int:
    from bench.report.render import render_report

    print(render_report(args.json, Path(args.output)))
    return 0


def _json_of(path: str) -> Path:
    """A run folder stands for the benchmark.json inside it."""
    path = Path(path)
    return path / "benchmark.json" if path.is_dir() else path


def cmd_compare(args) -> int:
    from bench.report.render import render_compare

    if not 0 <= args.threshold < 10:
        raise UsageError(f"--threshold must be a fraction such as 0.05, got {args.threshold}")
    a, b = _json_of(args.a), _json_of(args.b)
    default = Path(args.reports) / "compare" / f"{a.parent.name}-vs-{b.parent.name}"
    out = Path(args.output or default)
    print(render_compare(a, b, out, args.threshold))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the benchmarks and write a report under reports/runs/")
    run.add_argument("--grid", default="default", help=f"{', '.join(GRID_NAMES)}")
    run.add_argument("--suite", help=f"comma-separated: {', '.join(REGISTRY)} (default: all)")
    run.add_argument("--precision", help=f"comma-separated: {', '.join(PRECISIONS)}")
    run.add_argument("--device", default="auto",
                     help="cpu, cuda, or auto: the CPU and CUDA where available (default)")
    run.add_argument("--max-time", type=float, default=0.5,
                     help="pytest-benchmark's time budget per benchmark, seconds (default 0.5)")
    run.add_argument("--reports", default=str(REPORTS), help="reports folder (default reports)")
    run.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="build a report from benchmark JSON files")
    report.add_argument("json", nargs="+", help="files written by pytest --benchmark-json")
    report.add_argument("-o", "--output", required=True, help="folder to write index.html into")
    report.set_defaults(func=cmd_report)

    selfcheck = sub.add_parser("selfcheck", help="time reference operations three ways and "
                               "report how the timers agree")
    selfcheck.add_argument("--grid", default="default", help=f"{', '.join(GRID_NAMES)}")
    selfcheck.add_argument("--reports", default=str(REPORTS), help="reports folder")
    selfcheck.set_defaults(func=cmd_selfcheck)

    compare = sub.add_parser("compare", help="compare run B against run A, case by case")
    compare.add_argument("a", help="benchmark JSON or run folder (the reference)")
    compare.add_argument("b", help="benchmark JSON or run folder (the one judged)")
    compare.add_argument("--threshold", type=float, default=0.05,
                         help="smallest relative change called a regression (default 0.05)")
    compare.add_argument("-o", "--output", help="folder for index.html "
                         "(default reports/compare/A-vs-B)")
    compare.add_argument("--reports", default=str(REPORTS), help=argparse.SUPPRESS)
    compare.set_defaults(func=cmd_compare)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130

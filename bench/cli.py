"""The command line: `python -m bench run | report | ...`; user mistakes end in one line, exit 2."""

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.precision import PRECISIONS
from bench.records import ResultsError
from bench.suites import GRID_NAMES, SUITES, check_selection

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path("reports")


class UsageError(Exception):
    """A mistake on the command line, reported in one line."""


def new_run_dir(reports: Path) -> Path:
    """reports/runs/<time>-<host>, with a suffix when a run started in the same second exists."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}"
    runs = reports / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = runs / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UsageError(f"cannot create a new run folder under {runs}")


def cmd_run(args) -> int:
    from bench.report import render_index, render_report

    check_selection(args.grid, args.suite, args.precision)
    tests = ROOT / "tests" / "benchmarks"
    if not tests.is_dir():
        raise UsageError(f"{tests} is missing; run from a checkout of the repository")
    run_dir = new_run_dir(Path(args.reports))
    json_path = run_dir / "benchmark.json"
    command = [sys.executable, "-m", "pytest", str(tests), "--benchmark-only",
               f"--benchmark-json={json_path.resolve()}", "--benchmark-save-data",
               f"--benchmark-max-time={args.max_time}", f"--grid={args.grid}",
               "-p", "no:cacheprovider"]
    command += [f"--suite={args.suite}"] * bool(args.suite)
    command += [f"--precision={args.precision}"] * bool(args.precision)
    command += args.pytest_args
    print(f"bench: run {run_dir.name}: {' '.join(command[1:])}", flush=True)
    env = {**os.environ, "BENCH_RUN_ID": run_dir.name}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # pytest got the interrupt too: let it write what it measured, then report that.
        code = process.wait()
    if not json_path.exists():
        print(f"bench: pytest wrote no results (exit status {code}); see its output above",
              file=sys.stderr)
        return code or 1
    report = render_report([json_path], run_dir)
    index = render_index(Path(args.reports))
    print(f"bench: report {report}\nbench: all runs {index}")
    return 0 if code == 0 else code


def cmd_selfcheck(args) -> int:
    args.suite, args.precision, args.max_time, args.pytest_args = "selfcheck", None, 0.5, []
    return cmd_run(args)


def cmd_report(args) -> int:
    from bench.report import render_report

    print(render_report(args.json, Path(args.output)))
    return 0


def _json_of(path: str) -> Path:
    """A run folder stands for the benchmark.json inside it."""
    path = Path(path)
    return path / "benchmark.json" if path.is_dir() else path


def cmd_compare(args) -> int:
    from bench.report import render_compare

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
    run.add_argument("--suite", help=f"comma-separated: {', '.join(SUITES)} (default: all)")
    run.add_argument("--precision", help=f"comma-separated: {', '.join(PRECISIONS)}")
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
    except (UsageError, ResultsError, ValueError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130

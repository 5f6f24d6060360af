"""Where a run's files go: a new run folder under reports/runs/, its page, and the index."""

import itertools
import json
import os
import shutil
import socket
import time
from pathlib import Path

GENERATOR = '<meta name="generator" content="bench">'  # in every page this harness writes
# The pages of its first versions, before GENERATOR: these titles, and the same heading after
# the inline style sheet.
OUR_TITLES = ("Benchmark runs", "Benchmark report", "Comparison of two runs")
# The lines of a run's result that name its pages, whole, to copy (the terminal folds the others)
PATH_LINES = ("report ", "all runs ")


def ours(page: Path) -> bool:
    text = page.read_text(errors="replace")[:50_000]
    return GENERATOR in text[:2000] or any(
        f"<title>{title}</title>" in text[:2000] and f"<h1>{title}</h1>" in text
        for title in OUR_TITLES)


def check_folder(path: Path, force: bool | None = None, page: bool = True) -> None:
    """UserError in one line where pages cannot go into `path`: a file, under a file, not
    writable, or (with `page`: an index.html goes there) holding an index.html this harness did
    not write, which is not replaced unless `force` (None: the command has no --force)."""
    from bench.errors import UserError

    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file, not a folder; choose another folder")
    index = path / "index.html"
    if page and index.is_file() and not force and not ours(index):
        raise UserError(f"{index} exists and was not written by this harness; choose another "
                        f"folder{', or add --force to replace it' if force is not None else ''}")
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"cannot create {path}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot create {path}: {existing} is not writable")


def new_run_dir(reports: Path) -> Path:
    """reports/runs/<time>-<host>, with a suffix when a run started in the same second exists.
    OSError with one line when the folder cannot be made."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}"
    runs = Path(reports) / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = runs / (stem if n == 1 else f"{stem}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as error:
        raise OSError(f"cannot create a run folder under {runs}: {error.strerror or error}") \
            from None
    raise OSError(f"cannot create a new run folder under {runs}")


def publish(run: dict, json_path) -> list[str]:
    """Write the page of a pytest run's benchmark JSON; the lines to tell the user.

    `run` holds the reports folder, the run folder made for `--benchmark` (or None: one is
    made here, and put into `run`, for a bare `--bench-report`) and the folder asked for by
    `--bench-report=DIR` (or None), and the JSON that pytest-benchmark wrote (`json`, absent
    when nothing was measured). An empty run folder is removed, not left behind.
    """
    from bench.errors import UserError
    from bench.report.render import read_mapping, render_index, render_report

    out = Path(run["out"]) if run.get("out") else run.get("dir")
    if run.get("json") is None:
        remove_if_empty(run.get("dir"))
        return ["no benchmark was measured, so no report was written"]
    if out is None:  # bare --bench-report: a run folder of its own, listed as --benchmark's
        out = run["dir"] = new_run_dir(run["reports"])
    out.mkdir(parents=True, exist_ok=True)
    target = out / "benchmark.json"
    if json_path is None or not Path(json_path).exists():
        # --benchmark-autosave alone, or a --benchmark-json that could not be written: the JSON
        # as pytest-benchmark made it
        _write_whole(target, lambda part: part.write_text(json.dumps(run["json"], indent=1)))
    elif Path(json_path).resolve() != target.resolve():
        _write_whole(target, lambda part: shutil.copyfile(json_path, part))
    try:
        page = render_report([target], out)
    except UserError as error:  # a JSON the page cannot use: one line; a bug keeps its traceback
        return [f"no report: {error}"]
    summary = read_mapping(out / "summary.json")
    lines = list(summary.get("notices", []))  # an interruption, a busy machine
    # each section's title, then its findings indented under it
    for title, group in itertools.groupby(summary.get("findings", []), key=lambda pair: pair[0]):
        lines += [f"{title}:"] + [f"  {finding}" for _, finding in group]
    lines.append(f"{PATH_LINES[0]}{page}")
    if out == run.get("dir"):
        lines.append(f"{PATH_LINES[1]}{render_index(run['reports'])}")
    return lines


def _write_whole(target: Path, write) -> None:
    """`write(path)` into a file beside `target` that then replaces it: a disk that fills on the
    way leaves no truncated JSON, which the list of runs would offer to rebuild."""
    part = target.with_name(f"{target.name}.partial")
    try:
        write(part)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)


def remove_if_empty(folder) -> None:
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()

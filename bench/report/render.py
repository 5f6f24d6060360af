"""Rendering of a run's page and of the index of runs, with Jinja2 (autoescaped)."""

import datetime
import json
import os
import tempfile
from pathlib import Path

import jinja2
import pandas as pd

from bench import graphs
from bench.compare import KEY, compare_loaded, threshold_between
from bench.errors import UserError
from bench.plots import figure_svg, plot_history
from bench.records import (
    cut_short,
    load_runs,
    option_values,
    outcomes_frame,
    recorded_cpu,
    results_frame,
    run_id,
    suite_info,
    write_results,
)
from bench.report import format as fmt
from bench.report.sections import Table, device_of, generic_section, make_table, run_label
from bench.schema import is_number
from bench.suites import load_section
from bench.tables import add_derived, add_speedup

ENV = jinja2.Environment(loader=jinja2.PackageLoader("bench.report", "templates"),
                         autoescape=True, undefined=jinja2.StrictUndefined)

MACHINE_FIELDS = ("node", "cpu_model", "threads", "gpu", "python_version", "torch", "torchvision",
                  "triton", "cuda", "cudnn", "tf32_flags", "allocator", "grid", "profile", "commit",
                  "dirty")
# pytest-benchmark's options that decide how a benchmark's rounds are timed
TIMER_OPTIONS = ("timer", "min_rounds", "min_time", "max_time", "warmup", "disable_gc")
# Other processes' share of the CPUs' time during a run above which its status says so. An idle
# 2-core VM measured 2-5% (system services, the host's steal) around a busy matmul of its own.
BUSY_SHARE = 0.10


def write_atomic(path: Path, text: str) -> None:
    """Write then rename, so a reader never sees a half-written file. An OSError names `path`,
    not the temporary file that failed."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        raise OSError(error.errno, error.strerror, str(path)) from None


def interruption(outcomes: pd.DataFrame, collected, recorded: bool = True) -> str | None:
    """'interrupted after N of M benchmarks' where fewer ended than were collected, else None."""
    done = len(outcomes)
    if recorded and collected is not None and done < collected:
        return f"interrupted after {done} of {collected} benchmarks"
    return None


def run_status(outcomes: pd.DataFrame, collected, recorded: bool = True) -> str:
    """'complete', 'interrupted after N of M benchmarks', and the failures, in words; for a JSON
    whose outcomes were not recorded (not written by this harness), only what it holds."""
    if not recorded:
        return "test outcomes not recorded in this file"
    counts = outcomes["outcome"].value_counts()
    status = interruption(outcomes, collected) or "complete"
    failed = counts.get("failed", 0)
    return f"{status}; {counts.get('passed', 0)} passed, {failed} failed, " \
           f"{counts.get('skipped', 0)} skipped"


def _warnings(frame: pd.DataFrame, outcomes: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(heading, items) per kind of warning that occurred: failures, noise, host-bound, skips
    (items empty where the heading says it all)."""
    failed = [f"{r['name']}: {r['reason']}"
              for _, r in outcomes[outcomes["outcome"] == "failed"].iterrows()]
    def again(r) -> str:  # a second measurement that did not replace the first, and why
        if pd.isna(r.get("remeasured_iqr")):
            return ""
        rounds = r.get("remeasured_rounds")
        return (f"; re-measured, {fmt.percent(r['remeasured_iqr'] / r['remeasured_median'])}"
                + (f" over {rounds:.0f} rounds" if pd.notna(rounds) else ""))

    noisy = [f"{r['name']} (IQR {fmt.seconds(r['iqr'])} is "
             f"{fmt.percent(r['iqr'] / r['median'])} of the median{again(r)})"
             for _, r in frame[frame["noisy"]].iterrows()]
    replaced = [f"{r['name']} (median {fmt.seconds(r['first_median'])}, IQR "
                f"{fmt.percent(r['first_iqr'] / r['first_median'])} of it; then "
                f"{fmt.seconds(r['median'])}, IQR {fmt.percent(r['iqr'] / r['median'])})"
                for _, r in frame[frame["first_median"].notna()].iterrows()]
    host_bound = [f"{r['name']} (wall {fmt.seconds(r['median'])}, "
                  f"device {fmt.seconds(r['device_time'])}"
                  + ("; waits for the device within a call)" if r["synchronises"] is True
                     else ")")
                  for _, r in frame[frame["host_bound"].eq(True)].iterrows()]
    skipped = outcomes[outcomes["outcome"] == "skipped"].groupby("reason").size()
    groups = [
        (len(failed), "failed", failed),
        (len(noisy), "noisy: interquartile range above 10% of the median", noisy),
        (len(replaced), "noisy, then quiet when measured again right after: the second "
         "measurement is the one used", replaced),
        (len(host_bound), "host-bound: wall time above twice the device time", host_bound),
        # one reason in the heading, alone; several listed under it, as a reason may hold a ";"
        (int(skipped.sum()), f"skipped: {skipped.index[0]}" if len(skipped) == 1 else
         f"skipped, for {len(skipped)} reasons",
         [f"{n}: {reason}" for reason, n in skipped.sort_values(ascending=False).items()]
         if len(skipped) > 1 else []),
    ]
    return [(f"{n} {heading}", items) for n, heading, items in groups if n]


def _peaks(frame: pd.DataFrame) -> list[dict]:
    peaks = frame.dropna(subset=["peak_flops"]).drop_duplicates(["run_id", "device", "precision"])
    # the run has a column of its own
    return [{"run": r["run_id"], "device": device_of(r["device"]),
             "precision": r["precision"],
             "flops": fmt.si(r["peak_flops"], "FLOP/s"),
             "bandwidth": fmt.si(r["peak_bandwidth"], "B/s")} for _, r in peaks.iterrows()]


SMOKE_NOTE = ("the smoke grid: tiny cases that check that everything runs, their times not for "
              "ranking implementations")


def _describe_run(source: str, data: dict, outcomes: pd.DataFrame) -> dict:
    """A run's machine, timer settings and status, for the environment and summary."""
    options = [bench.get("options") or {} for bench in data["benchmarks"]]
    warmups = sorted({(b.get("extra_info") or {}).get("warmup_calls")
                      for b in data["benchmarks"]} - {None})
    timing = {
        "timers": ", ".join(sorted({str(o.get("timer")) for o in options})),
        "min_rounds": options[0].get("min_rounds"),
        "max_time_per_benchmark": options[0].get("max_time"),
        "warm-up_calls": (f"{warmups[0]} to {warmups[-1]}" if len(warmups) > 1 else
                          warmups[0] if warmups else None),
    }
    info = data["machine_info"]
    own = outcomes[outcomes["run_id"] == run_id(source, data)]
    devices = {str((b.get("extra_info") or {}).get("device")) for b in data["benchmarks"]}
    cpu = recorded_cpu(info)  # ours, or py-cpuinfo's brand in a foreign JSON
    machine = info.get("gpu") or cpu or info.get("node") or "an unnamed machine"
    others = info.get("others_cpu_share")
    others = others if is_number(others) else None
    busy = busy_note(info)
    smoke = SMOKE_NOTE if info.get("grid") == "smoke" else None
    stopped = interruption(own, data.get("collected"), "outcomes" in data)
    cut = len(cut_short(data))
    return {"source": source, "name": run_id(source, data), "datetime": data.get("datetime"),
            "number": None,  # its place in the list of runs, on a page of several
            "date": readable_date(data.get("datetime")), "machine": machine,
            # what else decides the times, said where the times are: the rest is listed below
            "conditions": ", ".join(part for part in (
                f"{info['threads']} threads" if info.get("threads") else None,
                f"torch {info['torch']}" if info.get("torch") else None) if part),
            "status": run_status(own, data.get("collected"), "outcomes" in data)
            + (f"; {cut} more stopped while it was timed: left out" if cut else "")
            + (f"; runs of this grid on this machine moved by "
               f"{fmt.percent(info['expected_spread'])} "
               "(median, by python -m bench repeat)"
               if is_number(info.get("expected_spread")) else "")
            + (f"; {busy}" if busy else ""),
            "smoke": smoke,
            # what of the status the terminal's last line of pytest does not say
            "notices": [notice for notice in
                        (stopped and f"{stopped}" + (f" ({cut} more stopped while it was timed, "
                                                     "left out)" if cut else "")
                         + ": the page has what was measured", busy, smoke) if notice],
            "fields": {key: _field(info, key) for key in MACHINE_FIELDS} | timing
            | {"cpu_model": cpu}
            | {"CPU time taken by other processes": None if others is None
               else fmt.percent(others)},
            "tf32_note": tf32_note(info.get("tf32_flags") or {}, devices)}


def tf32_note(flags: dict, devices: set) -> str | None:
    """What the recorded precision switches governed, by the devices the run measured (ours to
    know: another project's JSON has none)."""
    onednn = any(key.startswith("mkldnn.") for key in flags)
    if "cuda" in devices:
        return ("The TF32 flags above are the process's own: rows of the default precision mode "
                "ran under them, fp32 rows with TF32 off and tf32 rows with it on, whatever "
                "these say.")
    if "cpu" not in devices:
        return None
    # set_float32_matmul_precision also sets oneDNN's float32 matmuls on the CPU; the mkldnn
    # switches are oneDNN's own (matmuls, convolutions, RNNs)
    reach = [part for part in (
        "the float32 matmul precision (oneDNN's float32 matmuls: highest is IEEE float32, high "
        "allows TF32, medium bfloat16)" if "float32_matmul_precision" in flags else None,
        "the mkldnn switches (oneDNN's own, which decide where set: ieee is IEEE float32, tf32 "
        "allows TF32, bf16 bfloat16, none leaves it to oneDNN's general switch, IEEE float32 as "
        "shipped)"
        if onednn else None) if part]
    if not reach:
        return ("The TF32 flags govern CUDA matmuls and convolutions only: this run measured no "
                "CUDA device, so they changed nothing here.")
    verb, them, they_say = ("reach", "them", "they say") if onednn else ("reaches", "it", "it says")
    return (f"Of these flags only {' and '.join(reach)} {verb} the CPU: rows of the default "
            f"precision mode ran under {them}, fp32 rows in IEEE float32, whatever {they_say}; "
            "the others govern CUDA only.")


def busy_note(info: dict) -> str | None:
    """What a run's machine info says of the load beside it, where that was enough to matter."""
    others = info.get("others_cpu_share")
    if not is_number(others) or others < BUSY_SHARE:
        return None
    return (f"other processes took {fmt.percent(others)} of the CPUs' time during the run, so "
            "its times may be slower and noisier than on an idle machine")


def _field(info: dict, key: str):
    """A machine-info value as the environment list shows it: the TF32 flags as name=value
    pairs, not a Python dict; torch's CUDA version said to be its build's where no GPU ran."""
    value = info.get(key)
    if isinstance(value, dict):
        return ", ".join(f"{name}={flag}" for name, flag in value.items())
    if key == "cuda" and value and not info.get("gpu"):
        return f"{value} (the torch build's; no GPU in this run)"
    return value


def readable_date(stamp) -> str:
    """'2026-11-26 11:53 UTC' from pytest-benchmark's ISO timestamp; as given if it is not one."""
    try:
        when = datetime.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp or "date unknown")
    zone = when.tzname() or ""
    return when.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


def _section(frame: pd.DataFrame, info: dict):
    """The suite's own section; the generic one, with a note, where the file lacks what the
    suite's section reads (a file edited by hand, or written by another version)."""
    name = frame["suite"].iloc[0]
    section = load_section(name)
    if section is not None:
        try:
            return section(frame, info)
        except (KeyError, ValueError, TypeError) as error:
            fallback = generic_section(frame, info)
            fallback.notes.insert(0, f"The {name} section could not be drawn from this file "
                                     f"({type(error).__name__}: {error}); shown generically.")
            return fallback
    return generic_section(frame, info)


def render_report(paths, out_dir) -> Path:
    """Write index.html, results.csv and summary.json for the JSON files `paths` into `out_dir`.

    Every file is read and checked before anything is written, so a bad input leaves nothing.
    """
    runs = load_runs(paths)
    table = results_frame(runs)
    frame = add_speedup(add_derived(table))
    outcomes = outcomes_frame(runs)
    machines = [_describe_run(source, data, outcomes) for source, data in runs]
    run_ids = list(dict.fromkeys(m["name"] for m in machines))  # several files may hold one run
    if frame["run_id"].nunique() > 1:
        # Several runs (a CPU box and a GPU box, say): each run's devices become their own
        # columns, tables and panels, side by side, named by the run's number in the list of
        # runs at the top of the page
        numbers = {run: n for n, run in enumerate(run_ids, 1)}
        for m in machines:
            m["number"] = numbers[m["name"]]
        frame["device"] = [run_label(device, numbers[run])
                           for device, run in zip(frame["device"], frame["run_id"])]
    info = suite_info(runs)
    # each benchmark's outcome by its run and id, for a finding to say why a row it needs is
    # missing
    ids = {(run, name.partition("[")[2].removesuffix("]")): (outcome, reason)
           for name, outcome, reason, run in outcomes[["name", "outcome", "reason", "run_id"]]
           .itertuples(index=False)}
    sections = [_section(frame[frame["suite"] == name], {**info.get(name, {}), "outcomes": ids})
                for name in frame["suite"].unique()]
    # another project's JSON: none of this harness's checks, warm-ups or paired timings apply
    harness = any("suite" in (bench.get("extra_info") or {})
                  for _, data in runs for bench in data["benchmarks"])
    html = ENV.get_template("run.html.j2").render(
        title="Benchmark report", install_hint=graphs.INSTALL_HINT, machines=machines,
        harness=harness, sections=sections, peaks=_peaks(frame),
        warnings=_warnings(frame, outcomes))
    summary = {
        # in the page's order: on a page of several runs, "run 2" of a finding is the second
        "run_ids": run_ids,
        # the earliest recorded (a foreign JSON need not record one)
        "datetime": min((m["datetime"] for m in machines if m["datetime"]), default=""),
        "machines": sorted({f"{m['fields']['node'] or '—'} ({m['fields']['cpu_model'] or '—'})"
                            for m in machines}),
        "devices": sorted(table["device"].unique()),
        "gpus": sorted({m["fields"]["gpu"] for m in machines if m["fields"]["gpu"]}),
        "commits": sorted({str(commit)[:10] for m in machines
                           if (commit := m["fields"]["commit"])}),
        "suites": sorted(frame["suite"].unique()),
        "status": "; ".join(m["status"] for m in machines),
        "notices": [notice for m in machines for notice in m["notices"]],
        # the page's first screen, for the terminal: [section title, finding]
        "findings": [[section.title, finding] for section in sections
                     for finding in section.findings],
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_results(table, out_dir / "results.csv")
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=1))
    write_atomic(out_dir / "index.html", html)
    return out_dir / "index.html"


# A run folder without a readable summary: the run was killed before it wrote its results.
INCOMPLETE = {"datetime": "", "machines": [], "devices": [], "gpus": [], "commits": [],
              "suites": [], "status": "incomplete: no results (the run was stopped before it "
                                    "wrote them, or its summary.json is damaged)"}


def read_mapping(path: Path) -> dict:
    """A JSON file holding a mapping (summary.json, repeatability.json), or {} where it is
    missing or damaged: a broken side file must not stop the page of every later run."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _summary(path: Path) -> dict | None:
    """A run folder's summary.json, or None where it lacks a field the list of runs shows."""
    info = read_mapping(path)
    if not all(isinstance(info.get(k), type(v)) for k, v in INCOMPLETE.items()):
        return None
    return info


def render_index(reports_dir, threshold: float = 0.05) -> Path:
    """reports/index.html: every run folder, and per machine its history: each benchmark's
    median over the runs as trend lines, and what changed in its latest run since the last run
    before it that shares benchmarks with it, judged as `compare` judges (ratio past the
    threshold, and the rank test on the raw rounds)."""
    reports_dir = Path(reports_dir)
    runs = []
    for folder in sorted((reports_dir / "runs").glob("*/"), reverse=True):
        info = _summary(folder / "summary.json")
        if info is None and any(folder.glob("benchmark.json*")):
            # measured, its page written elsewhere (--bench-report DIR): not a stopped run
            info = INCOMPLETE | {"status": "measured; its page is elsewhere (--bench-report): "
                                           f"python -m bench report {folder} makes it here"}
        runs.append({"href": f"runs/{folder.name}/index.html", "name": folder.name,
                     "date": readable_date(info["datetime"]) if info else "",
                     **(info or INCOMPLETE)})
    html = ENV.get_template("index.html.j2").render(
        runs=runs, machines=_history(reports_dir, runs, threshold))
    path = reports_dir / "index.html"
    write_atomic(path, html)
    return path


def _history(reports_dir: Path, runs: list[dict], threshold: float) -> list[dict]:
    """Per machine with two runs or more: trend figures per suite and the latest changes."""
    # a page made by `bench report -o reports/runs/<name>` has no benchmark.json beside it
    complete = [r for r in runs if r["status"] != INCOMPLETE["status"]
                and all((reports_dir / "runs" / r["name"] / name).exists()
                        for name in ("results.csv", "benchmark.json"))]
    by_machine: dict[str, list[dict]] = {}
    for run in sorted(complete, key=lambda r: (r["datetime"], r["name"])):  # name: ties
        by_machine.setdefault(", ".join(run["machines"]) or "unknown", []).append(run)
    machines = []
    for machine, history in by_machine.items():
        if len(history) < 2:
            continue
        frames = [pd.read_csv(reports_dir / "runs" / r["name"] / "results.csv") for r in history]
        table = pd.concat(frames, ignore_index=True)
        # a suite that one run measured has no history to draw (an empty frame with one dot)
        entry = {"name": machine, "runs": len(history), "pair": None,
                 "figures": [(suite, figure_svg(plot_history(rows)))
                             for suite, rows in table.groupby("suite", sort=False)
                             if rows["run_id"].nunique() > 1]}
        # the latest run against the last before it that measured some of the same benchmarks:
        # a self-check after a run of the RoI suite has nothing to compare with
        measured = [set(map(tuple, frame[KEY].astype(str).to_numpy())) for frame in frames]
        shared = [n for n in range(len(history) - 1) if measured[n] & measured[-1]]
        if shared:
            previous, latest = history[shared[-1]], history[-1]
            pair = [load_runs([reports_dir / "runs" / r["name"] / "benchmark.json"])[0]
                    for r in (previous, latest)]
            earlier, later = (data for _, data in pair)
            used, spread = threshold_between(earlier, later, threshold)
            changes = compare_loaded(*pair, used)
            changed = changes[changes["verdict"].isin(["slower", "faster"])]
            entry |= {"pair": (previous["name"], latest["name"]),
                      "rule": verdict_rule(used, threshold, spread,
                                           later["machine_info"].get("node")),
                      "tally": tally(changes), "differ": conditions_apart(earlier, later),
                      "changes": _compare_table(changed.sort_values("ratio", ascending=False),
                                                "Changed since that run", "the latest run")}
        machines.append(entry)
    return machines


def _p_value(p: float) -> str:
    """The rank test's p, or a bound below 1e-6: the test takes a benchmark's rounds as
    independent, which drift between them belies, and thousands of rounds gave p of 1e-300 and
    0 (erfc underflows), precision that no verdict uses (it asks for p below 0.05)."""
    return "–" if pd.isna(p) else "< 1e-6" if p < 1e-6 else f"{p:.3g}"


def _close_ratio(value: float) -> str:
    """Three decimals: ratios on either side of the threshold (1.0503 and 1.0493 at 5%) must
    not read alike, as "1.05x" both."""
    return "–" if pd.isna(value) else f"{value:,.3f}×"


# The verdict and the ratio next to what they judge, the evidence after them: on a narrow
# screen, where the table scrolls, the first columns are what is seen.
COMPARE_COLUMNS = {key: (key, None) for key in KEY} | {
    "verdict": ("verdict", None), "B / A": ("ratio", _close_ratio),
    "median A": ("median_a", fmt.seconds), "median B": ("median_b", fmt.seconds),
    "p (rank test)": ("p_value", _p_value),
}


VERDICT_ORDER = ["slower", "faster", "unclear", "same", "missing"]


def verdict_rule(used: float, asked: float, spread: float | None, node) -> dict:
    """The threshold a comparison used, for the verdicts' rule: the one asked for, or the
    run-to-run spread measured on `node` (`threshold_between`), as the page shows them."""
    shown = fmt.percent(used)
    return {"threshold": shown, "asked": fmt.percent(asked), "node": node or "their machine",
            "spread": None if spread is None else fmt.percent(spread),
            "by_spread": shown != fmt.percent(asked)}


def render_compare(a_path, b_path, out_dir, threshold: float = 0.05) -> tuple[Path, str, str,
                                                                                  dict]:
    """A page comparing run B against run A, case by case, written only if both load; with
    its verdicts counted in words, what the two runs' conditions differ in and the threshold
    used (`verdict_rule`), for the terminal."""
    run_a, run_b = load_runs([a_path])[0], load_runs([b_path])[0]
    a, b = run_a[1], run_b[1]
    # two copies of one run, wherever they lie (a foreign JSON's id is its path): "all
    # unchanged" would say nothing
    if a.get("datetime") == b.get("datetime") and a["benchmarks"] == b["benchmarks"]:
        raise UserError(f"{a_path} and {b_path} hold the same run (measured "
                        f"{a.get('datetime')}); compare two runs")
    used, spread = threshold_between(a, b, threshold)
    rule = verdict_rule(used, threshold, spread, a["machine_info"].get("node"))
    table = compare_loaded(run_a, run_b, used)
    differ = conditions_apart(a, b)
    if (table["verdict"] == "missing").all():
        raise UserError(f"{a_path} and {b_path} share no benchmark; nothing to compare")
    text = tally(table)
    # what changed first, what one run alone measured last (a smoke run against a default one
    # has hundreds), each verdict's rows in the runs' order
    table = table.sort_values("verdict", key=lambda v: v.map(VERDICT_ORDER.index), kind="stable")
    html = ENV.get_template("compare.html.j2").render(
        a=str(a_path), b=str(b_path), rule=rule, tally=text,
        # a JSON need not name its host or CPU (py-cpuinfo has no brand on some ARM machines)
        machines=[next(iter(table[f"{c}_a"].dropna()), "—") for c in ("host", "cpu_model")],
        machines_b=[next(iter(table[f"{c}_b"].dropna()), "—") for c in ("host", "cpu_model")],
        # a change between two runs on a busy machine may be the load's
        busy=[(name, note) for name, data in (("A", a), ("B", b))
              if (note := busy_note(data["machine_info"]))],
        differ=differ, table=_compare_table(table, "B against A"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "index.html", html)
    return out_dir / "index.html", text, differ, rule


def conditions_apart(a: dict, b: dict) -> str:
    """What besides the code two runs' times depend on, where they differ (the machine-info
    fields the page lists, a mapping's entries one by one, and pytest-benchmark's options for
    the rounds), as "name A's -> B's" items in a sentence; "" where they agree."""
    def flat(data):
        info = data["machine_info"]
        pairs = {}
        for key in MACHINE_FIELDS:
            value = info.get(key)
            if isinstance(value, dict):
                pairs |= {f"{key} {name}": flag for name, flag in value.items()}
            else:
                pairs[key] = value
        for option in TIMER_OPTIONS:
            pairs[option] = " and ".join(sorted(str(v) for v in option_values(data, option)
                                                if v is not None))
        return pairs

    def shown(value):
        return "—" if value in (None, "") else str(value)

    flat_a, flat_b = flat(a), flat(b)
    return "; ".join(f"{key} {shown(flat_a.get(key))} → {shown(flat_b.get(key))}"
                     for key in dict.fromkeys([*flat_a, *flat_b])
                     if flat_a.get(key) != flat_b.get(key))


def _compare_table(table: pd.DataFrame, title: str, later: str = "B") -> Table:
    """compare's rows (the compare page's, or the list of runs' changes), a field that is the
    same in every row (the device of a CPU-only run, say) said once in the caption instead of
    in a column: a narrower table, its verdicts nearer the left edge of a narrow screen."""
    same = [key for key in KEY if len(table) > 1 and table[key].nunique(dropna=False) == 1]
    columns = {heading: spec for heading, spec in COMPARE_COLUMNS.items() if spec[0] not in same}
    fixed = ", ".join(f"{key} {table[key].iloc[0]}" for key in same)
    return make_table(table, columns, f"{title}{f' ({fixed})' if fixed else ''}; ratio above 1 "
                                      f"means {later} is slower")


def tally(changes: pd.DataFrame) -> str:
    """compare_runs' verdicts counted, in words."""
    counts = changes["verdict"].value_counts()
    return (f"{counts.get('slower', 0)} slower, {counts.get('faster', 0)} faster, "
            f"{counts.get('same', 0)} same"
            + (f", {counts['unclear']} unclear" if counts.get("unclear", 0) else "")
            + (f"; {counts['missing']} measured in one run only (missing)"
               if counts.get("missing", 0) else ""))


REPEAT_COLUMNS = {key: (key, None) for key in KEY} | {
    "runs": ("runs", fmt.count), "lowest median": ("low", fmt.seconds),
    "highest median": ("high", fmt.seconds),
    "spread (highest / lowest - 1)": ("spread", fmt.percent),
}


def repeat_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark, its medians' range over the runs and the spread, highest over lowest."""
    out = table.groupby(KEY, sort=False)["median"].agg(runs="size", low="min", high="max")
    # one run tells no spread: NaN (shown "–"), which the median and percentile skip
    out["spread"] = (out["high"] / out["low"] - 1).where(out["runs"] > 1)
    return out.reset_index()


def render_repeat(paths, out_dir) -> tuple[Path, float]:
    """A page of the run-to-run spread of each benchmark over the runs in `paths`; the median
    spread is written to reports/repeatability.json beside the runs' folder, by machine."""
    runs = load_runs(paths)
    spread = repeat_spread(results_frame(runs)).sort_values("spread", ascending=False)
    if spread["spread"].isna().all():
        raise UserError("no benchmark was measured in more than one of the runs: no spread")
    typical = float(spread["spread"].median())
    machine = runs[0][1]["machine_info"]
    html = ENV.get_template("repeat.html.j2").render(
        runs=[run_id(source, data) for source, data in runs], typical=fmt.percent(typical),
        worst=fmt.percent(spread["spread"].quantile(0.9)), machine=machine.get("node"),
        table=make_table(spread, REPEAT_COLUMNS, "Each benchmark over the runs, widest first"))
    # beside the folder's index.html, the list of the repeated runs
    page = Path(out_dir) / "repeatability.html"
    write_atomic(page, html)
    known = page.parent.parent.parent / "repeatability.json"
    record = read_mapping(known)
    # quoted by later runs of the same grid and seconds per benchmark only: a default run's
    # rounds are other cases, and more of them, than a smoke run's
    seconds = (runs[0][1]["benchmarks"][0].get("options") or {}).get("max_time")
    record[str(machine.get("node"))] = {"median_spread": typical, "runs": len(runs),
                                        "page": str(page), "grid": machine.get("grid"),
                                        "max_time": seconds}
    write_atomic(known, json.dumps(record, indent=1))
    return page, typical

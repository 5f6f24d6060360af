"""The command line: bad input ends in one line and exit status 2, with nothing written."""

import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli
from bench.errors import UserError
from bench.report.publish import new_run_dir

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"
ROOT = Path(__file__).parent.parent


def run_main(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("content", [None, "", "{not json", '{"some": "other tool"}'])
def test_report_refuses_bad_json_and_writes_nothing(tmp_path, capsys, content):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    out_dir = tmp_path / "out"
    code, _, err = run_main(capsys, "report", str(path), "-o", str(out_dir))
    assert code == 2
    assert err.startswith("bench: error: ") and err.count("\n") == 1
    assert not out_dir.exists()


def test_report_writes_page_table_and_summary(tmp_path, capsys):
    code, out, _ = run_main(capsys, "report", str(SAMPLE), "-o", str(tmp_path))
    assert code == 0
    assert out == f"bench: report {tmp_path / 'index.html'}\n"
    assert {p.name for p in tmp_path.iterdir()} == {"index.html", "results.csv", "summary.json"}


@pytest.mark.parametrize("option, value, valid", [
    ("--grid", "huge", "smoke, default, full"),
    ("--suite", "conv1x1,nope", "conv1x1"),
    ("--precision", "fp8", "fp32, tf32, bf16, fp16, default"),
    ("--suite", "", "conv1x1, frozen, roi, selfcheck"),  # not "all"
])
def test_run_refuses_unknown_names(tmp_path, capsys, option, value, valid):
    code, _, err = run_main(capsys, "run", option, value, "--reports", str(tmp_path))
    assert code == 2
    assert valid in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_pytest_option_errors_are_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "--grid", "huge", "--collect-only",
         "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 4
    assert "ERROR: unknown grid 'huge'; choose from smoke, default, full" in result.stderr


def test_run_folders_never_collide(tmp_path):
    first, second = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()


def test_compare_writes_a_page_and_refuses_bad_input(tmp_path, capsys, write_json, slowed):
    data = slowed(json.loads(SAMPLE.read_text()), "matmul", 2)
    data["machine_info"]["run_id"] = "a later run"
    code, out, _ = run_main(capsys, "compare", str(SAMPLE), str(write_json("b.json", data)),
                            "-o", str(tmp_path), "--threshold", "0.025")
    assert code == 0 and out == ("bench: B against A: 1 slower, 0 faster, 2 same "
                                 f"(threshold 2.5%)\nbench: compare {tmp_path / 'index.html'}\n")
    html = (tmp_path / "index.html").read_text()
    assert "1 slower, 0 faster, 2 same." in html and "ratio of medians past 2.5%" in html
    code, _, err = run_main(capsys, "compare", str(SAMPLE), str(tmp_path / "none.json"),
                            "-o", str(tmp_path / "x"))
    assert code == 2 and "no such file" in err and not (tmp_path / "x").exists()
    # 0, the bound itself: any difference the rounds show counts
    code, out, _ = run_main(capsys, "compare", str(SAMPLE), str(write_json("b.json", data)),
                            "-o", str(tmp_path / "zero"), "--threshold", "0")
    assert code == 0 and "(threshold 0%)" in out
    # runs of other conditions: a line says which, between the tally and the page
    data["machine_info"]["threads"] = 1
    code, out, _ = run_main(capsys, "compare", str(SAMPLE), str(write_json("b.json", data)),
                            "-o", str(tmp_path / "one-thread"))
    assert out.splitlines()[1] == ("bench: the runs differ (A → B): threads 2 → 1. A change may "
                                   "come from any of these")
    # where the runs recorded their machine's run-to-run spread and it is larger, a change must
    # pass it: matmul's 2x passes 50%, not 150%
    for spread, tally in ((0.5, "1 slower, 0 faster, 2 same"), (1.5, "0 slower, 0 faster, 3 same")):
        data["machine_info"] |= {"threads": 2, "expected_spread": spread}
        code, out, _ = run_main(capsys, "compare", str(SAMPLE), str(write_json("b.json", data)),
                                "-o", str(tmp_path / f"spread-{spread}"))
        assert code == 0 and out.splitlines()[0] == (
            f"bench: B against A: {tally} (threshold {spread:.0%}: the run-to-run spread "
            "`python -m bench repeat` measured on vm, more than the 5% asked)")
        html = " ".join((tmp_path / f"spread-{spread}" / "index.html").read_text().split())
        assert (f"ratio of medians past {spread:.0%} (the run-to-run spread that <code>python -m "
                "bench repeat</code> measured on vm, more than the 5% asked)") in html
    # a smaller spread leaves the threshold as asked, and the terminal says nothing of it
    data["machine_info"]["expected_spread"] = 0.02
    code, out, _ = run_main(capsys, "compare", str(SAMPLE), str(write_json("b.json", data)),
                            "-o", str(tmp_path / "spread-small"))
    assert out.splitlines()[0] == "bench: B against A: 1 slower, 0 faster, 2 same (threshold 5%)"
    for value in ("-1", "5"):  # 5 is 500%, not 5%
        code, _, err = run_main(capsys, "compare", str(SAMPLE), str(SAMPLE), "--threshold", value)
        assert code == 2 and err == ("bench: error: --threshold is a fraction, at least 0 and "
                                     f"below 1 (0.05 for 5%), got {value}\n")


@pytest.mark.parametrize("output, message", [
    ("", "the output folder is empty"),
    ("{file}", "is a file, not a folder"),
    ("{file}/sub", "is a file"),
])
def test_report_checks_the_output_folder_first(tmp_path, capsys, output, message):
    file = tmp_path / "taken.txt"
    file.write_text("mine")
    code, _, err = run_main(capsys, "report", str(SAMPLE), "-o", output.format(file=file))
    assert code == 2 and message in err and err.count("\n") == 1
    assert file.read_text() == "mine"


def test_a_page_this_harness_did_not_write_is_kept_unless_forced(tmp_path, capsys):
    page = tmp_path / "index.html"
    page.write_text("<html>someone's page</html>")
    code, _, err = run_main(capsys, "report", str(SAMPLE), "-o", str(tmp_path))
    assert code == 2 and "not written by this harness" in err and "--force" in err
    assert page.read_text() == "<html>someone's page</html>"
    assert run_main(capsys, "report", str(SAMPLE), "-o", str(tmp_path), "--force")[0] == 0
    # our own page is replaced without asking
    assert run_main(capsys, "report", str(SAMPLE), "-o", str(tmp_path))[0] == 0


def test_run_keeps_a_list_of_runs_it_did_not_write(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.subprocess, "Popen", None)  # pytest must not start
    page = tmp_path / "index.html"
    page.write_text("<html>someone's page</html>")
    code, _, err = run_main(capsys, "run", "--reports", str(tmp_path))
    assert code == 2 and err == (f"bench: error: {page} exists and was not written by this "
                                 "harness; choose another folder\n")
    assert page.read_text() == "<html>someone's page</html>" and len(list(tmp_path.iterdir())) == 1


def test_run_refuses_a_reports_folder_it_cannot_make_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.subprocess, "Popen", None)
    # as root, os.access says yes to /proc, and only making the folder fails: as root for all
    monkeypatch.setattr("bench.report.publish.os.access", lambda path, mode: True)
    code, _, err = run_main(capsys, "run", "--reports", "/proc/bench-reports")
    assert code == 2 and err.startswith("bench: error: cannot create /proc/bench-reports/runs: ")
    assert err.count("\n") == 1


def test_a_run_pytest_refuses_leaves_no_folder_behind(tmp_path, capsys):
    # the plugin refuses the grid once pytest runs (the options pytest reads were fine)
    code, _, _ = run_main(capsys, "run", "--reports", str(tmp_path / "new" / "reports"),
                          "--suite", "selfcheck", "--", "--grid=nope")
    assert code == 4 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, said", [
    ("--no-such-option", "unrecognized arguments: --no-such-option"),
    ("--benchmark-max-time=abc", "argument --benchmark-max-time: Invalid decimal value 'abc'"),
    ("-pno_such_plugin", "Error importing plugin \"no_such_plugin\""),
])
def test_an_option_pytest_refuses_is_one_line_before_the_run(tmp_path, capsys, option, said):
    code, out, err = run_main(capsys, "run", "--reports", str(tmp_path / "reports"),
                              "--suite", "selfcheck", "--", "-k", "add", option)
    assert code == 2 and out == "" and err.startswith(f"bench: error: pytest: {said}")
    assert err.endswith(" (pytest --help lists its options)\n") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing made, nothing run


@pytest.mark.parametrize("command", ["run", "repeat"])
def test_run_and_repeat_refuse_reports_under_a_file_in_one_line(tmp_path, capsys, monkeypatch,
                                                                 command):
    monkeypatch.setattr(cli.subprocess, "Popen", None)
    file = tmp_path / "taken.txt"
    file.write_text("mine")
    code, _, err = run_main(capsys, command, "--reports", str(file))
    assert code == 2 and "is a file" in err and err.count("\n") == 1
    assert file.read_text() == "mine" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("options", [["--benchmark", "--bench-reports={folder}"],
                                     ["--benchmark-json={folder}/b.json",
                                      "--bench-report={folder}"],
                                     ["--benchmark-json={tmp}/b.json", "--bench-report={file}"],
                                     # its page to a new run folder under a file
                                     ["--benchmark-json={tmp}/b.json", "--bench-report",
                                      "--bench-reports={file}"]])
def test_the_plugin_refuses_folders_its_pages_cannot_go_to_before_measuring(tmp_path, options):
    folder, file = tmp_path / "theirs", tmp_path / "taken.txt"
    folder.mkdir()
    (folder / "index.html").write_text("<html>someone's page</html>")
    file.write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "--grid", "smoke",
         "--suite", "selfcheck", "-q", "-p", "no:cacheprovider",
         *(o.format(folder=folder, file=file, tmp=tmp_path) for o in options)],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 4
    assert ("was not written by this harness" in result.stderr
            or "is a file, not a folder" in result.stderr), result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["index.html", "taken.txt", "theirs"]


def test_a_page_of_this_harness_from_before_its_generator_tag_is_its_own(tmp_path):
    from bench.report.publish import check_folder

    page = tmp_path / "index.html"
    for title in ("Benchmark runs", "Benchmark report", "Comparison of two runs"):
        page.write_text('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                        f"<title>{title}</title>\n<style>{'x' * 5000}</style>\n</head>\n"
                        f"<body>\n<h1>{title}</h1>")
        check_folder(tmp_path)
    for other in ("<title>Benchmarks of another kind</title>",
                  "<title>Benchmark report</title><body><h1>Our lab's report</h1>"):
        page.write_text(other)
        with pytest.raises(UserError, match="not written by this harness"):
            check_folder(tmp_path)
    check_folder(tmp_path, page=False)  # where no index.html goes, it does not matter


def test_with_its_own_page_folder_a_run_leaves_the_list_of_runs_alone(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "index.html").write_text("<html>someone's page</html>")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "--benchmark", "--collect-only",
         "--suite", "selfcheck", "-q", "-p", "no:cacheprovider", f"--bench-reports={reports}",
         f"--bench-report={tmp_path / 'page'}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (reports / "index.html").read_text() == "<html>someone's page</html>"


SECONDS = itertools.count()


def another_run(path: Path) -> Path:
    """SAMPLE written to `path` as a run of its own: named after the path, and measured a
    second after the run written before it."""
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["run_id"] = str(path)
    data["datetime"] = f"2026-11-27T10:00:{next(SECONDS):02d}+00:00"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_compare_names_its_folder_after_the_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.json", "b.json"):
        another_run(tmp_path / name)
    code, out, _ = run_main(capsys, "compare", "a.json", "b.json")
    assert code == 0 and out.splitlines()[-1] == "bench: compare " + str(
        Path("reports/compare/a-vs-b/index.html"))
    for run in ("r1", "r2", "old/r1"):
        another_run(tmp_path / run / "benchmark.json")
    assert "r1-vs-r2" in run_main(capsys, "compare", "r1", "r2")[1]
    # a run's name, as the list of runs gives it, is its folder under reports/runs
    for run in ("20261127-154638-vm", "20261127-155017-vm"):
        another_run(tmp_path / "reports" / "runs" / run / "benchmark.json")
    code, out, _ = run_main(capsys, "compare", "20261127-154638-vm", "20261127-155017-vm")
    assert code == 0 and "20261127-154638-vm-vs-20261127-155017-vm" in out
    code, _, err = run_main(capsys, "compare", "20261127-154638-vm", "20261127-999999-vm")
    assert err == ("bench: error: 20261127-999999-vm: no such file, nor a run of that name in "
                   "reports/runs (--reports names another folder of runs)\n")
    # a path that exists is that path, even where a run has the same name
    another_run(tmp_path / "reports" / "runs" / "r1" / "benchmark.json")
    runs = Path("reports/runs")
    assert cli._json_of("r1", runs) == Path("r1/benchmark.json")
    assert cli._json_of("r2", runs) == Path("r2/benchmark.json")
    assert cli._json_of("20261127-154638-vm", runs) == runs / "20261127-154638-vm/benchmark.json"
    assert "r1-A-vs-r1-B" in run_main(capsys, "compare", "old/r1", "r1/benchmark.json")[1]
    # a run against itself is a slip, not a comparison: the same file, or a copy of it
    code, _, err = run_main(capsys, "compare", "r1", "./r1/benchmark.json")
    assert code == 2 and err == ("bench: error: A and B are the same file (r1/benchmark.json): "
                                 "name two runs to compare\n")
    # another project's JSON records no run id, and is named after its path: its copies are
    # found by what they hold
    data = json.loads((tmp_path / "a.json").read_text())
    del data["machine_info"]["run_id"]
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "theirs.json").write_text(json.dumps(data))
    code, _, err = run_main(capsys, "compare", "x/theirs.json", "y/theirs.json", "-o", "copies")
    assert code == 2 and err == ("bench: error: x/theirs.json and y/theirs.json hold the same "
                                 f"run (measured {data['datetime']}); compare two runs\n")
    assert not (tmp_path / "copies").exists()


@pytest.mark.parametrize("value", ["-1", "nan", "0", "abc"])
def test_run_refuses_a_time_budget_that_is_not_positive(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--max-time", value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (  # one line, as every mistake: no block of usage
        f"bench: error: argument --max-time: must be a positive number of seconds, got {value} "
        "(python -m bench run --help lists the options)\n")


@pytest.mark.parametrize("argv, hint", [
    (["run", "--grid", "smoke", "-k", "fpn"],
     "; pytest's own options go after --, as in python -m bench run -- -k name"),
    (["report", "x.json", "-k"], ""),
])
def test_an_unknown_option_is_one_line_and_run_s_says_where_pytest_s_go(capsys, argv, hint):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"bench: error: unrecognized arguments: -k{hint} "
                                       f"(python -m bench {argv[0]} --help lists the options)\n")


def test_report_without_a_folder_writes_a_run_s_page_into_its_folder_and_others_under_reports(
        tmp_path, capsys, monkeypatch):
    import gzip

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "reports" / "runs" / "20261127-101010-vm"
    run.mkdir(parents=True)
    (run / "benchmark.json.gz").write_bytes(gzip.compress(SAMPLE.read_bytes()))
    (tmp_path / "foo").mkdir()
    (tmp_path / "foo" / "benchmark.json").write_text(SAMPLE.read_text())
    (tmp_path / "out.json").write_text(SAMPLE.read_text())
    for given, page in ((str(run), run), (f"./{run.relative_to(tmp_path)}/benchmark.json.gz", run),
                        ("out.json", Path("reports/out")),
                        ("foo/benchmark.json", Path("reports/foo"))):
        code, out, _ = run_main(capsys, "report", given)
        assert code == 0, given
        lines = out.splitlines()
        assert lines[0].startswith("bench: report ")
        assert Path(lines[0].removeprefix("bench: report ")).resolve() == \
            (page / "index.html").resolve(), given
        # a run folder's page: the list of runs beside it is rewritten, and said so
        listed = [Path(line.removeprefix("bench: all runs ")).resolve() for line in lines[1:]
                  if line.startswith("bench: all runs ")]
        assert len(lines) == 1 + len(listed)
        assert listed == ([tmp_path / "reports" / "index.html"] if page == run else [])
    assert not (tmp_path / "index.html").exists() and not (tmp_path / "foo" / "index.html").exists()
    code, _, err = run_main(capsys, "report", "out.json", "foo/benchmark.json")
    assert code == 2 and err == ("bench: error: several JSON files make one page: name its "
                                 "folder with -o\n")
    # from inside the run folder, its own JSON by its bare name
    monkeypatch.chdir(run)
    (run / "index.html").unlink()
    assert run_main(capsys, "report", "benchmark.json.gz")[0] == 0
    assert (run / "index.html").exists() and not (run / "reports").exists()
    # a gzipped JSON elsewhere is named without .json.gz
    assert cli._run_name(Path("out.json.gz")) == "out"
    assert cli._run_name(Path("foo/benchmark.json.gz")) == "foo"


def test_report_into_a_run_folder_keeps_a_list_of_runs_it_did_not_write(tmp_path, capsys):
    page = tmp_path / "site" / "index.html"
    (tmp_path / "site" / "runs" / "x").mkdir(parents=True)
    page.write_text("<title>My site</title>")
    code, _, err = run_main(capsys, "report", str(SAMPLE), "-o", str(tmp_path / "site/runs/x"))
    assert code == 2 and f"{page} exists and was not written by this harness" in err
    assert page.read_text() == "<title>My site</title>"
    assert list((tmp_path / "site" / "runs" / "x").iterdir()) == []


def test_report_into_a_run_folder_refreshes_the_list_of_runs(tmp_path, capsys):
    killed = tmp_path / "runs" / "20260101-000000-host"
    killed.mkdir(parents=True)  # what a run killed with SIGKILL leaves
    damaged = tmp_path / "runs" / "20260102-000000-host"
    damaged.mkdir()
    (damaged / "summary.json").write_text("[1, 2]")
    elsewhere = tmp_path / "runs" / "20260103-000000-host"  # pytest --benchmark --bench-report
    elsewhere.mkdir()
    (elsewhere / "benchmark.json.gz").write_text("gzipped, as gpu-check leaves it")
    code, out, _ = run_main(capsys, "report", str(SAMPLE), "-o", str(tmp_path / "runs" / "r9"))
    assert code == 0 and str(tmp_path / "index.html") in out
    html = (tmp_path / "index.html").read_text()
    assert 'href="runs/r9/index.html"' in html
    assert html.count("incomplete: no results") == 2
    assert (f"measured; its page is elsewhere (--bench-report): python -m bench report "
            f"{elsewhere} makes it here") in html


def test_report_refuses_a_missing_input_before_loading_anything(capsys, tmp_path):
    code, _, err = run_main(capsys, "report", "/no/such.json", "-o", "/tmp/unused-out")
    assert code == 2 and err == "bench: error: /no/such.json: no such file\n"
    code, _, err = run_main(capsys, "report", str(tmp_path), "-o", "/tmp/unused-out")
    assert code == 2 and err == (f"bench: error: {tmp_path} is a folder without a "
                                 "benchmark.json: name a JSON file, or a run folder "
                                 "(reports/runs/<run>)\n")


def test_the_command_line_and_the_plugin_start_without_torch_or_pandas():
    code = ("import sys; from bench import cli, plugin; cli.parser(); "
            "print(sorted({'torch', 'pandas', 'matplotlib'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr


def test_run_on_cuda_without_cuda_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    code, _, err = run_main(capsys, "run", "--device", "cuda", "--reports", str(tmp_path))
    assert code == 2 and err == ("bench: error: --device cuda: CUDA is not available on this "
                                 f"machine (torch {torch.__version__}); use --device cpu or "
                                 "auto\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, expected", [
    (["selfcheck"], ["--suite=selfcheck", "--grid=default", "--device=auto"]),
    (["run", "--suite", "roi", "--profile"], ["--suite=roi", "--profile=table"]),
    (["run", "--device", "cuda", "--profile=trace"], ["--device=cuda", "--profile=trace"]),
])
def test_run_and_selfcheck_call_pytest_benchmark(tmp_path, capsys, monkeypatch, argv,
                                                 expected):
    seen = {}

    class FakeChild:
        def __init__(self, command, **kwargs):
            seen["command"], seen["env"] = command, kwargs["env"]

        def wait(self):
            return 0

    import torch  # before Popen is faked: its import starts processes of its own

    monkeypatch.setattr(cli.subprocess, "Popen", FakeChild)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cli.main([*argv, "--reports", str(tmp_path)]) == 0
    command = seen["command"]
    assert command[1:4] == ["-m", "pytest", "-p"] and "--benchmark" in command
    assert all(option in command for option in expected), command
    assert seen["env"]["MALLOC_MMAP_THRESHOLD_"]
    # the command, quoted, to run again by hand
    assert capsys.readouterr().out.splitlines()[0] == f"bench: {shlex.join(command)}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_before_the_child_starts_reaches_it_once(tmp_path, monkeypatch, signum):
    sent = []

    class FakeChild:
        def __init__(self, command, **kwargs):
            os.kill(os.getpid(), signum)  # as the child is being started

        def send_signal(self, number):
            sent.append(number)

        def wait(self):
            os.kill(os.getpid(), signum)  # and once more while it runs
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakeChild)
    assert cli.main(["run", "--reports", str(tmp_path)]) == 128 + signum
    assert sent == [signum, signum]


def test_help_says_what_each_precision_mode_means(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for mode in ("fp32: float32, TF32 off", "tf32: float32 tensors, TF32 on",
                 "bf16: bfloat16 tensors", "default: float32, PyTorch's TF32 flags as shipped"):
        assert mode in out, mode


def test_a_value_error_from_a_library_is_a_bug_with_its_traceback(tmp_path, capsys, monkeypatch):
    """Only the harness's own errors are user mistakes in one line; a ValueError raised inside
    pandas (or matplotlib) while making the page propagates, traceback and all."""
    import pandas as pd

    from bench.report import render

    def broken(paths, out):
        return pd.Series([1.0]) == pd.Series([1.0, 2.0])  # pandas raises ValueError

    monkeypatch.setattr(render, "render_report", broken)
    with pytest.raises(ValueError, match="identically-labeled"):
        cli.main(["report", str(SAMPLE), "-o", str(tmp_path / "out")])
    assert "bench: error" not in capsys.readouterr().err


def test_an_atomic_write_that_fails_names_the_file_not_its_temporary_twin(tmp_path):
    from bench.report.render import write_atomic

    target = tmp_path / "gone" / "index.html"
    with pytest.raises(FileNotFoundError) as error:
        write_atomic(target, "page")
    assert error.value.filename == str(target)
    write_atomic(tmp_path / "index.html", "page")
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["index.html"]


@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_output_folder_that_fails_on_writing_is_one_line(tmp_path, capsys, monkeypatch,
                                                             command):
    import errno

    def refuse(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr("bench.report.render.write_atomic", refuse)
    copy = another_run(tmp_path / "copy.json")
    inputs = [str(SAMPLE)] + ([str(copy)] if command == "compare" else [])
    code, _, err = run_main(capsys, command, *inputs, "-o", str(tmp_path / "out"))
    failed = tmp_path / "out" / ("index.html" if command == "compare" else "summary.json")
    assert code == 2 and err == f"bench: error: cannot write {failed}: Read-only file system\n"


def test_repeat_needs_two_runs_and_stops_at_the_first_that_fails(tmp_path, capsys, monkeypatch):
    runs = []
    monkeypatch.setattr(cli, "cmd_run", lambda args: runs.append(args) or 0)
    code, _, err = run_main(capsys, "repeat", "--times", "1", "--reports", str(tmp_path))
    assert code == 2 and runs == [] and "--times must be 2 or more" in err
    monkeypatch.setattr(cli, "cmd_run", lambda args: runs.append(args) or 1)
    assert run_main(capsys, "repeat", "--times", "3", "--reports", str(tmp_path))[0] == 1
    assert len(runs) == 1


def test_compare_refuses_a_threshold_of_one(capsys):
    code, _, err = run_main(capsys, "compare", "a", "b", "--threshold", "1")
    assert code == 2 and "--threshold is a fraction" in err


def test_ctrl_c_during_a_command_exits_130_in_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.parser

    def report_interrupted():  # the parser, its report command's function replaced
        top = parser()
        for action in top._subparsers._group_actions:
            action.choices["report"].set_defaults(func=interrupted)
        return top

    monkeypatch.setattr(cli, "parser", report_interrupted)
    code, _, err = run_main(capsys, "report", "x.json")
    assert code == 130 and err == "bench: interrupted\n"


def test_the_generator_tag_makes_a_page_ours_only_in_its_head(tmp_path):
    from bench.report.publish import GENERATOR, check_folder

    (tmp_path / "index.html").write_text("<html><body>" + "x" * 3000 + GENERATOR)
    with pytest.raises(UserError, match="not written by this harness"):
        check_folder(tmp_path)


def test_a_folder_that_cannot_be_entered_is_not_writable(tmp_path, monkeypatch):
    from bench.report import publish

    # as root os.access says yes to everything: it answers here as for another user
    monkeypatch.setattr(publish.os, "access", lambda path, mode: mode == os.W_OK)
    with pytest.raises(UserError, match="is not writable"):
        publish.check_folder(tmp_path / "new")


def test_runs_started_in_the_same_second_get_numbered_folders(tmp_path, monkeypatch):
    from bench.report import publish

    monkeypatch.setattr(publish.time, "strftime", lambda fmt: "20260101-000000")
    monkeypatch.setattr(publish.socket, "gethostname", lambda: "host")
    assert [publish.new_run_dir(tmp_path).name for _ in range(3)] == [
        "20260101-000000-host", "20260101-000000-host-2", "20260101-000000-host-3"]


def test_a_run_that_measured_nothing_leaves_no_folder_and_a_failed_write_no_part(tmp_path):
    from bench.report import publish

    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    assert publish.publish({"reports": tmp_path, "dir": folder, "out": None, "json": None},
                           None) == ["no benchmark was measured, so no report was written"]
    assert not folder.exists()

    def half(part):
        part.write_text("{half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        publish._write_whole(tmp_path / "benchmark.json", half)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs"]


def test_compare_with_one_run_names_the_missing_one_as_its_help_does(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["compare", "some-run"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "bench: error: the following arguments are required: B "
        "(python -m bench compare --help lists the options)\n")


def test_a_run_folder_with_both_jsons_stands_for_the_plain_one(tmp_path):
    (tmp_path / "benchmark.json").write_text("{}")
    (tmp_path / "benchmark.json.gz").write_bytes(b"")
    assert cli._json_of(str(tmp_path)) == tmp_path / "benchmark.json"


@pytest.fixture
def child(monkeypatch):
    """The child `run` starts, faked: its command and keyword arguments."""
    seen = {}

    class FakeChild:
        def __init__(self, command, **kwargs):
            seen["command"], seen["kwargs"] = command, kwargs

        def wait(self):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakeChild)
    return seen


def test_options_pytest_accepts_are_read_once_and_passed_on(tmp_path, monkeypatch, child):
    checked = []
    monkeypatch.setattr(cli, "check_pytest_options", checked.append)
    assert cli.main(["run", "--reports", str(tmp_path), "--", "-k", "add"]) == 0
    assert checked == [child["command"]] and child["command"][-2:] == ["-k", "add"]
    checked.clear()
    assert cli.main(["run", "--reports", str(tmp_path)]) == 0
    assert checked == []  # no extra pytest without options to check


def test_run_starts_pytest_in_a_session_of_its_own_with_the_user_s_allocator_settings(
        tmp_path, monkeypatch, child):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4096")
    assert cli.main(["run", "--precision", "bf16", "--reports", str(tmp_path)]) == 0
    # a Ctrl-C at the terminal reaches the child once, through the forwarding handler
    assert child["kwargs"]["start_new_session"] is True
    assert child["kwargs"]["env"]["MALLOC_MMAP_THRESHOLD_"] == "4096"  # the user's choice
    assert child["kwargs"]["env"]["MALLOC_TRIM_THRESHOLD_"] == cli.ALLOCATOR[
        "MALLOC_TRIM_THRESHOLD_"]
    assert "--precision=bf16" in child["command"]


def test_selfcheck_gives_each_benchmark_half_a_second(tmp_path, child):
    assert cli.main(["selfcheck", "--reports", str(tmp_path)]) == 0
    assert "--benchmark-max-time=0.5" in child["command"]


def test_repeat_ends_with_the_status_of_the_run_that_failed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "cmd_run", lambda args: 130)  # interrupted
    assert run_main(capsys, "repeat", "--reports", str(tmp_path))[0] == 130


def test_run_refuses_an_empty_reports_folder_in_one_line(tmp_path, capsys, monkeypatch, child):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "run", "--reports", " ")
    assert code == 2 and err == ("bench: error: --reports is empty; name a folder, such as "
                                 "--reports reports\n")
    assert "command" not in child and list(tmp_path.iterdir()) == []


def test_a_measured_run_with_its_own_page_folder_leaves_the_list_of_runs_alone(tmp_path):
    import json
    from pathlib import Path

    from bench.report import publish

    sample = Path(__file__).parent / "data" / "benchmark.json"
    reports, page = tmp_path / "reports", tmp_path / "page"
    run_dir = reports / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (reports / "index.html").write_text("<html>someone's page</html>")
    run = {"reports": reports, "dir": run_dir, "out": page,
           "json": json.loads(sample.read_text())}
    lines = publish.publish(run, sample)
    assert lines[-1] == f"report {page / 'index.html'}"
    assert not any(line.startswith("all runs ") for line in lines)
    assert (reports / "index.html").read_text() == "<html>someone's page</html>"

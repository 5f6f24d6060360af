"""The command line: bad input ends in one line and exit status 2, with nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli
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
    assert out.strip() == str(tmp_path / "index.html")
    assert {p.name for p in tmp_path.iterdir()} == {"index.html", "results.csv", "summary.json"}


@pytest.mark.parametrize("option, value, valid", [
    ("--grid", "huge", "smoke, default, full"),
    ("--suite", "conv1x1,nope", "conv1x1"),
    ("--precision", "fp8", "fp32, tf32, bf16, fp16, default"),
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


def test_compare_writes_a_page_and_refuses_bad_input(tmp_path, capsys):
    code, out, _ = run_main(capsys, "compare", str(SAMPLE), str(SAMPLE), "-o", str(tmp_path))
    assert code == 0 and (tmp_path / "index.html").exists()
    assert "0 slower, 0 faster, 3 unchanged" in (tmp_path / "index.html").read_text()
    code, _, err = run_main(capsys, "compare", str(SAMPLE), str(tmp_path / "none.json"),
                            "-o", str(tmp_path / "x"))
    assert code == 2 and "no such file" in err and not (tmp_path / "x").exists()
    code, _, err = run_main(capsys, "compare", str(SAMPLE), str(SAMPLE), "--threshold", "-1")
    assert code == 2 and "--threshold" in err

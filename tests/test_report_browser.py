"""The report in a real browser: no console errors, figures drawn, tables sort on a click."""

import shutil
from pathlib import Path

import pytest

from bench.report.render import render_report

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).parent.parent / "reports" / "test-output"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (make test installs it with apt)")


@pytest.fixture(scope="module")
def page():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield browser.new_page()
        browser.close()


def test_report_renders_and_sorts(tmp_path, page):
    html = render_report([SAMPLE], tmp_path)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    assert errors == []

    figures = page.locator("figure svg")
    assert figures.count() >= 1
    for i in range(figures.count()):
        box = figures.nth(i).bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0

    table = page.locator("table.sortable").filter(has_text="Every measurement").first
    median = table.locator("th", has_text="median")

    def cells():
        return table.locator("tbody tr td:nth-child(3)").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.sort))")

    before = cells()
    median.click()
    ascending = cells()
    median.click()
    descending = cells()
    assert ascending == sorted(before) and descending == sorted(before, reverse=True)
    assert ascending != before or descending != before

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)

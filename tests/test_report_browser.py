"""The report in a real browser: no console errors, figures drawn and legible, tables sort on a
click, diagrams open full size, and no sideways scrolling of the page at 800 px."""

import json
import shutil
from pathlib import Path

import pytest

from bench.report.render import render_index, render_report

SAMPLE = Path(__file__).parent / "data" / "benchmark.json"
EXAMPLE = Path(__file__).parent.parent / "reports" / "examples" / "cpu-2core-xeon"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).parent.parent / "reports" / "test-output"
SMALLEST_TEXT_PX = 10

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (make test installs it with apt)")

# Each SVG text's rendered size: its font size in the SVG's units times the SVG's scale.
TEXT_SIZES = """selector => Array.from(document.querySelectorAll(selector)).flatMap(svg => {
  const box = svg.getBoundingClientRect(), view = svg.viewBox.baseVal;
  const scale = view && view.width ? box.width / view.width : 1;
  return Array.from(svg.querySelectorAll("text")).filter(t => t.textContent.trim())
    .map(t => [parseFloat(getComputedStyle(t).fontSize) * scale, t.textContent.trim()]);
})"""


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def open_page(browser, html: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    return page, errors


def small_text(page, selector):
    return [(size, text) for size, text in page.evaluate(TEXT_SIZES, selector)
            if size < SMALLEST_TEXT_PX]


def check_legible(page):
    """Every figure has a size; every plot's text is 10 px or more as shown (diagrams are
    shrunk to their card, and checked opened)."""
    figures = page.locator("figure svg")
    assert figures.count() >= 1
    for i in range(figures.count()):
        box = figures.nth(i).bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0
    assert page.locator(".plot svg").count() >= 1
    small = small_text(page, ".plot svg")
    assert small == [], small[:5]


def test_report_renders_sorts_and_is_legible(tmp_path, browser):
    html = render_report([SAMPLE], tmp_path)
    page, errors = open_page(browser, html, 1400)
    assert errors == []
    check_legible(page)

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


def test_no_sideways_scrolling_at_800_px(tmp_path, browser):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["commit"] = "f" * 200  # a long unbroken value
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(data))
    page, errors = open_page(browser, render_report([path], tmp_path / "out"), 800)
    assert errors == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    # a table wider than the page scrolls in its box, shaded on the side where more of it lies
    page.set_viewport_size({"width": 480, "height": 1000})
    wide = [w for w in page.locator(".table-wrap").all()
            if w.is_visible() and w.evaluate("w => w.scrollWidth > w.clientWidth + 20")]
    assert wide
    wrap = wide[0]
    wrap.scroll_into_view_if_needed()
    at_start = edge_brightness(wrap)
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    at_end = edge_brightness(wrap)
    assert at_start["left"] > 250 and at_start["right"] < 235, at_start
    assert at_end["right"] > 250 and at_end["left"] < 235, at_end


def edge_brightness(element) -> dict:
    """The median brightness (0-255) of the 3 px at each side of an element, below its first
    row (a header row has a background of its own); the median, not minding borders and text."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(element.screenshot())).convert("L")
    width, height = image.size
    top = min(40, height // 3)

    def median(left):
        return sorted(image.crop((left, top, left + 3, height)).tobytes())[3 * (height - top) // 2]

    return {"left": median(0), "right": median(width - 3)}


def test_the_list_of_runs_shows_each_run_s_status_whole_at_1400_px(tmp_path, browser):
    data = json.loads(SAMPLE.read_text())
    data["machine_info"]["others_cpu_share"] = 0.149  # a status of a sentence more
    folder = tmp_path / "runs" / "20261127-230036-vm"
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))
    render_report([folder / "benchmark.json"], folder)
    page, errors = open_page(browser, render_index(tmp_path), 1400)
    assert errors == []
    status = page.locator("td.prose")
    assert "other processes took 14.9%" in status.inner_text()
    # wrapped within the page, not past a sideways scroll
    cell, wrap = status.bounding_box(), page.locator(".table-wrap").bounding_box()
    assert cell["x"] + cell["width"] <= wrap["x"] + wrap["width"]
    assert page.locator(".table-wrap").evaluate("w => w.scrollWidth <= w.clientWidth")


@pytest.mark.skipif(not (EXAMPLE / "benchmark.json").exists(), reason="no committed example")
def test_the_committed_example_is_legible_and_its_diagrams_open(tmp_path, browser):
    html = render_report([EXAMPLE / "benchmark.json"], tmp_path)
    page, errors = open_page(browser, html, 1400)
    assert errors == []
    check_legible(page)
    diagram = page.locator("figure.diagram").first
    narrow = diagram.bounding_box()["width"]
    diagram.click()
    assert "open" in diagram.get_attribute("class")
    assert diagram.bounding_box()["width"] > narrow
    assert small_text(page, "figure.diagram.open svg") == []
    diagram.click()
    assert "open" not in diagram.get_attribute("class")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report.png"))

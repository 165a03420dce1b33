"""The report in a real browser: headless Chromium opens it from disk, as a reviewer would.

Checks what only a browser can: no console errors (a CSP violation or a script error shows up
there), every ``<img>`` decodes, the numbers are visible text, injected markup stays text, and
the sort script works. A full-page screenshot is saved to the test's folder, and also to
``$ADVAUDIT_SCREENSHOT_DIR`` when set, for a person to look at. Skipped, with the reason, where
Chromium or Playwright is missing; CI installs both.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.synthetic import synthetic_results

from audit.report import render_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install "
                                "chromium); CI always has it")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(pip install -e '.[test]')")

XSS_FILE = "<img src=x onerror=alert(1)>.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """One headless Chromium with a fresh profile for the module (start-up costs seconds)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


def open_report(context, path: Path):
    """Load the file and return the page with the problems the browser reported."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, problems


def image_states(page) -> list[list]:
    return page.evaluate("Array.from(document.images).map("
                         "i => [i.alt, i.complete, i.naturalWidth])")


def test_report_in_chromium(browser_context, tmp_path):
    out = tmp_path / "audit"
    results = synthetic_results(out, 40, class_names=("cat", "<b>dog</b>"),
                                file_names=[XSS_FILE])
    path = render_report(results, out, max_cards=9)
    page, problems = open_report(browser_context, path)
    try:
        images = image_states(page)
        assert len(images) == 9 * 3 + 2  # cards, heat map, colour scale
        assert all(complete and width > 0 for _, complete, width in images), images

        text = page.inner_text("body")
        s, m = results["summary"], results["manifest"]
        for value in (s["flip_rate"], s["clean_accuracy"], s["robust_accuracy"],
                      s["deliverable_flip_rate"], *s["flip_rate_ci95"]):
            assert f"{value * 100:.1f}%" in text
        assert m["model_sha256"][:12] in text and m["command_line"] in text
        assert page.inner_text("h1").startswith("Not robust at 4/255")

        # Injected markup is text: visible as typed, and no element was created from it.
        assert XSS_FILE in text and "<b>dog</b>" in text
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("main b:text-is('dog')").count() == 0

        # The sort script runs: sorting by L2 orders the rows numerically, both ways.
        l2_header = page.locator("table.images th button", has_text="L2")

        def column() -> list[float]:
            return page.evaluate(
                "Array.from(document.querySelectorAll('table.images tbody tr'))"
                ".map(r => r.cells[11].dataset.v).filter(v => v !== '').map(Number)")

        l2_header.click()
        ascending = column()
        assert ascending == sorted(ascending) and len(ascending) > 10
        l2_header.click()
        assert column() == sorted(ascending, reverse=True)
        assert page.locator("table.images tbody tr").count() == 40

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        if os.environ.get("ADVAUDIT_SCREENSHOT_DIR"):
            target = Path(os.environ["ADVAUDIT_SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target / "report.png")
        assert problems == []
    finally:
        page.close()


def test_report_without_pngs_in_chromium(browser_context, tmp_path):
    out = tmp_path / "copied"
    results = synthetic_results(out, 12, sweep=False, write_pngs=False)
    path = render_report(results, out)
    page, problems = open_report(browser_context, path)
    try:
        assert image_states(page) == []
        assert page.locator(".placeholder").count() >= 3
        assert "ran without --sweep" in page.inner_text("body")
        assert problems == []
    finally:
        page.close()

"""The course website in a real (headless) Chromium.

Opt-in like tests/test_browser_widgets.py: runs only with ``DPGDIFF_BROWSER_TESTS=1`` and needs
Debian's ``chromium`` at ``/usr/bin/chromium`` (or ``DPGDIFF_CHROMIUM``) plus Playwright's Python
client. The test builds the site of the committed notebooks into its ``tmp_path``
(``dpgdiff_lite.site.build_site``), serves it with Python's http.server on a localhost port and
checks that every page loads without console errors and without asking any other host for
anything, that every link inside the site reaches an existing file and anchor, that the regime map
of notebook 02 is drawn by plotly.js and answers a hover, that the equation index links to notebook
sections, that each widget has its note and static figure, and that the offline search finds a word.
Screenshots of the home page and of page 02 land in ``tmp_path``; ``docs/site.png`` is page 02's
from one run (``--basetemp=DIR``, then copy it from ``DIR/test_plotly_figure_renders_andcurrent/``).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from dpgdiff_lite import site

pytestmark = [
    pytest.mark.skipif(os.environ.get("DPGDIFF_BROWSER_TESTS") != "1",
                       reason="browser tests run only with DPGDIFF_BROWSER_TESTS=1"),
    pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications"),
]

NEGATIVE_TRANSFER = "notebooks/02_negative_transfer.html"
EQUATIONS = "notebooks/equations.html"
REGIME_MAP_HOVER = "SASRec: mixed − single"  # the hover label of the regime map's top-left panel


@dataclass
class Visit:
    """What one page showed: console errors, requests to other hosts, its links and its element ids."""

    errors: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    hrefs: list[str] = field(default_factory=list)  # absolute URLs of the page's <a href>
    ids: set[str] = field(default_factory=set)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # no line per request in the test's output
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The built site and the localhost URL it is served at."""
    report = site.build_site(tmp_path_factory.mktemp("site") / "site")
    print(f"site built in {report.seconds:.1f} s: {len(report.pages)} pages, skipped {report.skipped or 'none'}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(report.out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield report, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)




def _open(browser, url: str, visit: Visit):
    """A new page at ``url`` that records console errors and requests for anything not on the site."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    base = urljoin(url, "/")
    page.on("console", lambda m: visit.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: visit.errors.append(f"request failed: {r.url}"))
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else visit.remote.append(r.url))
    page.goto(url, wait_until="load")  # the whole document parsed, its scripts and images loaded
    page.wait_for_load_state("networkidle")  # then what they load (MathJax's parts)
    return page


@pytest.fixture(scope="module")
def visits(served, browser) -> dict[str, Visit]:
    """Every HTML page of the site, loaded once: path → what it showed."""
    report, base = served
    result = {}
    for html in sorted(report.out.rglob("*.html")):
        path = html.relative_to(report.out).as_posix()
        if path.startswith("_static/"):  # the theme's template fragments, not pages
            continue
        visit = Visit()
        page = _open(browser, base + path, visit)
        try:
            page.wait_for_timeout(200)  # MathJax and plotly draw after the load event
            visit.hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
            visit.ids = set(page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)"))
        finally:
            page.close()
        result[path] = visit
    return result


def test_every_page_loads_without_errors_and_fetches_nothing_remote(served, visits):
    report, _ = served
    expected = {"index.html", "search.html"} | {str(Path(p).with_suffix(".html")) for p in report.pages}
    assert expected <= set(visits), f"pages missing from the site: {sorted(expected - set(visits))}"
    errors = {path: v.errors for path, v in visits.items() if v.errors}
    assert not errors, f"console errors: {errors}"
    remote = {path: v.remote for path, v in visits.items() if v.remote}
    assert not remote, f"requests to other hosts: {remote}"


def test_every_internal_link_reaches_a_file_and_anchor(served, visits):
    report, base = served
    broken, checked = [], 0
    for path, visit in visits.items():
        for href in visit.hrefs:
            if not href.startswith(base):
                continue  # another host: a reference, not part of the site
            parts = urlsplit(href)
            target = unquote(parts.path)[1:] or "index.html"
            target = f"{target}index.html" if target.endswith("/") else target
            checked += 1
            if not (report.out / target).is_file():
                broken.append(f"{path}: {href} (no file {target})")
            elif parts.fragment and (target not in visits or unquote(parts.fragment) not in visits[target].ids):
                broken.append(f"{path}: {href} (no id {parts.fragment!r} on {target})")
    assert checked > 100, f"only {checked} internal links checked"
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:40])


def test_equation_index_links_to_notebook_sections(served, visits, browser):
    _, base = served
    sections = [h for h in visits[EQUATIONS].hrefs if "/notebooks/0" in h and "#" in h]
    assert sections, "no link from the equation index to a notebook section"
    for href in sections:
        target, anchor = unquote(urlsplit(href).path)[1:], unquote(urlsplit(href).fragment)
        assert anchor in visits[target].ids, f"{href}: no section {anchor!r}"
    visit = Visit()
    page = _open(browser, base + EQUATIONS, visit)
    try:  # follow the first one as a reader would: the browser lands on the section's heading
        link = page.locator(f'a[href="{sections[0][len(base) + len("notebooks/"):]}"]').first
        link.click()
        page.wait_for_url(sections[0])
        heading = page.locator(f'[id="{urlsplit(sections[0]).fragment}"]').first
        assert heading.is_visible() and heading.bounding_box()["y"] < 400, "the section is not scrolled into view"
    finally:
        page.close()
    assert not visit.errors and not visit.remote


def test_plotly_figure_renders_and_answers_a_hover(served, browser, tmp_path):
    report, base = served
    assert [p.name for p in report.out.rglob("plotly.min.js")] == ["plotly.min.js"]  # one copy for the site
    visit = Visit()
    page = _open(browser, base + "index.html", visit)
    page.screenshot(path=str(tmp_path / "home.png"))
    page.close()
    page = _open(browser, base + NEGATIVE_TRANSFER, visit)
    try:
        assert page.locator('script[src*="plotly.min.js"]').count() == 1
        plot = page.locator(".dpg-plotly.js-plotly-plot").first
        plot.wait_for(timeout=30_000)
        assert plot.locator("svg.main-svg").count() > 0
        plot.scroll_into_view_if_needed()
        labels = plot.locator(".hoverlayer .hovertext")
        assert labels.count() == 0
        box = plot.locator(".nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
        deadline = time.monotonic() + 10
        while labels.count() == 0 and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert labels.count() > 0, "no hover label on the regime map"
        text = labels.first.text_content() or ""
        assert REGIME_MAP_HOVER in text and "±" in text, f"hover label {text!r}"
        page.screenshot(path=str(tmp_path / "02_negative_transfer.png"))
    finally:
        page.close()
    assert not visit.errors and not visit.remote


def _widget_outputs(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum(site.WIDGET_MIME in o.get("data", {}) for c in cells for o in c.get("outputs", []))


def test_widgets_show_a_note_and_their_static_figure(served, browser):
    _, base = served
    expected = {f"notebooks/{p.stem}.html": n for p in sorted((site.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                if (n := _widget_outputs(p))}
    assert expected, "no notebook shows a widget"
    visit = Visit()
    page = _open(browser, base + "index.html", visit)
    try:
        for path, n_widgets in expected.items():
            page.goto(base + path, wait_until="load")
            notes = page.locator(".dpg-widget-note")
            assert notes.count() == n_widgets, path
            for i in range(n_widgets):
                assert "jupyter lab notebooks/" in notes.nth(i).inner_text()
                # the static copy: a later output of the same cell is an image
                image = notes.nth(i).locator("xpath=ancestor::div[contains(@class,'cell_output')]//img")
                assert image.count() >= 1 and image.first.is_visible(), f"{path}: widget {i} has no static figure"
    finally:
        page.close()
    assert not visit.errors and not visit.remote


def test_offline_search_finds_a_word(served, browser):
    _, base = served
    visit = Visit()
    page = _open(browser, base + "search.html?q=negative+transfer", visit)
    try:
        results = page.locator("#search-results li")
        results.first.wait_for(timeout=30_000)
        assert any("02_negative_transfer.html" in (results.nth(i).locator("a").first.get_attribute("href") or "")
                   for i in range(results.count()))
    finally:
        page.close()
    assert not visit.errors and not visit.remote

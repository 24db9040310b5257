"""The course website (dpgdiff_lite/site.py): output conversion, links, staging, and one real Sphinx
build of a tiny hand-made course (one notebook with a plotly figure and a widget, a few seconds).
The real course in a real browser: tests/test_browser_site.py."""

from __future__ import annotations

import base64
import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dpgdiff_lite import site

# sphinx-book-theme and myst-parser use APIs Sphinx 11 will remove; not this project's to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications")

FIGURE = {"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4], "name": "a </script> b"}],
          "layout": {"width": 500, "title": {"text": "two points"}}}
PNG = base64.b64decode(  # a 1 × 1 white PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")
WIDGET = {"model_id": "abc", "version_major": 2, "version_minor": 0}


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(source: str, *outputs: dict) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": source, "outputs": list(outputs)}


def display(data: dict) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": {}}


def demo_notebook() -> dict:
    png = base64.b64encode(PNG).decode()
    notebook = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}},
        "cells": [
            markdown("# 01 · A demo\n\nSee ![the figure](../docs/architecture.png)."),
            markdown("## 1 · A figure of $x_t$"),
            code("interactive(plot, static)", display({site.PLOTLY_MIME: FIGURE, "image/png": png})),
            markdown("## 2 · A slider"),
            code("display(view); static_view(view, update)",
                 display({site.WIDGET_MIME: WIDGET, "text/plain": "VBox()"}), display({"image/png": png})),
            code("display(view)", display({site.WIDGET_MIME: WIDGET, "text/plain": "VBox()"})),
        ],
    }
    for i, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{i}"
    return notebook


def make_course(root: Path) -> Path:
    """A course folder laid out like the repository: one notebook, the README, the equation index."""
    (root / "notebooks").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "notebooks" / "01_demo.ipynb").write_text(json.dumps(demo_notebook()))
    (root / "notebooks" / "README.md").write_text(
        "# The course\n\nOne notebook, `01_demo.ipynb`; the index is [equations.md](equations.md).\n\n"
        "## Running them\n\n`jupyter lab notebooks/`\n\n"
        f"## {site.READING_GROUP}\n\n| session | notebook |\n| --- | --- |\n| 1 | 01 |\n")
    (root / "notebooks" / "equations.md").write_text(
        "# Equations\n\n| Eq. | Code | Notebook |\n| --- | --- | --- |\n"
        "| (1) | [`code.step`](../code/step.py) | `01_demo.ipynb` § 1 · A figure of $x_t$ |\n| (2) | — | 01 §2 |\n\n"
        "Precomputed: [results/README.md](results/README.md); [speed](../docs/speed.md).\n")
    (root / "notebooks" / "results").mkdir()
    (root / "notebooks" / "results" / "README.md").write_text("# Results\n\n[table](table.csv)\n")
    (root / "notebooks" / "results" / "table.csv").write_text("a,b\n1,2\n")
    (root / "code").mkdir()
    (root / "code" / "step.py").write_text("def step():\n    return 1\n")
    (root / "docs" / "architecture.png").write_bytes(PNG)
    return root


# --- outputs ---------------------------------------------------------------------------------------
def test_plotly_output_becomes_one_div_holding_its_json():
    converted = site.convert_outputs(demo_notebook())
    assert converted["cells"][2]["outputs"][0]["data"].keys() == {"text/html"}  # no PNG, no plotly JSON
    html = converted["cells"][2]["outputs"][0]["data"]["text/html"]
    found = re.fullmatch(r'<div class="dpg-plotly"><script type="application/json">(.*)</script></div>', html)
    assert found and json.loads(found.group(1)) == FIGURE
    assert html.count("</script>") == 1  # the trace name's "</script>" is escaped inside the JSON


def test_widget_outputs_become_a_note_on_running_them_live():
    converted = site.convert_outputs(demo_notebook())
    with_static = converted["cells"][4]["outputs"]
    assert with_static[0]["data"] == {"text/html": site.widget_note(static_below=True)}
    assert "image/png" in with_static[1]["data"]  # the static copy stays under the note
    assert converted["cells"][5]["outputs"][0]["data"] == {"text/html": site.widget_note(static_below=False)}
    assert "<code>jupyter lab notebooks/</code>" in site.widget_note(False)
    assert "static copy" in site.widget_note(True) and "static copy" not in site.widget_note(False)
    assert "widgets" not in converted["metadata"]
    assert "widgets" in demo_notebook()["metadata"]  # the committed notebook is not changed


# --- links -----------------------------------------------------------------------------------------
def test_heading_slugs_are_mysts_anchors():
    notebook = {"cells": [markdown("# 01 · A demo\n\n## 1 · A figure of $x_t$\n\n#### too deep"),
                          markdown("## 1 · A figure of $y$")]}
    assert site.heading_slugs(notebook) == {  # MyST drops math from slugs and numbers repeated ones
        "01 · A demo": "01--a-demo", "1 · A figure of $x_t$": "1--a-figure-of-",
        "1 · A figure of $y$": "1--a-figure-of--1"}


def test_notebook_references_become_links_to_their_sections(caplog):
    sections = {"notebooks/01_demo.ipynb": {"1 · A figure of $x_t$": "1--a-figure-of-", "2 · A slider": "2--a-slider"}}
    text = ("| `01_demo.ipynb` § 1 · A figure of $x_t$ and more | 01 §2 | `01_demo.ipynb` | `07_gone.ipynb` |\n"
            "```\n`01_demo.ipynb`\n```\n")
    with caplog.at_level(logging.WARNING):
        linked = site.link_notebook_references(text, "docs/page.md", sections)
        assert site.link_notebook_references("01 §9", "notebooks/x.md", sections) == "[01 §9](01_demo.ipynb)"
    assert linked == (
        "| [`01_demo.ipynb` § 1 · A figure of $x_t$](../notebooks/01_demo.ipynb#1--a-figure-of-) and more "
        "| [01 §2](../notebooks/01_demo.ipynb#2--a-slider) | [`01_demo.ipynb`](../notebooks/01_demo.ipynb) "
        "| `07_gone.ipynb` |\n```\n`01_demo.ipynb`\n```\n")
    assert caplog.messages == ["site: notebooks/x.md refers to '01 §9', which is no section of 01_demo.ipynb; "
                               "linked to the notebook"]


def test_rebase_links_moves_relative_targets_only():
    text = "[a](equations.md#eq-1) ![f](../docs/architecture.png) [w](https://example.org/x.md) [s](#top)"
    assert site.rebase_links(text, "notebooks", "") == (
        "[a](notebooks/equations.md#eq-1) ![f](docs/architecture.png) [w](https://example.org/x.md) [s](#top)")
    assert site.local_targets(text, "notebooks/README.md") == ["notebooks/equations.md", "docs/architecture.png"]


def test_reading_group_page_and_home_page_split_the_readme():
    readme = "# The course\n\nIntro.\n\n## Running them\n\nRun.\n\n## The reading-group plan\n\nPlan.\n"
    reading, home = site.reading_group_and_home(readme)
    assert reading == "# The reading-group plan\n\nPlan.\n"
    assert home.startswith("# The course\n\nIntro.\n\n## DPG-Diff as the kit builds it\n\n![")
    assert "](../docs/architecture.png)" in home and home.endswith("## Running them\n\nRun.\n")
    with pytest.raises(ValueError, match="notebooks/README.md: no section '## The reading-group plan'"):
        site.reading_group_and_home("# The course\n")


# --- staging and one real build ---------------------------------------------------------------------
def test_unlink_missing_keeps_the_text_of_links_the_site_lacks(caplog):
    text = "[here](b.md#x), [gone](gone.md), ![pic](p.png), [top](#top), [web](https://example.org/gone.md)"
    with caplog.at_level(logging.WARNING):
        assert site.unlink_missing(text, "docs/a.md", {"docs/b.md"}) == (
            "[here](b.md#x), gone, pic, [top](#top), [web](https://example.org/gone.md)")
    assert caplog.messages == ["site: docs/a.md links to docs/gone.md, which the site lacks; shown as plain text",
                               "site: docs/a.md links to docs/p.png, which the site lacks; shown as plain text"]


def test_stage_lays_out_the_pages_and_names_each_skipped_one(tmp_path, caplog):
    root = make_course(tmp_path / "course")
    (root / "docs" / "verdicts.md").write_text("# Verdicts\n\nSee [the index](../notebooks/equations.md).\n")
    with caplog.at_level(logging.WARNING):
        staged = site.stage(root, tmp_path / "staged")
    assert staged.pages == ["index.md", "notebooks/01_demo.ipynb", "notebooks/equations.md", "docs/verdicts.md",
                            "reading-group.md"]
    assert staged.skipped == ["notebooks/glossary.md", "docs/results.md", "docs/speed.md", "docs/reproducibility.md"]
    assert [m for m in caplog.messages if "skipped" in m] == [
        f"site: skipped {page} (not found); it joins the site once the file exists" for page in staged.skipped]
    # what the pages link to comes along: a source file, a README (a page outside the sidebar) and its table
    assert (tmp_path / "staged" / "code" / "step.py").read_text() == "def step():\n    return 1\n"
    readme = (tmp_path / "staged" / "notebooks" / "results" / "README.md").read_text()
    assert readme.startswith("---\norphan: true\n---\n# Results")
    assert (tmp_path / "staged" / "notebooks" / "results" / "table.csv").is_file()
    assert "; speed.\n" in (tmp_path / "staged" / "notebooks" / "equations.md").read_text()  # skipped: plain text
    index = (tmp_path / "staged" / "index.md").read_text()
    assert "[`01_demo.ipynb`](notebooks/01_demo.ipynb)" in index and "[equations.md](notebooks/equations.md)" in index
    order = [index.index(f"\n{page}\n") for page in ("notebooks/01_demo", "notebooks/equations", "docs/verdicts",
                                                     "reading-group")]
    assert order == sorted(order)  # the sidebar's order, which next/previous follow
    assert (tmp_path / "staged" / "docs" / "architecture.png").read_bytes() == PNG  # linked, so copied
    with pytest.raises(FileNotFoundError, match="equations.md not found"):
        (root / "notebooks" / "equations.md").unlink()
        site.stage(root, tmp_path / "again")


class Anchors(HTMLParser):
    """The ids, hrefs and script/link/img sources of one HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.hrefs, self.sources = set(), [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag in ("script", "link", "img", "iframe") and (attrs.get("src") or attrs.get("href")):
            self.sources.append(attrs.get("src") or attrs.get("href"))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def built(course, tmp_path_factory) -> site.SiteReport:
    return site.build_site(tmp_path_factory.mktemp("site") / "out", course)


def test_build_renders_figures_from_one_plotly_js_and_fetches_nothing(built):
    out = built.out
    assert [p.relative_to(out).as_posix() for p in out.rglob("plotly*.js")] == [
        "_static/plotly-figures.js", "_static/plotly.min.js"]
    import plotly

    assert (out / "_static" / "plotly.min.js").read_bytes() == (
        Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    page = (out / "notebooks" / "01_demo.html").read_text()
    assert page.count('<div class="dpg-plotly">') == 1 and '"name":"a <\\/script> b"' in page
    sources = [s.split("?")[0] for s in Anchors(page).sources]
    assert sources.count("../_static/plotly.min.js") == 1 and "../_static/plotly-figures.js" in sources
    assert page.count('class="dpg-widget-note"') == 2 and "application/vnd.jupyter.widget" not in page
    assert "plotly.min.js" not in (out / "index.html").read_text()  # only pages with a figure load it
    for html in out.rglob("*.html"):
        remote = [s for s in Anchors(html.read_text()).sources if re.match(r"(https?:)?//", s)]
        assert not remote, f"{html.relative_to(out)} loads {remote}"


def test_build_links_sections_and_keeps_the_reading_order(built):
    out = built.out
    assert built.pages == ["index.md", "notebooks/01_demo.ipynb", "notebooks/equations.md", "reading-group.md"]
    notebook = Anchors((out / "notebooks" / "01_demo.html").read_text())
    section_links = [h for h in Anchors((out / "notebooks" / "equations.html").read_text()).hrefs
                     if h.startswith("01_demo.html#")]
    assert len(section_links) == 2 and all(h.split("#")[1] in notebook.ids for h in section_links)
    assert "../index.html" in notebook.hrefs and "equations.html" in notebook.hrefs  # previous / next
    assert (out / "search.html").is_file() and (out / "searchindex.js").is_file()
    assert (out / "_images" / "architecture.png").is_file()
    equations = Anchors((out / "notebooks" / "equations.html").read_text()).hrefs
    downloads = [h for h in equations if h.endswith("/step.py")]  # a link to source code: the file itself
    assert len(downloads) == 1 and (out / "notebooks" / downloads[0]).resolve().read_text().startswith("def step")
    assert "results/README.html" in equations and (out / "notebooks" / "results" / "README.html").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # nothing written beside the site


def test_a_new_build_replaces_a_previous_one_and_nothing_else(built, course):
    (built.out / "stale.html").write_text("from an earlier build")
    again = site.build_site(built.out, course)
    assert not (again.out / "stale.html").exists() and (again.out / "notebooks" / "01_demo.html").is_file()
    with pytest.raises(ValueError, match="--out .*notebooks: not empty and not a previous site build"):
        site.build_site(again.out / "notebooks", course)

"""The executed course as a static website: ``python -m dpgdiff_lite site --out site/``.

The site holds a home page (the course overview of ``notebooks/README.md`` and the architecture
figure ``docs/architecture.png``), every numbered notebook ``notebooks/NN_*.ipynb`` in order, the
equation index, the glossary, the reading-group plan, the verdict table and the results, speed and
reproducibility pages of ``docs/``, with next/previous links and an offline search box. Nothing is
executed: the committed outputs are rendered by Sphinx, myst-nb and sphinx-book-theme with the
configuration in ``docs/site/``, and nothing is fetched from the network.

:func:`stage` copies the sources into a temporary folder that keeps the repository's layout (so
the pages' relative links resolve, and the files they link to come along), turns each plotly output
into a ``<div>`` that the site's one plotly.js draws, replaces each ipywidget output by a note on
how to run it live, turns the pages' "`NN_x.ipynb` § heading" and "NN §k" references into links to
that section, and shows a link to a file the site lacks as plain text. :func:`build_site` runs
Sphinx on the staged folder. An optional page that does not exist yet is skipped with one line.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "docs" / "site"  # conf.py and _static/ of the site, whichever course is built
NOTEBOOK_GLOB = "notebooks/[0-9][0-9]_*.ipynb"
README = "notebooks/README.md"
EQUATIONS = "notebooks/equations.md"
ARCHITECTURE = "docs/architecture.png"
READING_GROUP = "The reading-group plan"
READING_GROUP_PAGE = "reading-group.md"
# The sidebar after the notebooks: (caption, page, required). An optional page joins the site when
# its file exists; the reading-group page is made from the README's section of that name.
SIDEBAR = (
    ("Reference", EQUATIONS, True),
    ("Reference", "notebooks/glossary.md", False),
    ("Reference", "docs/verdicts.md", False),
    ("The kit's results", "docs/results.md", False),
    ("The kit's results", "docs/speed.md", False),
    ("The kit's results", "docs/reproducibility.md", False),
    ("Reading group", READING_GROUP_PAGE, True),
)

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
LIVE_COMMAND = "jupyter lab notebooks/"
# a markdown link or image: [text](target "title")
LINK = re.compile(r"!?\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\(<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")
# "`02_negative_transfer.ipynb`", "`02_negative_transfer.ipynb` § 3 · The regime map …" or "02 §3"
NOTEBOOK_REFERENCE = re.compile(r"(?<!\[)`(?P<name>\d\d_[\w-]+\.ipynb)`(?: § (?P<heading>[^|;\n]+))?"
                                r"|(?<![\[\w])(?P<number>\d\d) ?§ ?(?P<section>\d+)\b")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


@dataclass
class Staged:
    """What :func:`stage` wrote: the pages in reading order and the optional pages it skipped."""

    pages: list[str] = field(default_factory=list)  # staged source paths, e.g. "notebooks/02_negative_transfer.ipynb"
    skipped: list[str] = field(default_factory=list)


# --- notebook outputs -----------------------------------------------------------------------------
def plotly_html(figure: dict) -> str:
    """A plotly figure as a ``<div>`` holding its JSON, drawn in the page by ``_static/plotly-figures.js``."""
    data = json.dumps(figure, separators=(",", ":")).replace("</", "<\\/")  # no "</script>" inside the script
    return f'<div class="dpg-plotly"><script type="application/json">{data}</script></div>'


def widget_note(static_below: bool) -> str:
    """What stands in for an ipywidget, which cannot run without a kernel."""
    shown = " The figure below is its static copy, drawn at the values it starts with." if static_below else ""
    return (f'<div class="dpg-widget-note"><p>A live widget sits here in the notebook; it needs a running '
            f'Python kernel.{shown} To move it, open the notebook in JupyterLab: '
            f'<code>{LIVE_COMMAND}</code></p></div>')


def convert_outputs(notebook: dict) -> dict:
    """The notebook with plotly outputs as :func:`plotly_html` and widget outputs as :func:`widget_note`,
    and without saved widget state (myst-nb would load a widget manager for it from a CDN)."""
    notebook = json.loads(json.dumps(notebook))
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook["cells"]:
        outputs = cell.get("outputs", [])
        for i, output in enumerate(outputs):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                output["data"] = {"text/html": plotly_html(data[PLOTLY_MIME])}
            elif WIDGET_MIME in data:
                static_below = any("image/png" in later.get("data", {}) for later in outputs[i + 1:])
                output["data"] = {"text/html": widget_note(static_below)}
            else:
                continue
            output["metadata"] = {}
    return notebook


# --- links ------------------------------------------------------------------------------------------
def heading_slugs(notebook: dict) -> dict[str, str]:
    """Each heading's markdown source → the anchor MyST gives it (``myst_heading_anchors = 3``)."""
    from markdown_it.renderer import RendererHTML
    from markdown_it.tree import SyntaxTreeNode
    from myst_parser.config.main import MdParserConfig
    from myst_parser.mdit_to_docutils.base import compute_unique_slug
    from myst_parser.parsers.mdit import create_md_parser

    parser = create_md_parser(MdParserConfig(enable_extensions={"dollarmath", "amsmath"}), RendererHTML)
    slugs: dict[str, str] = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for node in SyntaxTreeNode(parser.parse(_markdown([cell]))).walk():
            if node.type == "heading" and int(node.tag[1]) <= 3:
                slug = compute_unique_slug(node, slugs.values())  # unique within the page, as MyST makes it
                slugs.setdefault(node.children[0].content, slug)
    return slugs


def link_notebook_references(markdown: str, page: str, sections: dict[str, dict[str, str]]) -> str:
    """Turn the pages' references to notebooks into links: "`NN_x.ipynb`" to the notebook, and
    "`NN_x.ipynb` § heading" or "NN §k" to that section.

    ``page`` is the staged path of the markdown page and ``sections`` maps each notebook's staged
    path to its :func:`heading_slugs`. Fenced code, and notebooks or sections the site does not
    have, are left as they are (a missing section is logged).
    """
    by_number = {Path(path).name[:2]: path for path in sections}

    def link(match: re.Match) -> str:
        number = match["number"] or match["name"][:2]
        path = by_number.get(number)
        if path is None or (match["name"] and Path(path).name != match["name"]):
            return match.group(0)
        slugs = sections[path]
        target = os.path.relpath(path, Path(page).parent).replace(os.sep, "/")
        if match["number"]:
            heading = next((h for h in slugs if h.startswith(f"{match['section']} · ")), None)
            text, rest = match.group(0), ""
        elif match["heading"] is None:
            return f"[`{match['name']}`]({target})"
        else:
            heading = max((h for h in slugs if match["heading"].startswith(h)), key=len, default=None)
            text = f"`{match['name']}` § {heading}"
            rest = match["heading"][len(heading):] if heading else ""
        if heading is None:
            log.warning("site: %s refers to %r, which is no section of %s; linked to the notebook",
                        page, match.group(0).strip(), Path(path).name)
            return f"[{match.group(0).strip()}]({target})"
        return f"[{text}]({target}#{slugs[heading]}){rest}"

    pieces, start = [], 0
    for fence in FENCE.finditer(markdown):
        pieces += [NOTEBOOK_REFERENCE.sub(link, markdown[start:fence.start()]), fence.group(0)]
        start = fence.end()
    return "".join(pieces + [NOTEBOOK_REFERENCE.sub(link, markdown[start:])])


def rebase_links(markdown: str, source_dir: str, target_dir: str) -> str:
    """Relative link targets written for a page in ``source_dir``, rewritten for one in ``target_dir``."""

    def rebase(match: re.Match) -> str:
        target = match["target"]
        if _is_external(target) or target.startswith("#"):
            return match.group(0)
        moved = os.path.relpath(os.path.normpath(os.path.join(source_dir, target)), target_dir or ".")
        text, (start, end) = match.group(0), (i - match.start() for i in match.span("target"))
        return text[:start] + moved.replace(os.sep, "/") + text[end:]

    return LINK.sub(rebase, markdown)


def _is_external(target: str) -> bool:
    return bool(re.match(r"[a-z][a-z0-9+.-]*:", target, re.I))


def local_path(target: str, page: str) -> str | None:
    """The repository-relative path a link target of ``page`` points to; None for a URL or an anchor."""
    path = target.split("#", 1)[0]
    if not path or _is_external(target):
        return None
    return os.path.normpath(os.path.join(Path(page).parent, path)).replace(os.sep, "/")


def local_targets(markdown: str, page: str) -> list[str]:
    """Repository-relative paths of the local files the links and images of ``page`` point to."""
    return [path for match in LINK.finditer(markdown) if (path := local_path(match["target"], page))]


# --- staging -----------------------------------------------------------------------------------------
def reading_group_and_home(readme: str) -> tuple[str, str]:
    """The reading-group page and the home page, both from ``notebooks/README.md``.

    The home page is the README without its reading-group section, with the architecture figure
    after the overview and the site's table of contents (hidden: the sidebar shows it).
    """
    head = f"## {READING_GROUP}\n"
    if head not in readme:
        raise ValueError(f"{README}: no section '## {READING_GROUP}' to make the reading-group page from")
    before, section = readme.split(head, 1)
    section, _, after = section.partition("\n## ")
    overview, _, rest = (before + (f"\n## {after}" if after else "")).partition("\n## ")
    figure = (f"\n## DPG-Diff as the kit builds it\n\n![The paper's Figure 2 as the kit builds it: each box "
              f"with its equation and the code that implements it](../{ARCHITECTURE})\n")
    home = overview.rstrip() + "\n" + figure + (f"\n## {rest.rstrip()}\n" if rest else "")
    return f"# {READING_GROUP}\n{section.rstrip()}\n", home


def _toctrees(groups: dict[str, list[str]]) -> str:
    blocks = []
    for caption, pages in groups.items():
        entries = "\n".join(Path(p).with_suffix("").as_posix() for p in pages)
        blocks.append(f"```{{toctree}}\n:caption: {caption}\n:hidden:\n\n{entries}\n```\n")
    return "\n" + "\n".join(blocks)


def stage(root: Path, target: Path) -> Staged:
    """Copy the site's sources from the repository ``root`` into ``target``, converted (see module doc)."""
    root, target = Path(root), Path(target)
    notebooks = sorted(p.relative_to(root).as_posix() for p in root.glob(NOTEBOOK_GLOB))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks match {NOTEBOOK_GLOB} under {root}")
    for required in (README, EQUATIONS, ARCHITECTURE):
        if not (root / required).is_file():
            raise FileNotFoundError(f"{root / required} not found: the site needs it")
    staged = Staged()
    groups: dict[str, list[str]] = {"Notebooks": notebooks}
    for caption, page, required in SIDEBAR:
        if required or (root / page).is_file():
            groups.setdefault(caption, []).append(page)
        else:
            staged.skipped.append(page)
            log.warning("site: skipped %s (not found); it joins the site once the file exists", page)
    staged.pages = ["index.md"] + [p for pages in groups.values() for p in pages]

    converted = {path: json.loads((root / path).read_text()) for path in notebooks}
    sections = {path: heading_slugs(notebook) for path, notebook in converted.items()}
    reading, home = reading_group_and_home((root / README).read_text())
    home = link_notebook_references(home, README, sections)
    texts = {"index.md": rebase_links(home, "notebooks", "") + _toctrees(groups),
             READING_GROUP_PAGE: rebase_links(reading, "notebooks", "")}
    for page in staged.pages:
        if page.endswith(".md") and page not in texts:
            texts[page] = link_notebook_references((root / page).read_text(), page, sections)
    cells = {path: [c for c in notebook["cells"] if c["cell_type"] == "markdown"]
             for path, notebook in converted.items()}
    texts |= _stage_linked_files(root, target, texts | {p: _markdown(c) for p, c in cells.items()})

    present = set(texts) | set(converted) | {p.relative_to(target).as_posix() for p in target.rglob("*")}
    for page, text in texts.items():
        _write(target / page, unlink_missing(text, page, present))
    for path, notebook in converted.items():
        for cell in cells[path]:
            cell["source"] = unlink_missing(_markdown([cell]), path, present)
        _write(target / path, json.dumps(convert_outputs(notebook), indent=1))
    return staged


def _markdown(cells: list[dict]) -> str:
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)


def _stage_linked_files(root: Path, target: Path, texts: dict[str, str]) -> dict[str, str]:
    """Copy every repository file the pages link to (a figure, a source file, a results README) into
    ``target``, so the link resolves on the site. Returns the linked markdown files, which become
    pages outside the sidebar, by path."""
    linked: dict[str, str] = {}
    queue = list(texts.items())
    while queue:
        page, text = queue.pop()
        for path in local_targets(text, page):
            source = root / path
            if path.startswith("../") or path in texts or path in linked or not source.is_file():
                continue
            if path.endswith(".md"):
                linked[path] = "---\norphan: true\n---\n" + source.read_text()
                queue.append((path, linked[path]))
            elif not path.endswith(".ipynb"):  # a notebook outside the course would be read as a page
                (target / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / path)
    return linked


def unlink_missing(markdown: str, page: str, present: set[str]) -> str:
    """The links and images of ``page`` whose local target is not among the staged ``present`` paths,
    as their plain text (a page that is skipped today, a folder, a file not yet written)."""

    def plain(match: re.Match) -> str:
        path = local_path(match["target"], page)
        if path is None or path in present:
            return match.group(0)
        log.warning("site: %s links to %s, which the site lacks; shown as plain text", page, path)
        return match["text"]

    return LINK.sub(plain, markdown)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- building ------------------------------------------------------------------------------------------
@dataclass
class SiteReport:
    """A finished build: where it is, its pages in reading order, what was skipped, how long it took."""

    out: Path
    pages: list[str]
    skipped: list[str]
    seconds: float


def build_site(out: str | Path, root: str | Path = ROOT) -> SiteReport:
    """Stage ``root``'s course into a temporary folder, build the HTML site there and move it to ``out``.

    ``out`` is replaced when it holds a previous build; any other non-empty folder is refused. Sphinx
    builds in the temporary folder because myst-nb writes a ``jupyter_execute`` folder beside its
    output, and so ``out`` only changes when the build succeeds.
    """
    from sphinx.application import Sphinx

    started = time.monotonic()
    out, root = Path(out), Path(root)
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").is_file():
        raise ValueError(f"--out {out}: not empty and not a previous site build; choose another folder")
    with tempfile.TemporaryDirectory(prefix="dpgdiff-site-") as tmp:
        source, html = Path(tmp) / "source", Path(tmp) / "build" / "html"
        staged = stage(root, source)
        app = Sphinx(str(source), str(CONFIG_DIR), str(html), str(Path(tmp) / "build" / "doctrees"), "html",
                     status=None, warning=_Unstaged(source))
        app.build()
        if app.statuscode:
            raise RuntimeError(f"sphinx failed building the site (status {app.statuscode}); see the messages above")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(html, out)
    report = SiteReport(out, staged.pages, staged.skipped, time.monotonic() - started)
    log.info("site: %d pages in %s (%.1f s); open %s", len(report.pages), out, report.seconds, out / "index.html")
    return report


class _Unstaged(io.TextIOBase):
    """Sphinx's warnings on stderr, naming the repository's files instead of their staged copies."""

    def __init__(self, staged: Path):
        self.prefix = f"{staged}{os.sep}"

    def write(self, text: str) -> int:
        return sys.stderr.write(text.replace(self.prefix, ""))


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``python -m dpgdiff_lite site``."""
    p.add_argument("--out", default="site", help="folder for the HTML site (replaced if it holds a previous build)")
    return p


def command_site(args: argparse.Namespace) -> SiteReport:
    return build_site(args.out)

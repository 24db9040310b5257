"""``python -m dpgdiff_lite docs [--check]``: the pages the kit generates rather than anyone writing them.

``docs/architecture.png`` (:func:`dpgdiff_lite.lessons.architecture.write_png`), ``docs/verdicts.md``
(:func:`dpgdiff_lite.experiments.verdicts.page`, from the committed CSVs) and the commands section of every
results README under ``notebooks/results/`` (from :mod:`dpgdiff_lite.experiments.registry`). With
``--check`` nothing is written: the command exits 1 naming each text page out of step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dpgdiff_lite.experiments.registry import FOLDERS, RESULTS
from dpgdiff_lite.experiments.reproduce import updated_readme

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.png"
VERDICTS = ROOT / "docs" / "verdicts.md"


def text_pages() -> dict[Path, str]:
    """Every generated text page as it should read: path → text."""
    from dpgdiff_lite.experiments import verdicts

    pages = {VERDICTS: verdicts.page()}
    for name, entry in FOLDERS.items():
        readme = RESULTS / name / "README.md"
        pages[readme] = updated_readme(readme.read_text(), entry)
    return pages


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a text page is out of step")
    return parser


def command(args: argparse.Namespace) -> list[Path]:
    """Write (or check) every generated page; returns the pages out of step (``--check``) or written."""
    pages = text_pages()
    if args.check:
        stale = [path for path, text in pages.items() if path.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of step: run python -m dpgdiff_lite docs")
        if not stale:
            print(f"{len(pages)} generated pages in step")
        return stale
    from dpgdiff_lite.lessons import architecture

    for path, text in pages.items():
        path.write_text(text)
    architecture.write_png(ARCHITECTURE)
    written = [*pages, ARCHITECTURE]
    print("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
    return written

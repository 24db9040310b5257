"""The equation → code → test → notebook index (notebooks/equations.md) cannot go stale.

Fails when a listed function, test or notebook heading is gone, when an equation (1)–(15) or a
line of Algorithm 1 is missing, or when a package docstring says "Implements eq. (N)" for an
object the index does not list under (N).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "notebooks" / "equations.md"
CODE = re.compile(r"`(dpgdiff_lite\.[\w.]+)`")
TEST = re.compile(r"`(tests/test_\w+\.py)::(\w+)`")
NOTEBOOK = re.compile(r"`(\d\d_\w+\.ipynb)` § ([^|;]+)")
IMPLEMENTS = re.compile(r"Implements eq\. \(([\d–,() ]+)\)")


def table_rows(heading: str) -> list[list[str]]:
    """The body rows of the markdown table under ``## heading``."""
    section = INDEX.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def equation_numbers(ref: str) -> set[int]:
    """'(3)–(4)' → {3, 4}; '(11), (12)' → {11, 12}."""
    numbers = [int(n) for n in re.findall(r"\d+", ref)]
    if "–" in ref and len(numbers) == 2:
        return set(range(numbers[0], numbers[1] + 1))
    return set(numbers)


def resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def notebook_headings(name: str) -> set[str]:
    cells = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
    lines = ("".join(c["source"]).splitlines() for c in cells if c["cell_type"] == "markdown")
    return {line.lstrip("#").strip() for block in lines for line in block if line.startswith("#")}


def all_rows() -> list[list[str]]:
    return table_rows("Equations") + table_rows("Algorithm 1") + table_rows("Choices the paper leaves open")


def test_every_equation_and_algorithm_line_is_listed():
    listed = set().union(*(equation_numbers(row[0]) for row in table_rows("Equations")))
    assert listed >= set(range(1, 16)), f"missing equations: {sorted(set(range(1, 16)) - listed)}"
    lines = set().union(*(equation_numbers(row[0]) for row in table_rows("Algorithm 1")))
    assert lines >= set(range(1, 12)), f"missing Algorithm 1 lines: {sorted(set(range(1, 12)) - lines)}"


@pytest.mark.parametrize("dotted", sorted({m for row in all_rows() for m in CODE.findall(" ".join(row))}))
def test_listed_code_exists_and_is_documented(dotted):
    assert resolve(dotted).__doc__, f"{dotted} has no docstring"


@pytest.mark.parametrize("path, name", sorted({m for row in all_rows() for m in TEST.findall(" ".join(row))}))
def test_listed_test_exists(path, name):
    tree = ast.parse((ROOT / path).read_text())
    assert name in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, f"{path}::{name} is gone"


@pytest.mark.parametrize("notebook, heading",
                         sorted({(nb, h.strip()) for row in all_rows() for nb, h in NOTEBOOK.findall(" ".join(row))}))
def test_listed_notebook_heading_exists(notebook, heading):
    assert heading in notebook_headings(notebook), f"{notebook} has no heading {heading!r}"


def test_every_equation_row_names_code_a_test_and_a_notebook():
    for row in table_rows("Equations") + table_rows("Algorithm 1"):
        text = " ".join(row)
        assert CODE.search(text) and TEST.search(text) and NOTEBOOK.search(text), f"incomplete row: {row[0]}"


def test_every_implementing_docstring_is_indexed():
    listed: dict[str, set[int]] = {}
    for row in table_rows("Equations"):
        for dotted in CODE.findall(row[2]):
            listed.setdefault(dotted, set()).update(equation_numbers(row[0]))
    missing = []
    for path in sorted((ROOT / "dpgdiff_lite").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        for node in tree.body:
            members = [node] + (node.body if isinstance(node, ast.ClassDef) else [])
            for member in members:
                if not isinstance(member, (ast.FunctionDef, ast.ClassDef)):
                    continue
                name = member.name if member is node else f"{node.name}.{member.name}"
                for ref in IMPLEMENTS.findall(ast.get_docstring(member) or ""):
                    if not equation_numbers(f"({ref})") <= listed.get(f"{module}.{name}", set()):
                        missing.append(f"{module}.{name} (eq. {ref})")
    assert missing == [], f"implementing functions not in notebooks/equations.md: {missing}"

"""The equation → code → test → notebook index (notebooks/equations.md) cannot go stale.

Fails when a listed function, test or notebook heading is gone, when an equation (1)–(15) or a
line of Algorithm 1 is missing, when a package docstring says "Implements eq. (N)" for an
object the index does not list under (N), or when the deviations table and ``Config`` drift apart:
a ``--set`` flag naming no field, a value ``Config`` refuses or one equal to the default, a quoted
default that is no longer the default.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

from dpgdiff_lite.config import Config

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "notebooks" / "equations.md"
CODE = re.compile(r"`(dpgdiff_lite\.[\w.]+)`")
TEST = re.compile(r"`(tests/test_\w+\.py)::(\w+)`")
NOTEBOOK = re.compile(r"`(\d\d_\w+\.ipynb)` § ([^|;]+)")
IMPLEMENTS = re.compile(r"Implements eq\. \(([\d–,() ]+)\)")
DEVIATIONS = "Deviations from the paper's literal text"
KIT_OPTIONS = "Kit options beside the paper"
FLAGS = re.compile(r"`([^`]*--set [^`]*)`")  # one backticked group of flags, applied together
FLAG = re.compile(r"--set (\w+)=(\S+)")
DEFAULT = re.compile(r"`(\w+)=([^`\s]+)`")  # a default quoted as `key=value`


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
    return (table_rows("Equations") + table_rows("Algorithm 1") + table_rows("Choices the paper leaves open")
            + table_rows(DEVIATIONS))


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
                         sorted({(nb, h.strip()) for row in all_rows() for nb, h in NOTEBOOK.findall(" | ".join(row))}))
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


def flag_groups(heading: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """(row's first cell, [(key, value), …]) for each backticked group of ``--set`` flags in the last
    column of the table under ``heading`` (the deviations, the kit options)."""
    groups = []
    for row in table_rows(heading):
        for group in FLAGS.findall(row[-1]):
            groups.append((row[0], FLAG.findall(group)))
    return groups


def test_every_deviation_has_a_reason_and_a_flag_or_says_there_is_none():
    rows = table_rows(DEVIATIONS)
    assert len(rows) >= 6
    for row in rows:
        assert len(row) == 5 and all(row), f"incomplete deviation row: {row}"
        assert FLAGS.search(row[4]) or "no flag" in row[4], f"deviation {row[0]}: name a flag or say 'no flag'"


@pytest.mark.parametrize("equation, flags", flag_groups(DEVIATIONS) + flag_groups(KIT_OPTIONS),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_every_flag_of_the_deviations_and_options_is_a_real_field_with_a_new_accepted_value(equation, flags):
    default = Config()
    assert flags, f"deviation {equation}: a backticked '--set' group without key=value"
    for key, _ in flags:
        assert hasattr(default, key), f"deviation {equation}: --set {key}: no such Config field"
    changed = default.with_overrides([f"{key}={value}" for key, value in flags])  # raises on a refused value
    for key, value in flags:
        assert getattr(changed, key) != getattr(default, key), (
            f"deviation {equation}: --set {key}={value} is the default already")


def test_every_default_the_deviations_quote_is_the_current_default():
    default = Config()
    quoted = [(row[0], key, value) for row in table_rows(DEVIATIONS) for key, value in DEFAULT.findall(row[2])]
    assert {key for _, key, _ in quoted} >= {"cl_similarity", "temperature", "inference_steps", "eta", "weight_cl"}
    for equation, key, value in quoted:
        assert hasattr(default, key), f"deviation {equation}: `{key}=…`: no such Config field"
        assert getattr(default.with_overrides([f"{key}={value}"]), key) == getattr(default, key), (
            f"deviation {equation}: the table quotes {key}={value}, the default is {getattr(default, key)!r}")


def test_the_paper_model_reads_eq15_literally_and_the_fused_reading_is_a_kit_option():
    """Eq. (12) and (15) with the own-domain ĝ_d are no deviation; the fused g_x + g_y is an option with its flag."""
    assert Config(model="dpgdiff").preference == "own"
    assert not any("(15)" in row[0] and "preference" in row[-1] for row in table_rows(DEVIATIONS))
    options = [row for row in table_rows(KIT_OPTIONS)]
    assert len(options) >= 3 and all(len(row) == 5 and all(row) for row in options), options
    assert ("preference", "fused") in [flag for _, flags in flag_groups(KIT_OPTIONS) for flag in flags]


STALE_READINGS = (re.compile(r"fused (?:ĝ_d|\$\\hat g_d\$|preference) of eq\. ?\(?15"),
                  re.compile(r"default,? (?:is )?`?(?:Config\.)?preference ?= ?\"?fused"),
                  re.compile(r"default stays `?fused"))
"""Sentences that would say eq. (15) uses the fused preference, or that fused is the default."""


def test_no_page_says_eq15_uses_the_fused_preference():
    root = INDEX.parents[1]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "notebooks").glob("*.md"))]
    texts = {str(p.relative_to(root)): p.read_text() for p in pages}
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[str(notebook.relative_to(root))] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    found = [(name, match.group(0)) for name, text in texts.items() for pattern in STALE_READINGS
             for match in pattern.finditer(" ".join(text.split()))]
    assert not found, f"pages that read eq. (15) with the fused preference: {found}"

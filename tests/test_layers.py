"""The layers import downwards only: data → model → trainer and evaluation → experiments → lessons →
notebooks and the CLI. A lesson imports the package, the experiments and lessons/common.py, never another
lesson; no module of lessons/ or experiments/ grows past 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dpgdiff_lite"
TOP = ("cli", "course", "site", "generated_docs", "bench", "__main__", "distributed")
"""Package-level modules above the experiments (they start commands)."""


def imported(path: Path) -> set[str]:
    """Every dpgdiff_lite module a file imports, at any depth of the file (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dpgdiff_lite"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("dpgdiff_lite"))
    return names


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (PACKAGE / folder).glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", modules("lessons"), ids=lambda p: p.stem)
def test_a_lesson_imports_no_other_lesson(path):
    others = {m for m in imported(path) if m.startswith("dpgdiff_lite.lessons.")
              and m.split(".")[2] not in ("common", path.stem)}
    assert not others, f"lessons/{path.name} imports {sorted(others)}"


UPWARD_ALLOWED = {"reproduce": {"dpgdiff_lite.cli", "dpgdiff_lite.cli.main", "dpgdiff_lite.cli.parser"}}
"""``reproduce`` runs a folder's steps through the command line itself."""


def upward(name: str) -> bool:
    parts = name.split(".")
    return parts[1:2] == ["lessons"] or len(parts) > 1 and parts[1] in TOP


@pytest.mark.parametrize("path", modules("experiments"), ids=lambda p: p.stem)
def test_an_experiment_imports_no_lesson_and_no_command(path):
    found = {m for m in imported(path) if upward(m)} - UPWARD_ALLOWED.get(path.stem, set())
    assert not found, f"experiments/{path.name} imports {sorted(found)}"


@pytest.mark.parametrize("path", [p for p in PACKAGE.rglob("*.py") if p.parent.name in ("dpgdiff_lite", "data")
                                  and p.stem not in TOP and p.stem not in ("parameters", "claims", "__init__")],
                         ids=lambda p: p.stem)
def test_the_core_imports_neither_experiments_nor_lessons(path):
    upward = {m for m in imported(path) if m.startswith(("dpgdiff_lite.experiments", "dpgdiff_lite.lessons"))}
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


@pytest.mark.parametrize("path", modules("lessons") + modules("experiments"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_lesson_or_experiment_module_grows_past_600_lines(path):
    assert len(path.read_text().splitlines()) <= 600


def test_the_check_sees_a_lesson_importing_another(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dpgdiff_lite.lessons.guided import LessonParams\n")
    assert "dpgdiff_lite.lessons.guided" in imported(bad)

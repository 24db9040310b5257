"""Every exercise shows its reference solution's own source, collapsed, right under it."""

import re
from pathlib import Path

import nbformat
import pytest

from dpgdiff_lite.lessons import ablation, solutions

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_source_block_is_the_reference_itself_collapsed():
    text = solutions.source_block("ablation.paired_t_by_hand")
    assert text.startswith("<details><summary>Reference solution: <code>dpgdiff_lite.lessons.ablation.paired_t_by_hand")
    assert "def paired_t_by_hand(x, y)" in text and text.endswith("```\n</details>")
    assert solutions.reference("ablation.paired_t_by_hand") is ablation.paired_t_by_hand


def test_an_unknown_reference_is_named():
    with pytest.raises(ValueError, match="no reference solution 'ablation.nothing'"):
        solutions.reference("ablation.nothing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_cell_is_followed_by_its_reference_solutions(path):
    cells = nbformat.read(path, as_version=4).cells
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "code" and re.search(r"^def my_", c.source, re.M)]
    assert exercises, f"{path.name} has no exercise"
    for i in exercises:
        shown = re.findall(r'"([a-z_]+\.[a-z_]+)"', cells[i + 1].source) if "solutions.show(" in cells[i + 1].source else []
        assert shown, f"{path.name} cell {i}: no dl.lessons.solutions.show(...) under the exercise"
        for name in shown:
            module, function = name.split(".")
            assert f"{function}" in cells[i].source or f"reference: {name}" in str(cells[i].get("outputs")), (path.name, name)
            solutions.reference(name)

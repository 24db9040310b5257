"""The committed notebooks were executed from empty run folders: every live training line reports the
seconds it really trained, and no cell left anything on stderr (a "could not resume" warning, say)."""

from __future__ import annotations

import re

import nbformat
import pytest

from dpgdiff_lite.course import find_notebooks

TRAINED = re.compile(r"\b(?:re-?)?trained\b[^\n]*? in (\d+(?:\.\d+)?) s\b")
"""A notebook's report of a live training, e.g. "3 models × 1 seed(s) trained in 34 s"."""
LIVE = {"02", "03", "04", "05", "06", "07", "08", "10"}
"""The notebooks whose cells train models when run."""


def _outputs(path) -> list[dict]:
    notebook = nbformat.read(path, as_version=4)
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def _text(output: dict) -> str:
    return output.get("text", "") or output.get("data", {}).get("text/plain", "")


@pytest.mark.parametrize("path", find_notebooks(), ids=lambda path: path.stem)
def test_a_committed_notebook_trained_its_live_cells_and_left_no_stderr(path):
    outputs = _outputs(path)
    assert not [_text(o) for o in outputs if o.get("name") == "stderr"], "stderr in a committed output"
    seconds = [float(m.group(1)) for o in outputs for m in TRAINED.finditer(_text(o))]
    if path.stem[:2] in LIVE:
        assert seconds, f"{path.stem}: no live training reported in its committed outputs"
    # a run folder that was only re-read reports 0 s: the notebook was executed over filled run folders
    assert all(s >= 1 for s in seconds), f"{path.stem}: a live cell reports {min(seconds)} s, so it loaded a run"


def test_the_check_catches_a_loaded_run():
    assert [m.group(1) for m in TRAINED.finditer("re-trained diff in 0 s\n4 models trained and evaluated in 3 s")] \
        == ["0", "3"]

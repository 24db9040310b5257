"""A pytest plugin for the notebooks under nbval: a failed cell stops its notebook.

nbval runs every cell of a notebook as its own test and goes on after a failure, so one failed claim
(``dpgdiff_lite.claims.claim``) would be followed by errors that only echo it (a ``NameError`` for what
the failed cell never defined). JupyterLab's "Run All" and papermill stop at the first error; under
nbval the cells after a failure are skipped with a line naming the cell that failed, so the claim's
message is the notebook's only error. ``pyproject.toml`` loads it (``-p dpgdiff_lite.lessons.nbval_stop``); a
``notebooks/conftest.py`` would shadow ``tests/conftest.py``, which the tests import by name."""

from __future__ import annotations

import pytest

FAILED_CELL: dict[str, str] = {}
"""Notebook path → the name of its first failed cell in this pytest run."""


def _notebook(item: pytest.Item) -> str | None:
    """The notebook a cell test belongs to; None for any other test."""
    path = item.nodeid.split("::")[0]
    return path if path.endswith(".ipynb") else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    failed = FAILED_CELL.get(_notebook(item))
    if failed is not None:
        pytest.skip(f"not run: {failed} of this notebook failed before it (its error is the notebook's)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    notebook = _notebook(item)
    if notebook is not None and outcome.get_result().failed:
        FAILED_CELL.setdefault(notebook, item.name)

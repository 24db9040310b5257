"""A pytest plugin for the notebooks under nbval: a failed cell stops its notebook.

nbval runs every cell of a notebook as its own test and goes on after a failure, so one failed claim
(``dpgdiff_lite.claims.claim``) would be followed by errors that only echo it (a ``NameError`` for what
the failed cell never defined). JupyterLab's "Run All" and papermill stop at the first error; under
nbval the cells after a failure are skipped with a line naming the cell that failed, so the claim's
message is the notebook's only error. ``pyproject.toml`` loads it (``-p dpgdiff_lite.lessons.nbval_stop``); a
``notebooks/conftest.py`` would shadow ``tests/conftest.py``, which the tests import by name.

It also starts nbval's kernels on IPC (Unix-domain) sockets, as the course runner does
(:func:`dpgdiff_lite.course._local_kernel`): kernels started at once by parallel test workers
(pytest-xdist) can pick the same free TCP port and die before they reply."""

from __future__ import annotations

import tempfile
from pathlib import Path

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


_SOCKETS = tempfile.TemporaryDirectory(prefix="dpgdiff-nbval-")
"""This test process's folder of kernel sockets, removed when it exits."""


def _start_kernel_on_ipc(startup_timeout: float = 60, kernel_name: str = "python", **kwargs):
    """``jupyter_client.manager.start_new_kernel`` (what nbval calls), on IPC sockets in a fresh
    temporary folder where libzmq has them; returns (manager, client)."""
    from jupyter_client.manager import KernelManager

    from dpgdiff_lite.course import _local_kernel

    manager = KernelManager(kernel_name=kernel_name, **_local_kernel(Path(tempfile.mkdtemp(dir=_SOCKETS.name))))
    manager.start_kernel(**kwargs)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=startup_timeout)
    except RuntimeError:
        client.stop_channels()
        manager.shutdown_kernel()
        raise
    return manager, client


def pytest_configure(config: pytest.Config) -> None:
    import nbval.kernel

    nbval.kernel.start_new_kernel = _start_kernel_on_ipc

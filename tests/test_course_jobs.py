"""The course runner with several jobs: notebooks executed at once, each kernel on one thread, rows in order."""

from __future__ import annotations

import nbformat
import pytest

from dpgdiff_lite import course


def _notebook(path, body: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def _printed(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))


def test_two_jobs_run_every_notebook_on_one_thread_and_keep_the_order(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    threads = "import torch; print('threads', torch.get_num_threads())"
    _notebook(folder / "01_first.ipynb", threads)
    _notebook(folder / "02_fails.ipynb", "raise RuntimeError('boom')")
    _notebook(folder / "03_third.ipynb", threads)
    frame = course.run_course(tmp_path / "out", folder=folder, jobs=2)
    assert list(frame.index) == ["01_first", "02_fails", "03_third"]
    assert frame["status"].tolist() == ["ok", "failed", "ok"]
    assert frame.loc["02_fails", "error"] == "RuntimeError: boom"
    for name in ("01_first", "03_third"):
        assert _printed(tmp_path / "out" / f"{name}.ipynb").strip() == "threads 1"


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_a_bad_job_count_is_named_before_any_notebook_runs(tmp_path, jobs):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "01_first.ipynb", "open('ran', 'w')")
    _notebook(folder / "02_second.ipynb", "open('ran', 'w')")
    with pytest.raises(ValueError, match=f"jobs must be a whole number >= 1, got {jobs!r}"):
        course.run_course(tmp_path / "out", folder=folder, jobs=jobs)
    assert not (folder / "ran").exists()

"""The course runner: notebook 06 through papermill with smoke parameters, read back from its run folder."""

from __future__ import annotations

import ast
import inspect
import json
import logging

import nbformat
import pytest

from dpgdiff_lite import course
from dpgdiff_lite.evaluation import METRICS

SMOKE_05 = {"data": "synthetic:tiny", "preset": "smoke", "models": "dpgdiff,sasrec,pop"}


def _outputs_text(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(texts)


def test_notebook_05_through_papermill_records_table1_and_metrics(tmp_path):
    frame = course.run_course(tmp_path, notebooks=["06"], parameters={"06": SMOKE_05})
    assert frame.loc["06_full_training", "status"] == "ok", frame.loc["06_full_training", "error"]
    assert frame.loc["06_full_training", "figures"] >= 1
    assert frame.loc["06_full_training", "headline"].startswith("test NDCG@10 X: dpgdiff ")

    text = _outputs_text(tmp_path / "06_full_training.ipynb")
    assert "Imp." in text and "NDCG@10" in text and "synthetic-tiny" in text

    run = tmp_path / "runs" / "06_full_training"
    metrics = {name: json.loads((run / name / "metrics.json").read_text()) for name in ("dpgdiff", "sasrec", "pop")}
    for name, record in metrics.items():
        assert record["model"] == name and record["protocol"] == "synthetic" and record["data"] == "synthetic:tiny"
        for split in ("test", "valid"):
            assert list(record[split]) == ["X", "Y"]
            assert all(list(record[split][d]) == list(METRICS) for d in ("X", "Y"))
    header = (run / "table1.csv").read_text().splitlines()[0]
    assert header == "domain,metric,dpgdiff,sasrec,pop,Imp.,p"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["models"] == ["dpgdiff", "sasrec", "pop"]
    assert summary["test_NDCG@10"]["sasrec"]["Y"] == pytest.approx(metrics["sasrec"]["test"]["Y"]["NDCG@10"], abs=1e-3)
    recorded = json.loads((tmp_path / "course.json").read_text())
    assert recorded["summaries"]["06_full_training"] == summary


def test_a_bad_parameter_fails_the_notebook_with_its_message(tmp_path):
    frame = course.run_course(tmp_path, notebooks=["06_full_training"],
                              parameters={"06": {**SMOKE_05, "models": "dpgdiff,bogus"}})
    assert frame.loc["06_full_training", "status"] == "failed"
    assert frame.loc["06_full_training", "error"].startswith("ParameterError: models: unknown model 'bogus'")


@pytest.mark.parametrize("notebook, parameters, message", [
    ("06_full_training", {"epochs": -2}, "ParameterError: epochs must be an integer >= 0, got -2"),
    ("07_robustness_and_steps", {"data": "c2dsr:no/such/folder"},
     "ParameterError: data: data spec 'c2dsr:no/such/folder': 'folder' not found"),
    ("08_ablation", {"models": "diff,bogus"}, "ParameterError: models: unknown model 'bogus'"),
])
def test_papermill_stops_in_the_validation_cell_naming_the_parameter(tmp_path, notebook, parameters, message):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(course.NOTEBOOKS_DIR / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=parameters, progress_bar=False, cwd=str(tmp_path))
    assert failure.value.ename == "ParameterError" and message in str(failure.value)
    assert "Traceback" not in str(failure.value)  # the reader sees the message, not a stack
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    failed = [c for c in executed.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "Params(" in failed[0].source  # the cell right after the parameters


def _tiny_notebook(path, body: str) -> None:
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("rate = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def test_runner_records_a_failure_and_goes_on(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _tiny_notebook(folder / "01_fails.ipynb", "raise RuntimeError(f'boom {rate}')")
    _tiny_notebook(folder / "02_works.ipynb", "print(rate)")
    frame = course.run_course(tmp_path / "out", parameters={"*": {"rate": 3, "absent": 1}}, folder=folder)
    assert frame["status"].to_dict() == {"01_fails": "failed", "02_works": "ok"}
    assert frame.loc["01_fails", "error"] == "RuntimeError: boom 3"
    assert "3" in _outputs_text(tmp_path / "out" / "02_works.ipynb")
    with pytest.raises(ValueError, match=r"parameters for 02_works: unknown parameter\(s\) absent; it declares rate"):
        course.run_course(tmp_path / "out", parameters={"02": {"absent": 1}}, folder=folder)


def test_find_notebooks_and_parse_parameter(tmp_path):
    names = [p.stem for p in course.find_notebooks(["06", "08_ablation"])]
    assert names == ["06_full_training", "08_ablation"]
    with pytest.raises(ValueError, match=r"^notebook '99' not found in notebooks/; available: 01_"):
        course.find_notebooks(["99"])
    assert course.parse_parameter("06:epochs=3") == ("06", "epochs", 3)
    assert course.parse_parameter("device=cpu") == ("*", "device", "cpu")
    assert course.parse_parameter("07:test_noises=0,0.1") == ("07", "test_noises", "0,0.1")
    with pytest.raises(ValueError, match="-p expects"):
        course.parse_parameter("epochs")
    args = course.configure_parser(__import__("argparse").ArgumentParser()).parse_args(
        ["--out", str(tmp_path), "--notebooks", "05,06", "-p", "06:epochs=2"])
    assert (args.notebooks, args.param, args.kernel) == ("05,06", ["06:epochs=2"], "python3")


def test_the_runner_starts_its_kernels_without_the_tcp_warning(tmp_path, capfd):
    import ipykernel.kernelapp
    import papermill
    import zmq

    folder = tmp_path / "nbs"
    folder.mkdir()
    _tiny_notebook(folder / "01_transport.ipynb", "import ipykernel, json\n"
                   "print('transport:', json.load(open(ipykernel.get_connection_file()))['transport'])")
    frame = course.run_course(tmp_path / "out", folder=folder)
    captured = capfd.readouterr()  # file-descriptor level: the kernel process writes to the same stderr
    assert frame.loc["01_transport", "status"] == "ok"
    assert "without encryption" not in captured.out + captured.err
    if zmq.has("ipc"):
        assert "transport: ipc" in _outputs_text(tmp_path / "out" / "01_transport.ipynb")

    if "without encryption" in inspect.getsource(ipykernel.kernelapp):  # the control: papermill's own default
        papermill.execute_notebook(str(folder / "01_transport.ipynb"), str(tmp_path / "tcp.ipynb"), progress_bar=False)
        assert "Kernel is running over TCP without encryption" in capfd.readouterr().err


def _parameters_cell(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters', expected one"
    return cells[0]


@pytest.mark.parametrize("path", course.find_notebooks(), ids=lambda path: path.stem)
def test_papermill_reads_every_line_of_the_parameters_cell(path, caplog):
    """papermill's parser skips a line holding more than one '=' (even inside a string or a comment):
    that parameter is then undeclared, and ``course -p NB:name=…`` refuses it as unknown."""
    import papermill

    cell = _parameters_cell(path)
    assigned = [target.id for node in ast.parse(cell.source).body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])]
    with caplog.at_level(logging.WARNING, logger="papermill"):
        declared = list(papermill.inspect_notebook(str(path)))
    unparsed = [record.getMessage() for record in caplog.records if record.name.startswith("papermill")]
    assert unparsed == [], f"{path.name}, parameters cell: {unparsed}"
    assert declared == assigned, f"{path.name}: papermill declares {declared}, the cell assigns {assigned}"


def test_run_times_merge_ok_rows_and_keep_the_others(tmp_path):
    import pandas as pd

    table = tmp_path / "run_times.csv"
    table.write_text("notebook,seconds,cpu_cores\n01_a,10,2\n02_b,20,2\n")
    frame = pd.DataFrame({"status": ["ok", "failed"], "seconds": [12.6, 99.0]}, index=pd.Index(["02_b", "03_c"], name="notebook"))
    written = course.record_run_times(frame, table)
    assert written["notebook"].tolist() == ["01_a", "02_b"]
    assert written.set_index("notebook")["seconds"].to_dict() == {"01_a": 10, "02_b": 13}
    assert "about 13 s" in course.expected_run_time("02", table)
    assert "not measured yet" in course.expected_run_time("03_c", table)


def test_only_record_times_touches_the_committed_run_times(monkeypatch, tmp_path):
    """A user's course run leaves the checkout clean: the committed table changes only on request."""
    calls = {}
    monkeypatch.setattr(course, "run_course", lambda out, **kw: calls.update(kw))
    parser = course.configure_parser(__import__("argparse").ArgumentParser())
    course.command_course(parser.parse_args(["--out", str(tmp_path)]))
    assert calls["record_times"] is None
    course.command_course(parser.parse_args(["--out", str(tmp_path), "--record-times"]))
    assert calls["record_times"] == course.RUN_TIMES
    with pytest.raises(ValueError, match="--record-times records the default parameters' run times"):
        course.command_course(parser.parse_args(["--out", str(tmp_path), "-p", "06:epochs=1", "--record-times"]))


def test_every_notebook_states_its_expected_run_time_from_the_table():
    table = __import__("pandas").read_csv(course.RUN_TIMES)
    for path in course.find_notebooks():
        assert path.stem in set(table["notebook"]), f"{path.stem} has no measured run time in run_times.csv"
        notebook = nbformat.read(path, as_version=4)
        first_code = next(c for c in notebook.cells if c.cell_type == "code")
        assert f'course.expected_run_time("{path.stem.split("_")[0]}")' in first_code.source, path.name
        first_markdown = next(c for c in notebook.cells if c.cell_type == "markdown")
        assert "glossary.md" in first_markdown.source, f"{path.name}: the first markdown cell links no glossary"

"""Run the whole course headless: every numbered notebook through papermill, and one summary table.

``run_course(out_dir)`` executes ``notebooks/NN_*.ipynb`` in order into ``out_dir`` (executed copies),
sends the run folders of notebooks that declare an ``output`` parameter to ``out_dir/runs/<notebook>/``,
collects each notebook's ``summary.json`` (written by notebooks 06–08) and returns one row per notebook:
status, seconds, size, figures and the summary's headline. ``main`` is the command line,
``python -m dpgdiff_lite.course --out DIR [--notebooks 07,08] [-p 06:epochs=3] [-p device=cpu]``.

Every run writes the measured seconds into ``out_dir/run_times.csv``; only ``--record-times`` (with every
notebook's default parameters) merges them into the committed ``notebooks/run_times.csv``
(:func:`record_run_times`), the one source of the run times the notebooks state in their first code cell
(:func:`expected_run_time`), so a user's course run leaves the checkout as it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ALL = "*"
"""Key of ``parameters`` applying to every notebook that declares the parameter."""
RUN_TIMES = NOTEBOOKS_DIR / "run_times.csv"
"""Each notebook's seconds as the course runner last measured them with the default parameters."""
RUN_TIME_COLUMNS = ["notebook", "seconds", "cpu_cores"]


def record_run_times(frame: pd.DataFrame, path: str | Path = RUN_TIMES) -> pd.DataFrame:
    """Merge the notebooks of ``frame`` (a :func:`run_course` result) that ran ``ok`` into the table at
    ``path``: their rows are replaced, other notebooks' rows kept; returns the table written."""
    path = Path(path)
    ran = frame[frame["status"] == "ok"]
    new = pd.DataFrame({"notebook": ran.index, "seconds": ran["seconds"].round(0).astype(int).to_numpy(),
                        "cpu_cores": os.cpu_count() or 1}, columns=RUN_TIME_COLUMNS)
    old = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=RUN_TIME_COLUMNS)
    table = pd.concat([old[~old["notebook"].isin(new["notebook"])], new]).sort_values("notebook")
    table.to_csv(path, index=False)
    return table


def expected_run_time(notebook: str, path: str | Path = RUN_TIMES) -> str:
    """One line for a notebook's first code cell: its run time as the course runner last measured it
    (``notebook`` by stem or number, "07")."""
    table = pd.read_csv(path) if Path(path).exists() else pd.DataFrame(columns=RUN_TIME_COLUMNS)
    rows = table[(table["notebook"] == notebook) | (table["notebook"].str.split("_").str[0] == notebook)]
    if not len(rows):
        return (f"expected run time of {notebook}: not measured yet (`python -m dpgdiff_lite course` "
                f"records it in notebooks/{Path(path).name})")
    row = rows.iloc[0]
    return (f"expected run time of {row['notebook']}: about {int(row['seconds'])} s, as the course runner measured "
            f"it on {int(row['cpu_cores'])} CPU cores (notebooks/{Path(path).name}); this execution's time is printed "
            f"at the end")


def find_notebooks(names: list[str] | tuple[str, ...] | None = None, folder: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks of ``folder`` in order, or those named by path, stem or number ("06")."""
    folder = Path(folder)
    available = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if names is None:
        return available
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path)
            continue
        matches = [p for p in available if p.stem == name or p.stem.split("_")[0] == name]
        if not matches:
            raise ValueError(f"notebook {name!r} not found in {folder.name}/; available: "
                             f"{', '.join(p.stem for p in available) or 'none'}")
        chosen += matches
    return chosen


def _parameters_for(path: Path, declared: dict, parameters: dict[str, dict]) -> dict:
    """Parameters for one notebook: the ``*`` entries it declares, then its own entry (by stem or number)."""
    chosen = {k: v for k, v in parameters.get(ALL, {}).items() if k in declared}
    for key in (path.stem.split("_")[0], path.stem):
        own = parameters.get(key, {})
        unknown = sorted(set(own) - set(declared))
        if unknown:
            raise ValueError(f"parameters for {path.stem}: unknown parameter(s) {', '.join(unknown)}; "
                             f"it declares {', '.join(declared) or 'none'}")
        chosen.update(own)
    return chosen


def _executed_facts(path: Path) -> dict:
    """Size and figure count of an executed notebook."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return {"size_kb": round(path.stat().st_size / 1024, 1),
            "figures": sum("image/png" in o.get("data", {}) for o in outputs)}


def _local_kernel(sockets: Path) -> dict:
    """papermill options that start each kernel on IPC (Unix-domain) sockets in the folder ``sockets``.

    On TCP without CurveZMQ keys ipykernel (7.4 and later, ``IPKernelApp.init_sockets``) logs "Kernel
    is running over TCP without encryption" at every start, once per notebook. A kernel on this machine
    needs no network port: over IPC no other machine can reach it, and there is nothing to warn about.
    Where libzmq has no IPC (some Windows builds) the kernel stays on TCP.
    """
    import zmq
    from traitlets.config import Config

    if not zmq.has("ipc"):
        return {}
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets / "kernel")  # socket files kernel-1 … kernel-5, removed at shutdown
    return {"config": config}


def run_course(out_dir: str | Path, notebooks: list[str] | None = None, parameters: dict[str, dict] | None = None,
               kernel_name: str = "python3", folder: str | Path = NOTEBOOKS_DIR,
               record_times: str | Path | None = None, jobs: int = 1) -> pd.DataFrame:
    """Execute the notebooks with papermill into ``out_dir`` and return (and print) one row per notebook.

    ``parameters`` maps a notebook's stem or number ("06") to its papermill parameters; the key ``*``
    applies to every notebook declaring the parameter. A failing notebook is recorded and the rest run.
    ``jobs`` > 1 executes that many notebooks at once, longest first by the committed run times, each
    kernel on one thread (:func:`_execute_all`); the rows stay in notebook order.
    Each kernel runs on IPC sockets where libzmq has them (see ``_local_kernel``). Writes
    ``out_dir/course.json`` (the rows and the full summaries), ``out_dir/course.csv`` and
    ``out_dir/run_times.csv``, and, when ``record_times`` names a table, merges the measured seconds into
    it too (:func:`record_run_times`).
    """
    import papermill

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    parameters = parameters or {}
    paths = find_notebooks(notebooks, folder)
    plans = []
    for path in paths:  # check every notebook's parameters before running any
        declared = papermill.inspect_notebook(str(path))
        chosen = _parameters_for(path, declared, parameters)
        if "output" in declared and "output" not in chosen:
            chosen["output"] = str(out / "runs" / path.stem)
        plans.append((path, chosen))

    rows, summaries = [], {}
    for (path, chosen), (status, error, seconds) in zip(plans, _execute_all(plans, out, kernel_name, jobs)):
        executed = out / path.name
        summary_file = Path(chosen["output"]) / "summary.json" if "output" in chosen else None
        summary = json.loads(summary_file.read_text()) if summary_file and summary_file.exists() and status == "ok" else {}
        summaries[path.stem] = summary
        facts = _executed_facts(executed) if executed.exists() else {"size_kb": float("nan"), "figures": 0}
        rows.append({"notebook": path.stem, "status": status, "seconds": round(seconds, 1), **facts,
                     "headline": summary.get("headline", ""), "error": error})
    frame = pd.DataFrame(rows, columns=["notebook", "status", "seconds", "size_kb", "figures", "headline", "error"])
    frame = frame.set_index("notebook")
    frame.to_csv(out / "course.csv")
    (out / "course.json").write_text(json.dumps(
        {"notebooks": frame.reset_index().to_dict(orient="records"), "summaries": summaries,
         "total_seconds": round(float(frame["seconds"].sum()), 1)}, indent=2))
    with pd.option_context("display.max_colwidth", 120, "display.width", 200):
        print(frame.drop(columns="error").to_string())
    print(f"total {frame['seconds'].sum():.0f} s; {int((frame['status'] == 'ok').sum())}/{len(frame)} notebooks ok")
    record_run_times(frame, out / "run_times.csv")
    if record_times is not None:
        record_run_times(frame, record_times)
        print(f"run times recorded in {Path(record_times).name}")
    return frame


def _execute(path: Path, executed: Path, chosen: dict, kernel_name: str) -> tuple[str, str, float]:
    """Execute one notebook with papermill into ``executed``: (status, error, seconds)."""
    import papermill

    started = time.perf_counter()
    status, error = "ok", ""
    with tempfile.TemporaryDirectory(prefix="dpgdiff-kernel-") as sockets:
        try:
            papermill.execute_notebook(str(path), str(executed), parameters=chosen, kernel_name=kernel_name,
                                       cwd=str(path.parent), progress_bar=False, **_local_kernel(Path(sockets)))
        except papermill.PapermillExecutionError as failure:
            status, error = "failed", f"{failure.ename}: {failure.evalue}"
    seconds = time.perf_counter() - started
    log.info("%s: %s in %.0f s", path.stem, status, seconds)
    return status, error, seconds


def _one_thread_kernels() -> None:
    """Worker set-up of :func:`_execute_all`: kernels started from here run torch and BLAS on one thread."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"


def _execute_all(plans: list[tuple[Path, dict]], out: Path, kernel_name: str,
                 jobs: int) -> list[tuple[str, str, float]]:
    """:func:`_execute` of every planned notebook, ``jobs`` at a time; results in the order of ``plans``.

    With several jobs each runs in a spawned worker whose kernels use one thread (two kernels of two
    threads on two cores stall each other), the notebooks expected to take longest starting first.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if jobs == 1 or len(plans) < 2:
        return [_execute(path, out / path.name, chosen, kernel_name) for path, chosen in plans]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    times = pd.read_csv(RUN_TIMES).set_index("notebook")["seconds"] if RUN_TIMES.exists() else pd.Series(dtype=float)
    longest_first = sorted(range(len(plans)), key=lambda i: -float(times.get(plans[i][0].stem, 0.0)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_one_thread_kernels) as pool:
        futures = {i: pool.submit(_execute, plans[i][0], out / plans[i][0].name, plans[i][1], kernel_name)
                   for i in longest_first}
        return [futures[i].result() for i in range(len(plans))]


def parse_parameter(assignment: str) -> tuple[str, str, object]:
    """``[NOTEBOOK:]KEY=VALUE`` → (notebook or ``*``, key, value as JSON when it parses, else the string)."""
    target, sep, rest = assignment.partition("=")
    if not sep or not target:
        raise ValueError(f"-p expects [NOTEBOOK:]KEY=VALUE, got {assignment!r}")
    notebook, colon, key = target.rpartition(":")
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        value = rest
    return (notebook if colon else ALL), key, value


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of the ``course`` command (shared by ``python -m dpgdiff_lite course``)."""
    p.add_argument("--out", required=True, help="folder for the executed notebooks and their run folders")
    p.add_argument("--notebooks", default=None, help="comma-separated names or numbers (default: all, in order)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="[NB:]KEY=VALUE",
                   help="papermill parameter, for notebook NB (stem or number) or every notebook declaring KEY")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="notebooks executed at once, each kernel on one thread (default: 2, or 1 on one core)")
    p.add_argument("--record-times", action="store_true",
                   help="also record the run times in the committed notebooks/run_times.csv (refused with -p)")
    return p


def command_course(args: argparse.Namespace) -> pd.DataFrame:
    parameters: dict[str, dict] = {}
    for assignment in args.param:
        notebook, key, value = parse_parameter(assignment)
        parameters.setdefault(notebook, {})[key] = value
    notebooks = [n.strip() for n in args.notebooks.split(",")] if args.notebooks else None
    if args.record_times and parameters:
        raise ValueError("--record-times records the default parameters' run times: drop -p, or --record-times")
    record = RUN_TIMES if args.record_times else None
    return run_course(args.out, notebooks=notebooks, parameters=parameters, kernel_name=args.kernel,
                      record_times=record, jobs=args.jobs)

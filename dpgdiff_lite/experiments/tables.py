"""The results tables: Table 1 (one seed, and mean ± std over seeds with paired tests), the fraction of
the planted oracle (and notebook 04's comparison against it), the per-seed rows, and the one writer and
reader of a results folder (``<name>.csv`` files beside ``setting.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.evaluation import METRICS, paired_difference, results_table
from dpgdiff_lite.experiments.eq15 import ndcg_row
from dpgdiff_lite.trainer import TrainResult, run_evaluation


def table1(results: dict[str, TrainResult], ours: str = "dpgdiff") -> pd.DataFrame:
    """The paper's Table 1: rows (domain, metric), one column per model, then "Imp." and "p" of
    ``ours`` against the best other model (when ``ours`` was trained next to another model)."""
    tests = {name: result.test for name, result in results.items()}
    return results_table(tests, ours=ours if ours in tests and len(tests) > 1 else None)


def oracle_fraction(results: dict[str, TrainResult], source: DataSource) -> pd.DataFrame | None:
    """Test NDCG@10 of each model as a fraction of the planted oracle's (synthetic data only, else None)."""
    if source.truth is None:
        return None
    config = next(iter(results.values())).config
    oracle = run_evaluation(source.truth.oracle_scorer(), source.dataset, config, "test").table["NDCG@10"]
    return pd.DataFrame({"oracle NDCG@10": oracle,
                         **{name: r.test.table["NDCG@10"] / oracle for name, r in results.items()}})


def comparison_table(results: dict[str, TrainResult], source: DataSource) -> pd.DataFrame:
    """Test NDCG@10 (×100) per domain and mean for each model and the planted oracle, and each as a
    fraction of the oracle's (:func:`oracle_fraction`: the ceiling on synthetic data)."""
    fractions = oracle_fraction(results, source)  # (domains,): the oracle's NDCG@10, then each model's fraction
    if fractions is None:
        raise ValueError("comparison_table needs synthetic data: only there is a planted oracle to divide by")
    oracle = fractions["oracle NDCG@10"]
    rows = {}
    for name, ndcg in {**{n: r.test.table["NDCG@10"] for n, r in results.items()}, "oracle": oracle}.items():
        ratio = fractions[name] if name in results else ndcg / oracle
        rows[name] = {**ndcg_row(ndcg), **{f"/ oracle {d}": float(v) for d, v in ratio.items()},
                      "/ oracle mean": float(ndcg.mean() / oracle.mean())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def per_seed_frame(results: dict[str, dict[int, TrainResult]]) -> pd.DataFrame:
    """One row per (model, seed, domain, metric): the test value (×100), epochs run and seconds per
    epoch (the layout of ``compare --seeds``'s ``per_seed.csv``)."""
    return pd.DataFrame([{"model": name, "seed": seed, "domain": d, "metric": m, "value": r.test.table.loc[d, m],
                          "epochs_run": r.epochs_run, "seconds_per_epoch": r.seconds_per_epoch}
                         for name, runs in results.items() for seed, r in runs.items()
                         for d in r.test.table.index for m in r.test.table.columns])


def seeds_table(results: dict[str, dict[int, TrainResult]], ours: str = "dpgdiff",
                metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Table 1 over seeds: rows (domain, metric); per model the mean and std (ddof 1) over seeds of its
    test metric; with ``ours``, "Imp." against the best other model of the row and "p", the paired
    t-test over every (seed, test case) pair against the other model with the best NDCG@10 there."""
    first = next(iter(results.values()))
    domains = list(next(iter(first.values())).test.table.index)
    index = pd.MultiIndex.from_product([domains, list(metrics)], names=["domain", "metric"])
    columns = {}
    for name, runs in results.items():
        values = np.array([[r.test.table.loc[d, m] for d, m in index] for r in runs.values()])  # (seeds, rows)
        columns[f"{name} mean"] = values.mean(0)
        columns[f"{name} std"] = values.std(0, ddof=1) if len(values) > 1 else np.full(len(index), np.nan)
    table = pd.DataFrame(columns, index=index)
    others = [n for n in results if n != ours]
    if ours not in results or not others:
        return table
    best_ndcg = {d: max(others, key=lambda n: table.loc[(d, "NDCG@10"), f"{n} mean"]) for d in domains}
    tests = {}
    improvements, ps = [], []
    for d, m in index:
        best_row = max(others, key=lambda n: table.loc[(d, m), f"{n} mean"])
        ref = table.loc[(d, m), f"{best_row} mean"]
        improvements.append(f"{100 * (table.loc[(d, m), f'{ours} mean'] / ref - 1):.1f}%" if ref else "n/a")
        other = best_ndcg[d]
        if (other, m) not in tests:
            tests[other, m] = paired_difference({s: r.test for s, r in results[ours].items()},
                                                {s: r.test for s, r in results[other].items()}, m, (ours, other))
        ps.append(tests[other, m].loc[d, "p"])
    table["Imp."], table["p"], table["vs"] = improvements, ps, [best_ndcg[d] for d, _ in index]
    return table


def format_seeds_table(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """The seeds table for display: "mean ± std" per model, p in two significant digits."""
    names = [c[:-len(" mean")] for c in table.columns if c.endswith(" mean")]
    shown = pd.DataFrame({name: [f"{m:.{decimals}f} ± {s:.{decimals}f}" for m, s in
                                 zip(table[f"{name} mean"], table[f"{name} std"])] for name in names},
                         index=table.index)
    for column in ("Imp.", "vs"):
        if column in table:
            shown[column] = table[column]
    if "p" in table:
        shown["p"] = table["p"].map("{:.2g}".format)
    return shown


# --- results folders -----------------------------------------------------------------------
def results_dir(notebook: str) -> Path:
    """``notebooks/results/<notebook>/``, the precomputed results of a notebook ("06"), found from the
    notebook's own folder (Jupyter, nbval, the course runner) or beside the package."""
    for base in (Path("results"), Path(__file__).resolve().parents[2] / "notebooks" / "results"):
        if (base / notebook).is_dir():
            return base / notebook
    raise FileNotFoundError(f"no precomputed results for notebook {notebook}: notebooks/results/{notebook}/ is missing")


def write_precomputed(frames: dict[str, pd.DataFrame], setting: dict, seconds: float, out_dir: str | Path) -> Path:
    """Write each frame as ``<name>.csv`` and ``setting.json`` (the setting, the seeds, the measured
    seconds) into ``out_dir``: what a notebook's PRECOMPUTED cells read back."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(out / f"{name}.csv", index=False, float_format="%.8g")
    (out / "setting.json").write_text(json.dumps({**setting, "seconds": round(seconds, 1)}, indent=2) + "\n")
    return out


def read_precomputed(notebook: str) -> tuple[dict, dict[str, pd.DataFrame]]:
    """(the recorded setting, {name: frame}) of ``notebooks/results/<notebook>/``."""
    folder = results_dir(notebook)
    setting = json.loads((folder / "setting.json").read_text())
    return setting, {path.stem: pd.read_csv(path) for path in sorted(folder.glob("*.csv"))}

"""Lesson 08 — Table 3 (RQ2): the diffusion variants, one component added at a time, over seeds.

Everything ``08_ablation.ipynb`` computes or draws beyond training: its papermill parameters (with
``seeds``), the Table 3 layout with paired tests between consecutive rows (over the test cases of
one seed, or over (seed, case) pairs), its bar chart, the summary, the reference solution of its
exercise, and the command that precomputes the three-seed results (with eq. 15 taken apart for
notebook 04):

    python -m dpgdiff_lite.lessons.ablation --seeds 0,1,2 --out notebooks/results/08
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.evaluation import EvalResult, paired_test
from dpgdiff_lite.lessons.common import SeededParams, figure, not_attempted, not_attempted_message, write_precomputed
from dpgdiff_lite.trainer import TrainResult
from dpgdiff_lite.transfer import paired_difference


ABLATION_ORDER = tuple(VARIANT_FLAGS)


@dataclass
class AblationParams(SeededParams):
    """Notebook 08: the diffusion variants of Table 3, trained on the same data with every seed of ``seeds``."""

    models: str | tuple[str, ...] = ABLATION_ORDER
    output: str = "runs/08_ablation"

    def check(self) -> None:
        super().check()
        for name in self.models:
            if name not in VARIANT_FLAGS:
                raise ValueError(f"models: {name!r} is not a diffusion variant; Table 3 compares "
                                 f"{', '.join(ABLATION_ORDER)}")
        self.models = tuple(m for m in ABLATION_ORDER if m in self.models)


def ablation_table(results: dict[str, TrainResult], metric: str = "NDCG@10") -> pd.DataFrame:
    """Table 3: one row per variant (in the paper's order) with its components, ``metric`` per domain,
    and the change and paired t-test p-value against the row above."""
    names = [m for m in ABLATION_ORDER if m in results]
    if len(names) != len(results):
        extra = sorted(set(results) - set(names))
        raise ValueError(f"ablation_table takes the diffusion variants {', '.join(ABLATION_ORDER)}; got {', '.join(extra)}")
    domains = list(results[names[0]].test.table.index)
    rows = []
    for i, name in enumerate(names):
        de, g, cl = VARIANT_FLAGS[name]
        row = {"variant": name, "DE": "✓" if de else "", "G": "✓" if g else "", "Tri-CL": "✓" if cl else ""}
        test = paired_test(results[name].test, results[names[i - 1]].test, metric) if i else None
        for d in domains:
            row[d] = results[name].test.table.loc[d, metric]
            row[f"{d} Δ"] = test.loc[d, "diff"] if test is not None else np.nan
            row[f"{d} p"] = test.loc[d, "p"] if test is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def ablation_seeds_table(results: Mapping[str, Mapping[int, TrainResult]], metric: str = "NDCG@10") -> pd.DataFrame:
    """Table 3 over seeds: per variant (in the paper's order) its components and, per domain, the mean
    and std over seeds of ``metric``, the change Δ against the row above (mean over seeds of each
    seed's difference) and p, the paired t-test over every (seed, test case) pair
    (:func:`dpgdiff_lite.transfer.paired_difference`)."""
    names = [m for m in ABLATION_ORDER if m in results]
    if len(names) != len(results):
        extra = sorted(set(results) - set(names))
        raise ValueError(f"ablation_seeds_table takes the diffusion variants {', '.join(ABLATION_ORDER)}; got {', '.join(extra)}")
    tests = {name: {s: r.test for s, r in results[name].items()} for name in names}
    domains = list(next(iter(results[names[0]].values())).test.table.index)
    rows = []
    for i, name in enumerate(names):
        de, g, cl = VARIANT_FLAGS[name]
        row = {"variant": name, "DE": "✓" if de else "", "G": "✓" if g else "", "Tri-CL": "✓" if cl else ""}
        values = np.array([[r.test.table.loc[d, metric] for d in domains] for r in results[name].values()])  # (seeds, domains)
        test = paired_difference(tests[name], tests[names[i - 1]], metric, (name, names[i - 1])) if i else None
        for j, d in enumerate(domains):
            row[f"{d} mean"] = values[:, j].mean()
            row[f"{d} std"] = values[:, j].std(ddof=1) if len(values) > 1 else np.nan
            row[f"{d} Δ"] = test.loc[d, "diff"] if test is not None else np.nan
            row[f"{d} p"] = test.loc[d, "p"] if test is not None else np.nan
        row["seeds"] = len(values)
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def plot_ablation_seeds(table: pd.DataFrame, metric: str = "NDCG@10") -> Figure:
    """:func:`ablation_seeds_table` as bars with ± std error bars: one group per domain, one bar per variant."""
    domains = [c[:-len(" mean")] for c in table.columns if c.endswith(" mean")]
    fig = figure(7, 2.6)
    ax = fig.subplots()
    width = 0.8 / len(table)
    x = np.arange(len(domains))
    for i, name in enumerate(table.index):
        means = table.loc[name, [f"{d} mean" for d in domains]].to_numpy(dtype=float)
        stds = table.loc[name, [f"{d} std" for d in domains]].to_numpy(dtype=float)
        ax.bar(x + i * width, means, width, yerr=np.nan_to_num(stds), capsize=2, color=f"C{i}", label=name)
    ax.set_xticks(x + width * (len(table) - 1) / 2, [f"domain {d}" for d in domains])
    ax.set(ylabel=f"test {metric} (×100)",
           title=f"Table 3 over {int(table['seeds'].iloc[0])} seeds (bars: mean, whiskers: ± std)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_ablation(table: pd.DataFrame, metric: str = "NDCG@10") -> Figure:
    """Table 3 as bars: one group per domain, one bar per variant (in the paper's order)."""
    domains = [c for c in table.columns if c not in ("DE", "G", "Tri-CL") and " " not in c]
    fig = figure(7, 2.6)
    ax = fig.subplots()
    width = 0.8 / len(table)
    x = np.arange(len(domains))
    for i, name in enumerate(table.index):
        ax.bar(x + i * width, table.loc[name, domains].to_numpy(dtype=float), width, color=f"C{i}", label=name)
    ax.set_xticks(x + width * (len(table) - 1) / 2, [f"domain {d}" for d in domains])
    ax.set(ylabel=f"test {metric} (×100)", title="Table 3: adding components one at a time")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def summarize_ablation(table: pd.DataFrame, params: AblationParams, metric: str = "NDCG@10") -> dict:
    """The numbers notebook 08 ends with (``summary.json``), and a one-line ``headline``."""
    domains = [c for c in table.columns if c not in ("DE", "G", "Tri-CL") and " " not in c]
    best = {d: table[d].idxmax() for d in domains}
    summary = {
        "notebook": "08_ablation", "data": params.data, "preset": params.preset, "metric": metric,
        f"test_{metric}": {d: table[d].round(3).to_dict() for d in domains},
        "p_vs_previous_row": {d: table[f"{d} p"].round(6).dropna().to_dict() for d in domains},
        "best_by_domain": best,
    }
    summary["headline"] = f"test {metric} " + "; ".join(
        f"{d}: " + " < ".join(table[d].sort_values().index) for d in domains) + " (ascending)"
    return summary


def per_seed_frame(results: Mapping[str, Mapping[int, TrainResult]]) -> pd.DataFrame:
    """Test NDCG@10 per variant, seed and domain, with the epochs run, the epoch of the best validation
    NDCG@10 (the one kept) and the preset's cap on epochs."""
    return pd.DataFrame([{"variant": name, "seed": s, "domain": d, "NDCG@10": v, "epochs_run": r.epochs_run,
                          "best_epoch": int(r.history.loc[r.history["valid_NDCG@10"].idxmax(), "epoch"]),
                          "max_epochs": r.config.epochs}
                         for name, runs in results.items() for s, r in runs.items()
                         for d, v in r.test.table["NDCG@10"].items()])


# --- the precomputed results ------------------------------------------------------------------------
def seed_frames(source, results: Mapping[str, Mapping[int, TrainResult]]) -> dict[str, pd.DataFrame]:
    """Everything the PRECOMPUTED cells of notebooks 08 and 04 read: ``per_seed`` (test NDCG@10 per
    variant, seed and domain, with the epochs run, the best validation epoch and the preset's cap),
    ``table3_seeds`` (:func:`ablation_seeds_table`), ``vs_full`` (DPG-Diff minus each other variant,
    paired over (seed, case)) and ``eq15`` (NDCG@10 by each part of eq. 15,
    :func:`dpgdiff_lite.lessons.guided.eq15_parts`, per variant and seed)."""
    from dpgdiff_lite.lessons.guided import eq15_parts

    per_seed = per_seed_frame(results)
    tests = {name: {s: r.test for s, r in runs.items()} for name, runs in results.items()}
    vs_full = pd.concat([paired_difference(tests["dpgdiff"], tests[name], names=("dpgdiff", name)).reset_index()
                         .assign(other=name) for name in tests if name != "dpgdiff"], ignore_index=True) \
        if "dpgdiff" in tests and len(tests) > 1 else pd.DataFrame()
    eq15 = pd.concat([eq15_parts(r, source.dataset).reset_index().assign(variant=name, seed=s)
                      for name, runs in results.items() for s, r in runs.items()], ignore_index=True)
    columns = ["variant", "seed", "ranked by"] + [c for c in eq15.columns if c.startswith("NDCG@10")]
    frames = {"per_seed": per_seed, "table3_seeds": ablation_seeds_table(results).reset_index(), "eq15": eq15[columns]}
    if len(vs_full):
        frames["vs_full"] = vs_full
    return frames


def precompute(params: AblationParams, out_dir: str) -> dict[str, pd.DataFrame]:
    """Train every variant with every seed and write :func:`seed_frames` and the setting to ``out_dir``."""
    started = time.perf_counter()
    source = params.load()
    frames = seed_frames(source, params.train_seeds(source))
    write_precomputed(frames, {**params.setting(), "seeds": list(params.seeds)}, time.perf_counter() - started, out_dir)
    return frames


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """``python -m dpgdiff_lite.lessons.ablation --seeds 0,1,2 --out notebooks/results/08``."""
    from dpgdiff_lite.lessons.comparison import params_from, parser

    args = parser("python -m dpgdiff_lite.lessons.ablation", "notebooks/results/08",
                  "runs/precompute/08_ablation").parse_args(argv)
    started = time.perf_counter()
    frames = precompute(params_from(args, AblationParams), args.out)
    print(f"wrote {', '.join(sorted(frames))} to {args.out} in {time.perf_counter() - started:.0f} s")
    return frames


# --- exercise -------------------------------------------------------------------------------------
def paired_t_by_hand(x, y) -> tuple[float, float]:
    """Exercise (08): the paired t-test, t = mean(d) / (sd(d) / √n) with d = x − y and n − 1 degrees
    of freedom; returns (t, two-sided p)."""
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    n = len(d)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    return float(t), float(2 * stats.t.sf(abs(t), df=n - 1))


def check_paired_t(fn: Callable, a: EvalResult, b: EvalResult, metric: str = "NDCG@10") -> str:
    """Compare a reader's ``fn(x, y) -> (t, p)`` with :func:`dpgdiff_lite.evaluation.paired_test` per domain."""
    expected = paired_test(a, b, metric)
    lines = []
    for domain, row in expected.iterrows():
        x = a.per_case.loc[a.per_case["domain"] == domain, metric].to_numpy()
        y = b.per_case.loc[b.per_case["domain"] == domain, metric].to_numpy()
        got = fn(x, y)
        if not_attempted(got):
            return not_attempted_message("ablation.paired_t_by_hand")
        t, p = (float(v) for v in got)
        if not (math.isclose(t, row["t"], rel_tol=1e-6) and math.isclose(p, row["p"], rel_tol=1e-6, abs_tol=1e-12)):
            return f"mismatch in {domain}: got t = {t:.4f}, p = {p:.4g}; expected t = {row['t']:.4f}, p = {row['p']:.4g}"
        lines.append(f"{domain} t = {t:.2f}, p = {p:.3g}")
    return "correct: " + "; ".join(lines)


if __name__ == "__main__":
    main()

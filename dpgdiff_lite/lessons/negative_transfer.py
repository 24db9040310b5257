"""Lesson 02 — negative transfer: when reading the other domain makes a domain worse.

The paper's title claim (Challenge 2 of its Introduction): naively merging a user's domains lets
conflicting domain-specific preferences and ad-hoc noise leak across, and disentangled preference
guidance is said to overcome it. :mod:`dpgdiff_lite.experiments.transfer` defines the measurement,

    transfer_d = NDCG@10(SASRec on s_c) − NDCG@10(SASRec on s_d alone)   (``sasrec`` − ``sasrec-single``),

negative when below zero at p < 0.05 (paired over (seed, test case)). Everything
``02_negative_transfer.ipynb`` computes or draws beyond training lives here: its papermill
parameters, the precomputed regime grid (``notebooks/results/regimes/``, written by
``python -m dpgdiff_lite regimes``) and its heat maps, the two ceilings (oracle, history-only
Bayes), one conflicted user's timeline, the Table 3 variants on the most negative regime, the
conflict widget, the summary and the reference solution of the exercise.

The tables it reads are written by experiments (``notebooks/results/regimes/README.md``):
:mod:`dpgdiff_lite.experiments.regimes` (the grid, and the ablation on its most negative cell),
:mod:`~dpgdiff_lite.experiments.table3_paired` (``paired.csv``), :mod:`~dpgdiff_lite.experiments.shortfall`
(``shortfall.csv``, ``preference_own_teaching.csv``) and :mod:`~dpgdiff_lite.experiments.third_domain`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dpgdiff_lite.experiments import regimes, transfer as transfer_module
from dpgdiff_lite.experiments.table3_paired import ABLATION_ORDER
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.synthetic import SyntheticTruth
from dpgdiff_lite.data.synthetic import PRESETS as DATA_PRESETS
from dpgdiff_lite.lessons.common import MODEL_LABELS, figure, not_attempted, not_attempted_message
from dpgdiff_lite.parameters import CheckedParams, ParameterError, check_int, names, numbers
from dpgdiff_lite.recommender import Scorer
from dpgdiff_lite.trainer import load_run

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
LIVE_MODELS = ("sasrec", "sasrec-single")
"""The two models whose difference is the transfer, re-trained live in every live cell."""


def resolve(path: str | Path) -> Path:
    """A relative path from the working directory, or else from ``notebooks/`` (where the notebook runs)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return NOTEBOOKS_DIR / path


# --- parameters ------------------------------------------------------------------------------------
@dataclass
class TransferParams(CheckedParams):
    """Notebook 02's papermill parameters, checked at once (a bad value names itself).

    ``results``: the precomputed folder (``regimes.csv``, ``summary.csv``, ``ablation/``);
    ``output``: where the live runs go; the live re-run trains :data:`LIVE_MODELS` in the cells
    (opposed conflict at ``live_conflict_rates``, ad-hoc noise ``live_adhoc_noise``) and ``live_variants``
    on the ablation's cell, all with ``seed``; the widget trains on ``widget_users`` users of the
    tiny world for ``widget_epochs`` epochs, starting at ``widget_conflict``.
    """

    seed: int = 0
    results: str = "results/regimes"
    output: str = "runs/02_negative_transfer"
    live_conflict_rates: str | tuple[float, ...] = (0.0, 1.0)
    live_adhoc_noise: float = 0.1
    live_variants: str | tuple[str, ...] = ("diff",)
    widget_conflict: float = 1.0
    widget_users: int = 1000
    widget_epochs: int = 10
    resume: bool = True

    def check(self) -> None:
        check_int("seed", self.seed, 0)
        self.live_conflict_rates = numbers(self.live_conflict_rates, "live_conflict_rates", float)
        if len(self.live_conflict_rates) < 2 or not all(0 <= c <= 1 for c in self.live_conflict_rates):
            raise ValueError(f"live_conflict_rates must be two or more rates in [0, 1], got {self.live_conflict_rates}")
        self.live_conflict_rates = tuple(sorted(set(self.live_conflict_rates)))
        for name in ("live_adhoc_noise", "widget_conflict"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
            setattr(self, name, float(value))
        self.live_variants = names(self.live_variants, "live_variants")
        for name in self.live_variants:
            if name not in ABLATION_ORDER:
                raise ValueError(f"live_variants: {name!r} is not a Table 3 variant; "
                                 f"choose from {', '.join(ABLATION_ORDER)}")
        check_int("widget_users", self.widget_users, 100)
        check_int("widget_epochs", self.widget_epochs, 1)
        if not isinstance(self.resume, bool):
            raise ValueError(f"resume must be True or False, got {self.resume!r}")
        if not str(self.output).strip():
            raise ValueError("output: name a folder for the live runs")
        for file in ("regimes.csv", "summary.csv"):
            if not (self.results_path / file).exists():
                raise ValueError(f"results: {Path(self.results) / file} not found; write it with "
                                 f"python -m dpgdiff_lite regimes --out {self.results} (see its README.md)")

    @property
    def results_path(self) -> Path:
        return resolve(self.results)

    @property
    def committed(self) -> bool:
        """True with the committed run's live settings: the claims about the live models (the chosen user,
        the widget) are checked then, and only printed for other parameters (``common.checked``)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        live = ("seed", "live_conflict_rates", "live_adhoc_noise", "widget_conflict", "widget_users", "widget_epochs")
        return all(getattr(self, name) == defaults[name] for name in live)

    @property
    def output_path(self) -> Path:
        return Path(self.output)


# --- the precomputed grid --------------------------------------------------------------------------
@dataclass
class Precomputed:
    """A folder written by ``python -m dpgdiff_lite regimes``: its two CSVs and, when kept, ``grid.json``."""

    rows: pd.DataFrame  # regimes.csv: one row per cell × model × seed × domain
    summary: pd.DataFrame  # summary.csv: one row per cell × domain
    settings: dict  # grid.json (data preset, config preset, seeds, models), or the defaults
    folder: Path

    @property
    def knobs(self) -> list[str]:
        """The grid's knob columns (every column before ``domain`` of summary.csv)."""
        return list(self.summary.columns[:list(self.summary.columns).index("domain")])

    @property
    def seeds(self) -> list[int]:
        return sorted(self.rows["seed"].unique().tolist())

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.rows["model"]))

    def label(self) -> str:
        """One line naming what was run: cells, seeds, models, data and config presets."""
        cells = self.summary[self.knobs].drop_duplicates()
        return (f"{len(cells)} cells × {len(self.seeds)} seeds ({', '.join(map(str, self.seeds))}) × "
                f"{len(self.models)} models ({', '.join(self.models)}); data preset "
                f"{self.settings['data_preset']!r}, config preset {self.settings['preset']!r}")


DEFAULT_SETTINGS = {"data_preset": "transfer", "preset": "teaching", "overrides": [],
                    "bayes_samples": regimes.DEFAULT_BAYES_SAMPLES}
"""What ``python -m dpgdiff_lite regimes`` uses unless told otherwise (when ``grid.json`` is absent)."""


def load_precomputed(folder: str | Path) -> Precomputed:
    """The two CSVs of a regimes folder (and ``grid.json`` when present), checked for the columns used here."""
    folder = resolve(folder)
    rows, summary = pd.read_csv(folder / "regimes.csv"), pd.read_csv(folder / "summary.csv")
    missing = [c for c in ("model", "seed", "domain", "NDCG@10", "oracle_NDCG@10", "bayes_NDCG@10") if c not in rows]
    missing += [c for c in ("domain", "oracle", "bayes") if c not in summary]
    if missing:
        raise ValueError(f"{folder.name}: columns {', '.join(missing)} missing; was it written by "
                         f"python -m dpgdiff_lite regimes?")
    settings = dict(DEFAULT_SETTINGS)
    if (folder / "grid.json").exists():
        settings |= {k: v for k, v in json.loads((folder / "grid.json").read_text()).items() if k in settings}
    return Precomputed(rows, summary, settings, folder)


def world_line(data_preset: str) -> str:
    """The base world of a grid in one line: sizes, topics, taste concentration, persistence."""
    cfg = DATA_PRESETS[data_preset]
    return (f"data preset {data_preset!r}: {cfg.n_users} users, items {' / '.join(map(str, cfg.n_items))}, "
            f"{cfg.n_shared_topics} shared and {' / '.join(map(str, cfg.n_specific_topics))} specific topics, "
            f"topic concentration {cfg.topic_concentration}, persistence {cfg.persistence} "
            f"(the grid's knobs set the rest)")


def select(frame: pd.DataFrame, cell: dict) -> pd.DataFrame:
    """The rows of ``frame`` in ``cell`` (floats compared with a tolerance)."""
    mask = np.ones(len(frame), dtype=bool)
    for knob, value in cell.items():
        column = frame[knob]
        same = np.isclose(column.astype(float), float(value)) if isinstance(value, float) else column == value
        mask &= np.asarray(same)
    return frame[mask]


def describe_cell(cell: dict) -> str:
    """``conflict 1.0 (opposed), ad-hoc noise 0.1``: the varying knobs in words."""
    parts = []
    if "conflict_rate" in cell:
        kind = f" ({cell['conflict_kind']})" if "conflict_kind" in cell else ""
        parts.append(f"conflict {cell['conflict_rate']}{kind}")
    parts += [f"{k.replace('_rate', '').replace('adhoc_', 'ad-hoc ')} {v}" for k, v in cell.items() if k not in ("conflict_rate", "conflict_kind")]
    return ", ".join(parts)


# --- ceilings --------------------------------------------------------------------------------------
def ceiling_table(pre: Precomputed, models: tuple[str, ...] = ("sasrec", "sasrec-single", "dpgdiff")) -> pd.DataFrame:
    """Per cell and domain: oracle and Bayes NDCG@10, Bayes as a fraction of the oracle, and each model's
    NDCG@10 with its fractions of both ceilings (means over seeds)."""
    table = pre.summary[[*pre.knobs, "domain", "oracle", "bayes"]].copy()
    table["bayes / oracle"] = table["bayes"] / table["oracle"]
    for model in [m for m in models if m in pre.summary]:
        table[model] = pre.summary[model]
        table[f"{model} / oracle"] = pre.summary[model] / pre.summary["oracle"]
        table[f"{model} / bayes"] = pre.summary[model] / pre.summary["bayes"]
    varying = [k for k in pre.knobs if pre.summary[k].nunique() > 1]
    return table.drop(columns=[k for k in pre.knobs if k not in varying]).set_index([*varying, "domain"])


# --- the live re-run -------------------------------------------------------------------------------
def live_cells(pre: Precomputed, params: TransferParams) -> list[dict]:
    """The live cells: the precomputed grid's knobs, conflict and noise from ``params``, every other knob
    at its one precomputed value; a ParameterError when a cell or the seed is not precomputed."""
    cells = []
    for rate in params.live_conflict_rates:
        cell = {}
        for knob in pre.knobs:
            values = pre.summary[knob].unique().tolist()
            if knob == "conflict_rate":
                cell[knob] = rate
            elif knob == "adhoc_noise":
                cell[knob] = params.live_adhoc_noise
            elif knob == "conflict_kind" and "opposed" in values:
                cell[knob] = "opposed"
            elif len(values) == 1:
                cell[knob] = values[0].item() if hasattr(values[0], "item") else values[0]
            else:
                raise ParameterError(f"the precomputed grid varies {knob!r}; the live re-run cannot choose a value")
        if select(pre.summary, cell).empty:
            raise ParameterError(f"live_conflict_rates / live_adhoc_noise: cell {describe_cell(cell)} is not in the "
                                 f"precomputed grid ({pre.label()})")
        cells.append(cell)
    if params.seed not in pre.seeds:
        raise ParameterError(f"seed: {params.seed} was not precomputed (seeds {pre.seeds})")
    return cells


def run_live(cells: list[dict], models: tuple[str, ...], params: TransferParams,
             pre: Precomputed) -> regimes.GridResult:
    """:func:`dpgdiff_lite.experiments.regimes.run_grid` on ``cells`` with one seed and the precomputed grid's
    settings, into ``output/live`` (one folder for every live run, so a cell's oracle and Bayes
    evaluations are computed once)."""
    settings = pre.settings
    grid = {knob: tuple(dict.fromkeys(cell[knob] for cell in cells)) for knob in cells[0]}
    if len(regimes.grid_cells(grid)) != len(cells):
        raise ValueError("live cells must form a grid (vary one knob)")
    return regimes.run_grid(grid, [params.seed], params.output_path / "live", data_preset=settings["data_preset"],
                            preset_name=settings["preset"], overrides=settings["overrides"], models=models,
                            bayes_samples=settings["bayes_samples"], resume=params.resume, progress=False)


def live_folder(live: regimes.GridResult, cell: dict, seed: int) -> Path:
    """The per-case folder of one live cell and seed (``sasrec.csv.gz``, ``oracle.csv.gz``, …)."""
    return live.per_case_folder(cell, seed)


def live_world(pre: Precomputed, cell: dict, seed: int) -> tuple[CrossDomainDataset, SyntheticTruth]:
    """(dataset, truth) of one cell and seed: exactly the data its models were trained on."""
    return regimes.draw_cell(pre.settings["data_preset"], cell, seed)


def live_models(live: regimes.GridResult, cell: dict, seed: int, dataset: CrossDomainDataset,
                models: tuple[str, ...] = LIVE_MODELS) -> dict[str, Scorer]:
    """The trained live models of one cell and seed, reloaded from their run folders."""
    return {model: load_run(live.run_dir(cell, seed, model), dataset)[0] for model in models}


COMPARED = ("NDCG@10", "HR@10", "MRR@10", "oracle_NDCG@10", "bayes_NDCG@10", "epochs_run")


def compare_live(live: pd.DataFrame, pre: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    """Each live row beside the precomputed row of the same cell, model, seed and domain: the metrics and
    epochs of both and the largest absolute difference (0 when the runs are bit-identical)."""
    keys = [*knobs, "model", "seed", "domain"]
    merged = live[[*keys, *COMPARED]].merge(pre[[*keys, *COMPARED]], on=keys, how="left",
                                            suffixes=(" live", " precomputed"), indicator=True)
    if (merged["_merge"] != "both").any():
        missing = merged.loc[merged["_merge"] != "both", keys].to_dict("records")
        raise ValueError(f"live rows without a precomputed row: {missing}")
    merged["max |difference|"] = np.max([np.abs(merged[f"{c} live"] - merged[f"{c} precomputed"]) for c in COMPARED], 0)
    return merged.drop(columns="_merge")


# --- one conflicted user -----------------------------------------------------------------------------
QUANTITIES = {"transfer": "SASRec: mixed − single", "dpg_gain": "DPG-Diff − best of the two SASRecs"}


def regime_matrices(summary: pd.DataFrame, quantity: str, domain: str, conflict_kind: str | None = "opposed"):
    """(conflict rates, ad-hoc noise rates, mean, std, p, verdict) matrices (conflict × noise) of ``quantity``."""
    for knob in ("conflict_rate", "adhoc_noise"):
        if knob not in summary:
            raise ValueError(f"the regime map needs {knob!r} as a grid knob (give it one value at least)")
    rows = summary[summary["domain"] == domain]
    if conflict_kind is not None and "conflict_kind" in rows:
        rows = rows[rows["conflict_kind"] == conflict_kind]
    conflicts, noises = sorted(rows["conflict_rate"].unique()), sorted(rows["adhoc_noise"].unique())
    shape = (len(conflicts), len(noises))
    mean, std, p = (np.full(shape, np.nan) for _ in range(3))
    verdict = np.full(shape, "", dtype=object)
    for _, row in rows.iterrows():
        i, j = conflicts.index(row["conflict_rate"]), noises.index(row["adhoc_noise"])
        mean[i, j], std[i, j], p[i, j] = row[quantity], row[f"{quantity}_std"], row[f"{quantity}_p"]
        verdict[i, j] = row[f"{quantity}_verdict"]
    return conflicts, noises, mean, std, p, verdict


def _cell_text(mean: float, std: float, p: float, verdict: str) -> str:
    spread = "" if np.isnan(std) else f" ± {std:.2f}"
    return f"{mean:+.2f}{spread}<br>p = {p:.2g} ({verdict})"


def regime_map(pre: Precomputed, quantities: tuple[str, ...] = tuple(QUANTITIES)):
    """Heat maps over conflict rate × ad-hoc noise rate, one per quantity (rows) and domain (columns), diverging
    around 0: (plotly figure with mean ± std over seeds and p on hover, matplotlib figure with the same)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    domains = list(dict.fromkeys(pre.summary["domain"]))
    quantities = [q for q in quantities if q in pre.summary]
    cells = {(q, d): regime_matrices(pre.summary, q, d) for q in quantities for d in domains}
    limit = max(float(np.nanmax(np.abs(c[2]))) for c in cells.values()) or 1.0
    titles = [f"{QUANTITIES[q]}, domain {d}" for q in quantities for d in domains]
    plot = make_subplots(rows=len(quantities), cols=len(domains), subplot_titles=titles,
                         horizontal_spacing=0.12, vertical_spacing=0.2)
    fig = figure(4.2 * len(domains), 2.4 * len(quantities) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(quantities), len(domains), squeeze=False))
    n_seeds = len(pre.seeds)
    for (q, d), (conflicts, noises, mean, std, p, verdict) in cells.items():
        r, c = quantities.index(q), domains.index(d)
        text = [[_cell_text(mean[i, j], std[i, j], p[i, j], verdict[i, j]) for j in range(len(noises))]
                for i in range(len(conflicts))]
        plot.add_trace(go.Heatmap(
            z=[[None if np.isnan(v) else round(float(v), 3) for v in row] for row in mean],
            x=[f"η = {n:g}" for n in noises], y=[f"conflict {c_:g}" for c_ in conflicts],
            text=text, coloraxis="coloraxis",
            hovertemplate=f"%{{y}}, %{{x}}<br>{QUANTITIES[q]} ({d}), mean ± std over {n_seeds} seeds:<br>"
                          "%{text}<extra></extra>"), row=r + 1, col=c + 1)
        ax = axes[r, c]
        image = ax.imshow(mean, cmap="RdBu", vmin=-limit, vmax=limit, origin="lower", aspect="auto")
        for i in range(len(conflicts)):
            for j in range(len(noises)):
                star = "*" if verdict[i, j] in ("negative", "positive") else ""
                spread = "" if np.isnan(std[i, j]) else f"\n± {std[i, j]:.2f}"
                ax.text(j, i, f"{mean[i, j]:+.2f}{star}{spread}", ha="center", va="center", fontsize=8,
                        color="white" if abs(mean[i, j]) > 0.6 * limit else "black")
        ax.set_xticks(range(len(noises)), [f"{n:g}" for n in noises])
        ax.set_yticks(range(len(conflicts)), [f"{c_:g}" for c_ in conflicts])
        ax.set(xlabel="ad-hoc noise rate η", ylabel="opposed conflict rate", title=f"{QUANTITIES[q]} ({d})")
        ax.title.set_fontsize(9)
    fig.colorbar(image, ax=axes, label="Δ NDCG@10 (×100); * p < 0.05", shrink=0.8)
    plot.update_layout(coloraxis={"colorscale": "RdBu", "cmin": -limit, "cmax": limit,
                                  "colorbar": {"title": "Δ NDCG@10"}},
                       height=300 * len(quantities) + 60, width=380 * len(domains) + 120,
                       margin={"t": 60, "b": 40, "l": 40, "r": 40}, template="simple_white")
    return plot, fig


def describe_regimes(pre: Precomputed) -> list[str]:
    """Sentences read from the summary: the most negative cell, the verdicts of the transfer and of
    DPG-Diff's gain over the better SASRec, counted over cells and domains."""
    s = pre.summary
    worst = s.loc[s["transfer"].idxmin()]
    cell = {k: worst[k] for k in pre.knobs}
    lines = [f"most negative transfer: {worst['transfer']:+.2f} ± {worst['transfer_std']:.2f} in domain "
             f"{worst['domain']} at {describe_cell(cell)} (p = {worst['transfer_p']:.2g})"]
    for quantity in [q for q in QUANTITIES if q in s]:
        counts = s[f"{quantity}_verdict"].value_counts().reindex(transfer_module.VERDICTS, fill_value=0)
        lines.append(f"{QUANTITIES[quantity]}: " + ", ".join(f"{n} {v}" for v, n in counts.items())
                     + f" of {len(s)} cell-domains")
    return lines


# --- Table 3 on the most negative regime -------------------------------------------------------------
def load_ablation(folder: str | Path) -> tuple[Precomputed, pd.DataFrame]:
    """The precomputed ablation: its regimes folder (two CSVs) and ``paired.csv``."""
    folder = resolve(folder)
    if not (folder / "paired.csv").exists():
        raise FileNotFoundError(f"{folder.name}/paired.csv not found; write it with "
                                f"python -m dpgdiff_lite table3-paired --ablation {folder} --runs RUNS")
    return load_precomputed(folder), pd.read_csv(folder / "paired.csv")


def ablation_table(paired: pd.DataFrame) -> pd.DataFrame:
    """paired.csv as printed: one row per variant (paper order), per domain "mean ± std",
    Δ against the parent (p) and against the better SASRec (p)."""
    table = {}
    for (variant, domain), row in paired.set_index(["variant", "domain"]).iterrows():
        adds = row["adds"] if isinstance(row["adds"], str) and row["adds"] else "—"  # the base row adds nothing
        entry = table.setdefault(variant, {"adds": adds})
        entry[f"{domain} NDCG@10"] = f"{row['NDCG@10']:.2f} ± {row['std']:.2f}"
        entry[f"{domain} Δ parent (p)"] = ("" if np.isnan(row["vs parent"]) else
                                          f"{row['vs parent']:+.2f} ({row['vs parent p']:.2g})")
        entry[f"{domain} Δ best SASRec (p)"] = f"{row['vs best SASRec']:+.2f} ({row['vs best SASRec p']:.2g})"
    order = [v for v in ABLATION_ORDER if v in table]
    return pd.DataFrame.from_dict(table, orient="index").loc[order].rename_axis("variant")


def largest_step(paired: pd.DataFrame) -> tuple[str, str, float]:
    """(variant, component, mean Δ over domains) of the one-component step that adds the most NDCG@10."""
    steps = paired.dropna(subset=["vs parent"]).groupby(["variant", "adds"], sort=False)["vs parent"].mean()
    (variant, component), value = steps.idxmax(), steps.max()
    return variant, component, float(value)


def plot_ablation(paired: pd.DataFrame, baselines: pd.DataFrame) -> Figure:
    """Bars: each variant's NDCG@10 (mean ± std over seeds) per domain; lines: the two SASRecs there."""
    domains = list(dict.fromkeys(paired["domain"]))
    fig = figure(8, 3.1)
    axes = fig.subplots(1, len(domains), sharey=True)
    for ax, domain in zip(np.atleast_1d(axes), domains):
        rows = paired[paired["domain"] == domain].set_index("variant").loc[
            [v for v in ABLATION_ORDER if v in set(paired["variant"])]]
        ax.bar(range(len(rows)), rows["NDCG@10"], yerr=rows["std"], color=[f"C{i + 2}" for i in range(len(rows))],
               capsize=3)
        for model, style in zip(LIVE_MODELS, ("--", ":")):
            value = baselines.loc[(baselines["domain"] == domain) & (baselines["model"] == model), "NDCG@10"].mean()
            ax.axhline(value, color="black", linestyle=style, linewidth=1, label=MODEL_LABELS[model])
        ax.set_xticks(range(len(rows)), rows.index, rotation=30, fontsize=7, ha="right")
        ax.set(title=f"domain {domain}", ylabel="test NDCG@10 (×100)")
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=7)
    return fig


# --- exercise ----------------------------------------------------------------------------------------
def transfer_by_hand(mixed: pd.DataFrame, single: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Exercise (reference): per domain, the mean over test cases of mixed − single NDCG@10 and the
    two-sided paired t-test p, t = mean(d) / (sd(d) / √n) with n − 1 degrees of freedom (one seed)."""
    pairs = mixed[["case", "domain", "NDCG@10"]].merge(single[["case", "domain", "NDCG@10"]], on=["case", "domain"],
                                                       suffixes=("_mixed", "_single"))
    out = {}
    for domain, group in pairs.groupby("domain", sort=False):
        d = (group["NDCG@10_mixed"] - group["NDCG@10_single"]).to_numpy()
        t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
        out[domain] = (float(d.mean()), float(2 * stats.t.sf(abs(t), df=len(d) - 1)))
    return out


def check_transfer(fn: Callable, folder: str | Path) -> str:
    """Compare a reader's ``fn(mixed, single) -> {domain: (transfer, p)}`` on the per-case CSVs of
    ``folder`` with :func:`dpgdiff_lite.experiments.transfer.transfer`."""
    mixed, single = regimes.read_per_case(Path(folder), "sasrec"), regimes.read_per_case(Path(folder), "sasrec-single")
    got = fn(mixed, single)
    if not_attempted(got):
        return not_attempted_message("negative_transfer.transfer_by_hand")
    expected = transfer_module.transfer({0: mixed}, {0: single})
    lines = []
    for domain, row in expected.iterrows():
        if domain not in got:
            return f"no result for domain {domain}"
        value, p = (float(v) for v in got[domain])
        if not (math.isclose(value, row["transfer"], abs_tol=1e-9) and math.isclose(p, row["p"], rel_tol=1e-6,
                                                                                 abs_tol=1e-12)):
            return (f"mismatch in {domain}: got transfer {value:+.4f}, p = {p:.4g}; "
                    f"expected {row['transfer']:+.4f}, p = {row['p']:.4g}")
        lines.append(f"{domain} {value:+.2f} (p = {p:.2g})")
    return "correct: " + "; ".join(lines)


# --- summary -----------------------------------------------------------------------------------------
def summarize(pre: Precomputed, paired: pd.DataFrame | None, live_match: float, seconds: float) -> dict:
    """The numbers notebook 02 ends with (``summary.json``) and a one-line ``headline``."""
    worst = regimes.most_negative_cell(pre.summary)
    rows = select(pre.summary, worst).set_index("domain")
    summary = {"notebook": "02_negative_transfer", "precomputed": pre.label(), "most_negative_cell": worst,
               "transfer": rows["transfer"].round(3).to_dict(), "transfer_p": rows["transfer_p"].to_dict(),
               "live_max_abs_difference": live_match, "seconds": round(seconds, 1)}
    if "dpg_gain" in rows:
        summary |= {"dpg_gain": rows["dpg_gain"].round(3).to_dict(), "dpg_gain_p": rows["dpg_gain_p"].to_dict()}
    if paired is not None:
        summary["largest_step"] = dict(zip(("variant", "adds", "delta"), largest_step(paired)))
    moved = " / ".join(f"{d} {v:+.2f}" for d, v in summary["transfer"].items())
    gain = (" / ".join(f"{d} {v:+.2f}" for d, v in summary["dpg_gain"].items()) if "dpg_gain" in summary else "n/a")
    summary["headline"] = (f"most negative transfer at {describe_cell(worst)}: {moved}; "
                           f"DPG-Diff − best SASRec there: {gain}")
    return summary


# --- a third domain (the paper's open question 1) ---------------------------------------------------
def third_domain_figure(table: pd.DataFrame, all_name: str = "XYZ", kept_name: str = "XY") -> Figure:
    """``third_domain.csv`` as bars: per kept domain, each model's effect of the extra domain
    (NDCG@10 trained on ``all_name`` − on ``kept_name``) ± its std over seeds, with the paired p."""
    domains = list(dict.fromkeys(table["domain"]))
    fig = figure(4.2 * len(domains), 3.2)
    axes = fig.subplots(1, len(domains), sharey=True, squeeze=False)[0]
    for ax, domain in zip(axes, domains):
        rows = table[table["domain"] == domain]
        x = np.arange(len(rows))
        colours = ["tab:red" if v == "negative" else "tab:green" if v == "positive" else "0.6"
                   for v in rows["effect_verdict"]]
        ax.bar(x, rows["effect"], yerr=rows["effect_std"], color=colours, capsize=4)
        for i, (effect, p) in enumerate(zip(rows["effect"], rows["effect_p"])):
            ax.annotate(f"p={p:.2g}", (i, effect), textcoords="offset points", xytext=(0, 6 if effect >= 0 else -14),
                        ha="center", fontsize=8)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, rows["model"], rotation=15)
        ax.set_title(f"domain {domain}")
    axes[0].set_ylabel(f"NDCG@10: {all_name} − {kept_name}")
    fig.suptitle("what a third domain does (red: hurts, green: helps, grey: no significant change; ± std over seeds)",
                 fontsize=9)
    return fig


# --- where DPG-Diff falls short: eq. (15)'s parts and the own-domain preference ----------------------
def shortfall_view(table: pd.DataFrame) -> pd.DataFrame:
    """``shortfall.csv`` as read: one row per reading of eq. (15), per domain DPG-Diff's NDCG@10 and
    "gain ± std (p)" against the better SASRec."""
    rows = {}
    for (reading, domain), row in table.set_index(["dpgdiff", "domain"]).iterrows():
        entry = rows.setdefault(reading, {})
        entry[f"{domain} NDCG@10"] = round(float(row["ours"]), 2)
        entry[f"{domain} vs {row['best']}"] = f"{row['gain']:+.2f} ± {row['std']:.2f} (p={row['p']:.2g})"
    view = pd.DataFrame.from_dict(rows, orient="index").rename_axis("DPG-Diff")
    return view[sorted(view.columns, key=lambda c: (c.split()[0], "NDCG" not in c))]


def per_seed_gap(a: pd.DataFrame, b: pd.DataFrame, model: str = "dpgdiff", metric: str = "NDCG@10") -> pd.DataFrame:
    """Two ``per_seed.csv`` frames of the same seeds: ``model``'s ``metric`` in ``a`` minus in ``b``, one
    row per seed and a column per domain, then the mean and std rows."""
    def table(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[(frame["model"] == model) & (frame["metric"] == metric)]
        return rows.pivot(index="seed", columns="domain", values="value")

    gap = (table(a) - table(b)).dropna()
    return pd.concat([gap, gap.agg(["mean", "std"])])

"""A regimes folder read back: what ``python -m dpgdiff_lite regimes`` wrote (``regimes.csv``,
``summary.csv``, ``grid.json``) and ``table3-paired`` / ``shortfall`` added to its ablation, as the
tables notebook 02 prints (:mod:`dpgdiff_lite.lessons.negative_transfer` draws them), their summary in
words, and the live re-run of some of its cells at one seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.synthetic import PRESETS as DATA_PRESETS, SyntheticTruth
from dpgdiff_lite.experiments import regimes, transfer
from dpgdiff_lite.experiments.table3_paired import ABLATION_ORDER
from dpgdiff_lite.parameters import ParameterError
from dpgdiff_lite.recommender import Scorer
from dpgdiff_lite.trainer import load_run


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
    folder = Path(folder)
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



def load_ablation(folder: str | Path) -> tuple[Precomputed, pd.DataFrame]:
    """The precomputed ablation: its regimes folder (two CSVs) and ``paired.csv``."""
    folder = Path(folder)
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


def collapse_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per regime cell and domain (``results/regimes/summary.csv``): test NDCG@10 of popularity, ``diff``,
    the mixed SASRec and DPG-Diff, means over seeds, and ``diff`` minus popularity and minus SASRec."""
    table = summary.set_index(["conflict_rate", "adhoc_noise", "domain"])[["pop", "diff", "sasrec", "dpgdiff"]].copy()
    table["diff − pop"] = table["diff"] - table["pop"]
    table["diff − sasrec"] = table["diff"] - table["sasrec"]
    return table


# --- the summary in words -------------------------------------------------------------------------
QUANTITIES = {"transfer": "SASRec: mixed − single", "dpg_gain": "DPG-Diff − best of the two SASRecs"}
"""The summary's two effects by column: the transfer (:mod:`dpgdiff_lite.experiments.transfer`) and DPG-Diff's
gain over the better SASRec."""


def describe_regimes(pre: Precomputed) -> list[str]:
    """Sentences read from the summary: the most negative cell, the verdicts of the transfer and of
    DPG-Diff's gain over the better SASRec, counted over cells and domains."""
    s = pre.summary
    worst = s.loc[s["transfer"].idxmin()]
    cell = {k: worst[k] for k in pre.knobs}
    lines = [f"most negative transfer: {worst['transfer']:+.2f} ± {worst['transfer_std']:.2f} in domain "
             f"{worst['domain']} at {describe_cell(cell)} (p = {worst['transfer_p']:.2g})"]
    for quantity in [q for q in QUANTITIES if q in s]:
        counts = s[f"{quantity}_verdict"].value_counts().reindex(transfer.VERDICTS, fill_value=0)
        lines.append(f"{QUANTITIES[quantity]}: " + ", ".join(f"{n} {v}" for v, n in counts.items())
                     + f" of {len(s)} cell-domains")
    return lines


# --- a live re-run of part of the grid, one seed --------------------------------------------------
LIVE_MODELS = ("sasrec", "sasrec-single")
"""The two models whose difference is the transfer, re-trained live in every live cell."""


def live_cells(pre: Precomputed, conflict_rates: tuple[float, ...], adhoc_noise: float, seed: int) -> list[dict]:
    """The live cells: the precomputed grid's knobs, conflict and noise as given, every other knob
    at its one precomputed value; a ParameterError when a cell or the seed is not precomputed."""
    cells = []
    for rate in conflict_rates:
        cell = {}
        for knob in pre.knobs:
            values = pre.summary[knob].unique().tolist()
            if knob == "conflict_rate":
                cell[knob] = rate
            elif knob == "adhoc_noise":
                cell[knob] = adhoc_noise
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
    if seed not in pre.seeds:
        raise ParameterError(f"seed: {seed} was not precomputed (seeds {pre.seeds})")
    return cells


def run_live(pre: Precomputed, cells: list[dict], models: tuple[str, ...], seed: int, output: Path,
             resume: bool = True) -> regimes.GridResult:
    """:func:`dpgdiff_lite.experiments.regimes.run_grid` on ``cells`` with one seed and the precomputed grid's
    settings, into ``output/live`` (one folder for every live run, so a cell's oracle and Bayes
    evaluations are computed once)."""
    settings = pre.settings
    grid = {knob: tuple(dict.fromkeys(cell[knob] for cell in cells)) for knob in cells[0]}
    if len(regimes.grid_cells(grid)) != len(cells):
        raise ValueError("live cells must form a grid (vary one knob)")
    return regimes.run_grid(grid, [seed], Path(output) / "live", data_preset=settings["data_preset"],
                            preset_name=settings["preset"], overrides=settings["overrides"], models=models,
                            bayes_samples=settings["bayes_samples"], resume=resume, progress=False)


def live_world(pre: Precomputed, cell: dict, seed: int) -> tuple[CrossDomainDataset, SyntheticTruth]:
    """(dataset, truth) of one cell and seed: exactly the data its models were trained on."""
    return regimes.draw_cell(pre.settings["data_preset"], cell, seed)


def live_models(live: regimes.GridResult, cell: dict, seed: int, dataset: CrossDomainDataset,
                models: tuple[str, ...] = LIVE_MODELS) -> dict[str, Scorer]:
    """The trained live models of one cell and seed, reloaded from their run folders."""
    return {model: load_run(live.run_dir(cell, seed, model), dataset)[0] for model in models}

"""Figure 3 (RQ3: retention under test-time noise), Figure 4 (RQ4: NDCG@10 and scoring time against the
number of reverse steps k) and the question the paper leaves open, noise in the training sequences:
notebook 07's experiments over models × seeds (``python -m dpgdiff_lite robustness``).

The clean runs train through :func:`dpgdiff_lite.experiments.runner.train_seeds` into
``RUNS/<model>/seed<k>/``, the noisy-trained twins through :func:`~dpgdiff_lite.experiments.runner.train_runs`
into ``RUNS/<model>-train-noise<r>/seed<k>/``. The test-time noise is the same for every model and seed
(``noise_seed``); paired tests pair by seed (retention) or by (seed, case) (training noise).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.data.augment import align_noisy, inject_noise, inject_noise_split
from dpgdiff_lite.data.dataset import PAD, CrossDomainDataset, EvalSplit, case_batch
from dpgdiff_lite.data.sources import DataSource, with_options
from dpgdiff_lite.data.synthetic import SyntheticTruth
from dpgdiff_lite.evaluation import paired_difference, paired_p, rank_among_all
from dpgdiff_lite.experiments.compare import Setting, seed_arguments, seed_setting
from dpgdiff_lite.experiments.eq15 import ndcg_row
from dpgdiff_lite.experiments.runner import Run, train_runs, train_seeds
from dpgdiff_lite.experiments.tables import write_precomputed
from dpgdiff_lite.trainer import TrainResult, run_evaluation

Seeded = Mapping[str, Mapping[int, TrainResult]]
"""``{model: {seed: result}}``, as :func:`~dpgdiff_lite.experiments.runner.train_seeds` returns it."""

DEFAULT_MODELS = ("dpgdiff", "sasrec", "diff")
DEFAULT_TEST_NOISES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


@dataclass(frozen=True)
class NoiseGrid:
    """Notebook 07's settings beyond the models and seeds: the test-time noise rates of Figure 3
    (``test_noises``, from 0), the k of Figure 4 (empty: 1, 2, 5, 10, 20, T), the seed of every injected
    noise, and the training-noise rate (``train_noise``) with the models trained again on noisy sequences."""

    test_noises: tuple[float, ...] = DEFAULT_TEST_NOISES
    steps: tuple[int, ...] = ()
    noise_seed: int = 0
    train_noise: float = 0.2
    train_noise_models: tuple[str, ...] = ("dpgdiff", "sasrec")

    def step_counts(self, T: int) -> tuple[int, ...]:
        """The k of Figure 4: ``steps``, or (1, 2, 5, 10, 20, T)."""
        return tuple(sorted(set(self.steps or [k for k in (1, 2, 5, 10, 20) if k < T] + [T])))

    def record(self) -> dict:
        """The grid as ``setting.json`` records it, after the setting and the seeds."""
        return {"test_noises": list(self.test_noises), "steps": list(self.steps), "noise_seed": self.noise_seed,
                "train_noise": self.train_noise, "train_noise_models": list(self.train_noise_models)}


def over_seeds(trained: Seeded, curve_of: Callable[[dict[str, TrainResult]], pd.DataFrame]) -> pd.DataFrame:
    """``curve_of`` (a function of ``{model: result}``) for every seed, with a ``seed`` column after ``model``."""
    seeds = list(next(iter(trained.values())))
    frames = []
    for seed in seeds:
        frame = curve_of({name: runs[seed] for name, runs in trained.items()})
        frame.insert(1, "seed", seed)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def mean_and_std(curve: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, std (ddof 1; 0 with a single seed) and number of seeds of ``value`` per ``by`` group."""
    grouped = curve.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def clean_ndcg_frame(trained: Seeded) -> pd.DataFrame:
    """Clean test NDCG@10 per model, seed and domain, with the epochs each run trained (``per_seed.csv``)."""
    return pd.DataFrame([{"model": name, "seed": s, "domain": d, "NDCG@10": v, "epochs_run": r.epochs_run}
                         for name, runs in trained.items() for s, r in runs.items()
                         for d, v in r.test.table["NDCG@10"].items()])


# --- Figure 3: test-time noise (RQ3) ----------------------------------------------------------
def noisy_histories(dataset: CrossDomainDataset, rate: float, seed: int = 0) -> list[np.ndarray]:
    """The test histories with ``rate`` noisy events (half substituted, half inserted), seeded."""
    return inject_noise_split(dataset.test.histories, rate, dataset.offsets, seed=seed)


def robustness_curve(trained: dict[str, TrainResult], dataset: CrossDomainDataset,
                     rates: tuple[float, ...] = DEFAULT_TEST_NOISES, seed: int = 0) -> pd.DataFrame:
    """Test NDCG@10 of every model under test-time noise, and its retention relative to noise 0.

    Every model sees the same noisy histories at a rate. Columns: model, test_noise, domain,
    NDCG@10, retention.
    """
    if 0.0 not in rates:
        raise ValueError(f"rates must include 0 (retention is relative to the clean score), got {rates}")
    rows = []
    for rate in rates:
        histories = noisy_histories(dataset, rate, seed)  # rate 0 returns the histories unchanged
        for name, result in trained.items():
            scores = run_evaluation(result.model, dataset, result.config, "test", histories=histories)
            rows += [{"model": name, "test_noise": rate, "domain": d, "NDCG@10": v}
                     for d, v in scores.table["NDCG@10"].items()]
    curve = pd.DataFrame(rows)
    clean = curve[curve["test_noise"] == 0.0].set_index(["model", "domain"])["NDCG@10"]
    curve["retention"] = curve["NDCG@10"] / clean.loc[list(zip(curve["model"], curve["domain"]))].to_numpy()
    return curve


def robustness_curves(trained: Seeded, dataset: CrossDomainDataset, rates: tuple[float, ...] = DEFAULT_TEST_NOISES,
                      seed: int = 0) -> pd.DataFrame:
    """:func:`robustness_curve` for every model seed (the same noisy histories for all): columns model,
    seed, test_noise, domain, NDCG@10, retention."""
    return over_seeds(trained, lambda runs: robustness_curve(runs, dataset, rates, seed))


def retention_table(curve: pd.DataFrame, rate: float | None = None) -> pd.DataFrame:
    """Retention at ``rate`` (default: the largest) per model and domain: mean, std and seeds."""
    rate = curve["test_noise"].max() if rate is None else rate
    return mean_and_std(curve[np.isclose(curve["test_noise"], rate)], ["model", "domain"], "retention")


def retention_test(curve: pd.DataFrame, ours: str, other: str, rate: float | None = None) -> pd.DataFrame:
    """Per domain: retention of ``ours`` minus ``other`` at ``rate`` (default: the largest), mean and
    std over seeds, and the paired t-test over seeds (each seed one pair; NaN p below two seeds)."""
    rate = curve["test_noise"].max() if rate is None else rate
    at = curve[np.isclose(curve["test_noise"], rate)]
    rows = []
    for domain in dict.fromkeys(at["domain"]):
        a = at[(at["model"] == ours) & (at["domain"] == domain)].set_index("seed")["retention"]
        b = at[(at["model"] == other) & (at["domain"] == domain)].set_index("seed")["retention"].loc[a.index]
        diff = a - b
        p = paired_p(diff.to_numpy())  # each seed one pair
        rows.append({"domain": domain, "ours": ours, "other": other, "test_noise": rate, "retention ours": a.mean(),
                     "retention other": b.mean(), "diff": diff.mean(),
                     "std": diff.std(ddof=1) if len(a) > 1 else float("nan"), "p": p, "n_seeds": len(a)})
    return pd.DataFrame(rows)



# --- Figure 4: inference steps (RQ4) ----------------------------------------------------------
def step_curve(trained: dict[str, TrainResult], dataset: CrossDomainDataset, steps: tuple[int, ...],
               split: str = "test") -> pd.DataFrame:
    """NDCG@10 on ``split`` and scoring time with k reverse steps (eq. 15), for each diffusion model.

    Columns: model, steps, domain, NDCG@10, seconds (wall time to score the whole split).
    """
    rows = []
    for name, result in trained.items():
        if result.config.model not in VARIANT_FLAGS:
            continue  # SASRec and popularity have no reverse process
        for k in steps:
            if not 1 <= k <= result.config.T:
                raise ValueError(f"steps must be in 1..T={result.config.T}, got {k}")
            started = time.perf_counter()
            scores = run_evaluation(result.model, dataset, result.config, split, steps=k)
            seconds = time.perf_counter() - started
            rows += [{"model": name, "steps": k, "domain": d, "NDCG@10": v, "seconds": seconds}
                     for d, v in scores.table["NDCG@10"].items()]
    return pd.DataFrame(rows, columns=["model", "steps", "domain", "NDCG@10", "seconds"])


def step_curves(trained: Seeded, dataset: CrossDomainDataset, steps: tuple[int, ...],
                split: str = "test") -> pd.DataFrame:
    """:func:`step_curve` for every model seed: columns model, seed, steps, domain, NDCG@10, seconds."""
    return over_seeds(trained, lambda runs: step_curve(runs, dataset, steps, split))


def steps_table(result: TrainResult, dataset: CrossDomainDataset, steps: tuple[int, ...],
                split: str = "valid") -> pd.DataFrame:
    """:func:`step_curve` of one model as NDCG@10 (×100) per domain and their mean, one row per k."""
    curve = step_curve({result.config.model: result}, dataset, steps, split)
    ndcg = curve.pivot(index="steps", columns="domain", values="NDCG@10")[list(dataset.domain_names)]
    return pd.DataFrame.from_dict({k: ndcg_row(row) for k, row in ndcg.iterrows()}, orient="index").rename_axis("k")


def best_steps(curve: pd.DataFrame) -> pd.DataFrame:
    """Per model (and seed, when the curve has one): the k with the highest NDCG@10 (mean of domains)."""
    by = ["model", "seed"] if "seed" in curve else ["model"]
    mean = curve.groupby(by + ["steps"], sort=False)["NDCG@10"].mean().reset_index()
    return mean.loc[mean.groupby(by, sort=False)["NDCG@10"].idxmax()].rename(
        columns={"steps": "best k", "NDCG@10": "NDCG@10 at best k"}).reset_index(drop=True)




# --- the open question: noise in the training sequences ---------------------------------------
# --- test-time noise on one user (Figure 3, one case at a time) ----------------------------------------
@dataclass
class NoisyRanking:
    """One user's history corrupted at ``rate`` and the eq. (15) ranking it produces."""

    rate: float
    history: np.ndarray  # the clean history (global ids)
    noisy: np.ndarray  # after inject_noise
    labels: np.ndarray  # (len(noisy),) planted label of each kept event, PAD for an injected one
    target: int  # global id
    rank: int  # of the target among all items of its domain (pessimistic ties)
    n_items: int
    top: pd.DataFrame  # the top 10: rank, item, topic, score, target
    clean_topics: set[int]  # planted topics of the kept events
    noise_topics: set[int]  # planted topics only the injected events bring

    @property
    def injected(self) -> np.ndarray:
        """(len(noisy),) True where inject_noise substituted or inserted the event."""
        return self.labels == PAD


@torch.no_grad()
def noisy_ranking(model, dataset: CrossDomainDataset, truth: SyntheticTruth, case: int, rate: float,
                  seed: int = 0, split: str = "test") -> NoisyRanking:
    """Corrupt case ``case``'s history with :func:`inject_noise` at ``rate`` (fixed ``seed``, so the
    same uniforms decide each event at every rate and the corruption grows with it) and rank with eq. (15)."""
    cases: EvalSplit = getattr(dataset, split)
    history = cases.histories[case]
    noisy = inject_noise(history, rate, dataset.offsets, np.random.default_rng(seed))
    batch = case_batch(dataset, [case], split, histories=[noisy])
    domain, target = int(batch.target_domains[0, -1]), int(batch.target_local[0, -1])
    scores = model.score(batch.to(model.device), domain)[0].float().cpu()  # (n_items[domain],)
    top = scores.topk(10).indices.numpy()
    offset = int(dataset.offsets[domain])
    table = pd.DataFrame({"rank": np.arange(1, 11), "item": top + offset,
                          "topic": [truth.topic_name(int(i) + offset) for i in top],
                          "score": scores[top].numpy(), "target": top == target})
    source = align_noisy(history, noisy)
    labels = np.where(source == PAD, PAD, getattr(truth, f"{split}_labels").histories[case][np.maximum(source, 0)])
    clean = set(truth.item_topic[noisy[source != PAD]].tolist())
    return NoisyRanking(rate, history, noisy, labels, int(cases.targets[case]), rank_among_all(scores, target),
                        len(scores), table, clean, set(truth.item_topic[noisy[source == PAD]].tolist()) - clean)


def noise_summary(model, dataset: CrossDomainDataset, truth: SyntheticTruth, case: int, rates: tuple[float, ...],
                  seed: int = 0) -> pd.DataFrame:
    """:func:`noisy_ranking` at each rate, as numbers: events injected, the target's rank, and how many
    top-10 places hold a topic that only injected events brought in."""
    rows = {}
    for rate in rates:
        result = noisy_ranking(model, dataset, truth, case, rate, seed)
        topics = truth.item_topic[result.top["item"].to_numpy()]
        rows[rate] = {"injected": int(result.injected.sum()), "events": len(result.noisy), "target rank": result.rank,
                      "top-10 places of injected-only topics": int(np.isin(topics, list(result.noise_topics)).sum())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("noise rate r")


def train_noise_seeds(source: DataSource, setting: Setting, grid: NoiseGrid, clean: Seeded,
                      out_dir: str | Path | None = None, resume: bool = True,
                      progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train ``grid.train_noise_models`` again on training sequences with ``grid.train_noise`` noise,
    with every seed of ``clean`` (``{model: {seed: clean-trained result}}``), each model's config from
    ``setting``; evaluate both twins on clean test histories and on test histories with the same noise
    rate. The twins are ordinary runs on the data spec ``setting.data[train_noise=r,train_noise_seed=s]``
    (:func:`dpgdiff_lite.data.sources.with_options`, ``s`` = ``grid.noise_seed``). One seed trains into
    ``out_dir/<model>-train-noise<r>/``, several into ``…/seed<k>/``.

    Returns (frame: model, seed, trained_on, domain, clean test, noisy test;
    tests: per model, test and domain, noisy-trained minus clean-trained NDCG@10 paired over
    (seed, case) — :func:`dpgdiff_lite.evaluation.paired_difference`; the noisy-trained runs).
    """
    dataset, rate, noise_seed = source.dataset, grid.train_noise, grid.noise_seed
    spec = with_options(setting.data, train_noise=rate, train_noise_seed=noise_seed)
    out = Path(out_dir) if out_dir is not None else None

    def run_dir(name: str, seed: int, seeds: list[int]) -> Path | None:
        folder = out / f"{name}-train-noise{round(100 * rate)}" if out else None
        return folder / f"seed{seed}" if folder is not None and len(seeds) > 1 else folder

    runs = [Run(setting.config(name, s), spec, run_dir(name, s, list(clean[name])), f"{name} noisy seed{s}")
            for name in grid.train_noise_models for s in clean[name]]
    results = iter(train_runs(runs, resume=resume, progress=progress, desc="noisy training"))
    label = f"noisy {rate:.0%}"
    tests = {"clean test": None, f"test {label}": noisy_histories(dataset, rate, noise_seed)}
    rows, test_rows, noisy_runs = [], [], {}
    for name in grid.train_noise_models:
        noisy_runs[name] = {s: next(results) for s in clean[name]}
        scored: dict[tuple[str, str], dict] = {}
        for s in clean[name]:
            for trained_on, result in (("clean", clean[name][s]), (label, noisy_runs[name][s])):
                for test, histories in tests.items():
                    scored.setdefault((trained_on, test), {})[s] = run_evaluation(
                        result.model, dataset, result.config, "test", histories=histories)
                rows += [{"model": name, "seed": s, "trained_on": trained_on, "domain": d,
                          **{test: float(scored[trained_on, test][s].table.loc[d, "NDCG@10"]) for test in tests}}
                         for d in dataset.domain_names]
        for test in tests:
            diff = paired_difference(scored[label, test], scored["clean", test], names=(label, "clean"))
            test_rows += [{"model": name, "test": test, "domain": d, "clean-trained": row["mean_b"],
                           "noisy-trained": row["mean_a"], "diff": row["diff"], "std": row["std"], "p": row["p"],
                           "n_seeds": int(row["n_seeds"])} for d, row in diff.iterrows()]
    return pd.DataFrame(rows), pd.DataFrame(test_rows), noisy_runs


def describe_train_noise_tests(tests: pd.DataFrame, alpha: float = 0.05) -> str:
    """One sentence per model, test and domain of :func:`train_noise_seeds`' tests: the change noisy
    training made, in points and per cent, its std over seeds and the paired p."""
    lines = []
    for _, row in tests.iterrows():
        verdict = "significant" if row["p"] < alpha else "not significant"
        lines.append(f"{row['model']} {row['domain']}, {row['test']}: noisy-trained {row['noisy-trained']:.2f} vs "
                     f"clean-trained {row['clean-trained']:.2f} ({row['diff']:+.2f}, "
                     f"{100 * row['diff'] / row['clean-trained']:+.0f}%, std {row['std']:.2f} over "
                     f"{row['n_seeds']} seeds; paired p = {row['p']:.2g}, {verdict} at {alpha:.0%})")
    return "\n".join(lines)


def train_noise_experiment(source: DataSource, setting: Setting, grid: NoiseGrid, clean: dict[str, TrainResult],
                           seed: int = 0, out_dir: str | Path | None = None,
                           resume: bool = True) -> tuple[pd.DataFrame, dict[str, TrainResult]]:
    """:func:`train_noise_seeds` for one ``seed`` of ``clean`` (``{model: result}`` trained with it).

    Returns (frame with columns model, trained_on, domain, clean test, noisy test; the noisy-trained runs).
    """
    frame, _, runs = train_noise_seeds(source, setting, grid, {name: {seed: clean[name]} for name in clean},
                                       out_dir, resume)
    return frame.drop(columns="seed"), {name: by_seed[seed] for name, by_seed in runs.items()}


# --- the precomputed results ------------------------------------------------------------------------
def seed_frames(source: DataSource, setting: Setting, grid: NoiseGrid, trained: Seeded,
                out_dir: str | Path | None = None, resume: bool = True,
                progress: bool = False) -> dict[str, pd.DataFrame]:
    """Every table of notebook 07's results folder, from the clean-trained runs of every seed:
    ``per_seed`` (clean test NDCG@10), ``robustness`` (Figure 3), ``retention_test`` (DPG-Diff
    against the other models at the largest rate), ``steps`` (Figure 4), ``train_noise`` and
    ``train_noise_tests`` (which trains the noisy twins into ``out_dir``)."""
    dataset = source.dataset
    curve = robustness_curves(trained, dataset, grid.test_noises, grid.noise_seed)
    T = max((runs[next(iter(runs))].config.T for runs in trained.values()
             if next(iter(runs.values())).config.model in VARIANT_FLAGS), default=32)
    frames = {"per_seed": clean_ndcg_frame(trained), "robustness": curve,
              "steps": step_curves(trained, dataset, grid.step_counts(T))}
    if "dpgdiff" in trained:
        frames["retention_test"] = pd.concat([retention_test(curve, "dpgdiff", other)
                                              for other in trained if other != "dpgdiff"], ignore_index=True)
    frames["train_noise"], frames["train_noise_tests"], _ = train_noise_seeds(source, setting, grid, trained, out_dir,
                                                                              resume, progress)
    return frames


def precompute(setting: Setting, grid: NoiseGrid, seeds: Sequence[int], runs_dir: str | Path, out_dir: str | Path,
               resume: bool = True, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Train every model of ``setting`` with every seed into ``runs_dir`` and write :func:`seed_frames`
    and ``setting.json`` (the setting, the seeds, the grid, the seconds) into ``out_dir``."""
    _check(setting, grid)
    started = time.perf_counter()
    source = setting.load()
    trained = train_seeds(source, setting.configs(), seeds, runs_dir, setting.data, resume=resume, progress=progress)
    frames = seed_frames(source, setting, grid, trained, runs_dir, resume, progress)
    write_precomputed(frames, {**setting.record(), "seeds": list(seeds), **grid.record()},
                      time.perf_counter() - started, out_dir)
    return frames


def _check(setting: Setting, grid: NoiseGrid) -> None:
    for name in grid.train_noise_models:
        if name not in setting.models:
            raise ValueError(f"train-noise model {name!r} is not among the models ({', '.join(setting.models)}); "
                             "its clean-trained twin is needed")


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite robustness``."""
    return seed_arguments(parser, DEFAULT_MODELS)


def command(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """Figures 3 and 4 and the training-noise experiment over seeds, written to ``--out``."""
    setting, seeds = seed_setting(args)
    started = time.perf_counter()
    frames = precompute(setting, NoiseGrid(), seeds, args.runs, args.out, resume=not args.fresh,
                        progress=not args.quiet)
    print(f"wrote {', '.join(sorted(frames))} to {args.out} in {time.perf_counter() - started:.0f} s")
    return frames

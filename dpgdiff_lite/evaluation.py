"""The one evaluation every model goes through, the paired significance test, and Table 1.

Section "Experimental Settings": each test case ranks its target against 999 negatives drawn
uniformly from the target's own domain (Krichene and Rendle 2020), reported as MRR@10, NDCG@5,10
and HR@5,10 (×100) per domain. A scorer is any :class:`dpgdiff_lite.recommender.Scorer`:
``score(batch, domain, steps=None) -> (batch, n_items[domain])`` scores for the last position of
each row, on batches moved to ``scorer.device``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, Batch, CrossDomainDataset, EvalSplit, make_batch, pad_eval
from dpgdiff_lite.recommender import Scorer

METRICS = ("MRR@10", "NDCG@5", "NDCG@10", "HR@5", "HR@10")
SPLITS = ("valid", "test")
PROTOCOLS = ("sampled", "full")
TIES = ("pessimistic", "c2dsr")
PAIRING_UNITS = ("case", "seed")
"""What :func:`paired_difference` pairs: every (seed, test case), or the per-seed mean differences."""
C2DSR_MARGIN = 1e-5
"""C2DSR's trainer counts a negative above the target only when it beats it by more than this."""


@dataclass
class EvalResult:
    """Metrics (×100) per domain and per case, with the settings that produced them."""

    table: pd.DataFrame  # index: domain names, columns: METRICS
    per_case: pd.DataFrame  # columns: case, domain, rank, *METRICS
    split: str
    protocol: str
    dataset_protocol: str

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{"X": {"MRR@10": …}, "Y": {…}}`` keyed by domain letter in domain order (metrics.json)."""
        return {
            DOMAIN_LETTERS[i]: {m: float(row[m]) for m in self.table.columns}
            for i, (_, row) in enumerate(self.table.iterrows())
        }


def sample_negatives(
    targets: np.ndarray, n_items: int, n_negatives: int, rng: np.random.Generator, replace: bool = False
) -> np.ndarray:
    """(cases, n_negatives) local ids drawn uniformly from ``0 … n_items-1`` minus each case's target.

    Without replacement, sparse draws redraw duplicates until none are left (a label-symmetric
    procedure, so every subset is equally likely); dense draws keep the smallest random keys.
    """
    targets = np.asarray(targets, dtype=np.int64)
    if n_negatives <= 0 or (not replace and n_negatives > n_items - 1) or n_items < 2:
        raise ValueError(
            f"n_negatives must be in 1…{n_items - 1} (the domain's other items) without replacement, "
            f"got n_negatives={n_negatives} for a domain of {n_items} items"
        )
    others = n_items - 1  # draw among the other items, then step over the target
    if replace or 2 * n_negatives <= others:
        draws = rng.integers(0, others, size=(len(targets), n_negatives))
        while not replace:
            draws.sort(axis=1)
            rows, cols = np.nonzero(draws[:, 1:] == draws[:, :-1])
            if not len(rows):
                break
            draws[rows, cols + 1] = rng.integers(0, others, size=len(rows))
    else:
        chunk = max(1, 2**22 // others)  # keep the (chunk, others) key matrix near 32 MB
        keys = (rng.random((len(targets[s:s + chunk]), others)) for s in range(0, max(len(targets), 1), chunk))
        draws = np.concatenate([np.argpartition(k, n_negatives - 1, axis=1)[:, :n_negatives] for k in keys])
    return draws + (draws >= targets[:, None])


def _ranks(scores: Tensor, target: Tensor, negatives: Tensor | None, ties: str) -> Tensor:
    """1-based rank of each row's target among its negatives (or every item when ``negatives`` is None)."""
    t = scores.gather(1, target[:, None])  # (batch, 1)
    others = scores if negatives is None else scores.gather(1, negatives)  # (batch, candidates)
    if ties == "c2dsr":
        return (others > t + C2DSR_MARGIN).sum(1) + 1
    # pessimistic: every other candidate scoring >= the target ranks above it (the full row counts the target itself)
    return (others >= t).sum(1) + (0 if negatives is None else 1)


def rank_among_all(scores: Tensor, target: int) -> int:
    """1-based rank of ``target`` among all the items ``scores`` (n_items,) covers, ties counted against it."""
    return int(_ranks(scores[None], torch.tensor([target], device=scores.device), None, "pessimistic")[0])


def _metrics(ranks: np.ndarray, ties: str) -> dict[str, np.ndarray]:
    """Per-case metrics ×100 from 1-based ranks; MRR is uncapped under the C2DSR convention."""
    r = ranks.astype(np.float64)
    ndcg = 1.0 / np.log2(r + 1.0)
    return {
        "MRR@10": 100.0 / r if ties == "c2dsr" else np.where(r <= 10, 100.0 / r, 0.0),
        "NDCG@5": np.where(r <= 5, 100.0 * ndcg, 0.0),
        "NDCG@10": np.where(r <= 10, 100.0 * ndcg, 0.0),
        "HR@5": 100.0 * (r <= 5),
        "HR@10": 100.0 * (r <= 10),
    }


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def evaluate(
    scorer: Scorer,
    dataset: CrossDomainDataset,
    split: str = "test",
    protocol: str = "sampled",
    n_negatives: int = 999,
    seed: int = 0,
    ties: str = "pessimistic",
    batch_size: int = 512,
    histories: list[np.ndarray] | None = None,
    steps: int | None = None,
) -> EvalResult:
    """Rank every case's target with ``scorer`` and report Table 1's metrics per target domain.

    ``sampled`` draws ``n_negatives`` negatives per case from the target's domain with a Generator
    seeded by (seed, domain) — identical for every model; ``full`` ranks against the whole domain.
    ``ties="c2dsr"`` reproduces the C2DSR code (negatives with replacement, a 1e-5 tie margin in the
    target's favour, uncapped MRR). ``histories`` replaces the split's histories (e.g. noisy ones);
    ``steps`` is the number of reverse diffusion steps k handed to ``scorer.score``.

    Implements eq. (7).
    """
    return evaluate_variants(scorer, dataset, [lambda scores, batch, domain: scores], split, protocol,
                             n_negatives, seed, ties, batch_size, histories, steps)[0]


Variant = Callable[[Tensor, Batch, int], Tensor]
"""Turns what ``scorer.score(batch, domain)`` returned into (batch, n_items[domain]) scores."""


def evaluate_variants(
    scorer: Scorer,
    dataset: CrossDomainDataset,
    variants: Sequence[Variant],
    split: str = "test",
    protocol: str = "sampled",
    n_negatives: int = 999,
    seed: int = 0,
    ties: str = "pessimistic",
    batch_size: int = 512,
    histories: list[np.ndarray] | None = None,
    steps: int | None = None,
) -> list[EvalResult]:
    """:func:`evaluate` for several ways of ranking one scoring pass: ``scorer.score`` runs once per batch
    and each variant turns its output into scores (e.g. mixtures of a model's parts with several weights);
    one result per variant, all on the same cases and negatives."""
    _choice("split", split, SPLITS)
    _choice("protocol", protocol, PROTOCOLS)
    _choice("ties", ties, TIES)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    cases: EvalSplit = getattr(dataset, split)
    if histories is not None:
        if len(histories) != len(cases):
            raise ValueError(f"histories has {len(histories)} sequences, the {split} split has {len(cases)} cases")
        cases = EvalSplit(list(histories), cases.targets, cases.users)
    inputs, targets = pad_eval(cases, dataset.max_len)
    offsets = dataset.offsets
    target_domain = dataset.domain_of(cases.targets)
    local_target = dataset.to_local(cases.targets)
    device = scorer.device
    ranks = np.zeros((len(variants), len(cases)), dtype=np.int64)
    for d, n_items in enumerate(dataset.n_items):
        idx = np.flatnonzero(target_domain == d)
        negatives = None
        if protocol == "sampled" and len(idx):
            rng = np.random.default_rng([seed, d])
            try:
                negatives = sample_negatives(local_target[idx], n_items, n_negatives, rng, ties == "c2dsr")
            except ValueError as err:
                raise ValueError(f"domain {dataset.domain_names[d]!r}: {err}") from None
        bad = 0
        for start in range(0, len(idx), batch_size):
            rows = idx[start:start + batch_size]
            batch = make_batch(inputs[rows], targets[rows], offsets, cases.users[rows]).to(device)
            with torch.no_grad():
                raw = scorer.score(batch, d, steps=steps)
                for k, variant in enumerate(variants):
                    scores = variant(raw, batch, d)  # (batch, n_items[d])
                    if tuple(scores.shape) != (len(rows), n_items):
                        raise ValueError(
                            f"scorer.score(batch, {d}) returned shape {tuple(scores.shape)}, "
                            f"expected ({len(rows)}, {n_items}) for domain {dataset.domain_names[d]!r}"
                        )
                    finite = torch.isfinite(scores).all(1)
                    bad += int((~finite).sum())
                    neg = None if negatives is None else torch.from_numpy(negatives[start:start + len(rows)]).to(scores.device)
                    target = torch.from_numpy(local_target[rows]).to(scores.device)
                    ranks[k, rows] = _ranks(scores, target, neg, ties).cpu().numpy()
        if bad:
            raise ValueError(
                f"scorer produced NaN/inf scores in domain {dataset.domain_names[d]!r} "
                f"for {bad} of {len(idx) * len(variants)} {split} cases"
            )
    results = []
    for case_ranks in ranks:
        per_case = pd.DataFrame({
            "case": np.arange(len(cases)),
            "domain": np.asarray(dataset.domain_names, dtype=object)[target_domain],
            "rank": case_ranks,
            **_metrics(case_ranks, ties),
        })
        table = per_case.groupby("domain")[list(METRICS)].mean().reindex(list(dataset.domain_names))
        results.append(EvalResult(table, per_case, split, protocol, dataset.protocol))
    return results


def paired_p(differences: np.ndarray) -> float:
    """Two-sided p of the paired t-test that the mean of ``differences`` (a − b, one per pair) is 0: the
    one paired test of the kit, whatever the pairs are (test cases, (seed, case) pairs, seeds).

    Fewer than two pairs: NaN (never significant). No spread (every pair differs by the same amount, where
    the t statistic is ±∞ or 0/0): exactly 0 when that amount is not 0, else 1.
    """
    from scipy.stats import ttest_1samp  # imported here: scipy.stats alone costs the CLI 0.3 s at start-up

    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2:
        return float("nan")
    if np.ptp(differences) <= 1e-9 * max(1.0, float(np.abs(differences).max())):
        return 0.0 if abs(float(differences.mean())) > 1e-9 else 1.0
    return float(ttest_1samp(differences, 0.0).pvalue)


def paired_test(
    a: EvalResult, b: EvalResult, metric: str = "NDCG@10", n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per domain: means, mean difference a − b, :func:`paired_p` over the test cases and a bootstrap
    95% CI of the difference (one trained model each; :func:`paired_difference` pools seeds)."""
    _choice("metric", metric, METRICS)
    if n_boot <= 0:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    keys = ["case", "domain"]
    if a.split != b.split or not a.per_case[keys].equals(b.per_case[keys]):
        raise ValueError(
            f"paired_test needs both results on the same cases: got {a.split!r} ({len(a.per_case)} cases) "
            f"vs {b.split!r} ({len(b.per_case)} cases) with different case/domain columns"
        )
    rng = np.random.default_rng(seed)
    rows = {}
    for domain in [d for d in a.table.index if (a.per_case["domain"] == d).any()]:
        mask = (a.per_case["domain"] == domain).to_numpy()
        x, y = a.per_case[metric].to_numpy()[mask], b.per_case[metric].to_numpy()[mask]
        diff, n = x - y, len(x)
        spread = diff.std(ddof=1) if n > 1 else np.nan
        t = diff.mean() / (spread / np.sqrt(n)) if n > 1 and spread > 0 else np.nan
        chunk = max(1, 2**22 // n)  # resample in blocks to bound memory
        boot = np.concatenate([diff[rng.integers(0, n, size=(min(chunk, n_boot - s), n))].mean(1)
                               for s in range(0, n_boot, chunk)])  # (n_boot,) resampled mean differences
        low, high = np.percentile(boot, [2.5, 97.5])
        rows[domain] = {"n": n, "mean_a": x.mean(), "mean_b": y.mean(), "diff": diff.mean(),
                        "t": float(t), "p": paired_p(diff), "ci_low": low, "ci_high": high}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("domain")


def paired_difference(a: Mapping[int, EvalResult | pd.DataFrame], b: Mapping[int, EvalResult | pd.DataFrame],
                      metric: str = "NDCG@10", names: tuple[str, str] = ("a", "b"),
                      unit: str = "case") -> pd.DataFrame:
    """Per domain, model a − model b over several seeds, paired by seed and test case.

    ``a[seed]`` and ``b[seed]`` are the test results (or their ``per_case`` tables) of the two models
    trained on the same seed's data (same cases in the same order). Columns: mean_a, mean_b (over seeds),
    diff (mean over seeds of each seed's mean difference), std (of the per-seed differences, ddof 1; NaN
    for one seed), p (:func:`paired_p` over every (seed, case) pair with ``unit="case"``, over the per-seed
    mean differences with ``unit="seed"``), n_seeds, n_pairs.
    """
    _choice("metric", metric, METRICS)
    _choice("unit", unit, PAIRING_UNITS)
    if not a or set(a) != set(b):
        raise ValueError(f"{names[0]} and {names[1]} need results for the same seeds (at least one), "
                         f"got seeds {sorted(a)} and {sorted(b)}")
    frames = []
    for seed in sorted(a):
        x, y = _per_case(a[seed], names[0], seed), _per_case(b[seed], names[1], seed)
        if not x[["case", "domain"]].reset_index(drop=True).equals(y[["case", "domain"]].reset_index(drop=True)):
            raise ValueError(f"seed {seed}: {names[0]} and {names[1]} were not evaluated on the same test cases "
                             f"({len(x)} and {len(y)} cases, or a different case/domain order)")
        frames.append(pd.DataFrame({"seed": seed, "domain": x["domain"].to_numpy(),
                                    "a": x[metric].to_numpy(float), "b": y[metric].to_numpy(float)}))
    pairs = pd.concat(frames, ignore_index=True)
    pairs["diff"] = pairs["a"] - pairs["b"]
    rows = {}
    for domain, group in pairs.groupby("domain", sort=False):
        per_seed = group.groupby("seed")[["a", "b", "diff"]].mean()  # (seeds, 3)
        tested = group["diff"] if unit == "case" else per_seed["diff"]
        rows[domain] = {"mean_a": per_seed["a"].mean(), "mean_b": per_seed["b"].mean(),
                        "diff": per_seed["diff"].mean(),
                        "std": per_seed["diff"].std(ddof=1) if len(per_seed) > 1 else float("nan"),
                        "p": paired_p(tested.to_numpy()), "n_seeds": len(per_seed), "n_pairs": len(group)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("domain")


def _per_case(result: EvalResult | pd.DataFrame, name: str, seed) -> pd.DataFrame:
    table = result.per_case if isinstance(result, EvalResult) else result
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name}[{seed!r}] must be an EvalResult or a per-case DataFrame, got {type(result).__name__}")
    return table


def results_table(
    results: dict[str, EvalResult],
    metrics: tuple[str, ...] = METRICS,
    ours: str | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Table 1 layout: rows (domain, metric), one column per model; with ``ours``, "Imp." and "p".

    "Imp." is ours' relative gain over the best other model of each row; "p" is the paired t-test
    of ours against the baseline with the best NDCG@10 in that domain, on that row's metric.
    ``baseline`` fixes the model compared against in both columns instead.
    """
    for m in metrics:
        _choice("metrics", m, METRICS)
    for name in (ours, baseline):
        if name is not None and name not in results:
            raise ValueError(f"model {name!r} is not in results (have {list(results)})")
    if baseline is not None and ours is None:
        raise ValueError("baseline needs ours: name the model to compare against it")
    others = [n for n in results if n != ours]
    if ours is not None and not others:
        raise ValueError(f"results_table needs at least one model besides ours={ours!r}")
    first = next(iter(results.values()))
    index = pd.MultiIndex.from_product([list(first.table.index), list(metrics)], names=["domain", "metric"])
    table = pd.DataFrame({name: [r.table.loc[d, m] for d, m in index] for name, r in results.items()}, index=index)
    if ours is None:
        return table

    def compared(domain: str, metric: str) -> str:
        if baseline is not None:
            return baseline
        return max(others, key=lambda n: results[n].table.loc[domain, metric])

    def improvement(domain: str, metric: str) -> str:
        ref = table.loc[(domain, metric), compared(domain, metric)]
        return f"{100 * (table.loc[(domain, metric), ours] / ref - 1):.1f}%" if ref else "n/a"

    table["Imp."] = [improvement(d, m) for d, m in index]
    tests: dict[tuple[str, str], pd.DataFrame] = {}
    for d, m in index:
        other = compared(d, "NDCG@10")
        if (other, m) not in tests:
            tests[other, m] = paired_test(results[ours], results[other], m)
    table["p"] = [tests[compared(d, "NDCG@10"), m].loc[d, "p"] for d, m in index]
    return table

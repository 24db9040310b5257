"""``evaluate``'s ranks and metrics against an independent implementation: torchmetrics' retrieval metrics.

Each case's candidates (target + the negatives ``evaluate`` draws, or the whole domain) and scores
go to ``RetrievalMRR``, ``RetrievalNormalizedDCG`` and ``RetrievalHitRate`` with ``indexes`` = case
ids. What the library does, read off its source (torchmetrics 1.9):

- ``preds`` are cast to float32, and the values are float32 too: HR is exact, MRR is 1/r correctly
  rounded (relative error ≤ 2⁻²⁴), but NDCG is a difference of float32 cumulative sums of the
  discounts, off by up to 1.63e-7 (1.63e-5 on the ×100 scale; the worst over every tie block
  lo … hi ≤ 60, searched exhaustively). So HR must match exactly, MRR to 1e-7 relative and NDCG to
  2e-5 absolute (×100): 1e-6 absolute is finer than the library's NDCG resolves. The test scorer
  returns float32 scores, so the cast changes nothing and a one-ulp nudge (``torch.nextafter``)
  survives it.
- ``retrieval_reciprocal_rank`` zeroes the relevance of every document with ``preds <= 0``: a target
  scored 0 or below gets MRR 0 at any rank. Every score here is ≥ 1.
- Ties: MRR ranks with ``preds.topk(k, sorted=True)`` and HR with ``torch.argsort(preds,
  descending=True)`` (not stable), after ``RetrievalMetric.compute`` regroups documents with a
  non-stable ``torch.sort`` of ``indexes``. So a target tied with negatives lands wherever torch's
  kernels happen to put it in the tied block: the order is not documented, and nothing here relies on it.
  NDCG averages over ties (sklearn's ``_tie_average_dcg``): a target tied with c − 1 negatives,
  occupying ranks r_opt … r_pess = r_opt + c − 1, gets mean_{p = r_opt … r_pess} [p ≤ k] / log2(p + 1).

What ``evaluate`` does (``_ranks``), stated so that the library can check it exactly:

- ``ties="pessimistic"`` ranks the target at r_pess (every negative scoring ≥ it ranks above). That
  equals the library run on scores where the target's score t is lowered to ``nextafter(t, -inf)``,
  the next float32 below it, which ties with nothing.
- ``ties="c2dsr"`` ranks a negative above the target only if it beats t by more than
  ``C2DSR_MARGIN`` = 1e-5. That equals the library run on scores where t is raised by the margin,
  to fl32(t + 1e-5), provided no candidate scores exactly that (asserted). On exact ties this is r_opt
  (the same as raising t by one ulp); negatives less than 1e-5 above t also rank below the target.
  C2DSR also draws negatives *with* replacement (a negative drawn twice counts twice, in both
  implementations) and does not cap MRR at 10: its library twin uses those candidates and
  ``RetrievalMRR(top_k=None)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.retrieval import (
    RetrievalHitRate,
    RetrievalMRR,
    RetrievalNormalizedDCG,
)

from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset, EvalSplit
from dpgdiff_lite.evaluation import (
    C2DSR_MARGIN,
    METRICS,
    EvalResult,
    evaluate,
    sample_negatives,
)

N_CASES, N_ITEMS, N_NEGATIVES, SEED = 300, (40, 60), 20, 3
ATOL = {"MRR@10": 0.0, "NDCG@5": 2e-5, "NDCG@10": 2e-5, "HR@5": 0.0, "HR@10": 0.0}  # ×100, see above
RTOL = {"MRR@10": 1e-7, "NDCG@5": 0.0, "NDCG@10": 0.0, "HR@5": 0.0, "HR@10": 0.0}
NEAR = 2.0**-19  # ≈ 1.9e-6: two steps (3.8e-6) stay inside C2DSR's 1e-5 margin, exact in float32 below 8
SCORE_KINDS = ("distinct", "tied", "near")
PROTOCOLS = ("sampled", "full")


@pytest.fixture(scope="module")
def dataset() -> CrossDomainDataset:
    """300 cases over domains of 40 and 60 items; user ids are not the case index, so a row/user mix-up shows."""
    rng = np.random.default_rng(0)
    total = sum(N_ITEMS)
    histories = [rng.integers(0, total, size=rng.integers(1, 9)).astype(np.int64) for _ in range(N_CASES)]
    targets = rng.integers(0, total, size=N_CASES).astype(np.int64)
    users = 1000 + rng.permutation(N_CASES)
    split = EvalSplit(histories, targets, users)
    return CrossDomainDataset("crosscheck", "synthetic", ("X", "Y"), N_ITEMS, train=histories,
                              valid=split, test=split, max_len=8, train_users=users)


def draw_scores(kind: str, seed: int = 1) -> list[np.ndarray]:
    """[domain] (cases, n_items[d]) float32 scores ≥ 1: all distinct, integer ties, or ties plus near-ties."""
    rng = np.random.default_rng(seed)
    out = []
    for n in N_ITEMS:
        if kind == "distinct":
            # a random order plus jitter: continuous values, neighbours at least 0.5/n ≫ 1e-5 apart
            order = np.argsort(rng.random((N_CASES, n)), axis=1)
            scores = 1.0 + (order + 0.5 * rng.random((N_CASES, n))) / n
        elif kind == "tied":
            scores = 1.0 + rng.integers(0, 5, size=(N_CASES, n))
        else:
            scores = 1.0 + rng.integers(0, 5, size=(N_CASES, n)) + NEAR * rng.integers(0, 3, size=(N_CASES, n))
        out.append(scores.astype(np.float32))
    return out


class TableScorer:
    """A :class:`~dpgdiff_lite.recommender.Scorer` of pre-drawn scores: ``scores[domain][case of user]``."""

    def __init__(self, scores: list[np.ndarray], users: np.ndarray) -> None:
        self.scores = [torch.from_numpy(s) for s in scores]
        self.case_of_user = {int(u): case for case, u in enumerate(users)}
        self.asked: list[int] = []

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> torch.Tensor:
        cases = [self.case_of_user[int(u)] for u in batch.users]
        self.asked.extend(cases)
        return self.scores[domain][cases]  # (batch, n_items[domain])


def run_evaluate(dataset: CrossDomainDataset, kind: str, protocol: str, ties: str) -> EvalResult:
    scorer = TableScorer(draw_scores(kind), dataset.test.users)
    return evaluate(scorer, dataset, "test", protocol, N_NEGATIVES, SEED, ties, batch_size=64)


def candidates(
    dataset: CrossDomainDataset, kind: str, protocol: str, replace: bool
) -> list[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """Per domain: its cases, their candidates' scores (cases_d, candidates) and where the target is (a mask).

    Negatives are redrawn exactly as ``evaluate`` draws them: one Generator seeded by (seed, domain).
    """
    scores = draw_scores(kind)
    domain = dataset.domain_of(dataset.test.targets)
    local = dataset.to_local(dataset.test.targets)
    out = []
    for d, n in enumerate(N_ITEMS):
        cases = np.flatnonzero(domain == d)
        if protocol == "sampled":
            negatives = sample_negatives(local[cases], n, N_NEGATIVES, np.random.default_rng([SEED, d]), replace)
            items = np.concatenate([local[cases, None], negatives], axis=1)  # (cases_d, 1 + negatives)
        else:
            items = np.broadcast_to(np.arange(n), (len(cases), n))  # (cases_d, n_items[d])
        preds = torch.from_numpy(np.take_along_axis(scores[d][cases], items, axis=1))
        relevant = torch.from_numpy(items == local[cases, None])
        assert (relevant.sum(1) == 1).all()
        out.append((cases, preds, relevant))
    return out


def _per_query(values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    return values  # every case's value, in case order, instead of their mean


def library_metrics(cases: np.ndarray, preds: torch.Tensor, relevant: torch.Tensor,
                    mrr_top_k: int | None = 10) -> dict[str, np.ndarray]:
    """torchmetrics' per-case values ×100, keyed like ``METRICS``."""
    indexes = torch.from_numpy(cases)[:, None].expand_as(preds)
    library = {
        "MRR@10": RetrievalMRR(top_k=mrr_top_k, aggregation=_per_query),
        "NDCG@5": RetrievalNormalizedDCG(top_k=5, aggregation=_per_query),
        "NDCG@10": RetrievalNormalizedDCG(top_k=10, aggregation=_per_query),
        "HR@5": RetrievalHitRate(top_k=5, aggregation=_per_query),
        "HR@10": RetrievalHitRate(top_k=10, aggregation=_per_query),
    }
    values = {}
    for name, metric in library.items():
        metric.update(preds, relevant, indexes)
        values[name] = 100.0 * metric.compute().double().numpy()  # (cases_d,)
    return values


def with_target_score(preds: torch.Tensor, relevant: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``preds`` with each row's target score replaced by ``target[row]``."""
    return torch.where(relevant, target[:, None], preds)


def nudged_down(preds: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    t = preds[relevant]  # (cases_d,) one target per row
    return with_target_score(preds, relevant, torch.nextafter(t, torch.tensor(-np.inf)))


def nudged_up(preds: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    t = preds[relevant]
    return with_target_score(preds, relevant, torch.nextafter(t, torch.tensor(np.inf)))


def raised_by_margin(preds: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    raised = preds[relevant] + C2DSR_MARGIN  # float32, as in _ranks
    assert not ((preds == raised[:, None]) & ~relevant).any(), "a negative ties with t + margin"
    return with_target_score(preds, relevant, raised)


def tolerance(metric: str, library: np.ndarray) -> np.ndarray:
    """How far a float64 value may be from the library's float32 one."""
    return ATOL[metric] + RTOL[metric] * np.abs(library)


def assert_close(ours: np.ndarray, library: np.ndarray, metric: str, what: str) -> None:
    np.testing.assert_allclose(ours, library, rtol=RTOL[metric], atol=ATOL[metric], err_msg=what)


def assert_agree(result: EvalResult, dataset: CrossDomainDataset, library: list[dict[str, np.ndarray]],
                 parts: list[tuple[np.ndarray, torch.Tensor, torch.Tensor]]) -> None:
    """Per case and per domain mean, every metric of ``result`` equals the library's values."""
    for (cases, _, _), values, name in zip(parts, library, dataset.domain_names):
        for metric in METRICS:
            ours = result.per_case[metric].to_numpy()[cases]
            assert_close(ours, values[metric], metric, f"{name} {metric}")
            assert_close(result.table.loc[name, metric], values[metric].mean(), metric, f"{name} mean {metric}")


def test_scorer_is_asked_once_for_every_case_by_user(dataset):
    scorer = TableScorer(draw_scores("distinct"), dataset.test.users)
    result = evaluate(scorer, dataset, "test", "sampled", N_NEGATIVES, SEED, batch_size=64)
    assert sorted(scorer.asked) == list(range(N_CASES))
    assert result.per_case["case"].tolist() == list(range(N_CASES))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_distinct_scores_match_library(dataset, protocol):
    """No ties: pessimistic and C2DSR ranks are the plain ranks, and every metric equals the library's."""
    parts = candidates(dataset, "distinct", protocol, replace=False)
    result = run_evaluate(dataset, "distinct", protocol, "pessimistic")
    ranks = result.per_case["rank"].to_numpy()
    # the cases reach every branch of the metrics: top 5, ranks 6–10, beyond 10
    assert (ranks <= 5).sum() > 20 and ((ranks > 5) & (ranks <= 10)).sum() > 20 and (ranks > 10).sum() > 20
    assert_agree(result, dataset, [library_metrics(*p) for p in parts], parts)

    c2dsr_parts = candidates(dataset, "distinct", protocol, replace=True)
    c2dsr = run_evaluate(dataset, "distinct", protocol, "c2dsr")
    assert_agree(c2dsr, dataset, [library_metrics(*p, mrr_top_k=None) for p in c2dsr_parts], c2dsr_parts)


@pytest.mark.parametrize("kind", ["tied", "near"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pessimistic_ties_equal_library_with_target_nudged_down(dataset, protocol, kind):
    """Pessimistic = the library with the target one float32 ulp below every candidate it ties with."""
    parts = candidates(dataset, kind, protocol, replace=False)
    result = run_evaluate(dataset, kind, protocol, "pessimistic")
    ties = sum(int(((p == p[r][:, None]) & ~r).any(1).sum()) for _, p, r in parts)
    assert ties > N_CASES // 2  # the data do tie the target with negatives
    library = [library_metrics(cases, nudged_down(preds, relevant), relevant) for cases, preds, relevant in parts]
    assert_agree(result, dataset, library, parts)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_library_on_ties_lies_between_pessimistic_and_optimistic(dataset, protocol):
    """On raw tied scores the library's MRR/HR tie order is its own; its NDCG is the tie average."""
    parts = candidates(dataset, "tied", protocol, replace=False)
    result = run_evaluate(dataset, "tied", protocol, "pessimistic")
    pessimistic_rank = result.per_case["rank"].to_numpy()
    below = above = 0
    for cases, preds, relevant in parts:
        raw = library_metrics(cases, preds, relevant)
        optimistic = library_metrics(cases, nudged_up(preds, relevant), relevant)
        tied = (preds == preds[relevant][:, None]).sum(1).numpy()  # c: the target and the negatives tying it
        r_pess = pessimistic_rank[cases]
        r_opt = r_pess - tied + 1
        for metric in METRICS:
            pess = result.per_case[metric].to_numpy()[cases]
            slack = tolerance(metric, raw[metric])
            assert (pess <= raw[metric] + slack).all() and (raw[metric] <= optimistic[metric] + slack).all(), metric
            below += int((pess < raw[metric] - slack).sum())
            above += int((raw[metric] < optimistic[metric] - slack).sum())
        for k in (5, 10):
            average = [np.mean([100.0 / np.log2(p + 1) if p <= k else 0.0 for p in range(lo, hi + 1)])
                       for lo, hi in zip(r_opt, r_pess)]
            assert_close(raw[f"NDCG@{k}"], np.array(average), f"NDCG@{k}", f"tie-averaged NDCG@{k}")
    assert below > 100 and above > 100  # ties move the library's values off both ends


@pytest.mark.parametrize("kind", SCORE_KINDS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_c2dsr_equals_library_with_target_raised_by_margin(dataset, protocol, kind):
    """C2DSR = the library on with-replacement candidates, target raised by 1e-5, MRR uncapped."""
    parts = candidates(dataset, kind, protocol, replace=True)
    result = run_evaluate(dataset, kind, protocol, "c2dsr")
    library = [library_metrics(cases, raised_by_margin(preds, relevant), relevant, mrr_top_k=None)
               for cases, preds, relevant in parts]
    assert_agree(result, dataset, library, parts)
    ranks = result.per_case["rank"].to_numpy()
    assert (ranks > 10).sum() > 10  # the uncapped MRR is exercised
    # exact ties go to the target as a one-ulp nudge up puts them; near-ties within the margin go to it too,
    # which a one-ulp nudge does not do
    optimistic = np.concatenate([library_metrics(c, nudged_up(p, r), r, None)["MRR@10"] for c, p, r in parts])
    ours = np.concatenate([result.per_case["MRR@10"].to_numpy()[c] for c, _, _ in parts])
    if kind == "near":
        assert (ours > optimistic + tolerance("MRR@10", optimistic)).sum() > 50
    else:
        assert_close(ours, optimistic, "MRR@10", "C2DSR MRR vs a one-ulp nudge up")

"""Evaluation: hand-computed ranks and metrics, negative sampling, the paired test, Table 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset, EvalSplit
from dpgdiff_lite.evaluation import (
    METRICS,
    EvalResult,
    evaluate,
    paired_test,
    rank_among_all,
    results_table,
    sample_negatives,
)
from dpgdiff_lite.recommender import Recommender


def small_dataset(n_items: tuple[int, int] = (15, 15), n_cases: int = 30, seed: int = 0) -> CrossDomainDataset:
    """Random two-domain histories; targets alternate between the domains."""
    rng = np.random.default_rng(seed)
    total = sum(n_items)
    histories = [rng.integers(0, total, size=rng.integers(2, 6)) for _ in range(n_cases)]
    targets = np.array([rng.integers(0, n_items[0]) if i % 2 == 0 else n_items[0] + rng.integers(0, n_items[1])
                        for i in range(n_cases)], dtype=np.int64)
    split = EvalSplit(histories, targets, np.arange(n_cases))
    return CrossDomainDataset("small", "synthetic", ("Food", "Kitchen"), n_items, train=histories,
                              valid=split, test=split, max_len=5, train_users=np.arange(n_cases))


class PlacedScorer:
    """Target scores 0; ``above`` other items score 1, ``equal`` others 0, the rest -1."""

    device = torch.device("cpu")

    def __init__(self, n_items: tuple[int, ...], above: int, equal: int = 0, margin: float = 0.0) -> None:
        self.n_items, self.above, self.equal, self.margin = n_items, above, equal, margin

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> torch.Tensor:
        target = batch.target_local[:, -1]  # (batch,)
        items = torch.arange(self.n_items[domain])
        # position of every item in the order that skips the target
        order = items[None, :] - (items[None, :] > target[:, None]).long()  # (batch, n_items)
        scores = torch.full((len(batch), self.n_items[domain]), -1.0)
        scores[order < self.above + self.equal] = self.margin
        scores[order < self.above] = 1.0
        scores[items[None, :] == target[:, None]] = 0.0
        return scores


class ItemScorer:
    """Fixed random score per item, the same for every user."""

    device = torch.device("cpu")

    def __init__(self, n_items: tuple[int, ...], seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = [torch.rand(n, generator=g) for n in n_items]

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> torch.Tensor:
        return self.table[domain].expand(len(batch), -1)


@pytest.mark.parametrize("above, expected", [
    (0, {"MRR@10": 100.0, "NDCG@5": 100.0, "NDCG@10": 100.0, "HR@5": 100.0, "HR@10": 100.0}),
    (2, {"MRR@10": 100 / 3, "NDCG@5": 50.0, "NDCG@10": 50.0, "HR@5": 100.0, "HR@10": 100.0}),
    (6, {"MRR@10": 100 / 7, "NDCG@5": 0.0, "NDCG@10": 100 / 3, "HR@5": 0.0, "HR@10": 100.0}),
    (11, {"MRR@10": 0.0, "NDCG@5": 0.0, "NDCG@10": 0.0, "HR@5": 0.0, "HR@10": 0.0}),
])
def test_known_rank_gives_exact_metrics(above, expected):
    data = small_dataset()
    for protocol in ("sampled", "full"):
        result = evaluate(PlacedScorer(data.n_items, above), data, protocol=protocol, n_negatives=14)
        assert (result.per_case["rank"] == above + 1).all()
        for domain in data.domain_names:
            for metric, value in expected.items():
                assert result.table.loc[domain, metric] == pytest.approx(value)


def test_ties_pessimistic_vs_c2dsr():
    data = small_dataset()
    scorer = PlacedScorer(data.n_items, above=2, equal=3)
    pessimistic = evaluate(scorer, data, protocol="full")
    c2dsr = evaluate(scorer, data, protocol="full", ties="c2dsr")
    assert (pessimistic.per_case["rank"] == 6).all()
    assert (c2dsr.per_case["rank"] == 3).all()
    assert pessimistic.table.loc["Food", "NDCG@10"] == pytest.approx(100 / np.log2(7))
    assert c2dsr.table.loc["Food", "NDCG@10"] == pytest.approx(50.0)
    # C2DSR counts a negative above the target only beyond a 1e-5 margin
    near = PlacedScorer(data.n_items, above=2, equal=3, margin=5e-6)
    assert (evaluate(near, data, protocol="full", ties="c2dsr").per_case["rank"] == 3).all()
    assert (evaluate(near, data, protocol="full").per_case["rank"] == 6).all()


def test_c2dsr_mrr_is_uncapped():
    data = small_dataset()
    # every negative scores above the target: rank = n_negatives + 1, even with duplicate draws
    result = evaluate(PlacedScorer(data.n_items, above=14), data, n_negatives=20, ties="c2dsr")
    assert (result.per_case["rank"] == 21).all()
    assert result.table.loc["Kitchen", "MRR@10"] == pytest.approx(100 / 21)
    assert evaluate(PlacedScorer(data.n_items, above=14), data, n_negatives=14).table.loc["Kitchen", "MRR@10"] == 0.0


@pytest.mark.parametrize("n_items, n_negatives", [(10, 3), (10, 8), (200, 50)])
def test_negatives_exclude_target_stay_in_domain_and_are_distinct(n_items, n_negatives):
    targets = np.arange(400) % n_items
    neg = sample_negatives(targets, n_items, n_negatives, np.random.default_rng(0))
    assert neg.shape == (400, n_negatives)
    assert (neg != targets[:, None]).all()
    assert neg.min() >= 0 and neg.max() < n_items
    assert all(len(set(row)) == n_negatives for row in neg.tolist())


@pytest.mark.parametrize("n_negatives", [3, 8])  # the redraw path and the random-keys path
def test_negatives_are_uniform_over_the_other_items(n_negatives):
    neg = sample_negatives(np.zeros(9000, dtype=np.int64), 10, n_negatives, np.random.default_rng(1))
    counts = np.bincount(neg.ravel(), minlength=10)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > 1e-3


def test_target_never_among_negatives_in_evaluate():
    data = small_dataset()
    # target 0, every other item -1: a target drawn as its own negative would tie and rank 2
    result = evaluate(PlacedScorer(data.n_items, above=0), data, n_negatives=14)
    assert (result.per_case["rank"] == 1).all()


def test_candidates_fixed_by_seed():
    data = small_dataset()
    scorer = ItemScorer(data.n_items)
    first = evaluate(scorer, data, n_negatives=5, seed=0).per_case["rank"]
    again = evaluate(scorer, data, n_negatives=5, seed=0).per_case["rank"]
    other = evaluate(scorer, data, n_negatives=5, seed=1).per_case["rank"]
    pd.testing.assert_series_equal(first, again)
    assert not first.equals(other)


def test_full_equals_sampled_with_every_negative():
    data = small_dataset()
    scorer = ItemScorer(data.n_items, seed=3)
    full = evaluate(scorer, data, protocol="full")
    sampled = evaluate(scorer, data, protocol="sampled", n_negatives=14)
    pd.testing.assert_frame_equal(full.per_case, sampled.per_case)
    assert full.per_case["rank"].nunique() > 3


def test_histories_override_reach_the_scorer():
    data = small_dataset()
    seen = []

    class Recorder(ItemScorer):
        def score(self, batch, domain, steps=None):
            seen.append(batch.items[:, -1].clone())
            return super().score(batch, domain)

    noisy = [np.array([7]) for _ in data.test.histories]
    evaluate(Recorder(data.n_items), data, protocol="full", histories=noisy)
    assert (torch.cat(seen) == 7).all()
    with pytest.raises(ValueError, match="histories has 2 sequences, the test split has 30 cases"):
        evaluate(ItemScorer(data.n_items), data, protocol="full", histories=noisy[:2])


def test_recommender_scores_in_eval_mode_without_gradients_and_restores_training():
    data = small_dataset()

    class Model(Recommender):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen = []

        def item_scores(self, batch, domain, steps):
            self.seen.append((self.training, torch.is_grad_enabled(), steps))
            return torch.rand(len(batch), data.n_items[domain]) + self.weight

    model = Model().train()
    evaluate(model, data, protocol="full", steps=3)
    assert model.seen and set(model.seen) == {(False, False, 3)} and model.training


def test_non_finite_scores_raise_with_domain_and_count():
    data = small_dataset()

    class Broken(ItemScorer):
        def score(self, batch, domain, steps=None):
            scores = super().score(batch, domain).clone()
            if domain == 1:
                scores[::3, 4] = float("nan")
            return scores

    with pytest.raises(ValueError, match=r"domain 'Kitchen' for 5 of 15 test cases"):
        evaluate(Broken(data.n_items), data, protocol="full")


@pytest.mark.parametrize("kwargs, name", [
    ({"split": "train"}, "split"), ({"protocol": "all"}, "protocol"), ({"ties": "optimistic"}, "ties"),
])
def test_unknown_settings_raise(kwargs, name):
    data = small_dataset()
    with pytest.raises(ValueError, match=f"^{name} must be one of"):
        evaluate(ItemScorer(data.n_items), data, n_negatives=5, **kwargs)


def test_too_many_negatives_without_replacement_names_the_domain():
    data = small_dataset()
    with pytest.raises(ValueError, match="domain 'Food': n_negatives must be in 1…14"):
        evaluate(ItemScorer(data.n_items), data, n_negatives=15)


def test_result_layout_and_to_dict():
    data = small_dataset()
    result = evaluate(PlacedScorer(data.n_items, above=2), data, split="valid", n_negatives=14)
    assert list(result.table.index) == ["Food", "Kitchen"] and list(result.table.columns) == list(METRICS)
    assert list(result.per_case.columns) == ["case", "domain", "rank", *METRICS]
    assert result.per_case["domain"].tolist()[:2] == ["Food", "Kitchen"]
    assert (result.split, result.protocol, result.dataset_protocol) == ("valid", "sampled", "synthetic")
    out = result.to_dict()
    assert list(out) == ["X", "Y"] and out["Y"]["NDCG@5"] == pytest.approx(50.0)
    assert all(type(v) is float for v in out["X"].values())


def hand_result(values: dict[str, np.ndarray], metric: str = "NDCG@10") -> EvalResult:
    """An EvalResult whose ``metric`` holds the given per-case values (other metrics zero)."""
    domains = np.concatenate([[d] * len(v) for d, v in values.items()])
    per_case = pd.DataFrame({"case": np.arange(len(domains)), "domain": domains, "rank": 1,
                             **{m: 0.0 for m in METRICS}})
    per_case[metric] = np.concatenate(list(values.values()))
    table = per_case.groupby("domain")[list(METRICS)].mean().reindex(list(values))
    return EvalResult(table, per_case, "test", "sampled", "synthetic")


def test_paired_test_matches_scipy_and_ci_covers_the_mean_difference():
    rng = np.random.default_rng(0)
    a_x, a_y = rng.normal(10, 3, 200), rng.normal(5, 2, 150)
    b_x, b_y = a_x - rng.normal(1, 2, 200), a_y + rng.normal(0, 2, 150)
    out = paired_test(hand_result({"X": a_x, "Y": a_y}), hand_result({"X": b_x, "Y": b_y}))
    for d, a, b in (("X", a_x, b_x), ("Y", a_y, b_y)):
        expected = stats.ttest_rel(a, b)
        assert out.loc[d, "p"] == pytest.approx(expected.pvalue)
        assert out.loc[d, "t"] == pytest.approx(expected.statistic)
        assert out.loc[d, "diff"] == pytest.approx((a - b).mean())
        assert out.loc[d, "ci_low"] < (a - b).mean() < out.loc[d, "ci_high"]
    assert out.loc["X", "p"] < 1e-6 and out.loc["X", "ci_low"] > 0  # a planted gain of 1
    half_width = 1.96 * (a_x - b_x).std(ddof=1) / np.sqrt(200)
    assert out.loc["X", "ci_high"] - out.loc["X", "ci_low"] == pytest.approx(2 * half_width, rel=0.15)


def test_paired_test_refuses_different_cases():
    with pytest.raises(ValueError, match="same cases"):
        paired_test(hand_result({"X": np.ones(5)}), hand_result({"X": np.ones(6)}))


def test_results_table_layout_improvement_and_p():
    rng = np.random.default_rng(1)
    base = {"X": rng.normal(10, 2, 100), "Y": rng.normal(4, 2, 100)}
    results = {
        "Pop": hand_result({"X": base["X"] - 2, "Y": base["Y"]}),
        "SASRec": hand_result(base),
        "Ours": hand_result({"X": base["X"] * 1.1, "Y": base["Y"] * 1.25}),
    }
    table = results_table(results, metrics=("NDCG@10", "HR@10"), ours="Ours")
    assert list(table.index) == [("X", "NDCG@10"), ("X", "HR@10"), ("Y", "NDCG@10"), ("Y", "HR@10")]
    assert list(table.columns) == ["Pop", "SASRec", "Ours", "Imp.", "p"]
    assert table.loc[("X", "NDCG@10"), "Imp."] == "10.0%"
    assert table.loc[("Y", "NDCG@10"), "Imp."] == "25.0%"
    assert table.loc[("X", "HR@10"), "Imp."] == "n/a"  # every model scores 0 there
    expected_p = stats.ttest_rel(base["X"] * 1.1, base["X"]).pvalue  # SASRec is the best baseline
    assert table.loc[("X", "NDCG@10"), "p"] == pytest.approx(expected_p)
    plain = results_table(results)
    assert list(plain.columns) == ["Pop", "SASRec", "Ours"]
    assert plain.loc[("Y", "NDCG@10"), "SASRec"] == pytest.approx(base["Y"].mean())
    vs_pop = results_table(results, metrics=("NDCG@10",), ours="Ours", baseline="Pop")
    assert vs_pop.loc[("X", "NDCG@10"), "Imp."] == f"{100 * (1.1 * base['X'].mean() / (base['X'].mean() - 2) - 1):.1f}%"


def test_paired_p_is_scipys_paired_t_test_and_defines_the_no_spread_cases():
    from scipy.stats import ttest_rel

    from dpgdiff_lite.evaluation import paired_p

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert paired_p(x - y) == pytest.approx(ttest_rel(x, y).pvalue, rel=1e-12)
    assert paired_p(np.full(5, 0.7)) == 0.0  # a constant non-zero difference is certain
    assert paired_p(np.zeros(5)) == 1.0  # no difference at all
    assert np.isnan(paired_p(np.array([1.0])))  # one pair: never significant


def test_paired_difference_pairs_cases_or_seeds():
    from dpgdiff_lite.evaluation import paired_difference, paired_p

    def cases(values):
        return pd.DataFrame({"case": range(len(values)), "domain": ["X"] * len(values), "NDCG@10": values})

    a = {0: cases([3.0, 5.0, 4.0]), 1: cases([6.0, 2.0, 4.0]), 2: cases([1.0, 1.0, 4.0])}
    b = {s: cases([2.0, 2.0, 2.0]) for s in a}
    by_case = paired_difference(a, b).loc["X"]
    by_seed = paired_difference(a, b, unit="seed").loc["X"]
    assert by_case["diff"] == by_seed["diff"] == pytest.approx((2 + 2 - 0) / 3)
    assert by_case["p"] == pytest.approx(paired_p(np.array([1, 3, 2, 4, 0, 2, -1, -1, 2.0])))
    assert by_seed["p"] == pytest.approx(paired_p(np.array([2.0, 2.0, 0.0])))
    with pytest.raises(ValueError, match=r"unit must be one of \('case', 'seed'\), got 'user'"):
        paired_difference(a, b, unit="user")


def test_rank_among_all_counts_ties_against_the_target():
    assert rank_among_all(torch.tensor([0.1, 0.5, 0.3, 0.9]), 2) == 3
    assert rank_among_all(torch.tensor([0.7, 0.7, 0.7]), 0) == 3

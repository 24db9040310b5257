"""transfer.py: the transfer NDCG@10(s_c) − NDCG@10(s_d) per domain over seeds, paired by (seed, case),
on hand-made per-case tables with known answers. The trained check on conflicted data is
tests/test_regimes.py::test_sasrec_on_the_mixed_sequence_loses_to_single_domain_under_opposed_conflict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dpgdiff_lite.evaluation import METRICS, EvalResult, paired_difference
from dpgdiff_lite.experiments.transfer import gain_over_best, transfer, verdict


def per_case(ndcg: np.ndarray, domains=("X", "Y")) -> pd.DataFrame:
    """A per-case table (case, domain, rank, metrics) whose cases alternate between the domains."""
    n = len(ndcg)
    frame = pd.DataFrame({"case": np.arange(n), "domain": [domains[i % len(domains)] for i in range(n)],
                          "rank": np.ones(n, dtype=int)})
    for metric in METRICS:
        frame[metric] = ndcg
    return frame


def as_result(frame: pd.DataFrame) -> EvalResult:
    return EvalResult(frame.groupby("domain")[list(METRICS)].mean(), frame, "test", "full", "synthetic")


def seeds_of(n_seeds=3, n_cases=40, shift=0.0, seed=0):
    """{seed: per-case table} of a "single" model and the "mixed" one = single + shift on every case."""
    rng = np.random.default_rng(seed)
    single = {s: per_case(rng.uniform(0, 100, n_cases)) for s in range(n_seeds)}
    mixed = {s: per_case(f["NDCG@10"].to_numpy() + shift) for s, f in single.items()}
    return mixed, single


def test_one_point_lower_on_every_case_is_a_transfer_of_minus_one_negative():
    mixed, single = seeds_of(shift=-1.0)
    table = transfer({s: as_result(f) for s, f in mixed.items()}, single)  # EvalResults or tables both work
    assert list(table.index) == ["X", "Y"]
    assert np.allclose(table["transfer"], -1.0) and np.allclose(table["std"], 0.0, atol=1e-12)
    assert (table["p"] == 0.0).all() and (table["verdict"] == "negative").all()
    assert (table["n_seeds"] == 3).all() and (table["n_pairs"] == 60).all()
    assert np.allclose(table["mixed"] - table["single"], -1.0)


def test_mean_std_and_p_by_hand():
    rng = np.random.default_rng(1)
    single = {s: per_case(rng.uniform(0, 100, 20)) for s in range(2)}
    noise = {s: rng.normal(0, 1, 20) for s in range(2)}
    mixed = {0: per_case(single[0]["NDCG@10"] + 2.0 + noise[0]), 1: per_case(single[1]["NDCG@10"] + 4.0 + noise[1])}
    table = transfer(mixed, single)
    for domain, offset in (("X", 0), ("Y", 1)):
        per_seed = [2.0 + noise[0][offset::2].mean(), 4.0 + noise[1][offset::2].mean()]
        assert table.loc[domain, "transfer"] == pytest.approx(np.mean(per_seed))
        assert table.loc[domain, "std"] == pytest.approx(np.std(per_seed, ddof=1))
        a = np.concatenate([mixed[s]["NDCG@10"].to_numpy()[offset::2] for s in range(2)])
        b = np.concatenate([single[s]["NDCG@10"].to_numpy()[offset::2] for s in range(2)])
        assert table.loc[domain, "p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
        assert table.loc[domain, "verdict"] == "positive"


def test_no_difference_on_average_is_no_verdict():
    mixed, single = seeds_of(shift=0.0)
    for s, frame in mixed.items():
        frame["NDCG@10"] += np.where(np.arange(len(frame)) % 4 < 2, 1.0, -1.0)  # ±1, mean 0 in each domain
    table = transfer(mixed, single)
    assert np.allclose(table["transfer"], 0.0) and (table["verdict"] == "none").all()
    identical = transfer(single, single)
    assert (identical["p"] == 1.0).all() and (identical["verdict"] == "none").all()


def test_verdict_thresholds():
    assert verdict(-0.5, 0.01) == "negative" and verdict(0.5, 0.01) == "positive"
    assert verdict(-0.5, 0.05) == "none" and verdict(-0.5, float("nan")) == "none"
    assert verdict(-0.5, 0.08, alpha=0.1) == "negative"


def test_gain_over_best_compares_with_the_better_baseline_of_each_domain():
    rng = np.random.default_rng(2)
    base = {s: rng.uniform(20, 80, 40) for s in range(2)}
    x_rows = np.arange(40) % 2 == 0
    strong_x = {s: per_case(b + np.where(x_rows, 5.0, -5.0)) for s, b in base.items()}  # best in X
    strong_y = {s: per_case(b + np.where(x_rows, -5.0, 5.0)) for s, b in base.items()}  # best in Y
    ours = {s: per_case(b + 6.0) for s, b in base.items()}
    table = gain_over_best(ours, {"sasrec": strong_x, "sasrec-single": strong_y})
    assert table.loc["X", "best"] == "sasrec" and table.loc["Y", "best"] == "sasrec-single"
    assert np.allclose(table["gain"], 1.0) and (table["verdict"] == "positive").all()


@pytest.mark.parametrize("case, message", [
    ("seeds", "mixed and single need results for the same seeds (at least one), got seeds [0, 1, 2] and [0, 1]"),
    ("cases", "seed 0: mixed and single were not evaluated on the same test cases (40 and 39 cases, "
              "or a different case/domain order)"),
    ("metric", "metric must be one of ('MRR@10', 'NDCG@5', 'NDCG@10', 'HR@5', 'HR@10'), got 'AUC'"),
])
def test_unpaired_inputs_are_refused_naming_the_problem(case, message):
    mixed, single = seeds_of()
    kwargs = {}
    if case == "seeds":
        del single[2]
    elif case == "cases":
        single[0] = single[0].iloc[:39]
    else:
        kwargs = {"metric": "AUC"}
    with pytest.raises(ValueError) as error:
        transfer(mixed, single, **kwargs)
    assert str(error.value) == message


def test_paired_difference_is_antisymmetric():
    mixed, single = seeds_of(shift=-1.0, seed=3)
    forward, backward = paired_difference(mixed, single), paired_difference(single, mixed)
    assert np.allclose(forward["diff"], -backward["diff"]) and np.allclose(forward["p"], backward["p"])

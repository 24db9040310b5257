"""The model on the kit's default data: it must learn the planted structure, not just popularity.

Trains popularity, SASRec and DPG-Diff with the `teaching` preset on the synthetic default
(about a minute on one CPU core) and compares each with the planted oracle.
"""

import pytest

from dpgdiff_lite.config import preset
from dpgdiff_lite.data.synthetic import generate
from dpgdiff_lite.trainer import run_evaluation, train


@pytest.fixture(scope="module")
def teaching_results():
    dataset, truth = generate("teaching")
    config = preset("teaching", device="cpu")
    oracle = run_evaluation(truth.oracle_scorer(), dataset, config, "test").table["NDCG@10"]
    ndcg = {m: train(dataset, preset("teaching", model=m, device="cpu"), progress=False).test.table["NDCG@10"]
            for m in ("pop", "sasrec", "dpgdiff")}
    return ndcg, oracle


def test_dpgdiff_learns_far_more_than_popularity(teaching_results):
    ndcg, oracle = teaching_results
    assert (ndcg["dpgdiff"] > 2.5 * ndcg["pop"]).all(), ndcg
    # reported as a fraction of the planted oracle's NDCG@10: well above popularity's ~0.2
    assert (ndcg["dpgdiff"] / oracle > 0.6).all(), (ndcg["dpgdiff"] / oracle).to_dict()


def test_dpgdiff_is_within_a_tenth_of_sasrec_and_below_it(teaching_results):
    ndcg, _ = teaching_results
    # measured over 3 seeds (notebooks/results/06): DPG-Diff 19.65 / 18.65 against SASRec 21.08 / 20.22, 6.8 % / 7.8 %
    # below it (p < 0.001): the paper's own-domain ĝ_d costs where the teaching data's domains agree
    assert (ndcg["dpgdiff"] > 0.9 * ndcg["sasrec"]).all(), (ndcg["dpgdiff"], ndcg["sasrec"])
    assert (ndcg["dpgdiff"] < ndcg["sasrec"]).all(), (ndcg["dpgdiff"], ndcg["sasrec"])

import dataclasses
import time

import numpy as np
import pytest

from dpgdiff_lite.data.dataset import PAD, make_batch, pad_eval
from dpgdiff_lite.data.synthetic import (
    INVARIANT, NOISE, PRESETS, SHARED_TOPIC, SPECIFIC, SyntheticTruth, generate,
)


@pytest.fixture(scope="module")
def tiny():
    return generate("tiny")


@pytest.fixture(scope="module")
def teaching():
    return generate("teaching")


def transitions(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, previous item, next item) of every consecutive pair in train sequences and test cases."""
    users = [np.full(len(seq) - 1, u) for u, seq in zip(dataset.train_users, dataset.train)]
    last = np.array([h[-1] for h in dataset.test.histories])
    return (np.concatenate(users + [dataset.test.users]),
            np.concatenate([seq[:-1] for seq in dataset.train] + [last]),
            np.concatenate([seq[1:] for seq in dataset.train] + [dataset.test.targets]))


def hit_rate_at_10(dataset, truth: SyntheticTruth) -> tuple[float, float]:
    """Full-ranking HR@10 on the test split for the oracle and for popularity-by-count
    (ties counted in the target's favour, which flatters popularity)."""
    offsets, counts, split = dataset.offsets, dataset.item_counts(), dataset.test
    domains = dataset.domain_of(split.targets)
    last = np.array([h[-1] for h in split.histories])
    oracle_hits = popular_hits = 0
    for d in range(dataset.n_domains):
        rows = np.flatnonzero(domains == d)
        local = split.targets[rows] - offsets[d]
        probs = truth.next_item_probabilities(split.users[rows], last[rows], d)
        oracle_hits += ((probs > probs[np.arange(len(rows)), local][:, None]).sum(1) < 10).sum()
        pop = counts[offsets[d]:offsets[d + 1]]
        popular_hits += ((pop[None, :] > pop[local][:, None]).sum(1) < 10).sum()
    return oracle_hits / len(split), popular_hits / len(split)


def test_same_seed_same_arrays_other_seed_differs(tiny):
    dataset, truth = tiny
    again, truth_again = generate("tiny")
    for a, b in zip(dataset.train + dataset.test.histories + truth.train_labels,
                    again.train + again.test.histories + truth_again.train_labels):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dataset.test.targets, again.test.targets)
    np.testing.assert_array_equal(truth.item_topic, truth_again.item_topic)
    np.testing.assert_array_equal(truth.user_preferences.shared, truth_again.user_preferences.shared)
    other, other_truth = generate(dataclasses.replace(PRESETS["tiny"], seed=1))
    assert not np.array_equal(dataset.test.targets, other.test.targets)
    assert not np.array_equal(truth.item_topic, other_truth.item_topic)


def test_preset_sizes():
    assert PRESETS["tiny"].n_users == 200 and PRESETS["teaching"].n_users == 2000
    assert PRESETS["paper-scale"].n_items == (29_207, 34_886) and PRESETS["paper-scale"].n_users == 34_117
    start = time.perf_counter()
    dataset, truth = generate("paper-scale")
    assert time.perf_counter() - start < 20
    assert dataset.name == "synthetic-paper-scale" and dataset.protocol == "synthetic"
    assert dataset.n_items == (29_207, 34_886) and len(dataset.train) == 34_117
    assert 9.5 < np.mean([len(s) for s in dataset.train]) < 10.5  # Table 2: 9.91
    share_x = np.mean(dataset.domain_of(dataset.test.targets) == 0)
    assert 0.30 < share_x < 0.37  # Table 2: 2,747 of 8,406 test cases in X
    assert len(truth.item_topic) == 29_207 + 34_886


@pytest.mark.parametrize("keep", [15, 4])
def test_leave_one_out_layout(keep):
    dataset, truth = generate(dataclasses.replace(PRESETS["tiny"], max_len=keep))
    assert dataset.max_len == keep and len(dataset.valid) == len(dataset.test) == 200
    np.testing.assert_array_equal(dataset.test.users, np.arange(200))
    np.testing.assert_array_equal(dataset.train_users, np.arange(200))
    for u in range(200):
        train, valid, test = dataset.train[u], dataset.valid.histories[u], dataset.test.histories[u]
        assert 2 <= len(train) <= keep + 1 and 1 <= len(valid) <= keep and len(test) <= keep
        np.testing.assert_array_equal(valid, train[-keep:])
        np.testing.assert_array_equal(test, np.append(valid, dataset.valid.targets[u])[-keep:])
        assert len(truth.train_labels[u]) == len(train)
        assert len(truth.valid_labels.histories[u]) == len(valid)
        assert len(truth.test_labels.histories[u]) == len(test)
    lengths = [len(s) for s in dataset.train]
    assert max(lengths) == min(keep + 1, 14) and min(lengths) == min(keep + 1, 3)  # min_length 5 − 2


def test_label_rates_and_meaning(teaching):
    dataset, truth = teaching
    labels = np.concatenate(truth.train_labels + [truth.valid_labels.targets, truth.test_labels.targets])
    items = np.concatenate(dataset.train + [dataset.valid.targets, dataset.test.targets])
    assert abs(np.mean(labels == NOISE) - 0.1) < 0.01
    clean = labels != NOISE
    np.testing.assert_array_equal(labels[clean], truth.topic_kind[truth.item_topic[items[clean]]])
    assert 0.15 < np.mean(labels[clean] == SPECIFIC) < 0.5  # specific_rate 0.3, shifted by persistence
    for u in range(0, 2000, 97):  # labels travel with their events into the evaluation histories
        assert truth.test_labels.histories[u][-1] == truth.valid_labels.targets[u]
        np.testing.assert_array_equal(truth.valid_labels.histories[u], truth.train_labels[u][-15:])
    _, quiet = generate(dataclasses.replace(PRESETS["tiny"], noise_rate=0.0, specific_rate=0.0))
    assert set(np.concatenate(quiet.train_labels)) == {INVARIANT}


def test_topics_shared_in_every_domain_specific_in_one(tiny):
    dataset, truth = tiny
    domains = dataset.domain_of(np.arange(dataset.offsets[-1]))
    for topic, owner in enumerate(truth.topic_domain):
        present = set(domains[truth.item_topic == topic])
        assert present == ({0, 1} if owner == SHARED_TOPIC else {owner})
    assert list(truth.topic_domain).count(SHARED_TOPIC) == 6
    weight_sums = np.bincount(truth.item_topic * 2 + domains, truth.item_weight)
    np.testing.assert_allclose(weight_sums[weight_sums > 0], 1.0)
    weights = np.sort(truth.item_weight[(truth.item_topic == 0) & (domains == 0)])[::-1]
    np.testing.assert_allclose(weights / weights[0], 1 / np.arange(1, len(weights) + 1))  # Zipf, exponent 1


def test_oracle_rows_sum_to_one(tiny):
    dataset, truth = tiny
    last = np.array([PAD, 0, 5, 150, 219])  # no history, X items, Y items
    for d in (0, 1):
        probs = truth.next_item_probabilities(np.arange(5), last, d)
        assert probs.shape == (5, dataset.n_items[d]) and (probs > 0).all()
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)


def test_oracle_matches_empirical_next_events(tiny):
    _, truth = tiny
    rng = np.random.default_rng(123)
    x_shared = np.flatnonzero(truth.item_topic[:100] < 6)[0]
    x_specific = np.flatnonzero(truth.item_topic[:100] >= 6)[0]
    contexts = [(0, x_shared, 0), (1, x_shared, 1), (2, x_specific, 0), (3, x_specific, 1), (4, PAD, 1)]
    draws = 20_000
    wrong = dataclasses.replace(truth, config=dataclasses.replace(truth.config, persistence=0.0))
    for user, last, domain in contexts:
        users, lasts = np.full(draws, user), np.full(draws, last)
        items, _ = truth.sample_next(users, lasts, rng, domains=np.full(draws, domain))
        local = items - truth.offsets[domain]
        assert local.min() >= 0 and local.max() < truth.config.n_items[domain]
        freq = np.bincount(local, minlength=truth.config.n_items[domain]) / draws
        probs = truth.next_item_probabilities(np.array([user]), np.array([last]), domain)[0]
        assert 0.5 * np.abs(freq - probs).sum() < 0.035
        if last != PAD and not (last == x_specific and domain == 1):  # persistence applies here
            wrong_probs = wrong.next_item_probabilities(np.array([user]), np.array([last]), domain)[0]
            assert 0.5 * np.abs(freq - wrong_probs).sum() > 0.1


def test_oracle_explains_generated_data(teaching):
    """Under the law the data came from, E[log p(next) + entropy(p)] = 0 and log-likelihood is best."""
    dataset, truth = teaching
    users, prev, nxt = transitions(dataset)
    domains = dataset.domain_of(nxt)

    def fit(model: SyntheticTruth) -> tuple[float, float]:  # (z-score of the gap, mean log-likelihood)
        loglik, gaps = [], []
        for d in range(2):
            rows = np.flatnonzero(domains == d)
            probs = model.next_item_probabilities(users[rows], prev[rows], d)
            loglik.append(np.log(probs[np.arange(len(rows)), nxt[rows] - dataset.offsets[d]]))
            gaps.append(loglik[-1] - (probs * np.log(probs)).sum(1))  # log p(next) + entropy
        gaps = np.concatenate(gaps)
        return gaps.mean() / (gaps.std() / np.sqrt(len(gaps))), np.concatenate(loglik).mean()

    z_true, loglik_true = fit(truth)
    assert abs(z_true) < 4
    for wrong in (dict(persistence=0.0), dict(persistence=0.8), dict(noise_rate=0.3)):
        config = dataclasses.replace(truth.config, **wrong)
        z_wrong, loglik_wrong = fit(dataclasses.replace(truth, config=config))
        assert abs(z_wrong) > 6 and loglik_wrong < loglik_true - 0.02


def test_oracle_beats_popularity(teaching):
    oracle, popular = hit_rate_at_10(*teaching)
    assert oracle > 0.35 and popular < 0.2 and oracle > 2.5 * popular


def test_oracle_scorer_reads_users_and_last_items(tiny):
    dataset, truth = tiny
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    batch = make_batch(inputs[:8], targets[:8], dataset.offsets, dataset.test.users[:8])
    scores = truth.oracle_scorer().score(batch, 1)
    last = np.array([h[-1] for h in dataset.test.histories[:8]])
    np.testing.assert_allclose(scores.numpy(), truth.next_item_probabilities(np.arange(8), last, 1))
    with pytest.raises(ValueError, match="batch.users"):
        truth.oracle_scorer().score(make_batch(inputs[:8], targets[:8], dataset.offsets), 1)


def test_three_domains_one_without_specific_topics():
    config = dataclasses.replace(PRESETS["tiny"], domain_names=("A", "B", "C"), n_items=(60, 70, 80),
                                 n_specific_topics=(2, 0, 3), name="three")
    dataset, truth = generate(config)
    assert dataset.n_domains == 3 and dataset.name == "synthetic-three"
    domains = dataset.domain_of(np.arange(dataset.offsets[-1]))
    assert set(domains[truth.topic_kind[truth.item_topic] == INVARIANT]) == {0, 1, 2}
    items, labels = np.concatenate(dataset.train), np.concatenate(truth.train_labels)
    assert set(labels[dataset.domain_of(items) == 1]) == {INVARIANT, NOISE}  # B has only shared topics
    assert set(dataset.domain_of(dataset.test.targets)) == {0, 1, 2}
    for d in range(3):
        probs = truth.next_item_probabilities(np.arange(4), np.array([PAD, 0, 65, 140]), d)
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)


@pytest.mark.parametrize("change, field", [
    (dict(noise_rate=1.5), "noise_rate"),
    (dict(n_items=(100, 0)), "n_items"),
    (dict(n_specific_topics=(3,)), "n_specific_topics"),
    (dict(persistence=-0.1), "persistence"),
    (dict(min_length=2), "min_length"),
    (dict(topic_concentration=0.0), "topic_concentration"),
])
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=f"SyntheticConfig.{field} "):
        dataclasses.replace(PRESETS["tiny"], **change)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        generate("huge")

import dataclasses
import hashlib
import math
import re

import numpy as np
import pytest

from dpgdiff_lite.data import synthetic
from dpgdiff_lite.data.dataset import PAD, make_batch, pad_eval
from dpgdiff_lite.data.synthetic import (
    INVARIANT, NOISE, PARTIAL_TOPIC, PRESETS, SHARED_TOPIC, SPECIFIC, SyntheticTruth, generate, reverse_ranks,
)

# The generated world, pinned per preset so that no change of the generator moves a committed number
# unnoticed. The pins were taken on an x86-64 CPU without AVX-512 (numpy's X86_V3 paths, and again with
# them off: NPY_DISABLE_CPU_FEATURES=X86_V3); the sha256 pins they replace (all arrays' bytes) were
# taken on a CPU with AVX-512, and seven presets of eight agreed bit for bit. See `fingerprint`.
PINNED = {
    "conflict": ("ea50784e79fcd8adcdcfa4dc58b807599e4bcf03ddbe2edebc1eed1b859b4fcc", 13262.258327456799, 650990.8733600851),
    "conflict-independent": ("49a6b028f2d3e53ab3604cfe31dd79b344b26888ae824a71068d31971b1e1c25", 13262.258327456799,
                             650904.1060925653),
    "imbalanced": ("b7a827852b79c0ab18f6aad8716b3933c8ab318bfa7ea76886b02ff01814ea1c", 13262.258327456799, 651125.6982830985),
    "noisy-train": ("27d6c4853e30dcf7d02c984a4befb0c6c245856bda2a5aa4bacc4cf6a7671851", 13262.258327456799, 650953.225243174),
    "paper-scale": ("925ec6b4cfc5d92184c1d6b5a51402e9459104b19a352f8e6fe72b14d3ea6488", 225552.96291313632,
                    11054258.809808925),
    "sparse": ("607969697bac509947ce356847a687d1cdcd0015aa3db6963a6021ecfa2686e1", 26662.310772698693, 1306750.3230333002),
    "teaching": ("dec62abcff158ce99d098f77dba8fdd9ced966cb505971715fdd0b988f429983", 13262.258327456799, 650953.225243174),
    "three-domain": ("c60dec658e3f984ee663a227fb20bee0713fb288771fa3f645cbfb425f3e10c8", 26781.387087070034,
                     1311185.0958288775),
    "tiny": ("e47d4d224d831c971b7a30798e9e67b49ee8d60d7a619fb838475b2fb125b5ab", 1338.063520504075, 65637.37245024601),
    "tiny-three-domain": ("8c4b43868334bc255bcd1794973c7e03bf287eb2583dbe3a6969deaa6a11c0c3", 2701.481004908162,
                          131787.92207062896),
    "transfer": ("2d372cdfb4a456b79f64f993ef23eca6670b91d6a204772ea95a72c38d2eacc9", 13262.258327456799, 649662.7909852911),
}
FLOAT_RTOL = 1e-9
"""How far the float checksums may move: rounding in the last bit of every float of the largest preset
(4 million values) moves a sum by at most about 1e-10 of itself; any real change moves it by far more."""


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


def every_array(dataset, truth: SyntheticTruth) -> list[np.ndarray]:
    """Every array the generator returns, in a fixed order."""
    prefs = truth.user_preferences
    arrays = [*dataset.train, dataset.train_users]
    for split, labels in ((dataset.valid, truth.valid_labels), (dataset.test, truth.test_labels)):
        arrays += [*split.histories, split.targets, split.users, *labels.histories, labels.targets]
    arrays += [*truth.train_labels, truth.item_topic, truth.item_weight, truth.topic_domain, prefs.shared,
               *prefs.specific, prefs.specificity, prefs.domain, *prefs.shared_by_domain, prefs.conflicted,
               prefs.sparse_domain]
    return arrays


def fingerprint(arrays: list[np.ndarray]) -> tuple[str, float, float]:
    """(sha256 of the integer and boolean arrays, Σx and Σ(k mod 97 + 1)·x_k over the float arrays).

    Exact where every machine is exact, to a tolerance where none can be. The integers — sequences,
    targets, users, labels, topics, flags — are draws from the seeded generators and must agree bit for
    bit on any CPU. The floats (Zipf weights, Dirichlet and Beta draws) go through transcendental
    functions whose last bit depends on the instruction set and the maths library: numpy's AVX-512
    ``power`` (``rank ** -0.5`` of ``synthetic:sparse``) rounds differently from its AVX2 and SSE paths,
    and ARM's libm is another library. A last-bit difference moves a sampling key by about 1e-16, far
    too little to move a draw (the pinned integers agree across those paths), so the floats are
    compared by two order-independent exact sums (``math.fsum``) within ``FLOAT_RTOL``; the weighted
    one also catches values moved between positions."""
    digest, floats = hashlib.sha256(), []
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype.kind == "f":
            floats.append(a.ravel())
        else:
            digest.update(a.astype(np.int64).tobytes())
    x = np.concatenate(floats)
    return digest.hexdigest(), math.fsum(x), math.fsum(x * (np.arange(len(x)) % 97 + 1))


def assert_pinned(name: str, dataset, truth: SyntheticTruth) -> None:
    integers, total, weighted = fingerprint(every_array(dataset, truth))
    pinned_integers, pinned_total, pinned_weighted = PINNED[name]
    assert integers == pinned_integers, f"{name}: an integer draw of the generator moved"
    assert total == pytest.approx(pinned_total, rel=FLOAT_RTOL), f"{name}: a float of the world moved"
    assert weighted == pytest.approx(pinned_weighted, rel=FLOAT_RTOL), f"{name}: a float of the world moved"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_preset_draws_its_pinned_world(name):
    assert_pinned(name, *generate(name))


def test_last_bit_rounding_of_every_float_leaves_the_draws_and_passes_the_pin(monkeypatch):
    """What another instruction set does to ``synthetic:sparse``, simulated: every float of the world
    (weights, preferences) one ulp off before any sequence is drawn. The draws stay put and the pin
    holds; a change beyond rounding (one weight scaled by 1.001) fails it."""
    draw_world = synthetic._draw_world

    def nudged(config, rng, scale=1.0):
        truth = draw_world(config, rng)
        prefs = truth.user_preferences
        up = lambda a: np.nextafter(a, np.inf)  # noqa: E731 (one ulp towards +inf)
        prefs = dataclasses.replace(prefs, shared=up(prefs.shared), specific=tuple(map(up, prefs.specific)),
                                    specificity=up(prefs.specificity), domain=up(prefs.domain),
                                    shared_by_domain=tuple(map(up, prefs.shared_by_domain)))
        weight = up(truth.item_weight)
        weight[0] *= scale
        return dataclasses.replace(truth, item_weight=weight, user_preferences=prefs)

    monkeypatch.setattr(synthetic, "_draw_world", nudged)
    dataset, truth = generate("sparse")
    assert not np.array_equal(truth.item_weight, draw_world(PRESETS["sparse"], np.random.default_rng(0)).item_weight)
    assert_pinned("sparse", dataset, truth)
    monkeypatch.setattr(synthetic, "_draw_world", lambda config, rng: nudged(config, rng, scale=1.001))
    with pytest.raises(AssertionError, match="a float of the world moved"):
        assert_pinned("tiny", *generate("tiny"))


@pytest.mark.parametrize("name", ["tiny", "teaching"])
def test_knobs_off_leave_preferences_unconflicted(name, tiny, teaching):
    _, truth = tiny if name == "tiny" else teaching
    prefs = truth.user_preferences
    assert not prefs.conflicted.any() and (prefs.sparse_domain == -1).all()
    for theta in prefs.shared_by_domain:
        np.testing.assert_array_equal(theta, prefs.shared)


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
    dataset, truth = generate("paper-scale")
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
    _, quiet = generate(dataclasses.replace(PRESETS["tiny"], adhoc_noise=0.0, specific_rate=0.0))
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
    for wrong in (dict(persistence=0.0), dict(persistence=0.8), dict(adhoc_noise=0.3)):
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
    scores = truth.oracle_scorer().score(batch, 1, steps=4)  # steps is ignored
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


@pytest.fixture(scope="module")
def three():
    return generate("tiny-three-domain")


def test_three_domain_topics_shared_by_all_by_pairs_and_by_one(three):
    dataset, truth = three
    assert PRESETS["three-domain"].partial_topics == (((0, 1), 4), ((0, 2), 4), ((1, 2), 4))
    held = [(0, 1, 2)] * 3 + [(0, 1)] * 2 + [(0, 2)] * 2 + [(1, 2)] * 2 + [(0,)] * 2 + [(1,)] * 2 + [(2,)] * 2
    np.testing.assert_array_equal(truth.topic_domains, [np.isin(range(3), h) for h in held])
    np.testing.assert_array_equal(truth.topic_domain, [SHARED_TOPIC] * 3 + [PARTIAL_TOPIC] * 6 + [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(truth.topic_kind, [INVARIANT] * 9 + [SPECIFIC] * 6)
    domains = dataset.domain_of(np.arange(dataset.offsets[-1]))
    for topic, h in enumerate(held):  # items only where the topic is held, in every domain holding it
        assert set(domains[truth.item_topic == topic]) == set(h)
        np.testing.assert_array_equal(truth.domain_topics(h[0])[:3], [0, 1, 2])  # M_d first
    weight_sums = np.bincount(truth.item_topic * 3 + domains, truth.item_weight)
    np.testing.assert_allclose(weight_sums[weight_sums > 0], 1.0)
    # events of a partial topic are INVARIANT, and happen only in the domains holding it
    items, labels = np.concatenate(dataset.train), np.concatenate(truth.train_labels)
    on_xz = np.isin(truth.item_topic[items], [5, 6]) & (labels != NOISE)
    assert set(labels[on_xz]) == {INVARIANT} and set(dataset.domain_of(items[on_xz])) == {0, 2}


def test_partial_topics_join_the_shared_dirichlet_restricted_to_their_domains(three):
    _, truth = three
    prefs, held = truth.user_preferences, truth.topic_domains[:9]
    assert prefs.shared.shape == (300, 9)
    for d in range(3):  # θ_{u,d} = θ_u on M_d, renormalised, 0 on the pair topics d lacks
        theta = prefs.shared_by_domain[d]
        restricted = np.where(held[:, d], prefs.shared, 0.0)
        np.testing.assert_allclose(theta, restricted / restricted.sum(1, keepdims=True), rtol=1e-12)
        assert (theta[:, ~held[:, d]] == 0).all()
    # X and Z agree on the ratio of any two topics both hold (a shared one, an X–Z one), and so the
    # X–Z taste carries from X to Z: θ_{u,Z} of topic 5 is θ_{u,X} of topic 5 times one factor per user
    x, z = prefs.shared_by_domain[0], prefs.shared_by_domain[2]
    np.testing.assert_allclose(x[:, 5] / x[:, 0], z[:, 5] / z[:, 0], rtol=1e-10)
    # per domain, the law over M_d is Dir(α·1): its first topic has mean 1 / |M_d| = 1/7
    _, many = generate(dataclasses.replace(PRESETS["tiny-three-domain"], n_users=20_000))
    assert abs(many.user_preferences.shared_by_domain[1][:, 3].mean() - 1 / 7) < 0.005


def test_oracle_exact_with_partial_topics(three):
    _, truth = three
    rng = np.random.default_rng(9)
    xz_item = int(np.flatnonzero(truth.item_topic == 5)[0])  # an X item of an X–Z topic
    assert truth.offsets[0] <= xz_item < truth.offsets[1]
    wrong = dataclasses.replace(truth, config=dataclasses.replace(truth.config, persistence=0.0))
    for user in range(3):
        for last, domain in ((xz_item, 2), (xz_item, 1), (PAD, 1), (xz_item, 0)):
            tv, freq = total_variation(truth, user, last, domain, 20_000, rng)
            assert tv < 0.035
            if domain != 1:  # the topic persists into Z (it holds it), not into Y
                off = wrong.next_item_probabilities(np.array([user]), np.array([last]), domain)[0]
                assert 0.5 * np.abs(freq - off).sum() > 0.1


@pytest.mark.parametrize("partial", [(((0, 0), 2),), (((0, 1, 2), 2),), (((0, 3), 1),), (((0, 1), 0),),
                                     (((0,), 2),), ((0, 1), 2)])
def test_bad_partial_topics_name_the_field(partial):
    message = ("SyntheticConfig.partial_topics needs (domains, count) pairs: 2 to 2 distinct domain indices in "
               f"0…2 and a count ≥ 1, got {partial!r}")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dataclasses.replace(PRESETS["tiny-three-domain"], partial_topics=partial)
    with pytest.raises(ValueError, match="SyntheticConfig.partial_topics needs"):  # two domains: none possible
        dataclasses.replace(PRESETS["tiny"], partial_topics=(((0, 1), 2),))


@pytest.mark.parametrize("change, field", [
    (dict(adhoc_noise=1.5), "adhoc_noise"),
    (dict(n_items=(100, 0)), "n_items"),
    (dict(n_specific_topics=(3,)), "n_specific_topics"),
    (dict(persistence=-0.1), "persistence"),
    (dict(min_length=2), "min_length"),
    (dict(topic_concentration=0.0), "topic_concentration"),
    (dict(conflict_rate=1.5), "conflict_rate"),
    (dict(conflict_kind="mirror"), "conflict_kind"),
    (dict(imbalance_rate=-0.1), "imbalance_rate"),
    (dict(imbalance_share=1.0), "imbalance_share"),
    (dict(train_adhoc_noise=2.0), "train_adhoc_noise"),
])
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=f"SyntheticConfig.{field} "):
        dataclasses.replace(PRESETS["tiny"], **change)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        generate("huge")


def test_knob_messages():
    with pytest.raises(ValueError, match=r"SyntheticConfig.conflict_kind must be one of \('independent', "
                                         r"'opposed'\), got 'mirror'"):
        dataclasses.replace(PRESETS["tiny"], conflict_kind="mirror")
    with pytest.raises(ValueError, match=r"SyntheticConfig.imbalance_share must lie in \(0, 1\), got 0.0"):
        dataclasses.replace(PRESETS["tiny"], imbalance_share=0.0)


def test_negative_transfer_presets_are_the_teaching_world_with_one_knob():
    teaching = PRESETS["teaching"]
    assert (teaching.conflict_rate, teaching.imbalance_rate, teaching.train_adhoc_noise) == (0.0, 0.0, None)
    assert PRESETS["conflict"] == dataclasses.replace(teaching, name="conflict", conflict_rate=1.0,
                                                      conflict_kind="opposed")
    assert PRESETS["conflict-independent"] == dataclasses.replace(
        teaching, name="conflict-independent", conflict_rate=1.0, conflict_kind="independent")
    assert PRESETS["imbalanced"] == dataclasses.replace(teaching, name="imbalanced", imbalance_rate=1.0)
    assert PRESETS["noisy-train"] == dataclasses.replace(teaching, name="noisy-train", train_adhoc_noise=0.3)


def test_reverse_ranks_swaps_most_and_least_liked():
    theta = np.array([[0.5, 0.1, 0.3, 0.02, 0.08], [0.2, 0.2001, 0.0999, 0.25, 0.25001]])
    opposed = reverse_ranks(theta)
    np.testing.assert_array_equal(opposed[0], [0.02, 0.1, 0.08, 0.5, 0.3])  # ranks 1…5 ↔ 5…1
    np.testing.assert_array_equal(np.sort(opposed, 1), np.sort(theta, 1))  # the same weights
    np.testing.assert_array_equal(opposed.argmax(1), theta.argmin(1))
    np.testing.assert_array_equal(reverse_ranks(opposed), theta)  # an involution


def test_conflict_labels_and_data():
    opposed, truth = generate(dataclasses.replace(PRESETS["teaching"], conflict_rate=1.0, conflict_kind="opposed"))
    prefs = truth.user_preferences
    assert prefs.conflicted.all()
    np.testing.assert_array_equal(prefs.shared_by_domain[0], prefs.shared)
    np.testing.assert_array_equal(prefs.shared_by_domain[1], reverse_ranks(prefs.shared))
    # per user, the preference over the shared topics in Y anti-correlates with the one in X
    x, y = prefs.shared_by_domain
    correlation = ((x - x.mean(1, keepdims=True)) * (y - y.mean(1, keepdims=True))).sum(1)
    assert (correlation < 0).all()
    # and so do the events: Y's invariant events come from topics the user avoids in X
    users = np.concatenate([np.full(len(s), u) for u, s in zip(opposed.train_users, opposed.train)])
    items, labels = np.concatenate(opposed.train), np.concatenate(truth.train_labels)
    in_y = (opposed.domain_of(items) == 1) & (labels == INVARIANT)
    topics = truth.item_topic[items[in_y]]
    assert x[users[in_y], topics].mean() < 0.4 * y[users[in_y], topics].mean()
    # half the users, drawn from the knob's own stream: nested in the rate, θ_u and the events' other
    # draws unchanged, unconflicted users keep θ_u in Y; "independent" draws an unrelated θ_{u,Y}
    half = dataclasses.replace(PRESETS["teaching"], conflict_rate=0.5)
    _, half_truth = generate(half)
    _, fewer_truth = generate(dataclasses.replace(half, conflict_rate=0.2))
    conflicted = half_truth.user_preferences.conflicted
    assert 0.45 < conflicted.mean() < 0.55
    assert not (fewer_truth.user_preferences.conflicted & ~conflicted).any()
    np.testing.assert_array_equal(half_truth.user_preferences.shared, prefs.shared)
    theta_x, theta_y = half_truth.user_preferences.shared_by_domain
    np.testing.assert_array_equal(theta_y[~conflicted], theta_x[~conflicted])
    assert abs(np.corrcoef(theta_x[conflicted].ravel(), theta_y[conflicted].ravel())[0, 1]) < 0.05


def test_imbalance_labels_and_data():
    config = dataclasses.replace(PRESETS["teaching"], imbalance_rate=0.5, imbalance_share=0.1, mean_length=40.0)
    dataset, truth = generate(config)
    prefs = truth.user_preferences
    sparse = prefs.sparse_domain
    assert 0.45 < (sparse >= 0).mean() < 0.55 and set(sparse) == {-1, 0, 1}
    imbalanced = np.flatnonzero(sparse >= 0)
    np.testing.assert_allclose(prefs.domain[imbalanced, sparse[imbalanced]], 0.1)
    np.testing.assert_allclose(prefs.domain.sum(1), 1.0)
    # the labelled sparse domain holds about imbalance_share of each such user's events
    full = [np.concatenate([dataset.train[u], dataset.test.targets[u:u + 1]]) for u in range(config.n_users)]
    shares = np.array([np.mean(dataset.domain_of(full[u]) == sparse[u]) for u in imbalanced])
    assert abs(shares.mean() - 0.1) < 0.01
    balanced = np.flatnonzero(sparse < 0)
    np.testing.assert_array_equal(prefs.domain[balanced], generate("teaching")[1].user_preferences.domain[balanced])


def test_training_noise_labels():
    config = dataclasses.replace(PRESETS["teaching"], adhoc_noise=0.0, train_adhoc_noise=0.5)
    dataset, truth = generate(config)
    train_labels = np.concatenate(truth.train_labels)
    assert abs(np.mean(train_labels == NOISE) - 0.5) < 0.01
    assert not (truth.valid_labels.targets == NOISE).any() and not (truth.test_labels.targets == NOISE).any()
    items = np.concatenate(dataset.train)
    clean = train_labels != NOISE  # the labels stay right for every event
    np.testing.assert_array_equal(train_labels[clean], truth.topic_kind[truth.item_topic[items[clean]]])
    # the reverse: noisy targets, clean training events
    _, reverse = generate(dataclasses.replace(PRESETS["teaching"], adhoc_noise=0.5, train_adhoc_noise=0.0))
    assert not (np.concatenate(reverse.train_labels) == NOISE).any()
    assert abs(np.mean(reverse.test_labels.targets == NOISE) - 0.5) < 0.05


def total_variation(truth: SyntheticTruth, user: int, last: int, domain: int, draws: int,
                    rng: np.random.Generator, **sample) -> tuple[float, np.ndarray]:
    """TV between sample_next's empirical next items in ``domain`` and the law, with the frequencies."""
    items, _ = truth.sample_next(np.full(draws, user), np.full(draws, last), rng,
                                 domains=np.full(draws, domain), **sample)
    freq = np.bincount(items - truth.offsets[domain], minlength=truth.config.n_items[domain]) / draws
    probs = truth.next_item_probabilities(np.array([user]), np.array([last]), domain)[0]
    return 0.5 * np.abs(freq - probs).sum(), freq


@pytest.mark.parametrize("kind", ["opposed", "independent"])
def test_oracle_exact_under_conflict(kind):
    _, truth = generate(dataclasses.replace(PRESETS["tiny"], conflict_rate=1.0, conflict_kind=kind))
    rng = np.random.default_rng(7)
    prefs = truth.user_preferences
    # θ_u of domain 0 used in Y: the law the knob replaces
    unconflicted = dataclasses.replace(truth, user_preferences=dataclasses.replace(
        prefs, shared_by_domain=(prefs.shared,) * 2))
    x_shared = np.flatnonzero(truth.item_topic[:100] < 6)[0]
    for user in range(4):
        for last in (x_shared, PAD):
            tv, freq = total_variation(truth, user, last, 1, 20_000, rng)
            assert tv < 0.035
            wrong = unconflicted.next_item_probabilities(np.array([user]), np.array([last]), 1)[0]
            assert 0.5 * np.abs(freq - wrong).sum() > 0.1
        assert total_variation(truth, user, x_shared, 0, 20_000, rng)[0] < 0.035  # X keeps θ_u


def test_oracle_exact_under_imbalance_and_training_noise():
    config = dataclasses.replace(PRESETS["tiny"], imbalance_rate=1.0, imbalance_share=0.1, train_adhoc_noise=0.5)
    _, truth = generate(config)
    rng = np.random.default_rng(8)
    sparse = truth.user_preferences.sparse_domain
    for user in range(3):  # the domain draw puts imbalance_share of the events in the sparse domain
        items, _ = truth.sample_next(np.full(20_000, user), np.full(20_000, PAD), rng)
        in_sparse = (items >= truth.offsets[sparse[user]]) & (items < truth.offsets[sparse[user] + 1])
        assert abs(in_sparse.mean() - 0.1) < 0.01
        for domain in (0, 1):  # the law within a domain is untouched, and the oracle's η is the targets'
            assert total_variation(truth, user, PAD, domain, 20_000, rng)[0] < 0.035
    # training events are drawn with train_adhoc_noise: the oracle with η = 0.5 is their law
    noisy = dataclasses.replace(truth, config=dataclasses.replace(config, adhoc_noise=0.5))
    items, labels = truth.sample_next(np.zeros(20_000, np.int64), np.full(20_000, 5), rng,
                                      domains=np.zeros(20_000, np.int64), adhoc_noises=0.5)
    assert abs(np.mean(labels == NOISE) - 0.5) < 0.015
    freq = np.bincount(items, minlength=100) / 20_000
    assert 0.5 * np.abs(freq - noisy.next_item_probabilities(np.array([0]), np.array([5]), 0)[0]).sum() < 0.035
    assert 0.5 * np.abs(freq - truth.next_item_probabilities(np.array([0]), np.array([5]), 0)[0]).sum() > 0.1


def test_knobs_compose_for_the_regime_grid():
    base = PRESETS["conflict"]
    _, truth = generate(dataclasses.replace(base, n_users=300))
    for rate, noise in ((0.0, 0.0), (0.5, 0.3), (1.0, 0.6)):
        _, swept = generate(dataclasses.replace(base, n_users=300, conflict_rate=rate, adhoc_noise=noise,
                                                imbalance_rate=0.5, train_adhoc_noise=noise / 2))
        prefs = swept.user_preferences
        np.testing.assert_array_equal(prefs.shared, truth.user_preferences.shared)
        assert abs(prefs.conflicted.mean() - rate) < 0.1 and 0.4 < (prefs.sparse_domain >= 0).mean() < 0.6

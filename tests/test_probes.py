"""The ridge probe, R² and nearest-neighbour agreement against closed forms."""

import numpy as np
import pytest

from dpgdiff_lite import probes


def test_probe_recovers_a_planted_linear_signal_and_not_noise():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1000, 20))
    targets = features @ rng.normal(size=(20, 3)) + 0.01 * rng.normal(size=(1000, 3))
    train, test = probes.split_users(1000, 0.3, seed=0)
    assert len(test) == 300 and len(np.intersect1d(train, test)) == 0
    r2_signal, predicted = probes.probe(features, targets, train, test, alpha=1.0)
    assert r2_signal > 0.99 and predicted.shape == (300, 3)
    r2_noise, _ = probes.probe(rng.normal(size=(1000, 20)), targets, train, test, alpha=1.0)
    assert abs(r2_noise) < 0.05


def test_r_squared_closed_forms():
    y = np.array([[1.0, 2.0], [2.0, 0.0], [3.0, 4.0]])
    assert probes.r_squared(y, y) == 1.0
    assert probes.r_squared(np.tile(y.mean(0), (3, 1)), y) == pytest.approx(0.0)
    # column 0: SSE 3 of SST 2 → −0.5; column 1: perfect → 1; uniform average 0.25
    assert probes.r_squared(np.column_stack([y[:, 0] + 1, y[:, 1]]), y) == pytest.approx(0.25)


def test_ridge_penalty_shrinks_towards_the_mean():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0])
    heavy = probes.ridge_fit(x, y[:, None], alpha=1e9)(x)
    np.testing.assert_allclose(heavy[:, 0], y.mean(), atol=1e-4)


def test_neighbour_agreement_is_one_for_clean_regions_and_chance_for_mixed_ones():
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1, 2], 50)
    clean = np.vstack([rng.normal(10 * c, 0.1, size=(50, 3)) for c in range(3)])
    assert probes.neighbour_agreement(clean, classes, k=5) == 1.0
    assert probes.chance_agreement(classes) == pytest.approx(1 / 3)
    mixed = rng.normal(size=(150, 3))
    assert abs(probes.neighbour_agreement(mixed, classes, k=10) - 1 / 3) < 0.1



def test_probe_table_and_its_description():
    rng = np.random.default_rng(0)
    shared = rng.dirichlet(np.full(6, 0.3), size=400)  # (users, topics): one dominant topic each, mostly
    targets = {"θ shared": shared, "φ specific X": rng.dirichlet(np.ones(3), size=400)}
    representations = {"noise": rng.normal(size=(400, 8)),
                       "θ itself": np.column_stack([shared, rng.normal(size=(400, 2))]),
                       "reference": shared + 0.05 * rng.normal(size=shared.shape)}
    table = probes.probe_table(representations, targets, alpha=1.0)
    assert list(table.columns) == ["R² θ shared", "top-1 shared topic", "R² φ specific X"]
    assert table.loc["θ itself", "R² θ shared"] > 0.95 and table.loc["θ itself", "top-1 shared topic"] > 0.9
    assert table.loc["noise", "R² θ shared"] < 0.03
    assert 0 < table.attrs["top-1 chance"] < 1
    text = probes.describe_probe(table, reference="reference")
    assert text.splitlines()[0].startswith("θ shared: found in θ itself")
    assert "nothing above 0.03 in noise" in text.splitlines()[0]
    assert "dominant shared topic: best θ itself" in text

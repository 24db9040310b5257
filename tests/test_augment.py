import numpy as np
import pytest

from dpgdiff_lite.data.augment import (
    MASK,
    align_noisy,
    augment,
    augment_batch,
    crop,
    insert,
    inject_noise,
    inject_noise_split,
    mask,
    reorder,
    substitute,
)
from dpgdiff_lite.data.dataset import PAD, domain_of, left_pad

OFFSETS = np.array([0, 1000, 3000])  # domain X: ids 0–999, domain Y: 1000–2999
SEQ = np.array([3, 1500, 7, 2100, 1200, 42, 9, 2999, 1000, 500], dtype=np.int64)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("seed", range(5))
def test_crop_keeps_a_contiguous_window(seed):
    out = crop(SEQ, 0.6, rng(seed))
    assert len(out) == 6
    assert any(np.array_equal(out, SEQ[s:s + 6]) for s in range(5))


def test_mask_count_rounds_half_up():
    out = mask(SEQ, 0.3, rng())
    assert (out == MASK).sum() == 3
    np.testing.assert_array_equal(out[out != MASK], SEQ[out != MASK])
    assert (mask(SEQ[:5], 0.3, rng()) == MASK).sum() == 2  # 1.5 → 2, not numpy's half-to-even 2
    assert (mask(SEQ[:5], 0.5, rng()) == MASK).sum() == 3  # 2.5 → 3 (numpy would give 2)


@pytest.mark.parametrize("seed", range(5))
def test_reorder_permutes_one_contiguous_span(seed):
    out = reorder(SEQ, 0.3, rng(seed))  # span round(3.0) = 3

    def fits(start):
        outside = np.r_[0:start, start + 3:len(SEQ)]
        return np.array_equal(out[outside], SEQ[outside]) and sorted(out[start:start + 3]) == sorted(
            SEQ[start:start + 3]
        )

    assert any(fits(s) for s in range(len(SEQ) - 2))


def test_substitute_stays_in_domain_and_changes_exactly_k_items():
    out = substitute(SEQ, 0.3, OFFSETS, rng())
    changed = out != SEQ
    assert changed.sum() == 3
    np.testing.assert_array_equal(domain_of(out, OFFSETS), domain_of(SEQ, OFFSETS))
    # a one-item domain has nothing to substitute with
    np.testing.assert_array_equal(substitute(np.array([0, 0]), 1.0, np.array([0, 1, 5]), rng()), [0, 0])


def test_insert_adds_items_from_the_preceding_events_domain():
    out = insert(SEQ, 0.3, OFFSETS, rng())
    assert len(out) == 13
    # walk the output: each original event in order, anything between is an insertion after it
    pos, previous = 0, None
    for item in out:
        if pos < len(SEQ) and item == SEQ[pos]:
            pos, previous = pos + 1, item
        else:
            assert domain_of(np.array([item]), OFFSETS)[0] == domain_of(np.array([previous]), OFFSETS)[0]
    assert pos == len(SEQ)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_short_sequences_are_never_cropped_or_reordered(n):
    seq = SEQ[:n]
    for seed in range(20):
        np.testing.assert_array_equal(augment(seq, OFFSETS, rng(seed), ops=("crop", "reorder")), seq)
        out = augment(seq, OFFSETS, rng(seed))
        assert len(out) >= n  # only mask / substitute / insert: never shorter
    assert len(augment(SEQ[:4], OFFSETS, rng(), ops=("crop",))) == 2  # from 4 events on, crop applies


def test_augment_is_seeded_and_uses_every_operator():
    outs = [augment(SEQ, OFFSETS, rng(seed)) for seed in range(40)]
    again = [augment(SEQ, OFFSETS, rng(seed)) for seed in range(40)]
    assert all(np.array_equal(a, b) for a, b in zip(outs, again))
    lengths = {len(o) for o in outs}
    assert lengths == {6, 10, 13}  # crop, same-length ops, insert
    assert any((o == MASK).any() for o in outs)


def test_augment_rejects_bad_arguments():
    with pytest.raises(ValueError) as err:
        augment(SEQ, OFFSETS, rng(), ops=("crop", "shuffle"))
    assert str(err.value) == (
        "unknown augmentation(s) ['shuffle']; valid ones are "
        "('crop', 'mask', 'reorder', 'substitute', 'insert')"
    )
    with pytest.raises(ValueError, match=r"rates\['mask'\] must lie in \[0, 1\], got 1.5"):
        augment(SEQ, OFFSETS, rng(), rates={"mask": 1.5})
    with pytest.raises(ValueError, match=r"crop: rate must lie in \[0, 1\], got -0.1"):
        crop(SEQ, -0.1, rng())


def test_augment_batch_matches_rowwise_augment_and_stays_left_padded():
    rows = [SEQ[:3], SEQ, np.zeros(0, dtype=np.int64), SEQ[4:]]
    batch = left_pad(rows, 10)
    out = augment_batch(batch, OFFSETS, rng(3))
    stream = rng(3)
    expected = left_pad([augment(r, OFFSETS, stream) for r in rows], 10)
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (4, 10) and (out[2] == PAD).all()
    # a full row that grows keeps its most recent events
    grown = augment_batch(SEQ[None], OFFSETS, rng(), ops=("insert",))
    longer = augment(SEQ, OFFSETS, rng(), ops=("insert",))
    assert len(longer) == 13
    np.testing.assert_array_equal(grown[0], longer[-10:])


def test_injected_noise_zero_is_identity_and_seeded():
    histories = [SEQ, SEQ[:3], SEQ[:0]]
    for clean, noisy in zip(histories, inject_noise_split(histories, 0.0, OFFSETS, seed=1)):
        np.testing.assert_array_equal(clean, noisy)
    a = inject_noise_split(histories, 0.4, OFFSETS, seed=1)
    b = inject_noise_split(histories, 0.4, OFFSETS, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match=r"inject_noise: rate must lie in \[0, 1\], got 1.2"):
        inject_noise(SEQ, 1.2, OFFSETS, rng())


def test_injected_noise_r_changes_about_r_n_events():
    r, n = 0.3, 10_000
    events = np.random.default_rng(5).integers(0, 3000, n)
    # one-event histories make each substitution and insertion directly visible
    noisy = inject_noise_split([events[i:i + 1] for i in range(n)], r, OFFSETS, seed=2)
    substituted = np.array([h[0] != e for h, e in zip(noisy, events)])
    inserted = np.array([len(h) == 2 for h in noisy])
    assert substituted.mean() == pytest.approx(r / 2, abs=0.01)
    assert inserted.mean() == pytest.approx(r / 2, abs=0.01)
    assert (substituted.sum() + inserted.sum()) / n == pytest.approx(r, abs=0.015)
    lengths = [len(h) for h in noisy]
    np.testing.assert_array_equal(
        domain_of(np.concatenate(noisy), OFFSETS), np.repeat(domain_of(events, OFFSETS), lengths)
    )
    assert len(inject_noise(events, r, OFFSETS, rng())) == pytest.approx(n * (1 + r / 2), rel=0.02)


@pytest.mark.parametrize("history, noisy, expected", [
    ([1, 2, 3], [1, 2, 3], [0, 1, 2]),
    ([1, 2, 3], [1, 9, 3], [0, PAD, 2]),  # substitution
    ([1, 2, 3], [1, 7, 2, 3, 8], [0, PAD, 1, 2, PAD]),  # insertions
    ([1, 2, 3], [5, 2, 6, 3], [PAD, 1, PAD, 2]),  # both
])
def test_align_noisy(history, noisy, expected):
    assert align_noisy(np.array(history), np.array(noisy)).tolist() == expected

import numpy as np
import pytest

from dpgdiff_lite.data.dataset import PAD, case_batch, left_pad, make_batch, pad_eval, pad_training


def test_left_pad_keeps_most_recent_events():
    out = left_pad([np.array([1, 2, 3, 4]), np.array([5])], 3)
    assert out.tolist() == [[2, 3, 4], [PAD, PAD, 5]]


def test_make_batch_splits_mixed_sequence_into_domain_subsequences():
    offsets = np.array([0, 5, 10])  # domain X: ids 0–4, domain Y: ids 5–9
    batch = make_batch(np.array([[PAD, 1, 7, 2, 8]]), np.array([[PAD, 7, 2, 8, 3]]), offsets)
    assert batch.domains.tolist() == [[PAD, 0, 1, 0, 1]]
    assert batch.local_items.tolist() == [[PAD, 1, 2, 2, 3]]
    assert batch.domain_items[0].tolist() == [[1, 2]]  # s_x, local ids
    assert batch.domain_items[1].tolist() == [[2, 3]]  # s_y
    # latest X event at or before each mixed position (column in s_x), PAD before the first one
    assert batch.domain_index[0].tolist() == [[PAD, 0, 0, 1, 1]]
    assert batch.domain_index[1].tolist() == [[PAD, PAD, 0, 0, 1]]
    assert batch.target_local.tolist() == [[PAD, 2, 2, 3, 3]]
    assert batch.target_domains.tolist() == [[PAD, 1, 0, 1, 0]]


def test_domain_subsequence_of_a_user_without_that_domain_is_all_padding():
    batch = make_batch(np.array([[1, 2], [6, 7]]), np.array([[2, 3], [7, 8]]), np.array([0, 5, 10]))
    assert batch.domain_items[0].tolist() == [[1, 2], [PAD, PAD]]
    assert batch.domain_index[0][1].tolist() == [PAD, PAD]


def test_pad_training_and_eval(toy_dataset):
    inputs, targets = pad_training(toy_dataset.train, toy_dataset.max_len)
    seq = toy_dataset.train[0]
    n = min(len(seq) - 1, toy_dataset.max_len)
    assert inputs[0, -n:].tolist() == seq[:-1][-n:].tolist()
    assert targets[0, -n:].tolist() == seq[1:][-n:].tolist()
    eval_inputs, eval_targets = pad_eval(toy_dataset.test, toy_dataset.max_len)
    assert (eval_targets[:, :-1] == PAD).all()
    assert eval_targets[:, -1].tolist() == toy_dataset.test.targets.tolist()


def test_statistics_has_table2_layout(toy_dataset):
    stats = toy_dataset.statistics()
    assert list(stats.index) == ["#Items", "Avg. Sequence Length", "#Training Sequences", "#Validation", "#Test"]
    assert stats.iloc[0, 0] == "12 / 18"


def test_a_domain_without_items_is_refused():
    from dpgdiff_lite.data.dataset import CrossDomainDataset, EvalSplit
    empty = EvalSplit([], np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="domain 'Y' has no items"):
        CrossDomainDataset("bad", "x", ("X", "Y"), (3, 0), [], empty, empty)


def test_case_batch_puts_the_target_last_and_accepts_replacement_histories(tiny):
    dataset, _ = tiny
    batch = case_batch(dataset, [3, 5])
    assert batch.targets[:, -1].tolist() == dataset.test.targets[[3, 5]].tolist()
    assert (batch.targets[:, :-1] == PAD).all()
    assert batch.users.tolist() == [3, 5]
    kept = dataset.test.histories[3][-dataset.max_len:]
    assert batch.items[0, -len(kept):].tolist() == kept.tolist()
    other = case_batch(dataset, [3], histories=[np.array([1, 2, 3])])
    assert other.items[0, -3:].tolist() == [1, 2, 3] and (other.items[0, :-3] == PAD).all()

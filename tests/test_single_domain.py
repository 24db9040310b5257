"""sasrec.SingleDomainSASRec (``sasrec-single``): one encoder per domain over its own subsequence s_d.

It must learn (beat popularity), see nothing of the other domain (its domain-X scores do not move
when the history's domain-Y events change or vanish, not even through positions) and train every
parameter.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpgdiff_lite.cli import parser
from dpgdiff_lite.config import Config, preset
from dpgdiff_lite.data.dataset import iterate_batches, left_pad, make_batch, pad_training
from dpgdiff_lite.losses import total_loss
from dpgdiff_lite.sasrec import SASRec, SingleDomainSASRec
from dpgdiff_lite.trainer import build_model, train

X, Y = 0, 1


def make(dataset, cls=SingleDomainSASRec, **overrides):
    torch.manual_seed(0)
    return cls(dataset.n_items, Config(model="sasrec-single", dim=16, max_len=dataset.max_len, dropout=0.0,
                                       **overrides))


def batch_of(histories, dataset):
    """An evaluation-style batch of the given histories (global ids), no targets."""
    inputs = left_pad(histories, dataset.max_len)
    return make_batch(inputs, np.full_like(inputs, -1), dataset.offsets)


def with_other_domain_changed(histories, dataset, rng):
    """The same histories with every domain-Y event redrawn as another Y item, and about half of
    them dropped: the domain-X events and their order are untouched."""
    lo, hi = dataset.offsets[Y], dataset.offsets[Y + 1]
    changed = []
    for history in histories:
        out = []
        for item in history:
            if dataset.domain_of(np.array([item]))[0] != Y:
                out.append(item)
            elif rng.random() < 0.5:
                out.append(lo + (item - lo + 1 + rng.integers(hi - lo - 1)) % (hi - lo))  # another Y item
        changed.append(np.array(out, dtype=np.int64))
    return changed


def test_it_is_registered_everywhere(tiny):
    dataset, _ = tiny
    assert isinstance(build_model(dataset, preset("smoke", model="sasrec-single")), SingleDomainSASRec)
    assert parser().parse_args(["train", "--model", "sasrec-single", "--out", "x"]).model == "sasrec-single"


def test_it_trains_and_beats_popularity_on_the_tiny_preset(tiny):
    """Measured (smoke preset, 20 epochs, seed 0): test NDCG@10 20.0 / 19.5 (X / Y) against
    popularity's 14.1 / 12.9, in under a second."""
    dataset, truth = tiny
    single = train(dataset, preset("smoke", model="sasrec-single", epochs=20, patience=20), progress=False)
    pop = train(dataset, preset("smoke", model="pop"), progress=False)
    margin = single.test.table["NDCG@10"] - pop.test.table["NDCG@10"]
    assert (margin > 3).all(), margin
    assert single.history["epoch"].tolist() == list(range(1, 21))


def test_domain_x_scores_ignore_every_domain_y_event(tiny):
    dataset, _ = tiny
    histories = [h for h in dataset.test.histories if len(h) < dataset.max_len][:64]  # nothing older slides in
    changed = with_other_domain_changed(histories, dataset, np.random.default_rng(0))
    assert any(len(a) != len(b) for a, b in zip(histories, changed))  # mixed positions of X events moved
    assert all(not np.array_equal(a, b) for a, b in zip(histories, changed) if (dataset.domain_of(a) == Y).any())
    original, other = batch_of(histories, dataset), batch_of(changed, dataset)

    model = train(dataset, preset("smoke", model="sasrec-single", epochs=3), progress=False).model
    assert torch.equal(model.score(original, X), model.score(other, X))
    assert not torch.allclose(model.score(original, Y), model.score(other, Y))  # Y itself did change

    # the test has teeth: read with mixed-sequence positions, or by SASRec on s_c, the X scores move
    model.encoder.own_positions = False
    assert not torch.allclose(model.score(original, X), model.score(other, X))
    sasrec = make(dataset, SASRec).eval()
    assert not torch.allclose(sasrec.score(original, X), sasrec.score(other, X))


def test_a_user_without_domain_x_events_gets_the_learned_empty_vector(tiny):
    dataset, _ = tiny
    model = make(dataset)
    with torch.no_grad():
        model.encoder.empty.normal_()
    y_only = [np.array([dataset.offsets[Y] + i for i in items]) for items in ([1, 2, 3], [7], [4, 4, 9, 0])]
    scores = model.score(batch_of(y_only, dataset), X)  # (3, n_items[X])
    expected = model.encoder.empty[X] @ model.items.table(X).T
    assert torch.allclose(scores, expected.expand_as(scores).detach())


def test_a_position_never_sees_later_events(tiny):
    dataset, _ = tiny
    model = make(dataset).eval()
    inputs, _ = pad_training(dataset.train[:32], dataset.max_len)
    cut = inputs.copy()
    cut[:, -3:] = np.where(cut[:, -3:] >= 0, (cut[:, -3:] + 5) % dataset.offsets[-1], cut[:, -3:])  # change the last 3
    with torch.no_grad():
        reps = [model.represent(make_batch(a, np.full_like(a, -1), dataset.offsets)) for a in (inputs, cut)]
    # the compact s_d layouts shift when a later event changes domain, so compare what each mixed
    # position reads: ĝ_d of every domain at positions before the change
    assert torch.allclose(reps[0][:, :, :-3], reps[1][:, :, :-3], atol=1e-5)


def test_every_parameter_receives_a_gradient(tiny):
    dataset, _ = tiny
    model = make(dataset).train()
    inputs, targets = pad_training(dataset.train, dataset.max_len)
    batch = next(iterate_batches(inputs[:64], targets[:64], dataset.offsets, 64))
    terms = model.loss_terms(batch)
    assert set(terms) == {"rec"} and torch.isfinite(terms["rec"])
    total_loss(terms, {"rec": 1.0}).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert not hasattr(model.encoder, "null") and not hasattr(model.encoder, "domain_tag")  # no guidance memory


@pytest.mark.parametrize("domain", [X, Y])
def test_the_loss_scores_each_target_with_its_own_domain_encoder(tiny, domain):
    """Removing the other domain's events changes nothing for this domain's training targets:
    the loss of a batch whose targets are all in ``domain`` is the same without the other domain."""
    dataset, _ = tiny
    model = make(dataset).eval()
    rows = [s for s in dataset.train if len(s) <= dataset.max_len][:64]
    own = [s[dataset.domain_of(s) == domain] for s in rows]
    keep = [i for i, s in enumerate(own) if len(s) >= 2]

    def loss(sequences):
        inputs = left_pad([s[:-1] for s in sequences], dataset.max_len)
        targets = np.full_like(inputs, -1)
        targets[:, -1] = [s[-1] for s in sequences]  # one target per row: the last domain-d event
        return model.loss_terms(make_batch(inputs, targets, dataset.offsets))["rec"]

    # histories up to the last d-event (other-domain events kept) vs the same with them removed
    mixed = []
    for i in keep:
        seq = rows[i]
        last = np.flatnonzero(dataset.domain_of(seq) == domain)[-1]
        mixed.append(seq[:last + 1])
    with torch.no_grad():
        assert torch.allclose(loss(mixed), loss([own[i] for i in keep]), atol=1e-5)

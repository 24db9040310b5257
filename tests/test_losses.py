import math

import pytest
import torch
import torch.nn.functional as F

from dpgdiff_lite import losses
from dpgdiff_lite.encoders import ItemEmbeddings
from dpgdiff_lite.losses import domain_cross_entropy, info_nce, total_loss, tri_view_loss


def test_domain_cross_entropy_scores_each_target_against_its_own_domain_only():
    items = ItemEmbeddings((2, 3), dim=2)
    with torch.no_grad():  # E_x rows 0–1, E_y rows 2–4
        items.weight.weight[:5] = torch.tensor([[1.0, 0], [0, 1], [1, 1], [2, 0], [0, 0]])
    reps = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # row 0: domain X, target local 0: logits [1, 0]; row 1: domain Y, target local 2: logits [1, 0, 0]
    loss = domain_cross_entropy(reps, torch.tensor([0, 2]), torch.tensor([0, 1]), items)
    expected = (-math.log(math.e / (math.e + 1)) - math.log(1 / (math.e + 2))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_matches_the_formula_of_eq_13():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[0.5, 0.5], [1.0, 1.0]])
    sim = a @ b.T  # [[0.5, 1], [1, 2]]
    row = -(torch.log_softmax(sim, 1).diagonal().mean())
    col = -(torch.log_softmax(sim.T, 1).diagonal().mean())
    assert info_nce(a, b).item() == pytest.approx(((row + col) / 2).item(), rel=1e-6)
    # temperature divides the dot products
    assert info_nce(a, b, 0.5).item() == pytest.approx(info_nce(2 * a, b).item(), rel=1e-6)


def test_tri_view_loss_averages_the_three_pairs():
    torch.manual_seed(0)
    h = [torch.randn(4, 3) for _ in range(3)]
    pairs = info_nce(h[0], h[1]) + info_nce(h[0], h[2]) + info_nce(h[1], h[2])
    assert tri_view_loss(*h).item() == pytest.approx(pairs.item() / 3, rel=1e-6)


def test_identical_views_of_distinct_users_have_low_contrastive_loss():
    h = torch.eye(4) * 10
    assert info_nce(h, h).item() < 1e-6
    assert info_nce(h, h.roll(1, 0)).item() > 10


def test_total_loss_weights_each_term():
    terms = {"diff": torch.tensor(2.0), "rec": torch.tensor(3.0), "cl": torch.tensor(5.0)}
    assert total_loss(terms, {"diff": 1.0, "rec": 1.0, "cl": 0.1}).item() == pytest.approx(5.5)


def test_cosine_tri_view_loss_ignores_vector_length():
    torch.manual_seed(1)
    h = [torch.randn(5, 3) for _ in range(3)]
    scaled = [v * torch.rand(5, 1) * 10 for v in h]
    assert tri_view_loss(*scaled, 0.2, "cosine").item() == pytest.approx(tri_view_loss(*h, 0.2, "cosine").item(), rel=1e-5)
    assert tri_view_loss(*scaled, 0.2).item() != pytest.approx(tri_view_loss(*h, 0.2).item(), rel=1e-3)
    with pytest.raises(ValueError, match="similarity must be 'dot' or 'cosine', got 'l1'"):
        tri_view_loss(*h, similarity="l1")


@pytest.mark.parametrize("logits_per_chunk", [7, 2**21])  # 7: one row per chunk; 2**21: one chunk
def test_domain_cross_entropy_gradients_equal_the_materialised_softmax(monkeypatch, logits_per_chunk):
    monkeypatch.setitem(losses.LOGITS_PER_CHUNK, "cpu", logits_per_chunk)
    torch.manual_seed(0)
    items = ItemEmbeddings((5, 7), dim=4)
    reps = torch.randn(9, 4, requires_grad=True)
    domains = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1])
    local = torch.tensor([4, 6, 0, 0, 3, 2, 1, 5, 5])
    fused = domain_cross_entropy(reps, local, domains, items)
    grads = torch.autograd.grad(fused, (reps, items.weight.weight))
    by_hand = sum(F.cross_entropy(reps[domains == d] @ items.table(d).T, local[domains == d], reduction="sum")
                  for d in (0, 1)) / len(reps)
    expected = torch.autograd.grad(by_hand, (reps, items.weight.weight))
    assert fused.item() == pytest.approx(by_hand.item(), rel=1e-6)
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-6)
    assert grads[1][-2:].abs().sum() == 0  # padding and mask rows are never scored

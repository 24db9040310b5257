import dataclasses

import numpy as np
import pytest
import torch

from dpgdiff_lite.config import VARIANT_FLAGS, Config, preset
from dpgdiff_lite.data.dataset import iterate_batches, pad_eval, pad_training
from dpgdiff_lite.losses import total_loss
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.sasrec import SASRec


def first_batch(dataset, split=None, size=16):
    inputs, targets = pad_training(dataset.train, dataset.max_len) if split is None else pad_eval(split, dataset.max_len)
    return next(iterate_batches(inputs[:size], targets[:size], dataset.offsets, size))


def make(dataset, model="dpgdiff", **overrides):
    torch.manual_seed(0)
    return DPGDiff(dataset.n_items, Config(model=model, dim=16, max_len=dataset.max_len, dropout=0.0, **overrides))


@pytest.mark.parametrize("variant", list(VARIANT_FLAGS))
def test_loss_terms_and_scores_have_the_right_shapes(toy_dataset, variant):
    model = make(toy_dataset, variant)
    terms = model.loss_terms(first_batch(toy_dataset), rng=np.random.default_rng(0))
    expected = {"diff", "rec", "cl"} if VARIANT_FLAGS[variant][2] else {"diff", "rec"}
    assert set(terms) == expected and all(v.shape == () and torch.isfinite(v) for v in terms.values())
    model.eval()
    batch = first_batch(toy_dataset, toy_dataset.test)
    for domain, n in enumerate(toy_dataset.n_items):
        assert model.score(batch, domain).shape == (len(batch), n)


@pytest.mark.parametrize("variant", list(VARIANT_FLAGS))
def test_every_parameter_of_the_variant_receives_a_gradient(toy_dataset, variant):
    model = make(toy_dataset, variant)
    total_loss(model.loss_terms(first_batch(toy_dataset, size=40), rng=np.random.default_rng(0)), {}).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    names = {n.split(".")[0] + "." + n.split(".")[1] for n, _ in model.named_parameters()}
    de, guided, _ = VARIANT_FLAGS[variant]
    assert any(n.startswith("encoder.") for n in names) == de  # no disentangled encoder in `diff`
    assert ("denoiser.decoder" in names) == guided  # no cross-attention without guidance


def test_cross_attention_never_looks_at_future_guidance(toy_dataset):
    model = make(toy_dataset).eval()
    batch = first_batch(toy_dataset)
    guidance = model.guidance(batch)
    x_t = torch.randn(*batch.items.shape, model.config.dim)
    t = torch.full((len(batch),), model.config.T)
    x0_hat, weights = model.denoise(model.context(batch), x_t, t, guidance, need_weights=True)  # (B, L, M)
    assert torch.allclose(x0_hat, model.denoise(model.context(batch), x_t, t, guidance), atol=1e-5)
    assert weights.shape == guidance.memory_allowed.shape
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]), atol=1e-5)
    assert weights[~guidance.memory_allowed].abs().max() == 0


def test_guidance_at_a_position_ignores_later_events(toy_dataset):
    model = make(toy_dataset).eval()
    batch = first_batch(toy_dataset)
    changed = first_batch(toy_dataset)
    changed.items[:, -1] = 0  # a different last event (domain X item 0)
    from dpgdiff_lite.data.dataset import make_batch
    changed = make_batch(changed.items.numpy(), batch.targets.numpy(), toy_dataset.offsets)
    before, after = model.guidance(batch), model.guidance(changed)
    for d in range(2):
        assert torch.allclose(before.per_domain[d][:, :-1], after.per_domain[d][:, :-1], atol=1e-6)


def test_inference_is_seeded_and_uses_k_steps(toy_dataset):
    model = make(toy_dataset).eval()
    batch = first_batch(toy_dataset, toy_dataset.test)
    assert torch.equal(model.score(batch, 1), model.score(batch, 1))
    x0, trajectory, _ = model.generate(batch, steps=4, generator=torch.Generator().manual_seed(0),
                                       return_trajectory=True)
    assert x0.shape == (len(batch), 16) and len(trajectory) >= 4
    assert not torch.equal(model.score(batch, 1, steps=1), model.score(batch, 1, steps=32))


def test_dpgdiff_scores_with_the_own_domain_preference_of_eq15_by_hand(toy_dataset):
    """Eq. (15) as the paper writes it for Y: (x̂_0 + ĝ_y)ᵀE_y, ĝ_y from Encoder_y alone, dot product by dot
    product; the fused reading (g_x + g_y, a kit option) scores differently."""
    model = make(toy_dataset).eval()
    assert model.config.preference == "own" and Config().preference == "own"
    batch = first_batch(toy_dataset, toy_dataset.test, size=4)
    x0_hat, guidance = model.generate(batch, generator=torch.Generator().manual_seed(model.config.inference_seed))
    g_x, g_y = (per_domain[:, -1] for per_domain in guidance.per_domain)
    table_y = model.items.table(1).detach()
    by_hand = torch.tensor([[float(sum((x0_hat[b, k] + g_y[b, k]) * table_y[i, k] for k in range(16)))
                             for i in range(len(table_y))] for b in range(len(batch))])
    torch.testing.assert_close(model.score(batch, 1), by_hand, rtol=1e-4, atol=1e-4)
    fused = dataclasses.replace(model.config, preference="fused")
    model.config = fused
    torch.testing.assert_close(model.score(batch, 1), (x0_hat + g_x + g_y) @ table_y.T, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(model.score(batch, 1), by_hand, atol=1e-3)


def test_eq12_trains_the_preference_that_eq15_scores(toy_dataset):
    """ĝ_d of eq. (12) and (15) come from one method: own → Encoder_d's output, fused → g_x + g_y for every d."""
    model = make(toy_dataset).eval()
    guidance = model.guidance(first_batch(toy_dataset))
    for d, own in enumerate(model.preferences(guidance)):
        assert torch.equal(own, guidance.per_domain[d])
    model.config = dataclasses.replace(model.config, preference="fused")
    assert all(torch.equal(p, guidance.fused) for p in model.preferences(guidance))


def test_sasrec_scores_every_item_of_the_domain(toy_dataset):
    model = SASRec(toy_dataset.n_items, Config(model="sasrec", dim=16, max_len=toy_dataset.max_len)).eval()
    batch = first_batch(toy_dataset, toy_dataset.test)
    assert model.score(batch, 0).shape == (len(batch), 12)
    assert set(model.loss_terms(first_batch(toy_dataset))) == {"rec"}


def test_last_only_encoding_equals_the_last_row_of_the_full_one():
    from dpgdiff_lite.encoders import SequenceEncoder

    torch.manual_seed(0)
    encoder = SequenceEncoder(16, 2, 2, dropout=0.0).eval()
    h, padding = torch.randn(5, 7, 16), torch.zeros(5, 7, dtype=torch.bool)
    padding[0, :3] = True  # a left-padded row
    last = encoder(h, padding, last_only=True)
    assert last.shape == (5, 1, 16)
    assert torch.allclose(last, encoder(h, padding)[:, -1:], atol=1e-6)


def test_the_reverse_steps_default_is_decided_once_in_config():
    config = preset("smoke", model="dpgdiff")
    assert config.reverse_steps() == config.inference_steps == 1
    assert config.reverse_steps(5) == 5
    assert dataclasses.replace(config, inference_steps=0).reverse_steps() == config.T

import math

import numpy as np
import pytest
import torch

from dpgdiff_lite.config import preset
from dpgdiff_lite.data.augment import AUGMENTATIONS, DEFAULT_RATES, MASK, apply, augment, augment_batch
from dpgdiff_lite.data.dataset import PAD, case_batch
from dpgdiff_lite.lessons import common, contrast
from dpgdiff_lite.losses import info_nce, tri_view_loss
from dpgdiff_lite.model import DPGDiff

OFFSETS = np.array([0, 10, 25])


@pytest.fixture(scope="module")
def tiny_model(tiny):
    dataset, _ = tiny
    config = preset("smoke", model="dpgdiff", dim=16, inference_steps=2)
    return common.untrained_model(dataset, config), config


# --- parameters ---------------------------------------------------------------------------------
def test_lesson_params_build_the_shrunk_teaching_config():
    config = contrast.LessonParams(epochs=3, dim=16).config(weight_cl=1)
    assert (config.model, config.epochs, config.dim, config.eval_every) == ("dpgdiff", 3, 16, 3)
    assert config.inference_steps == preset("teaching").inference_steps == 1  # notebook 04's k = 1, no switch
    assert config.weight_cl == 1.0
    assert contrast.LessonParams().config().weight_cl == 0.1  # the preset's default when no weight is given


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be an integer >= 1, got 0"),
    ("n_show", 1, "n_show must be at least 2"),
    ("weights_cl", (0.1, -1.0), "weights_cl must be a non-empty tuple of weights >= 0"),
    ("dim", 15, "dim"),
])
def test_lesson_params_reject_bad_values_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        contrast.LessonParams(**{field: value})


# --- augmentations ------------------------------------------------------------------------------
def test_layout_places_crops_under_their_window_and_finds_insertions():
    original = np.array([1, 2, 3, 4, 5])
    x, changed = contrast.layout(original, np.array([3, 4]))
    assert x.tolist() == [2, 3] and not changed.any()
    x, changed = contrast.layout(original, np.array([1, 2, 12, 3, 4, 5, 7]))
    assert changed.tolist() == [False, False, True, False, False, False, True]
    x, changed = contrast.layout(original, np.array([1, MASK, 3, 4, 9]))
    assert changed.tolist() == [False, True, False, False, True]


def test_the_lesson_and_augment_share_one_dispatch():
    seq = np.arange(10)
    rng = np.random.default_rng(0)
    assert len(apply(seq, "crop", 0.6, OFFSETS, rng)) == 6
    assert (apply(seq, "mask", 0.3, OFFSETS, rng) == MASK).sum() == 3
    assert len(apply(seq, "insert", 0.3, OFFSETS, rng)) == 13
    with pytest.raises(ValueError, match=r"unknown augmentation\(s\) \['shuffle'\]"):
        apply(seq, "shuffle", 0.3, OFFSETS, rng)
    # augment draws its operator, then applies it with the very same draws as apply
    for op in AUGMENTATIONS:
        rng, again = np.random.default_rng(1), np.random.default_rng(1)
        again.integers(1)  # augment's pick of the operator among the one allowed
        assert augment(seq, OFFSETS, rng, ops=(op,)).tolist() == apply(seq, op, DEFAULT_RATES[op], OFFSETS, again).tolist()


def test_plot_augmentations_draws_one_box_per_event_of_every_row():
    seq = np.array([0, 12, 3, 14, 5, 16, 7, 18])
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    fig = contrast.plot_augmentations(seq, labels, OFFSETS, seed=0)
    ax = fig.axes[0]
    lengths = 8 + 5 + 8 + 8 + 8 + 10  # original, crop 0.6, mask, reorder, substitute, insert 0.3 (2 new)
    assert len(ax.patches) == lengths
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["original", "crop (0.6)"]
    # the rows are one stream of draws through data.augment.apply, operator after operator
    rng = np.random.default_rng(0)
    rows = [apply(seq, op, DEFAULT_RATES[op], OFFSETS, rng) for op in AUGMENTATIONS]
    drawn = [t.get_text() for t in ax.texts if t.get_text() not in "ISN"]
    assert drawn == [str(i) for i in seq] + ["M" if i == MASK else str(i) for row in rows for i in row]


def test_augmentation_widget_update_redraws_for_a_new_operator_and_rate():
    seq = np.arange(0, 20, 2)
    labels = np.zeros(10, dtype=int)
    widget, update = contrast.augmentation_widget(seq, labels, OFFSETS, seed=0)
    operator, rate = widget.children[0].children
    assert tuple(operator.options) == AUGMENTATIONS and (operator.value, rate.value) == ("mask", 0.3)
    assert (rate.description, rate.min, rate.max, rate.step) == ("rate", 0.0, 1.0, 0.05)

    def boxes(fig):
        return [(p.get_x(), p.get_facecolor()) for p in fig.axes[0].patches]

    masked = update("mask", 0.3)
    assert sum(p.get_facecolor()[:3] == (0.8, 0.8, 0.8) for p in masked.axes[0].patches) == 3
    assert boxes(update("mask", 0.6)) != boxes(masked)
    assert len(update("insert", 0.5).axes[0].patches) == 10 + 15
    assert update("crop", 0.5).axes[0].get_yticklabels()[1].get_text() == "crop (0.5)"


# --- views --------------------------------------------------------------------------------------
def test_contrastive_views_are_the_models_own_last_position_outputs(tiny, tiny_model):
    dataset, _ = tiny
    model, config = tiny_model
    batch = case_batch(dataset, range(6), "valid")
    assert batch.items.shape == (6, dataset.max_len)
    assert batch.targets[:, -1].tolist() == dataset.valid.targets[:6].tolist()
    views = contrast.contrastive_views(model, batch, seed=3)
    assert {k: tuple(v.shape) for k, v in views.items()} == {k: (6, 16) for k in contrast.VIEWS}
    x0_hat, guidance = model.generate(batch, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(views["h_c"], x0_hat)
    torch.testing.assert_close(views["h_d"], guidance.fused[:, -1])
    # same seed, same augmentation and noise: the views repeat exactly
    again = contrast.contrastive_views(model, batch, seed=3)
    assert all(torch.equal(views[k], again[k]) for k in contrast.VIEWS)


def test_h_aug_is_encoder_c_of_the_augmented_sequence(tiny, tiny_model):
    dataset, _ = tiny
    model, config = tiny_model
    batch = case_batch(dataset, range(8), "valid")
    views = contrast.contrastive_views(model, batch, seed=5)
    # the same seed redraws the same s_aug (the views' only numpy randomness)
    s_aug = torch.from_numpy(augment_batch(batch.items.numpy(), dataset.offsets, np.random.default_rng(5),
                                           rates=config.augment_rates))
    with torch.no_grad():
        expected = model.denoiser.encode(model.embed_sequence(s_aug), s_aug == PAD)[:, -1]  # Encoder_c(s_aug)
        plain = model.context(batch)[:, -1]
    torch.testing.assert_close(views["h_aug"], expected)
    changed = (s_aug != batch.items).any(1)
    assert changed.any()
    assert not torch.allclose(views["h_aug"][changed], plain[changed])



def test_contrastive_views_refuse_a_model_without_h_d(tiny):
    dataset, _ = tiny
    model = DPGDiff(dataset.n_items, preset("smoke", model="diff", dim=16))
    batch = case_batch(dataset, range(2), "valid")
    with pytest.raises(ValueError, match="model 'diff' has no disentangled encoder"):
        contrast.contrastive_views(model, batch)


def test_plot_similarities_has_one_heatmap_per_pair_with_boxed_diagonal():
    views = {k: torch.randn(3, 4, generator=torch.Generator().manual_seed(i)) for i, k in enumerate(contrast.VIEWS)}
    fig = contrast.plot_similarities(views)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 3
    np.testing.assert_allclose(heatmaps[0].images[0].get_array(), (views["h_c"] @ views["h_d"].T).numpy(), rtol=1e-6)
    assert len(heatmaps[0].patches) == 3 and len(heatmaps[0].texts) == 9


# --- exercise references ------------------------------------------------------------------------
def test_info_nce_by_hand_matches_the_package_and_a_closed_form():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    for tau in (1.0, 0.3):
        assert contrast.info_nce_by_hand(a, b, tau).item() == pytest.approx(info_nce(a, b, tau).item(), rel=1e-5)
    # two users, orthonormal views: s = I, so −log e / (e + 1) in both directions
    eye = torch.eye(2)
    assert contrast.info_nce_by_hand(eye, eye).item() == pytest.approx(math.log(1 + math.e ** -1), rel=1e-6)
    # large dot products do not overflow (log-sum-exp)
    assert torch.isfinite(contrast.info_nce_by_hand(100 * a, 100 * b))


def test_alignment_closed_forms():
    x = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    assert contrast.alignment(x, 5 * x).item() == pytest.approx(0.0, abs=1e-7)  # scale is normalised away
    assert contrast.alignment(x, -x).item() == pytest.approx(4.0)  # antipodal: ‖2u‖² = 4
    assert contrast.alignment(x, x.flip(1)).item() == pytest.approx(2.0)  # orthogonal: ‖u − v‖² = 2
    assert contrast.alignment(x, -x, alpha=1).item() == pytest.approx(2.0)


def test_uniformity_closed_forms():
    same = torch.ones(5, 3)
    assert contrast.uniformity(same).item() == pytest.approx(0.0, abs=1e-6)  # collapse
    antipodal = torch.tensor([[1.0, 0.0], [-2.0, 0.0]])
    assert contrast.uniformity(antipodal).item() == pytest.approx(-8.0)  # log e^{−2·4}
    # the four axis directions in 2-D: 4 pairs at distance² 2, 2 pairs at 4
    square = torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    expected = math.log((4 * math.exp(-4) + 2 * math.exp(-8)) / 6)
    assert contrast.uniformity(square).item() == pytest.approx(expected, rel=1e-6)


def test_checkers_recognise_correct_missing_and_wrong_answers():
    assert contrast.check_info_nce(contrast.info_nce_by_hand).startswith("correct")
    assert contrast.check_info_nce(lambda a, b, t: None).startswith("not attempted")
    assert contrast.check_info_nce(lambda a, b, t: info_nce(a, b)).startswith("mismatch")  # ignores τ
    assert contrast.check_alignment_uniformity(contrast.alignment, contrast.uniformity).startswith("correct")
    assert contrast.check_alignment_uniformity(lambda x, y: ..., lambda x: ...).startswith("not attempted")
    unnormalised = lambda x, y: (x - y).pow(2).sum(1).mean()  # noqa: E731
    assert contrast.check_alignment_uniformity(unnormalised, contrast.uniformity).startswith("mismatch")


# --- tables and figures -------------------------------------------------------------------------
def test_geometry_table_reports_every_pair_and_view_and_the_loss(tiny, tiny_model):
    dataset, _ = tiny
    model, config = tiny_model
    batch = case_batch(dataset, range(16), "valid")
    table = contrast.geometry_table({"a": model, "b": model}, batch, seed=0)
    assert list(table.index) == ["a", "b"]
    assert list(table.columns) == ["align(h_c,h_d)", "align(h_c,h_aug)", "align(h_d,h_aug)",
                                   "unif(h_c)", "unif(h_d)", "unif(h_aug)", "L_tri-cl"]
    views = contrast.contrastive_views(model, batch, seed=0)
    expected = tri_view_loss(*views.values(), config.temperature, config.cl_similarity)
    assert table.loc["a", "L_tri-cl"] == pytest.approx(expected.item(), rel=1e-5)
    assert table.loc["a", "unif(h_d)"] == pytest.approx(contrast.uniformity(views["h_d"]).item(), rel=1e-5)
    assert ((table.filter(like="align") >= 0) & (table.filter(like="align") <= 4)).all().all()
    assert (table.filter(like="unif") <= 0).all().all()
    fig = contrast.plot_geometry(table)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 2 * 3 and len(fig.axes[1].patches) == 2 * 3


class _FakeResult:
    def __init__(self, x, y, cl):
        import pandas as pd
        from types import SimpleNamespace
        self.valid = SimpleNamespace(table=pd.DataFrame({"NDCG@10": [x, y]}, index=["X", "Y"]))
        self.history = pd.DataFrame({"loss_cl": [9.0, cl]})
        self.seconds_per_epoch = 1.0


def test_sweep_table_and_plot():
    table = contrast.sweep_table({0.0: _FakeResult(4.0, 2.0, 8.0), 1.0: _FakeResult(3.0, 1.0, 6.0)})
    assert table.loc[0.0, "NDCG@10 mean"] == 3.0 and table.loc[1.0, "L_tri-cl (last epoch, training)"] == 6.0
    assert list(table.columns[:2]) == ["NDCG@10 X", "NDCG@10 Y"]
    fig = contrast.plot_weight_sweep(table)
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    assert heights == [1.0, 2.0, 3.0, 4.0]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1"]


def _geometry(rows: dict[str, list[float]]):
    import pandas as pd
    columns = ["align(h_c,h_d)", "align(h_c,h_aug)", "align(h_d,h_aug)", "unif(h_c)", "unif(h_d)", "unif(h_aug)",
               "L_tri-cl"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def test_describe_geometry_counts_improvements_over_the_baseline():
    table = _geometry({"w_cl=0": [1.0, 1.0, 1.0, -2.0, -2.0, -2.0, 8.0],
                       "w_cl=1": [0.5, 1.5, 0.9, -2.5, -1.0, -1.0, 6.0]})
    text = contrast.describe_geometry(table, n_users=512)
    assert text.splitlines() == [
        "w_cl=1 vs w_cl=0: closer positives on 2/3 (h_c,h_d; h_d,h_aug) pairs, more spread on 1/3 (h_c) views; "
        "L_tri-cl 6.00 vs 8.00",
        "chance level of L_tri-cl for 512 users: log 512 = 6.24",
    ]
    with pytest.raises(ValueError, match="baseline 'w_cl=9' is not a row"):
        contrast.describe_geometry(table, baseline="w_cl=9")


def test_describe_sweep_flags_differences_against_the_noise_level():
    import pandas as pd
    table = pd.DataFrame({"NDCG@10 mean": [6.0, 6.3, 5.0, 7.0]}, index=[0.0, 0.1, 1.0, 2.0])
    assert contrast.describe_sweep(table, noise=0.5).splitlines() == [
        "weight_cl=0: mean NDCG@10 6.00 (reference)",
        "weight_cl=0.1: mean NDCG@10 6.30 (+0.30: within seed noise)",
        "weight_cl=1: mean NDCG@10 5.00 (-1.00: worse)",
        "weight_cl=2: mean NDCG@10 7.00 (+1.00: better)",
    ]


# --- L_tri-cl measured three ways; exercise 2 reproduces the geometry table ----------------------------
@pytest.fixture(scope="module")
def tiny_trained(tiny):
    from dpgdiff_lite.trainer import train

    dataset, _ = tiny
    return train(dataset, contrast.LessonParams(epochs=1, dim=16).config(), progress=False).model


def test_tri_cl_breakdown_first_measure_is_the_geometry_tables(tiny, tiny_trained):
    dataset, _ = tiny
    n = min(64, len(dataset.valid))
    breakdown = contrast.tri_cl_breakdown(tiny_trained, dataset, n, batch_size=16, seed=0)
    assert list(breakdown) == list(contrast.TRI_CL_MEASURES)
    table = contrast.geometry_table({"m": tiny_trained}, case_batch(dataset, range(n), "valid"), seed=0)
    assert breakdown[contrast.TRI_CL_MEASURES[0]] == pytest.approx(table.loc["m", "L_tri-cl"], abs=1e-5)
    # fewer negatives per anchor: the chance level log B falls from log 64 to log 16, and so does the loss
    assert breakdown[contrast.TRI_CL_MEASURES[1]] < breakdown[contrast.TRI_CL_MEASURES[0]]
    assert breakdown == contrast.tri_cl_breakdown(tiny_trained, dataset, n, batch_size=16, seed=0)  # seeded


def test_exercise_2_checker_reproduces_the_geometry_table(tiny, tiny_trained):
    dataset, _ = tiny
    batch = case_batch(dataset, range(32), "valid")
    models = {"m": tiny_trained}
    table = contrast.geometry_table(models, batch, seed=0)
    answer = contrast.check_alignment_uniformity(contrast.alignment, contrast.uniformity, models=models,
                                                 batch=batch, table=table)
    assert answer == "correct: matches alignment and uniformity, and reproduces all 6 columns for 1 models of the table"
    # right on the random embeddings, wrong on the views: it compares with a table of other views
    other = table.copy()
    other.loc["m", "unif(h_d)"] += 0.5
    assert contrast.check_alignment_uniformity(contrast.alignment, contrast.uniformity, models=models, batch=batch,
                                               table=other).startswith("mismatch with the table: m unif(h_d)")

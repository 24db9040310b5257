import numpy as np
import pytest
import torch

from dpgdiff_lite import probes
from dpgdiff_lite.config import preset
from dpgdiff_lite.data.dataset import PAD, case_batch, make_batch
from dpgdiff_lite.lessons import common
from dpgdiff_lite.lessons import disentangle as dis
from dpgdiff_lite.sasrec import SASRec

OFFSETS = np.array([0, 10, 25])  # X: global ids 0–9, Y: 10–24


@pytest.fixture(scope="module")
def tiny_model(tiny):
    dataset, _ = tiny
    return common.untrained_model(dataset, preset("smoke", model="dpgdiff", dim=16))


# --- parameters ---------------------------------------------------------------------------------
def test_lesson_params_build_the_shortened_teaching_config():
    params = dis.LessonParams(epochs=3, dim=32)
    config = params.config()
    assert (config.model, config.epochs, config.dim, config.eval_every) == ("dpgdiff", 3, 32, 3)
    assert params.config("sasrec").model == "sasrec"


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be an integer >= 1, got 0"),
    ("probe_alpha", -1.0, "probe_alpha must be >= 0, got -1.0"),
    ("test_fraction", 1.0, "test_fraction must lie strictly between 0 and 1, got 1.0"),
    ("dim", 63, r"'dim' \(63\) must be divisible by 'heads' \(2\)"),
])
def test_lesson_params_reject_bad_values_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        dis.LessonParams(**{field: value})


# --- the split (exercise 1) --------------------------------------------------------------------
def test_split_sequence_by_hand():
    seq = np.array([12, 3, 4, 20, 9])
    s_x, s_y = dis.split_sequence(seq, OFFSETS)
    assert s_x.tolist() == [3, 4, 9] and s_y.tolist() == [2, 10]  # local ids, time order kept


def test_split_sequence_matches_make_batch(tiny):
    dataset, _ = tiny
    for seq in dataset.train[:30]:
        seq = seq[-dataset.max_len:]
        batch = dis.sequence_batch(seq, dataset.offsets, dataset.max_len)
        for mine, theirs in zip(dis.split_sequence(seq, dataset.offsets), dis.batch_subsequences(batch)):
            assert np.array_equal(mine, theirs)


def test_check_split_verdicts(tiny):
    dataset, _ = tiny
    assert dis.check_split(dis.split_sequence, dataset).startswith("correct")
    assert dis.check_split(lambda seq, offsets: ..., dataset).startswith("not attempted")
    global_ids = lambda seq, offsets: [seq[seq < offsets[1]], seq[seq >= offsets[1]]]  # forgot local ids
    assert dis.check_split(global_ids, dataset).startswith("mismatch at user")


def test_split_table_reads_the_latest_event_of_each_domain():
    batch = make_batch(np.array([[PAD, 12, 3, 4, 20]]), np.full((1, 5), PAD), OFFSETS)
    table = dis.split_table(batch, ("X", "Y"))
    assert table.loc["event"].tolist() == ["Y2", "X3", "X4", "Y10"]
    assert table.iloc[1].tolist() == ["-", "0", "1", "1"]  # ĝ_x: nothing before the first X event
    assert table.iloc[2].tolist() == ["0", "0", "0", "1"]


def test_plot_split_draws_every_event_twice():
    seq, labels = np.array([12, 3, 4, 20, 9]), np.array([0, 1, 2, 0, 0])
    fig = dis.plot_split(seq, labels, OFFSETS)
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(seq)  # once in s_c, once in its own domain's row
    assert [t.get_text() for t in ax.get_yticklabels()] == ["$s_c$ (mixed)", "$s_x$ (domain X)", "$s_y$ (domain Y)"]


def test_split_widget_update_follows_the_user(tiny):
    dataset, truth = tiny
    widget, update = dis.split_widget(dataset, truth, user=0)
    (slider,) = widget.children[0].children
    assert (slider.description, slider.value, slider.min, slider.max) == ("user", 0, 0, len(dataset.train) - 1)
    texts = lambda fig: [t.get_text() for t in fig.axes[0].texts]
    first, second = update(0), update(1)
    assert first.axes[0].get_title().startswith("user 0:") and second.axes[0].get_title().startswith("user 1:")
    assert texts(first) != texts(second)
    assert len(first.axes[0].patches) == 2 * len(dis.user_events(dataset, truth, 0)[0])


# --- guidance ----------------------------------------------------------------------------------
def test_last_guidance_and_fusion(tiny, tiny_model):
    dataset, _ = tiny
    batch = case_batch(dataset, range(len(dataset.valid)), "valid")
    assert batch.users.tolist() == dataset.valid.users.tolist()
    assert batch.targets[:, -1].tolist() == dataset.valid.targets.tolist()
    views = dis.last_guidance(tiny_model, batch)
    assert list(views) == ["g_x", "g_y", "g_d"]
    assert all(v.shape == (len(dataset.valid), 16) for v in views.values())
    np.testing.assert_allclose(views["g_d"], views["g_x"] + views["g_y"], atol=1e-5)
    seen = dis.seen_domains(batch)
    expected = np.array([[(dataset.domain_of(h[-dataset.max_len:]) == d).any() for d in (0, 1)]
                         for h in dataset.valid.histories])
    assert np.array_equal(seen, expected)


def test_sasrec_representation_shape(tiny):
    dataset, _ = tiny
    torch.manual_seed(0)
    model = SASRec(dataset.n_items, preset("smoke", model="sasrec", dim=16))
    batch = case_batch(dataset, range(len(dataset.valid)), "valid")
    assert dis.sasrec_representation(model, batch).shape == (len(dataset.valid), 16)


def test_plot_guidance_has_three_panels(tiny, tiny_model):
    dataset, truth = tiny
    seq, _ = dis.user_events(dataset, truth, common.pick_user(dataset, truth, min_len=6))
    fig = dis.plot_guidance(tiny_model, dis.sequence_batch(seq, dataset.offsets, dataset.max_len), n_dims=8)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3
    assert panels[0].images[0].get_array().shape == (8, len(seq))


# --- PCA --------------------------------------------------------------------------------------
# --- the probe ---------------------------------------------------------------------------------
def test_planted_targets_and_the_topic_histogram_reference(tiny):
    dataset, truth = tiny
    targets = dis.planted_targets(truth, dataset.valid.users)
    assert list(targets) == ["θ shared", "φ specific X", "φ specific Y"]
    assert targets["θ shared"].shape == (len(dataset.valid), truth.config.n_shared_topics)
    reference = dis.topic_histogram(dataset, truth, dataset.max_len)
    assert np.array_equal(reference.sum(1), [min(len(h), dataset.max_len) for h in dataset.valid.histories])


# --- collapse (exercise 2) ---------------------------------------------------------------------
def test_collapse_statistic_closed_forms():
    rng = np.random.default_rng(0)
    gx, gy = rng.normal(size=(200, 32)), rng.normal(size=(200, 32))
    assert dis.collapse_statistic(gx, gx) == pytest.approx(1.0)
    assert dis.collapse_statistic(gx, 5 * gx) == pytest.approx(1.0)
    assert dis.collapse_statistic(gx, -gx) == pytest.approx(-1.0)
    assert abs(dis.collapse_statistic(gx, gy)) < 0.05
    same, different = dis.cosine_pairs(gx, gx)
    assert same.shape == (200,) and different.shape == (200 * 199,)
    assert dis.collapse_statistic(gx, gx) == pytest.approx(same.mean())


def test_collapse_report_centres_away_a_shared_direction():
    rng = np.random.default_rng(0)
    offset = 10 * np.ones(16)
    gx, gy = rng.normal(size=(100, 16)) + offset, rng.normal(size=(100, 16)) + offset
    raw, centred = dis.collapse_report(gx, gy), dis.collapse_report(gx, gy, centre=True)
    assert raw["same user"] > 0.9 and raw["different users"] > 0.9  # looks collapsed, but only the offset
    assert abs(centred["same user"]) < 0.1 and abs(centred["gap"]) < 0.1
    assert dis.describe_collapse(raw).startswith("collapse")
    assert dis.describe_collapse(centred).startswith("no collapse and no user-specific agreement")
    agree = dis.collapse_report(gx, gx - offset + 0.5 * rng.normal(size=(100, 16)), centre=True)
    assert dis.describe_collapse(agree).startswith("no collapse, but agreement")


def test_check_collapse_verdicts():
    assert dis.check_collapse(dis.collapse_statistic).startswith("correct")
    assert dis.check_collapse(lambda gx, gy: ...).startswith("not attempted")
    unnormalised = lambda gx, gy: float((gx * gy).sum(1).mean())
    assert dis.check_collapse(unnormalised).startswith("mismatch")


def test_plot_collapse_raw_and_centred_rows():
    rng = np.random.default_rng(0)
    pair = (rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))
    fig = dis.plot_collapse({"untrained": pair, "trained": pair})
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == ["untrained, raw", "trained, raw", "untrained, centred", "trained, centred"]
    assert all(len(ax.patches) == 40 + 1 for ax in fig.axes)  # 40 bars (different users) + one step outline (same user)


# --- the 3-D PCA figure and the neighbour measurement of its section ---------------------------------------
def test_projection_figure_3d_names_user_topic_and_label_on_hover(tiny):
    dataset, truth = tiny
    config = dis.LessonParams(epochs=1, dim=16).config()
    model = common.untrained_model(dataset, config)
    views = dis.last_guidance(model, case_batch(dataset, range(len(dataset.valid)), "valid"))
    topic = truth.user_preferences.shared[dataset.valid.users].argmax(1)
    latest = dis.latest_labels(dataset, truth)
    assert len(latest) == len(dataset.valid) and set(latest) <= {0, 1, 2}
    assert latest[3] == truth.valid_labels.histories[3][-1]
    plot, static = dis.projection_figure_3d({"before": views, "after": views}, dataset.valid.users, topic,
                                                   latest, max_points=20)
    assert len(plot.data) == 2 * 3 and all(t.type == "scatter3d" and len(t.x) == 20 for t in plot.data)
    first = plot.data[0].text[0]
    assert first.startswith("user ") and "shared topic" in first and first.split("latest event ")[1] in dis.LABEL_NAMES
    assert len(static.axes) == 6
    table = dis.neighbour_table({"before": views}, topic, latest, k=5)
    assert list(table.index) == ["g_x (before)", "g_y (before)", "g_d (before)"]
    assert table["topic, chance"].iloc[0] == pytest.approx(probes.chance_agreement(topic))

import numpy as np
import pandas as pd
import pytest
import torch

from dpgdiff_lite.experiments import eq15
from dpgdiff_lite.config import preset
from dpgdiff_lite import readout
from dpgdiff_lite.data.dataset import PAD, case_batch, left_pad
from dpgdiff_lite.data.synthetic import NOISE
from dpgdiff_lite.denoiser import CrossAttentionDecoder
from dpgdiff_lite.evaluation import evaluate
from dpgdiff_lite.lessons import common, guided

from tests.conftest import make_toy_dataset


@pytest.fixture(scope="module")
def models(tiny):
    dataset, _ = tiny
    return {name: common.untrained_model(dataset, preset("smoke", model=name, dim=16))
            for name in ("dpgdiff", "diff+de")}


@pytest.fixture(scope="module")
def user(tiny):
    dataset, truth = tiny
    return common.pick_user(dataset, truth, min_len=6, split="test")


# --- parameters ---------------------------------------------------------------------------------
def test_lesson_params_build_the_shortened_teaching_config():
    params = guided.LessonParams(epochs=3, dim=16)
    config = params.config("diff+de")
    assert (config.model, config.epochs, config.dim, config.eval_every) == ("diff+de", 3, 16, 3)
    assert config.inference_steps == 1  # the package default is left alone


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be an integer >= 1, got 0"),
    ("n_attention", 2.5, "n_attention must be an integer >= 1, got 2.5"),
    ("test_noise", 1.5, r"test_noise must lie in \[0, 1\], got 1.5"),
    ("steps", (1, 33), r"steps must be a non-empty tuple of integers in 1..T=32"),
    ("steps", (), "steps must be a non-empty tuple"),
])
def test_lesson_params_reject_bad_values_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        guided.LessonParams(**{field: value})


# --- cases and memory tokens --------------------------------------------------------------------
def test_memory_tokens_hold_every_event_once_with_its_planted_label(tiny, user):
    dataset, truth = tiny
    batch = case_batch(dataset, [user])
    labels = left_pad([truth.test_labels.histories[user]], dataset.max_len)
    tokens = guided.memory_tokens(batch, 0, labels, dataset.offsets)
    history = dataset.test.histories[user][-dataset.max_len:]
    hist_labels = truth.test_labels.histories[user][-dataset.max_len:]
    assert tokens["kind"].iloc[0] == "null"
    events = tokens[~tokens["kind"].isin(["null", "padding"])]
    assert len(events) == len(history)
    domains = dataset.domain_of(history)
    for d, name in enumerate(dataset.domain_names):  # each domain's tokens are its events in order
        mine = events[events["domain"] == name]
        assert mine["item"].tolist() == history[domains == d].tolist()
        assert mine["kind"].tolist() == [("invariant", "specific", "noise")[k] for k in hist_labels[domains == d]]
    assert len(tokens) == 1 + sum(t.shape[1] for t in batch.domain_items)


def test_memory_kinds_match_the_labels_for_a_whole_padded_batch(tiny):
    dataset, truth = tiny
    batch = case_batch(dataset, np.arange(20))
    labels = left_pad(truth.test_labels.histories[:20], dataset.max_len)
    kinds = readout.memory_kinds(batch, labels)
    assert (kinds[:, 0] == 0).all()
    for row in range(20):
        real = labels[row][labels[row] != PAD]
        assert sorted((kinds[row][kinds[row] > 0] - 1).tolist()) == sorted(real.tolist())


# --- eq. (9): attention -------------------------------------------------------------------------
def test_decoder_attention_is_a_masked_distribution_whose_last_row_is_generates(tiny, models):
    dataset, _ = tiny
    model = models["dpgdiff"]
    batch = case_batch(dataset, np.arange(6))
    weights = readout.decoder_attention(model, batch)
    guidance = model.guidance(batch)
    assert weights.shape == guidance.memory_allowed.shape
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]), atol=1e-5)
    assert (weights[~guidance.memory_allowed] == 0).all()
    # x_t never reaches the queries: another noise draw gives the same weights; t does change them
    assert torch.allclose(weights, readout.decoder_attention(model, batch, seed=1))
    assert not torch.allclose(weights, readout.decoder_attention(model, batch, t=1))
    # the first reverse step of generate denoises the last position alone at t = T: the same last row
    T = model.config.T
    with torch.no_grad():
        last = model.context(batch)[:, -1:]  # (B, 1, D)
        _, first_step = model.denoise(last, torch.randn(last.shape), torch.full((6,), T), guidance,
                                      last_only=True, need_weights=True)  # (B, 1, M)
    assert torch.allclose(first_step[:, 0], weights[:, -1], atol=1e-6)


def test_decoder_attention_refuses_an_unguided_model(tiny, models):
    dataset, _ = tiny
    with pytest.raises(ValueError, match="'diff\\+de' has no guidance"):
        readout.decoder_attention(models["diff+de"], case_batch(dataset, [0]))


def test_memory_recency_counts_events_back_from_the_latest(tiny, user):
    dataset, truth = tiny
    batch = case_batch(dataset, [user, 0])
    recency = readout.memory_recency(batch)
    assert (recency[:, 0] == PAD).all()
    for row, case in enumerate([user, 0]):
        n_events = min(len(dataset.test.histories[case]), dataset.max_len)
        assert sorted(recency[row][recency[row] != PAD].tolist()) == list(range(n_events))
    # the latest event's column holds the last item of the history
    row_items = np.concatenate([[PAD]] + [(d[0] + dataset.offsets[i]).numpy() for i, d in enumerate(batch.domain_items)])
    assert row_items[recency[0] == 0][0] == dataset.test.histories[user][-1]


def test_attention_by_label_closed_form():
    # two rows, memory [null, I, N, S, pad] / [null, N, I, pad, pad]; weights at the last query
    kinds = np.array([[0, 1, 3, 2, PAD], [0, 3, 1, PAD, PAD]])
    recency = np.array([[PAD, 2, 1, 0, PAD], [PAD, 0, 1, PAD, PAD]])
    last = torch.tensor([[0.1, 0.4, 0.2, 0.3, 0.0], [0.5, 0.1, 0.4, 0.0, 0.0]])
    weights = torch.stack([torch.zeros_like(last), last], 1)  # (2, L=2, M=5)
    out = readout.attention_by_label(weights, kinds, recency)
    assert out["per token: noise"] == pytest.approx((0.2 + 0.1) / 2)
    assert out["per token: invariant"] == pytest.approx((0.4 + 0.4) / 2)
    assert out["per token: latest event"] == pytest.approx((0.3 + 0.1) / 2)
    assert out["per token: older clean"] == pytest.approx((0.4 + 0.4) / 2)
    assert out["per token: older noise"] == pytest.approx(0.2)
    assert out["mass: null"] == pytest.approx((0.1 + 0.5) / 2)
    assert out["uniform per token"] == pytest.approx((1 / 4 + 1 / 3) / 2)
    assert sum(out[f"mass: {k}"] for k in readout.TOKEN_KINDS) == pytest.approx(1.0)


def test_attention_table_has_one_row_per_model_and_masses_summing_to_one(tiny, models):
    dataset, truth = tiny
    batch = case_batch(dataset, np.arange(30))
    labels = left_pad(truth.test_labels.histories[:30], dataset.max_len)
    table = readout.attention_table({"a": models["dpgdiff"]}, batch, labels)
    assert list(table.index) == ["a"]
    masses = table[[f"mass: {k}" for k in readout.TOKEN_KINDS]].sum(axis=1)
    assert masses.iloc[0] == pytest.approx(1.0, abs=1e-5)
    row = table.iloc[0]
    assert row["older noise / older clean"] == pytest.approx(row["per token: older noise"] / row["per token: older clean"])


def test_plot_attention_labels_every_event_and_colours_noise_red(tiny, models, user):
    dataset, truth = tiny
    batch = case_batch(dataset, [user])
    labels = left_pad([truth.test_labels.histories[user]], dataset.max_len)
    tokens = guided.memory_tokens(batch, 0, labels, dataset.offsets)
    fig = guided.plot_attention(readout.decoder_attention(models["dpgdiff"], batch)[0], tokens,
                                batch.items[0].numpy(), labels[0])
    ax = fig.axes[0]
    n_events = int((batch.items[0] != PAD).sum())
    assert len(ax.get_images()) == 1
    assert len(ax.get_xticklabels()) == n_events + 1 and len(ax.get_yticklabels()) == n_events
    red = [t.get_text() for t in ax.get_xticklabels() if t.get_color() == guided.LABEL_COLOURS[NOISE]]
    assert red and all(text.endswith(" N") for text in red)


# --- the reverse trajectory ---------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 32])
def test_reverse_trajectory_has_k_states_and_ends_at_generates_x0(tiny, models, k):
    dataset, _ = tiny
    model = models["dpgdiff"]
    batch = case_batch(dataset, [0])
    path = readout.reverse_trajectory(model, batch, k)
    assert len(path) == k == len(path.states)
    assert path.steps == model.schedule.timesteps(k) and path.steps[0] == model.config.T
    generator = torch.Generator().manual_seed(model.config.inference_seed)
    x0_hat, _ = model.generate(batch, steps=k, generator=generator)
    assert np.allclose(path.x0_hat, x0_hat[0].numpy(), atol=1e-6)


def test_trajectory_widget_redraws_a_chain_of_k_plus_one_points(tiny, models):
    dataset, _ = tiny
    batch = case_batch(dataset, [0])
    widget, update = guided.trajectory_widget(models, batch, default=2)
    figures = {k: update(k) for k in (1, 4)}
    for k, fig in figures.items():
        assert len(fig.axes) == 2  # guided and unguided side by side
        for ax in fig.axes:
            (chain,) = ax.get_lines()
            assert len(chain.get_xdata()) == k + 1  # x_T, …, x_{t_k} and x̂_0
            assert f"k={k}:" in ax.get_title()
    # the chain is drawn in the PCA of the items and the chain's points together
    model = models["dpgdiff"]
    items = readout.item_points(model, int(batch.target_domains[0, -1]))
    path = readout.reverse_trajectory(model, batch, 4)
    chain_points = np.vstack([path.states, path.x0_hat[None]])
    expected = common.Projection.fit(np.vstack([items, chain_points]))(chain_points)
    np.testing.assert_allclose(figures[4].axes[0].get_lines()[0].get_xydata(), expected, rtol=1e-5, atol=1e-6)
    (slider,) = widget.children[0].children
    assert (slider.description, slider.value, slider.min, slider.max) == ("steps k", 2, 1, model.config.T)


def test_chain_table_reports_the_rank_and_norm_of_each_models_x0(tiny, models):
    dataset, _ = tiny
    batch = case_batch(dataset, [0])
    table = guided.chain_table(models, batch, (1, 4))
    assert list(table.index) == [1, 4]
    model = models["diff+de"]
    domain, target = int(batch.target_domains[0, -1]), int(batch.target_local[0, -1])
    assert table.loc[4, "diff+de rank"] == guided.target_rank(model.score(batch, domain, steps=4)[0], target)
    x0_hat = readout.reverse_trajectory(model, batch, 1).x0_hat
    assert table.loc[1, "diff+de ‖x̂_0‖"] == pytest.approx(float(np.linalg.norm(x0_hat)))
    item = dataset.offsets[domain] + target
    expected = model.target_embedding(torch.tensor([item]))[0].norm().item()
    assert table.loc[1, "‖x_0‖ of the target"] == pytest.approx(expected, rel=1e-5)


# --- eq. (15) with k reverse steps -------------------------------------------------------------
def test_score_takes_the_number_of_reverse_steps(tiny, models):
    dataset, _ = tiny
    model = models["dpgdiff"]
    batch = case_batch(dataset, np.arange(4))
    generator = torch.Generator().manual_seed(model.config.inference_seed)
    x0_hat, guidance = model.generate(batch, steps=3, generator=generator)
    by_hand = (x0_hat + guidance.per_domain[1][:, -1]) @ model.items.table(1).T  # eq. (15): (x̂_0 + ĝ_y)ᵀE_y
    torch.testing.assert_close(model.score(batch, 1, steps=3), by_hand)
    assert not torch.allclose(model.score(batch, 1, steps=3), model.score(batch, 1))  # default k = 1


# --- test-time noise ----------------------------------------------------------------------------
def test_noise_widget_update_changes_the_top_10_or_rank(tiny, models, user):
    dataset, truth = tiny
    widget, update = guided.noise_widget(models["dpgdiff"], dataset, truth, user)

    def drawn(fig):
        strip, bars = fig.axes[:2]
        return strip.get_title(), bars.get_title(), [t.get_text() for t in bars.get_yticklabels()]

    at_zero, at_half = drawn(update(0.0)), drawn(update(0.5))
    assert at_zero[0].startswith("r = 0.00: 0 of") and at_half[0].startswith("r = 0.50:")
    assert at_zero[1:] != at_half[1:]
    assert len(at_zero[2]) == 10
    (slider,) = widget.children[0].children  # the browser test finds it by description and reads its readout
    assert (slider.description, slider.value, slider.min, slider.max, slider.step, slider.readout_format) == \
           ("noise r", pytest.approx(0.3), 0.0, 1.0, 0.05, ".2f")


# --- exercises ----------------------------------------------------------------------------------
def test_target_rank_matches_the_package_evaluation_with_ties():
    dataset = make_toy_dataset()

    class Tied:
        device = torch.device("cpu")

        def score(self, batch, domain, steps=None):  # few distinct values: many ties
            n = dataset.n_items[domain]
            base = (torch.arange(n) % 3).float()
            return base[None].repeat(len(batch), 1) + (batch.items[:, -1:] % 2).float()

    result = evaluate(Tied(), dataset, split="test", protocol="full")
    scorer = Tied()
    for case, row in result.per_case.iterrows():
        target = int(dataset.test.targets[case])
        domain = int(dataset.domain_of(np.array([target]))[0])
        batch = case_batch(dataset, [case])
        scores = scorer.score(batch, domain)[0]
        assert guided.target_rank(scores, int(dataset.to_local(np.array([target]))[0])) == row["rank"]


def test_target_rank_closed_forms():
    assert guided.target_rank(torch.tensor([0.1, 0.5, 0.3, 0.9]), 2) == 3
    assert guided.target_rank(torch.tensor([0.7, 0.7, 0.7]), 0) == 3  # ties count against the target


def test_attention_row_by_hand_matches_the_packages_decoder():
    torch.manual_seed(0)
    decoder = CrossAttentionDecoder(8, 2, dropout=0.0).eval()
    query, memory = torch.randn(1, 4, 8), torch.randn(1, 6, 8)
    allowed = torch.ones(1, 4, 6, dtype=torch.bool).tril(1)  # causal-ish, the null column always open
    with torch.no_grad():
        _, weights = decoder(query, memory, allowed, need_weights=True)  # (1, 4, 6)
        q, kv = decoder.norm_q(query)[0], decoder.norm_kv(memory)[0]
        for i in range(4):
            by_hand = guided.attention_row_by_hand(decoder.attention_layer, q[i], kv, allowed[0, i])
            assert torch.allclose(by_hand, weights[0, i], atol=1e-6)


def test_checkers_recognise_correct_missing_and_wrong_answers():
    assert guided.check_attention_row(guided.attention_row_by_hand).startswith("correct")
    assert guided.check_attention_row(lambda *a: None).startswith("not attempted")
    unmasked = lambda mha, q, m, allowed: guided.attention_row_by_hand(mha, q, m, torch.ones_like(allowed))  # noqa: E731
    assert guided.check_attention_row(unmasked).startswith("mismatch")
    assert guided.check_target_rank(guided.target_rank).startswith("correct")
    assert guided.check_target_rank(lambda s, t: ...).startswith("not attempted")
    optimistic = lambda s, t: int((s > s[t]).sum()) + 1  # noqa: E731
    assert guided.check_target_rank(optimistic).startswith("mismatch")


def test_plot_attention_by_label_draws_one_bar_per_kind_and_model():
    table = pd.DataFrame({**{f"per token: {k}": [0.1, 0.2] for k in readout.ATTENTION_GROUPS},
                          "uniform per token": [0.15, 0.15]}, index=["a", "b"])
    ax = guided.plot_attention_by_label(table).axes[0]
    assert len(ax.patches) == 2 * len(readout.ATTENTION_GROUPS)
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(0.15)


# --- eq. (15) taken apart --------------------------------------------------------------------------
def test_eq15_parts_rank_by_each_term_and_their_sum_is_the_models_score(tiny_source):
    from dpgdiff_lite.lessons.common import teaching_config
    from dpgdiff_lite.trainer import run_evaluation, train

    dataset = tiny_source.dataset
    result = train(dataset, teaching_config("dpgdiff", epochs=1, dim=32, seed=0), progress=False)
    table = eq15.eq15_parts(result, dataset)
    assert list(table.index) == list(eq15.EQ15_PARTS)
    assert table.loc["x̂_0 + ĝ_d", "NDCG@10 X"] == pytest.approx(result.test.table.loc["X", "NDCG@10"])
    # ĝ_d alone does not depend on the diffusion: the same with any number of steps
    g_only = eq15.PartScorer(result.model, "ĝ_d alone")
    assert run_evaluation(g_only, dataset, result.config, "test", steps=4).table.equals(
        run_evaluation(g_only, dataset, result.config, "test", steps=1).table)
    batch = case_batch(dataset, np.arange(16))
    x0 = eq15.PartScorer(result.model, "x̂_0 alone").score(batch, 0)
    g = g_only.score(batch, 0)
    assert torch.allclose(x0 + g, result.model.score(batch, 0), atol=1e-5)  # eq. (15) is linear in its two terms
    assert eq15.eq15_gain(table)["NDCG@10 mean"] == pytest.approx(
        table.loc["x̂_0 + ĝ_d", "NDCG@10 mean"] - table.loc["ĝ_d alone", "NDCG@10 mean"])
    with pytest.raises(ValueError, match="part must be one of"):
        eq15.PartScorer(result.model, "sum")
    unguided = train(dataset, teaching_config("diff", epochs=1, dim=32, seed=0), progress=False)
    assert list(eq15.eq15_parts(unguided, dataset).index) == ["x̂_0 alone"]
    with pytest.raises(ValueError, match="'diff' has no Disentangled Encoder"):
        eq15.PartScorer(unguided.model, "ĝ_d alone")


def test_attention_figure_hovers_name_item_domain_and_label(tiny):
    dataset, truth = tiny
    model = common.untrained_model(dataset, common.teaching_config("dpgdiff", epochs=1, dim=16, seed=0))
    user = common.pick_user(dataset, truth, min_len=4, split="test")
    batch = case_batch(dataset, [user])
    labels = left_pad([truth.test_labels.histories[user]], dataset.max_len)
    weights = readout.decoder_attention(model, batch)
    tokens = guided.memory_tokens(batch, 0, labels, dataset.offsets)
    plot, static = guided.attention_figure(weights[0], tokens, batch.items[0].numpy(), labels[0], dataset.offsets,
                                           title="t")
    heatmap = plot.data[0]
    n_events = int((batch.items[0] != PAD).sum())
    assert len(heatmap.z) == n_events and len(heatmap.x) == int((tokens["kind"] != "padding").sum())
    last = heatmap.customdata[-1]
    assert all(t.startswith(f"query {dataset.max_len - 1}: item ") and "attends to" in t for t in last)
    assert last[0].endswith("null token (no guidance)") and ", domain " in last[1]
    assert heatmap.z[0][-1] is None  # the first query cannot see the last token: blank, no hover weight
    assert len(static.axes) == 2  # the heatmap and its colour bar, as plot_attention draws it

"""The small world the conflict sliders of notebooks 02 and 10 retrain on (small_world.py), and the slider
(lessons/common.conflict_widget)."""

from __future__ import annotations

import pytest

from dpgdiff_lite.anchored import PATHS
from dpgdiff_lite.experiments import small_world
from dpgdiff_lite.lessons.common import conflict_widget


def test_the_spec_and_config_of_the_small_world():
    assert small_world.spec(0.5, 200, 0) == ("synthetic:tiny[persistence=0.0,topic_concentration=0.1,"
                                             "conflict_kind=opposed,n_users=200,conflict_rate=0.5,seed=0]")
    config = small_world.config("dpgdiff-anchored", 3, 0)
    assert config.epochs == 3 and config.eval_protocol == "full" and config.eval_every == 3


def test_the_widget_retrains_every_model_once_per_rate_and_starts_where_asked():
    models = ("sasrec", "sasrec-single", "dpgdiff-anchored")
    view, update = conflict_widget(users=200, epochs=1, seed=0, start=0.5, models=models)
    slider = view.children[0].children[0]
    assert slider.value == 0.5 and slider.step == 0.25
    first = update.run_at(0.5)  # trained when the widget was built (its first drawing)
    assert update.run_at(0.5) is first and len(update(0.5).axes) == 2
    assert list(first.ndcg.columns) == [*models, "oracle"]
    assert first.transfer.loc["X", "transfer"] == pytest.approx(first.ndcg.loc["X", "sasrec"] - first.ndcg.loc["X", "sasrec-single"])
    gain = first.gains["dpgdiff-anchored"].loc["Y"]
    assert gain["gain"] == pytest.approx(first.ndcg.loc["Y", "dpgdiff-anchored"] - first.ndcg.loc["Y", gain["best"]])
    assert list(first.gains) == ["dpgdiff-anchored"] and list(first.weights.index) == ["X", "Y"]
    assert list(first.weights.columns) == list(PATHS) and first.weights.sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert "anchored weights s_d / s_c / DPG-Diff:\nX " in update(0.5).axes[1].get_title()


def test_without_both_sasrecs_there_is_no_transfer():
    run = small_world.train_small(0.0, 200, 1, 0, ("sasrec",))
    assert run.transfer is None and run.weights is None and run.gains == {}

"""Shared fixtures (small hand-built datasets that do not depend on any data source, the browser) and the
``slow`` marker: heavier checks run only with ``DPGDIFF_SLOW_TESTS=1`` (``.ci/run`` sets it)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dpgdiff_lite.data.dataset import CrossDomainDataset, EvalSplit

SHARED_FOOD_KITCHEN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "c2dsr" / "Food-Kitchen"
MAX_TEST_WORKERS = 4
"""``pytest -n auto`` (pyproject.toml) starts one worker per core up to this many: each holds torch and
a few trained models, so a many-core laptop is not asked for tens of them."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return max(1, min(MAX_TEST_WORKERS, os.cpu_count() or 1))


def make_toy_dataset(n_users: int = 40, n_items: tuple[int, int] = (12, 18), seed: int = 0) -> CrossDomainDataset:
    """Random two-domain sequences of 4–9 events with a leave-one-out split."""
    rng = np.random.default_rng(seed)
    total = sum(n_items)
    full = [rng.integers(0, total, size=rng.integers(6, 12)).astype(np.int64) for _ in range(n_users)]
    users = np.arange(n_users)
    return CrossDomainDataset(
        name="toy", protocol="leave-one-out", domain_names=("X", "Y"), n_items=n_items,
        train=[s[:-2] for s in full],
        valid=EvalSplit([s[:-2] for s in full], np.array([s[-2] for s in full]), users),
        test=EvalSplit([s[:-1] for s in full], np.array([s[-1] for s in full]), users),
        max_len=8, train_users=users,
    )


@pytest.fixture(scope="session")
def tiny():
    """The `tiny` synthetic preset: (dataset, truth)."""
    from dpgdiff_lite.data.synthetic import generate

    return generate("tiny")


@pytest.fixture
def toy_dataset() -> CrossDomainDataset:
    return make_toy_dataset()


TINY_EXPERIMENT = dict(data="synthetic:tiny", preset="smoke", overrides="dim=32", epochs=1)
"""Parameters of notebooks 06–08 that train in seconds: the tiny data, the smoke preset, one epoch."""


@pytest.fixture(scope="session")
def tiny_source():
    from dpgdiff_lite.parameters import ExperimentParams

    return ExperimentParams(**TINY_EXPERIMENT).load()


@pytest.fixture(scope="session")
def robust_runs(tiny_source, tmp_path_factory):
    """Notebook 07's models (dpgdiff, sasrec, diff), trained one epoch on the tiny data: (params, results)."""
    from dpgdiff_lite.lessons.robustness import RobustnessParams

    params = RobustnessParams(**TINY_EXPERIMENT, models="dpgdiff,sasrec,diff", output=str(tmp_path_factory.mktemp("r")))
    return params, params.train(tiny_source)


@pytest.fixture(scope="session")
def ablation_runs(tiny_source, tmp_path_factory):
    """Notebook 08's five variants, trained one epoch on the tiny data: (params, results)."""
    from dpgdiff_lite.lessons.ablation import AblationParams

    params = AblationParams(**TINY_EXPERIMENT, output=str(tmp_path_factory.mktemp("a")))
    return params, params.train(tiny_source)


# --- the browser tests (DPGDIFF_BROWSER_TESTS=1) ------------------------------------------------------
CHROMIUM = os.environ.get("DPGDIFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""Debian's Chromium, started as root on a closed network: no sandbox, no background connections."""


@pytest.fixture(scope="session")
def browser():
    # opted in: a missing browser or client is a failure, not a skip
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("DPGDIFF_BROWSER_TESTS=1 needs Playwright's client: pip install playwright")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"DPGDIFF_BROWSER_TESTS=1 needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the tests marked ``slow`` unless ``DPGDIFF_SLOW_TESTS=1``, saying how to run them."""
    if os.environ.get("DPGDIFF_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="a heavier check: run it with DPGDIFF_SLOW_TESTS=1 (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

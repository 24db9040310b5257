"""A small planted world at one conflict rate, and a few models retrained on it in seconds: what the
conflict sliders of notebooks 02 and 10 run at every move.

The world is the ``tiny`` preset (100 / 120 items) with the regime grid's sharp tastes and no topic
persistence, ``users`` users and opposed conflict at the slider's rate; every model trains with the
``smoke`` preset for a fixed number of epochs and is ranked against every item. One seed, so a move
shows the direction of an effect, not its size: the precomputed grids are the measurement.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from dpgdiff_lite.anchored import PATHS, AnchoredDPGDiff
from dpgdiff_lite.experiments import transfer
from dpgdiff_lite.config import Config, preset
from dpgdiff_lite.data.synthetic import PRESETS as DATA_PRESETS, generate
from dpgdiff_lite.trainer import run_evaluation, train

BASE = "tiny"
KNOBS = {"persistence": 0.0, "topic_concentration": 0.1, "conflict_kind": "opposed"}
SASRECS = ("sasrec", "sasrec-single")


def spec(conflict_rate: float, users: int, seed: int) -> str:
    """The data spec of the small world at one conflict rate."""
    knobs = ",".join(f"{k}={v}" for k, v in {**KNOBS, "n_users": users, "conflict_rate": float(conflict_rate),
                                             "seed": seed}.items())
    return f"synthetic:{BASE}[{knobs}]"


def config(model: str, epochs: int, seed: int) -> Config:
    """A model's training config: the smoke preset for ``epochs`` epochs, ranked against every item."""
    return preset("smoke", model=model, epochs=epochs, eval_every=epochs, patience=epochs, seed=seed,
                  eval_protocol="full")


@dataclass
class SmallRun:
    """The models (and the oracle) on the small world at one conflict rate."""

    conflict_rate: float
    ndcg: pd.DataFrame  # index domain, a column per model and "oracle": test NDCG@10 ×100
    transfer: pd.DataFrame | None  # sasrec − sasrec-single (transfer.transfer, p over the test cases)
    gains: dict[str, pd.DataFrame]  # each other model − the better SASRec (transfer.gain_over_best)
    weights: pd.DataFrame | None  # dpgdiff-anchored's weights fit on validation: index domain, a column per path
    seconds: float  # training and evaluating every model


def train_small(conflict_rate: float, users: int, epochs: int, seed: int, models: tuple[str, ...] = SASRECS,
                progress: bool = False) -> SmallRun:
    """Train ``models`` on the small world at ``conflict_rate`` (one progress step per model)."""
    started = time.perf_counter()
    world = dataclasses.replace(DATA_PRESETS[BASE], **KNOBS, n_users=users, conflict_rate=float(conflict_rate),
                                seed=seed)
    dataset, truth = generate(world)
    tests, weights = {}, None
    for model in tqdm(models, desc=f"conflict {conflict_rate:g}", disable=not progress, leave=False):
        result = train(dataset, config(model, epochs, seed), progress=False)
        tests[model] = result.test
        if isinstance(result.model, AnchoredDPGDiff):
            # (domains, user groups, paths) → the mean over user groups, one row per domain
            weights = pd.DataFrame(result.model.mix_weight.mean(1).numpy(), index=result.test.table.index,
                                   columns=list(PATHS))
    oracle = run_evaluation(truth.oracle_scorer(), dataset, preset("smoke", model="oracle", eval_protocol="full"),
                            "test")
    ndcg = pd.DataFrame({m: t.table["NDCG@10"] for m, t in tests.items()} | {"oracle": oracle.table["NDCG@10"]})
    both = all(m in tests for m in SASRECS)
    moved = transfer.transfer({seed: tests["sasrec"]}, {seed: tests["sasrec-single"]}) if both else None
    baselines = {m: {seed: tests[m]} for m in SASRECS if m in tests}
    gains = {m: transfer.gain_over_best({seed: t}, baselines) for m, t in tests.items()
             if m not in SASRECS and baselines}
    return SmallRun(float(conflict_rate), ndcg, moved, gains, weights, time.perf_counter() - started)


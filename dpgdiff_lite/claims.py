"""Claims: a sentence of a notebook's prose checked by the numbers a cell beside it just computed.

``claim("DPG-Diff beats popularity by 2.5x", dpg > 2.5 * pop, dpg=dpg, pop=pop)`` prints the sentence
with its values when it holds and stops the notebook (a :class:`ClaimError`, which nbval fails on) when
it does not, so prose and output cannot part. :func:`check_reproduced` claims that a live re-run of a
committed seed lands within :data:`~dpgdiff_lite.experiments.reproduce.REPRODUCTION_TOLERANCE` of its
precomputed row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from dpgdiff_lite.experiments.reproduce import REPRODUCTION_TOLERANCE
from dpgdiff_lite.parameters import SeededParams, same_setting


class ClaimError(AssertionError):
    """A sentence of a notebook's prose that the numbers just computed contradict. Jupyter shows the
    statement and the measured values, not a traceback; nbval fails the notebook on it."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own display
        return [f"ClaimError: {self}"]


def claim(statement: str, condition, **measured) -> None:
    """Print ``✓ statement (name=value, …)`` when ``condition`` holds, else raise :class:`ClaimError`
    naming the statement and the values, so a notebook stops the moment its prose and its output part.

    ``condition`` must be a bool (a numpy bool or a one-element torch bool tensor is fine; a number is
    refused, so ``claim(s, ratio)`` cannot pass by being non-zero). Floats are shown to 4 significant
    digits: ``claim("DPG-Diff beats popularity by 2.5x", dpg > 2.5 * pop, dpg=19.33, pop=5.33)``
    prints ``✓ DPG-Diff beats popularity by 2.5x (dpg=19.33, pop=5.33)``.
    """
    if isinstance(condition, torch.Tensor) and condition.dtype == torch.bool and condition.numel() == 1:
        condition = condition.item()
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(f"claim {statement!r}: condition must be a bool, got {type(condition).__name__} {condition!r}")

    def shown(value) -> str:
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.4g}"
        return str(value)

    values = ", ".join(f"{name}={shown(value)}" for name, value in measured.items())
    line = f"{statement} ({values})" if values else statement
    if not condition:
        raise ClaimError(f"✗ {line}: the claim does not hold")
    print(f"✓ {line}")


def checked(applies: bool, statement: str, condition, **measured) -> None:
    """:func:`claim` when ``applies`` (the notebook runs with the setting its prose describes); else
    print the statement and the values marked as not checked, so other parameters never fail on it."""
    if applies:
        claim(statement, condition, **measured)
        return
    values = ", ".join(f"{k}={float(v):.4g}" if isinstance(v, (float, np.floating)) else f"{k}={v}"
                       for k, v in measured.items())
    print(f"· not checked (other parameters than the committed run's): {statement}" + (f" ({values})" if values else ""))


def largest_difference(live: pd.DataFrame, recorded: pd.DataFrame, keys: list[str], value: str) -> float:
    """max |live − recorded| of column ``value`` over the rows both frames hold (joined on ``keys``);
    NaN when they share no row."""
    joined = live[keys + [value]].merge(recorded[keys + [value]], on=keys, suffixes=("_live", "_recorded"))
    if not len(joined):
        return float("nan")
    return float((joined[f"{value}_live"] - joined[f"{value}_recorded"]).abs().max())


def check_reproduced(params: SeededParams, recorded: dict, live: dict, precomputed: dict,
                     checks: dict[str, tuple[list[str], str]], tolerance: float = REPRODUCTION_TOLERANCE) -> bool:
    """Claim that this run reproduces the precomputed rows of every seed both hold: for each
    ``frame: (keys, value)`` of ``checks``, the largest |live − precomputed| of ``value`` (a metric in
    points) over rows joined on ``keys`` stays within ``tolerance``. Returns whether the comparison
    applied (same setting and at least one shared seed); otherwise says why not."""
    shared = sorted(set(params.seeds) & set(recorded["seeds"]))
    if not same_setting(params, recorded) or not shared:
        why = "another setting" if shared else f"no shared seed (this run {list(params.seeds)}, precomputed {recorded['seeds']})"
        print(f"· not compared with the precomputed results: {why}")
        return False
    for name, (keys, value) in checks.items():
        difference = largest_difference(live[name], precomputed[name], keys, value)
        claim(f"this run's seed(s) {shared} reproduce the precomputed {name}.csv rows ({value}) within "
              f"{tolerance:g} points", bool(difference <= tolerance), largest_difference=difference)
    return True

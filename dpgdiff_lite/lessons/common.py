"""What the lesson modules share: figure style, the untrained model, the widget factory, one PCA,
the "not attempted" convention of the exercises, and the papermill parameters of notebooks 06–08.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so nothing is drawn twice in
a notebook and tests can inspect them. Widgets are built by :func:`widget`, which returns the widget
and its update function, so tests set values and check what is drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from dpgdiff_lite.config import PRESETS, Config, parse_models, parse_seeds, preset
from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset, EvalSplit, make_batch, pad_eval
from dpgdiff_lite.data.sources import DataSource, check_data_spec
from dpgdiff_lite.data.synthetic import LABEL_NAMES
from dpgdiff_lite.evaluation import PROTOCOLS
from dpgdiff_lite.experiments.compare import Setting, training_objective
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.experiments.reproduce import REPRODUCTION_TOLERANCE
from dpgdiff_lite.experiments.runner import train_models, train_seeds
from dpgdiff_lite.runtime import get_device, set_seed
from dpgdiff_lite.experiments.small_world import SASRECS, SmallRun, train_small
from dpgdiff_lite.trainer import TrainResult

DPI = 80
DOMAIN_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
LABEL_LETTERS = {i: name[0].upper() for i, name in enumerate(LABEL_NAMES)}  # I / S / N


def figure(width: float, height: float) -> Figure:
    """A pyplot-free figure at the lessons' size and DPI."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def teaching_config(model: str = "dpgdiff", *, epochs: int, dim: int, seed: int, **fields) -> Config:
    """The teaching preset for ``model``, shortened to ``epochs`` and validated once, after the last."""
    return preset("teaching", model=model, epochs=epochs, dim=dim, seed=seed, eval_every=epochs, **fields)


def untrained_model(dataset: CrossDomainDataset, config: Config) -> DPGDiff:
    """DPG-Diff with exactly the initial weights ``train(dataset, config)`` starts from (same seed)."""
    set_seed(config.seed)
    return DPGDiff(dataset.n_items, config).eval()


def case_batch(dataset: CrossDomainDataset, cases, split: str = "test",
               histories: list[np.ndarray] | None = None) -> Batch:
    """One batch of evaluation cases (target at the last position), with their user indices.

    ``histories`` replaces the cases' histories (e.g. noisy copies), one per case.
    """
    split_cases: EvalSplit = getattr(dataset, split)
    cases = np.atleast_1d(np.asarray(cases, dtype=np.int64))
    chosen = [split_cases.histories[c] for c in cases] if histories is None else list(histories)
    inputs, targets = pad_eval(EvalSplit(chosen, split_cases.targets[cases], split_cases.users[cases]), dataset.max_len)
    return make_batch(inputs, targets, dataset.offsets, split_cases.users[cases])


# --- widgets ------------------------------------------------------------------------------------
def int_slider(description: str, value: int, low: int, high: int):
    import ipywidgets as widgets

    return widgets.IntSlider(value=value, min=low, max=high, step=1, description=description,
                             continuous_update=False)


def float_slider(description: str, value: float, low: float, high: float, step: float = 0.05, percent: bool = False):
    import ipywidgets as widgets

    return widgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                               continuous_update=False, readout_format=".0%" if percent else ".2f")


def widget(update: Callable[..., Figure], **controls):
    """The controls in a row above the figure ``update(**values)`` draws, redrawn on every change.

    Returns (widget, update), so a notebook shows the widget and a test calls ``update`` directly.
    """
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.interactive_output(lambda **values: display(update(**values)), controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), out]), update


MODEL_LABELS = {"sasrec": "SASRec on s_c (mixed)", "sasrec-single": "SASRec on s_d (single)", "dpgdiff": "DPG-Diff",
                "dpgdiff-gated": "dpgdiff-gated (beyond the paper)", "oracle": "oracle"}


def plot_small(run: SmallRun) -> Figure:
    """Left: each model's NDCG@10 per domain against the oracle's; right: the transfer (mixed − single
    SASRec) and each other model's gain over the better SASRec, with their p over the test cases."""
    fig = figure(8.5, 2.8)
    ax, ax_d = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    models = [m for m in run.ndcg.columns if m != "oracle"]
    domains, width = list(run.ndcg.index), 0.8 / len(models)
    x = np.arange(len(domains))
    for i, model in enumerate(models):
        ax.bar(x + (i - (len(models) - 1) / 2) * width, run.ndcg[model], width, label=MODEL_LABELS.get(model, model),
               color=f"C{i}")
    ax.scatter(x, run.ndcg["oracle"], marker="_", s=600, color="black", label="oracle", zorder=3)
    ax.set_xticks(x, [f"domain {d}" for d in domains])
    ax.set(ylabel="test NDCG@10 (×100)", title=f"opposed conflict rate {run.conflict_rate:g}",
           ylim=(0, max(run.ndcg.max()) * 1.5))
    ax.legend(fontsize=6, ncol=2, loc="upper center")
    differences, ps = {}, {}  # label → NDCG@10 difference by domain, and its p
    if run.transfer is not None:
        differences["transfer (mixed − single)"], ps["transfer (mixed − single)"] = run.transfer["transfer"], run.transfer["p"]
    for model, gain in run.gains.items():
        differences[f"{model} − best SASRec"], ps[f"{model} − best SASRec"] = gain["gain"], gain["p"]
    width = 0.8 / max(len(differences), 1)
    for i, (label, values) in enumerate(differences.items()):
        xs = x + (i - (len(differences) - 1) / 2) * width
        ax_d.bar(xs, values.reindex(domains), width, label=label, color=f"C{i + len(models)}")
        for xi, value, pi in zip(xs, values.reindex(domains), ps[label].reindex(domains)):
            ax_d.text(xi, value, f"{value:+.1f}\np={pi:.1g}", ha="center", va="top" if value < 0 else "bottom",
                      fontsize=6)
    ax_d.axhline(0, color="black", linewidth=0.8)
    ax_d.set_xticks(x, [f"domain {d}" for d in domains])
    gates = "" if run.gates is None else " · γ " + " / ".join(f"{g:.2f}" for g in run.gates)
    ax_d.set(ylabel="NDCG@10 difference", title=f"{run.seconds:.0f} s to retrain{gates}", ylim=(-8, 8))
    ax_d.legend(fontsize=6, loc="lower center")
    return fig


def conflict_widget(users: int, epochs: int, seed: int, start: float = 1.0, models: tuple[str, ...] = SASRECS):
    """A conflict-rate slider that retrains ``models`` on the small world (:mod:`dpgdiff_lite.experiments.small_world`),
    with a progress bar; returns (widget, update). Runs are cached by rate, so the static figure at
    ``start`` reuses the widget's first run, and ``update.run_at(rate)`` gives the numbers behind a figure."""
    cache: dict[float, SmallRun] = {}

    def run_at(conflict_rate: float) -> SmallRun:
        key = round(float(conflict_rate), 6)
        if key not in cache:
            cache[key] = train_small(key, users, epochs, seed, models, progress=True)
        return cache[key]

    def update(conflict_rate: float) -> Figure:
        return plot_small(run_at(conflict_rate))

    update.run_at = run_at
    return widget(update, conflict_rate=float_slider("conflict", start, 0.0, 1.0, step=0.25))


def interactive(plot, static: Figure) -> None:
    """Show a plotly figure with a static PNG of the same content in one output.

    JupyterLab renders the plotly JSON (hover, zoom, legend toggles) with the plotly extension the
    ``plotly`` package installs; viewers without it (GitHub, nbviewer, an exported PDF) show the PNG.
    plotly.js itself is never embedded, so an interactive figure costs a notebook kilobytes.
    """
    from IPython.display import display

    display({"application/vnd.plotly.v1+json": plot.to_plotly_json(), "image/png": png_bytes(static)}, raw=True)


def png_bytes(fig: Figure) -> bytes:
    """The PNG of a matplotlib figure at the lessons' DPI."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


# --- PCA ----------------------------------------------------------------------------------------
@dataclass
class Projection:
    """A PCA fitted to some points, applied to any points of the same dimension."""

    mean: np.ndarray  # (D,)
    axes: np.ndarray  # (k, D), each axis' largest loading positive so re-runs draw the same picture
    explained: np.ndarray  # (k,) fraction of the variance along each axis

    @classmethod
    def fit(cls, points: np.ndarray, k: int = 2) -> "Projection":
        """PCA of ``points`` (N, D) by SVD of the centred matrix (torch's SVD: numpy's multi-threaded
        one is a hundred times slower on a busy 2-core machine)."""
        mean = points.mean(0)
        _, s, vt = (a.numpy() for a in torch.linalg.svd(torch.from_numpy(points - mean).double(), full_matrices=False))
        top = vt[:k]
        signs = np.sign(top[np.arange(len(top)), np.abs(top).argmax(1)])
        return cls(mean, top * signs[:, None], s[:k] ** 2 / (s ** 2).sum())

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(…, D) → (…, k)."""
        return (points - self.mean) @ self.axes.T


# --- exercises ----------------------------------------------------------------------------------
def not_attempted(answer) -> bool:
    """An exercise stub returns ``None`` (``return None  # your code here``) or ``...``."""
    return answer is None or answer is Ellipsis


def not_attempted_message(reference: str) -> str:
    return f"not attempted yet (reference: {reference})"


# --- papermill parameters ------------------------------------------------------------------------
class ParameterError(ValueError):
    """A bad notebook parameter. Jupyter shows only the message, naming the parameter: no traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own display
        return [f"ParameterError: {self}"]


class CheckedParams:
    """Base of the notebooks' parameter dataclasses: ``check()`` runs on construction, and any
    ValueError it raises reaches the reader as a :class:`ParameterError`. A value of the wrong kind
    (``steps=4`` for a tuple, ``T=None``) that breaks ``check()`` itself is named from the field's
    declared type instead of escaping as a TypeError."""

    def __post_init__(self) -> None:
        try:
            self.check()
        except ParameterError:
            raise
        except ValueError as error:
            raise ParameterError(str(error)) from None
        except (TypeError, AttributeError, OverflowError) as error:
            raise ParameterError(self._wrong_kind() or f"a parameter has a value of the wrong kind ({error})") from None

    def _wrong_kind(self) -> str | None:
        """The first field whose value is not of its declared type, as a sentence; None if all are."""
        for field in fields(self):
            value = getattr(self, field.name)
            if not _of_type(str(field.type), value):
                return f"{field.name} must be {field.type}, got {value!r}"
        return None

    def check(self) -> None:
        """Validate every field (subclasses extend it, calling ``super().check()``)."""


_SCALARS = {"int": int, "float": (int, float), "str": str, "bool": bool}


def _of_type(annotation: str, value) -> bool:
    """Whether ``value`` fits a field annotation such as ``int``, ``float | None`` or ``tuple[float, ...]``
    (an int passes for a float, a list for a tuple, a bool only for a bool; a type this check does not
    know accepts anything)."""
    for option in (part.strip() for part in annotation.split("|")):
        if option == "None":
            if value is None:
                return True
        elif option in _SCALARS:
            if isinstance(value, _SCALARS[option]) and (option == "bool") == isinstance(value, bool):
                return True
        elif option.startswith("tuple[") and option.endswith(", ...]"):
            if isinstance(value, (tuple, list)) and all(_of_type(option[6:-6], item) for item in value):
                return True
        else:
            return True
    return False


def names(value: str | tuple | list, what: str) -> tuple[str, ...]:
    """A comma-separated string (papermill ``-p models a,b``) or a list or tuple of strings, as a tuple of strings."""
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{what} must be a comma-separated string or a list of strings, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def numbers(value: str | tuple | list, what: str, kind: type) -> tuple:
    """A comma-separated string (papermill ``-p seeds 0,1,2``), one number (``-p seeds 3`` passes the int 3)
    or a list or tuple of numbers, as a tuple of ``kind`` (int or float), read exactly: no bool is a
    number, no float is cut to an int, no digits but ASCII ones, floats finite."""
    bad = ValueError(f"{what} must be a comma-separated list of {kind.__name__}s, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    if not isinstance(value, (str, list, tuple)):
        raise bad
    parsed = []
    for item in value.split(",") if isinstance(value, str) else value:
        if isinstance(item, str):
            text = item.strip()
            if not text:
                continue
            if not text.isascii() or "_" in text:
                raise bad
            try:
                parsed.append(kind(text))
            except ValueError:
                raise bad from None
        elif isinstance(item, (bool, np.bool_)) or not isinstance(
                item, (int, np.integer) if kind is int else (int, float, np.integer, np.floating)):
            raise bad
        else:
            parsed.append(kind(item))
    if kind is float and not all(np.isfinite(parsed)):
        raise ValueError(f"{what} must hold finite numbers, got {value!r}")
    return tuple(parsed)


def check_int(name: str, value, minimum: int, maximum: int = 2 ** 32 - 1) -> None:
    """``value`` is an int (a bool is not) in ``minimum … maximum``; the default maximum is numpy's seed
    range, beyond any count a notebook takes."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value > maximum:
        raise ValueError(f"{name} must be an integer in {minimum} … {maximum}, got {value!r}")


@dataclass
class ExperimentParams(CheckedParams):
    """The papermill parameters of notebooks 06–08, checked at once so a bad value names itself.

    ``epochs = 0`` keeps the preset's epochs; ``overrides`` are ``key=value`` config fields
    (comma-separated, like the CLI's ``--set``); ``seed``, ``device``, ``epochs`` and ``protocol``
    win over them. ``resume`` reuses a run folder trained with the same config and data.
    """

    data: str = "synthetic"
    preset: str = "teaching"
    models: str | tuple[str, ...] = ("dpgdiff", "sasrec", "pop")
    device: str = "auto"
    epochs: int = 0
    seed: int = 0
    output: str = "runs/06_full_training"
    protocol: str = "sampled"
    overrides: str | tuple[str, ...] = ()
    resume: bool = True

    def check(self) -> None:
        self.models = parse_models(self.models, "models")
        if self.preset not in PRESETS:
            raise ValueError(f"preset: unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        check_int("epochs", self.epochs, 0)
        check_int("seed", self.seed, 0)
        if not isinstance(self.resume, bool):
            raise ValueError(f"resume must be True or False, got {self.resume!r}")
        if not str(self.output).strip():
            raise ValueError("output: name a run folder")
        self.overrides = names(self.overrides, "overrides")
        try:
            check_data_spec(self.data)
        except ValueError as error:
            raise ValueError(f"data: {error}") from None
        if not isinstance(self.device, str):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        try:
            get_device(self.device)  # an unknown device, or cuda on a machine without one, raises here
        except RuntimeError as error:  # torch's own parser: "Invalid device string"
            raise ValueError(f"device: {error}") from None
        for name in self.models:
            self.config(name)  # a bad override raises here, naming its key

    @property
    def torch_device(self) -> torch.device:
        return get_device(self.device)

    def experiment(self) -> Setting:
        """These parameters as the experiments take them (:class:`dpgdiff_lite.experiments.compare.Setting`)."""
        return Setting(self.data, self.preset, tuple(self.models), self.epochs, self.protocol, tuple(self.overrides),
                       self.device)

    def config(self, model: str) -> Config:
        """The preset for ``model`` with the overrides, then seed, device, protocol and epochs."""
        return self.experiment().config(model, self.seed)

    def load(self) -> DataSource:
        """The dataset (and, for synthetic data, the planted truth) the ``data`` spec names."""
        return self.experiment().load()

    @property
    def output_path(self) -> Path:
        return Path(self.output)

    def train(self, source: DataSource, models: tuple[str, ...] | None = None) -> dict[str, TrainResult]:
        """Train each model (default: ``models``) on ``source`` into ``output/<model>/``, reusing runs."""
        configs = {name: self.config(name) for name in models or self.models}
        return train_models(source, configs, self.output_path, self.data, self.resume)


def plot_learning_curves(results: dict[str, TrainResult]) -> Figure:
    """Validation NDCG@10 (model selection) and the training objective of eq. (14), per epoch."""
    fig = figure(8, 2.8)
    ax_valid, ax_loss = fig.subplots(1, 2)
    for name, result in results.items():
        history = result.history
        if not len(history):
            continue  # popularity: nothing trained
        objective = training_objective(result)
        ax_valid.plot(history["epoch"], history["valid_NDCG@10"], marker=".", label=name)
        ax_loss.plot(history["epoch"], objective, marker=".", label=name)
    ax_valid.set(xlabel="epoch", ylabel="valid NDCG@10 (×100, mean of domains)", title="model selection")
    ax_loss.set(xlabel="epoch", ylabel="weighted training loss", title="training objective (eq. 14)")
    for ax in (ax_valid, ax_loss):
        ax.legend(fontsize=8)
    return fig


def write_summary(summary: dict, out_dir: str | Path) -> Path:
    """``<out_dir>/summary.json``: the numbers a notebook ends with, which the course runner collects."""
    path = Path(out_dir) / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2))
    return path


# --- claims in the prose --------------------------------------------------------------------------
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


# --- several seeds, precomputed results, claims about the committed run --------------------------
def check_seeds(value: str | int | tuple | list) -> tuple[int, ...]:
    """``seeds`` of notebooks 06–08 ("0" or "0,1,2", papermill ``-p seeds 0,1,2``): :func:`~dpgdiff_lite.config.parse_seeds`."""
    return parse_seeds(value, "seeds")


@dataclass
class SeededParams(ExperimentParams):
    """:class:`ExperimentParams` over several model seeds (notebooks 06–08). ``seed`` becomes the
    first of ``seeds``: the run the widgets and exercises use. One seed trains into
    ``output/<model>/`` (the layout ``train`` and ``compare`` write), several into
    ``output/<model>/seed<k>/`` (the layout of ``compare --seeds``)."""

    seeds: str | tuple[int, ...] = (0,)

    def check(self) -> None:
        self.seeds = check_seeds(self.seeds)
        self.seed = self.seeds[0]
        super().check()

    def run_dir(self, name: str, seed: int) -> Path:
        """Where model ``name`` trained with ``seed`` lives."""
        return self.output_path / name if len(self.seeds) == 1 else self.output_path / name / f"seed{seed}"

    def train_seeds(self, source: DataSource, models: tuple[str, ...] | None = None) -> dict[str, dict[int, TrainResult]]:
        """Every model (default: ``models``) trained with every seed: ``{model: {seed: result}}``."""
        configs = {name: self.config(name) for name in models or self.models}
        return train_seeds(source, configs, self.seeds, self.output_path, self.data, self.resume, one_seed_flat=True)

    def setting(self) -> dict:
        """What decides the numbers apart from the seed: compared with a precomputed run's record."""
        return self.experiment().record()


def same_setting(params: SeededParams, recorded: dict) -> bool:
    """True when ``params`` would reproduce the precomputed numbers (same setting; seeds may differ)."""
    return all(recorded.get(key) == value for key, value in params.setting().items())


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


def static_view(view, update: Callable[..., Figure]) -> Figure:
    """The figure ``update`` draws for the current values of the widget's controls, in their order:
    the static copy under a widget, so it always shows what the widget starts at."""
    return update(*(control.value for control in view.children[0].children))


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

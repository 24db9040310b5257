"""What the lesson modules share: figure style, the untrained model, the widget factory, one PCA and
the "not attempted" convention of the exercises. The notebooks' parameters are checked by
:mod:`dpgdiff_lite.parameters`, their prose by :mod:`dpgdiff_lite.claims`.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so nothing is drawn twice in
a notebook and tests can inspect them. Widgets are built by :func:`widget`, which returns the widget
and its update function, so tests set values and check what is drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dpgdiff_lite.config import Config, preset
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.synthetic import INVARIANT, LABEL_NAMES, NOISE, SPECIFIC, SyntheticTruth
from dpgdiff_lite.experiments.compare import training_objective
from dpgdiff_lite.experiments.small_world import SASRECS, SmallRun, train_small
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.runtime import set_seed
from dpgdiff_lite.trainer import TrainResult

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
DPI = 80
DOMAIN_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
LABEL_LETTERS = {i: name[0].upper() for i, name in enumerate(LABEL_NAMES)}  # I / S / N
LABEL_COLOURS = {INVARIANT: "tab:green", SPECIFIC: "tab:purple", NOISE: "0.6"}  # a timeline's planted labels


def resolve(path: str | Path) -> Path:
    """A relative path from the working directory, or else from ``notebooks/`` (where the notebooks run)."""
    path = Path(path)
    return path if path.is_absolute() or path.exists() else NOTEBOOKS_DIR / path


def figure(width: float, height: float) -> Figure:
    """A pyplot-free figure at the lessons' size and DPI."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def label_legend(ax, **placement) -> None:
    """The legend of :data:`LABEL_COLOURS` above or beside a timeline of planted labels."""
    handles = [Rectangle((0, 0), 1, 1, facecolor=colour, label=f"planted: {LABEL_NAMES[k]}")
               for k, colour in LABEL_COLOURS.items()]
    ax.legend(handles=handles, ncol=3, fontsize=7, frameon=False, **placement)


def event_box(ax, x: float, y: float, colour, text: str, edge: str = "white", height: float = 0.7,
              text_colour: str = "white", fontsize: int = 7, hatch: str | None = None) -> None:
    """One event of a timeline: a box coloured by domain or planted label at (x, y), its text inside; an
    edge other than white is drawn thick (an injected, changed or target event)."""
    ax.add_patch(Rectangle((x - 0.45, y - height / 2), 0.9, height, facecolor=colour, edgecolor=edge,
                           linewidth=0.5 if edge == "white" else 2.0, hatch=hatch))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=text_colour)


def grouped_bars(ax, groups: dict, ticks: list[str], colours: list | None = None, fontsize: float | None = None) -> list[np.ndarray]:
    """One bar per group side by side at each tick (x = 0, 1, …), each group labelled for the legend;
    returns the x positions of each group's bars."""
    width, xs = 0.8 / max(len(groups), 1), []
    for i, (label, values) in enumerate(groups.items()):
        xs.append(np.arange(len(ticks)) + (i - (len(groups) - 1) / 2) * width)
        ax.bar(xs[-1], values, width, label=label, color=None if colours is None else colours[i])
    ax.set_xticks(range(len(ticks)), ticks, fontsize=fontsize)
    return xs


def pick_user(dataset: CrossDomainDataset, truth: SyntheticTruth, min_len: int,
              labels: tuple[int, ...] = (INVARIANT, SPECIFIC, NOISE), split: str = "train") -> int:
    """The first case of ``split`` whose last ``max_len`` events (what a model sees) number ≥ ``min_len``,
    visit every domain and hold every planted label of ``labels``: a user with something to show."""
    train = split == "train"
    histories = dataset.train if train else getattr(dataset, split).histories
    planted = truth.train_labels if train else getattr(truth, f"{split}_labels").histories
    for case, (seq, marks) in enumerate(zip(histories, planted)):
        seq, marks = seq[-dataset.max_len:], marks[-dataset.max_len:]
        if (len(seq) >= min_len and len(set(dataset.domain_of(seq).tolist())) == dataset.n_domains
                and set(labels) <= set(marks.tolist())):
            return case
    raise ValueError(f"no {split} case has >= {min_len} events in every domain with planted labels {list(labels)}")


def teaching_config(model: str = "dpgdiff", *, epochs: int, dim: int, seed: int, **fields) -> Config:
    """The teaching preset for ``model``, shortened to ``epochs`` and validated once, after the last."""
    return preset("teaching", model=model, epochs=epochs, dim=dim, seed=seed, eval_every=epochs, **fields)


def untrained_model(dataset: CrossDomainDataset, config: Config) -> DPGDiff:
    """DPG-Diff with exactly the initial weights ``train(dataset, config)`` starts from (same seed)."""
    set_seed(config.seed)
    return DPGDiff(dataset.n_items, config).eval()


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
                "dpgdiff-anchored": "dpgdiff-anchored (beyond the paper)", "oracle": "oracle"}


def plot_small(run: SmallRun) -> Figure:
    """Left: each model's NDCG@10 per domain against the oracle's; right: the transfer (mixed − single
    SASRec) and each other model's gain over the better SASRec, with their p over the test cases."""
    fig = figure(8.5, 2.8)
    ax, ax_d = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    models = [m for m in run.ndcg.columns if m != "oracle"]
    domains = list(run.ndcg.index)
    ticks, x = [f"domain {d}" for d in domains], np.arange(len(domains))
    grouped_bars(ax, {MODEL_LABELS.get(m, m): run.ndcg[m] for m in models}, ticks, [f"C{i}" for i in range(len(models))])
    ax.scatter(x, run.ndcg["oracle"], marker="_", s=600, color="black", label="oracle", zorder=3)
    ax.set(ylabel="test NDCG@10 (×100)", title=f"opposed conflict rate {run.conflict_rate:g}",
           ylim=(0, max(run.ndcg.max()) * 1.5))
    ax.legend(fontsize=6, ncol=2, loc="upper center")
    differences, ps = {}, {}  # label → NDCG@10 difference by domain, and its p
    if run.transfer is not None:
        differences["transfer (mixed − single)"], ps["transfer (mixed − single)"] = run.transfer["transfer"], run.transfer["p"]
    for model, gain in run.gains.items():
        differences[f"{model} − best SASRec"], ps[f"{model} − best SASRec"] = gain["gain"], gain["p"]
    xs = grouped_bars(ax_d, {label: values.reindex(domains) for label, values in differences.items()}, ticks,
                      [f"C{i + len(models)}" for i in range(len(differences))])
    for xs_, (label, values) in zip(xs, differences.items()):
        for xi, value, pi in zip(xs_, values.reindex(domains), ps[label].reindex(domains)):
            ax_d.text(xi, value, f"{value:+.1f}\np={pi:.1g}", ha="center", va="top" if value < 0 else "bottom",
                      fontsize=6)
    ax_d.axhline(0, color="black", linewidth=0.8)
    ax_d.set(ylabel="NDCG@10 difference", title=f"{run.seconds:.0f} s to retrain", ylim=(-8, 8))
    if run.weights is not None:  # dpgdiff-anchored's weights, fit on validation
        ax_d.set_title(f"{run.seconds:.0f} s to retrain\nanchored weights s_d / s_c / DPG-Diff:\n" + " · ".join(
            f"{domain} {' / '.join(f'{w:.1f}' for w in row)}" for domain, row in run.weights.iterrows()), fontsize=8)
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


# --- what a notebook ends with -------------------------------------------------------------------
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


# --- widgets' static copies ----------------------------------------------------------------------
def static_view(view, update: Callable[..., Figure]) -> Figure:
    """The figure ``update`` draws for the current values of the widget's controls, in their order:
    the static copy under a widget, so it always shows what the widget starts at."""
    return update(*(control.value for control in view.children[0].children))



"""The paper's experiments (Table 1, Table 3, Figures 3 and 4, RQ1–RQ4) for notebooks 05–07.

Everything the experiment notebooks compute or draw lives here, so it is tested: the papermill
parameters and their validation (``ExperimentParams`` and its two subclasses), training several
models into one run folder (reusing finished runs), the Table 1 and Table 3 layouts, the
robustness curve under test-time noise (Figure 3), the step-count curve (Figure 4), the
training-time-noise experiment the paper leaves open, the figures, two widgets and the reference
solutions of the notebooks' exercises.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so nothing is drawn twice in a
notebook and tests can inspect them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dpgdiff_lite.config import MODELS, PRESETS, VARIANT_FLAGS, Config, preset
from dpgdiff_lite.data.augment import inject_noise_split
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.sources import SCHEMES, DataSource, load_data
from dpgdiff_lite.evaluation import PROTOCOLS, EvalResult, paired_test, results_table
from dpgdiff_lite.runtime import get_device
from dpgdiff_lite.trainer import NonFiniteLoss, TrainResult, run_evaluation, train

log = logging.getLogger(__name__)

DPI = 80
ABLATION_ORDER = tuple(VARIANT_FLAGS)
"""Table 3's rows: diff, diff+de, diff+de+g, diff+de+tricl, dpgdiff."""
DEFAULT_NOISE_RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
"""Figure 3's test-time noise rates: 0 to 30 % inserted and substituted events."""
PAPER_RETENTION = 0.85
"""RQ3: "at a 30% noise rate, DPG-Diff retains 85% of its original performance NDCG@10"."""


# --- parameters -------------------------------------------------------------------------------
def _names(value: str | tuple | list, what: str) -> tuple[str, ...]:
    """A comma-separated string (papermill ``-p models a,b``) or a sequence, as a tuple of strings."""
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{what} must be a comma-separated string or a list of strings, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def _numbers(value: str | tuple | list, what: str, kind: type) -> tuple:
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(kind(item) for item in items if str(item).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a comma-separated list of {kind.__name__}s, got {value!r}") from None


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_data_spec(spec: str) -> None:
    """Fail early, naming the parameter, for a spec ``load_data`` would refuse or a missing path."""
    from dpgdiff_lite.data.synthetic import PRESETS as SYNTHETIC_PRESETS

    scheme, _, rest = str(spec).partition(":")
    if scheme == "synthetic":
        if rest and rest not in SYNTHETIC_PRESETS:
            raise ValueError(f"data: unknown synthetic preset {rest!r}; choose one of {', '.join(SYNTHETIC_PRESETS)}")
        return
    paths = [rest] if scheme == "c2dsr" else rest.split(",")
    if scheme not in ("c2dsr", "amazon") or not all(paths) or (scheme == "amazon" and len(paths) != 2):
        raise ValueError(f"data: spec {spec!r} not understood; valid schemes: {', '.join(SCHEMES)}")
    for path in paths:
        if not Path(path).exists():
            raise ValueError(f"data: {Path(path).name!r} not found (spec {spec!r})")


@dataclass
class ExperimentParams:
    """Notebook 05's papermill parameters, checked at once so a bad value names itself.

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
    output: str = "runs/05_full_training"
    protocol: str = "sampled"
    overrides: str | tuple[str, ...] = ()
    resume: bool = True

    def __post_init__(self) -> None:
        self.models = _names(self.models, "models")
        if not self.models:
            raise ValueError("models: name at least one model")
        for name in self.models:
            if name not in MODELS:
                raise ValueError(f"models: unknown model {name!r}; choose from {', '.join(MODELS)}")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models: each model once, got {', '.join(self.models)}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset: unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        _check_int("epochs", self.epochs, 0)
        _check_int("seed", self.seed, 0)
        if not isinstance(self.resume, bool):
            raise ValueError(f"resume must be True or False, got {self.resume!r}")
        if not str(self.output).strip():
            raise ValueError("output: name a run folder")
        self.overrides = _names(self.overrides, "overrides")
        check_data_spec(self.data)
        get_device(self.device)  # an unknown device, or cuda on a machine without one, raises here
        for name in self.models:
            self.config(name)  # a bad override raises here, naming its key

    @property
    def torch_device(self):
        return get_device(self.device)

    def config(self, model: str) -> Config:
        """The preset for ``model`` with the overrides, then seed, device, protocol and epochs."""
        config = preset(self.preset, model=model).with_overrides(list(self.overrides))
        changes = {"seed": self.seed, "device": self.device, "eval_protocol": self.protocol}
        if self.epochs:
            changes["epochs"] = self.epochs
        return dataclasses.replace(config, **changes)

    def load(self) -> DataSource:
        """The dataset (and, for synthetic data, the planted truth) the ``data`` spec names."""
        return load_data(self.data, max_len=self.config(self.models[0]).max_len)

    @property
    def output_path(self) -> Path:
        return Path(self.output)


@dataclass
class RobustnessParams(ExperimentParams):
    """Notebook 06: test-time noise rates (Figure 3), step counts (Figure 4; empty = 1, 2, 5, 10,
    20, T) and the training-time noise experiment (``train_noise`` on ``train_noise_models``)."""

    models: str | tuple[str, ...] = ("dpgdiff", "sasrec", "diff")
    output: str = "runs/06_robustness_and_steps"
    noise_rates: str | tuple[float, ...] = DEFAULT_NOISE_RATES
    steps: str | tuple[int, ...] = ()
    noise_seed: int = 0
    train_noise: float = 0.2
    train_noise_models: str | tuple[str, ...] = ("dpgdiff", "sasrec")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.noise_rates = _numbers(self.noise_rates, "noise_rates", float)
        if not self.noise_rates or self.noise_rates[0] != 0.0 or list(self.noise_rates) != sorted(set(self.noise_rates)):
            raise ValueError(f"noise_rates must start at 0 (retention is relative to the clean score) and increase, "
                             f"got {self.noise_rates}")
        if self.noise_rates[-1] > 1.0:
            raise ValueError(f"noise_rates must be in [0, 1], got {self.noise_rates}")
        _check_int("noise_seed", self.noise_seed, 0)
        if isinstance(self.train_noise, bool) or not isinstance(self.train_noise, (int, float)) \
                or not 0 < self.train_noise <= 1:
            raise ValueError(f"train_noise must be in (0, 1], got {self.train_noise!r}")
        self.train_noise_models = _names(self.train_noise_models, "train_noise_models")
        for name in self.train_noise_models:
            if name not in self.models:
                raise ValueError(f"train_noise_models: {name!r} is not in models ({', '.join(self.models)}); "
                                 "its clean-trained twin is needed")
        self.steps = _numbers(self.steps, "steps", int)
        diffusion = [m for m in self.models if m in VARIANT_FLAGS]
        T = self.config(diffusion[0]).T if diffusion else None
        for k in self.steps:
            if T is not None and not 1 <= k <= T:
                raise ValueError(f"steps must be in 1..T={T}, got {k}")

    def step_counts(self, T: int) -> tuple[int, ...]:
        """The k of Figure 4: the ``steps`` parameter, or (1, 2, 5, 10, 20, T)."""
        return tuple(sorted(set(self.steps or [k for k in (1, 2, 5, 10, 20) if k < T] + [T])))


@dataclass
class AblationParams(ExperimentParams):
    """Notebook 07: the diffusion variants of Table 3, trained on the same data with the same seed."""

    models: str | tuple[str, ...] = ABLATION_ORDER
    output: str = "runs/07_ablation"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.models:
            if name not in VARIANT_FLAGS:
                raise ValueError(f"models: {name!r} is not a diffusion variant; Table 3 compares "
                                 f"{', '.join(ABLATION_ORDER)}")
        self.models = tuple(m for m in ABLATION_ORDER if m in self.models)


# --- training into a run folder ---------------------------------------------------------------
def _same_run(run_dir: Path, config: Config, data: str) -> bool:
    try:
        saved = Config.from_json(run_dir / "config.json")
        source = json.loads((run_dir / "data.json").read_text())["data"]
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return False
    return saved == config and source == data


def train_or_resume(dataset: CrossDomainDataset, config: Config, run_dir: Path | None, data: str,
                    resume: bool = True, progress: bool = False) -> TrainResult:
    """``train`` into ``run_dir``, resuming (or just reloading) it when it holds the same config and
    data; a checkpoint that no longer loads (the model code changed) is retrained from scratch."""
    reusable = resume and run_dir is not None and _same_run(run_dir, config, data)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "data.json").write_text(json.dumps({"data": data}))
    try:
        result = train(dataset, config, run_dir, progress=progress, resume=reusable)
    except NonFiniteLoss:
        raise
    except (RuntimeError, KeyError) as error:
        if not reusable:
            raise
        log.warning("could not resume %s (%s); training from scratch", run_dir.name, str(error).split("\n")[0])
        result = train(dataset, config, run_dir, progress=progress, resume=False)
    if run_dir is not None:
        (run_dir / "metrics.json").write_text(json.dumps({**result.metrics(), "data": data}, indent=2))
    return result


def train_models(dataset: CrossDomainDataset, params: ExperimentParams, models: tuple[str, ...] | None = None,
                 out_dir: str | Path | None = None, progress: bool = False) -> dict[str, TrainResult]:
    """Train each model with the same data and seed into ``out_dir/<model>/``; also writes
    ``out_dir/metrics.json`` = {model: that run's metrics.json}."""
    out = Path(out_dir) if out_dir is not None else None
    results = {}
    for name in models or params.models:
        started = time.perf_counter()
        results[name] = train_or_resume(dataset, params.config(name), out / name if out else None,
                                        params.data, params.resume, progress)
        log.info("%s: %.1f s", name, time.perf_counter() - started)
    if out is not None:
        metrics = {name: {**r.metrics(), "data": params.data} for name, r in results.items()}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return results


# --- Table 1 (RQ1) ----------------------------------------------------------------------------
def table1(results: dict[str, TrainResult], ours: str = "dpgdiff") -> pd.DataFrame:
    """The paper's Table 1: rows (domain, metric), one column per model, then "Imp." and "p" of
    ``ours`` against the best other model (when ``ours`` was trained next to another model)."""
    tests = {name: result.test for name, result in results.items()}
    return results_table(tests, ours=ours if ours in tests and len(tests) > 1 else None)


def format_table1(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Table 1 for display: metrics rounded, p-values in two significant digits (when present)."""
    shown = table.round(decimals)
    if "p" in table.columns:
        shown["p"] = table["p"].map("{:.2g}".format)
    return shown


def summarize_table1(results: dict[str, TrainResult], table: pd.DataFrame, dataset: CrossDomainDataset,
                     params: ExperimentParams, ours: str = "dpgdiff") -> dict:
    """The numbers notebook 05 ends with (``summary.json``), and a one-line ``headline``."""
    ndcg = {name: r.test.table["NDCG@10"].round(3).to_dict() for name, r in results.items()}
    domains = list(dataset.domain_names)
    best = {d: max(ndcg, key=lambda n: ndcg[n][d]) for d in domains}
    summary = {
        "notebook": "05_full_training", "data": params.data, "dataset": dataset.name,
        "protocol": dataset.protocol, "eval_protocol": next(iter(results.values())).test.protocol,
        "preset": params.preset, "models": list(results), "test_NDCG@10": ndcg, "best_by_domain": best,
        "seconds_per_epoch": {n: round(r.seconds_per_epoch, 3) for n, r in results.items()},
        "epochs_run": {n: r.metrics()["epochs_run"] for n, r in results.items()},
    }
    if "Imp." in table.columns:
        row = table.xs("NDCG@10", level="metric")
        summary["improvement_NDCG@10"] = row["Imp."].to_dict()
        summary["p_NDCG@10"] = {d: round(float(p), 6) for d, p in row["p"].items()}
    per_domain = "; ".join(f"{d}: " + " / ".join(f"{n} {ndcg[n][d]:.2f}" for n in ndcg) for d in domains)
    summary["headline"] = f"test NDCG@10 {per_domain}; best: {', '.join(best[d] for d in domains)}"
    return summary


def describe_table1(summary: dict, ours: str = "dpgdiff") -> str:
    """Plain sentences on who wins where, from a :func:`summarize_table1` summary."""
    lines = []
    for domain, winner in summary["best_by_domain"].items():
        line = f"{domain}: best NDCG@10 is {winner} ({summary['test_NDCG@10'][winner][domain]:.2f})"
        if "improvement_NDCG@10" in summary:
            p = summary["p_NDCG@10"][domain]
            verdict = "significant at 5%" if p < 0.05 else "not significant at 5%"
            line += f"; {ours} vs the best other model: {summary['improvement_NDCG@10'][domain]} (paired t-test p = {p:.3g}, {verdict})"
        lines.append(line)
    return "\n".join(lines)


def write_summary(summary: dict, out_dir: str | Path) -> Path:
    """``<out_dir>/summary.json``, which the course runner collects."""
    path = Path(out_dir) / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2))
    return path


def oracle_fraction(results: dict[str, TrainResult], source: DataSource) -> pd.DataFrame | None:
    """Test NDCG@10 of each model as a fraction of the planted oracle's (synthetic data only, else None)."""
    if source.truth is None:
        return None
    config = next(iter(results.values())).config
    oracle = run_evaluation(source.truth.oracle_scorer(), source.dataset, config, "test").table["NDCG@10"]
    return pd.DataFrame({"oracle NDCG@10": oracle,
                         **{name: r.test.table["NDCG@10"] / oracle for name, r in results.items()}})


def run_folder_listing(out_dir: str | Path) -> str:
    """The files of a run folder, relative to it (no absolute paths in a notebook's output)."""
    root = Path(out_dir)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return "\n".join(files)


def _objective(history: pd.DataFrame, config: Config) -> pd.Series:
    weights = {"loss_diff": config.weight_diff, "loss_rec": config.weight_rec, "loss_cl": config.weight_cl}
    return sum(history[c] * w for c, w in weights.items() if c in history)  # eq. (14), as trained


def plot_learning_curves(results: dict[str, TrainResult]) -> Figure:
    """Validation NDCG@10 (model selection) and the training objective of eq. (14), per epoch."""
    fig = Figure(figsize=(8, 2.8), dpi=DPI, layout="constrained")
    ax_valid, ax_loss = fig.subplots(1, 2)
    for name, result in results.items():
        history = result.history
        if not len(history):
            continue  # popularity: nothing trained
        ax_valid.plot(history["epoch"], history["valid_NDCG@10"], marker=".", label=name)
        ax_loss.plot(history["epoch"], _objective(history, result.config), marker=".", label=name)
    ax_valid.set(xlabel="epoch", ylabel="valid NDCG@10 (×100, mean of domains)", title="model selection")
    ax_loss.set(xlabel="epoch", ylabel="weighted training loss", title="training objective (eq. 14)")
    for ax in (ax_valid, ax_loss):
        ax.legend(fontsize=8)
    return fig


# --- Figure 3: test-time noise (RQ3) ----------------------------------------------------------
def noisy_histories(dataset: CrossDomainDataset, rate: float, seed: int = 0) -> list[np.ndarray]:
    """The test histories with ``rate`` noisy events (half substituted, half inserted), seeded."""
    return inject_noise_split(dataset.test.histories, rate, dataset.offsets, seed=seed)


def robustness_curve(trained: dict[str, TrainResult], dataset: CrossDomainDataset,
                     rates: tuple[float, ...] = DEFAULT_NOISE_RATES, seed: int = 0) -> pd.DataFrame:
    """Test NDCG@10 of every model under test-time noise, and its retention relative to noise 0.

    Every model sees the same noisy histories at a rate. Columns: model, noise_rate, domain,
    NDCG@10, retention.
    """
    if 0.0 not in rates:
        raise ValueError(f"rates must include 0 (retention is relative to the clean score), got {rates}")
    rows = []
    for rate in rates:
        histories = noisy_histories(dataset, rate, seed)  # rate 0 returns the histories unchanged
        for name, result in trained.items():
            scores = run_evaluation(result.model, dataset, result.config, "test", histories=histories)
            rows += [{"model": name, "noise_rate": rate, "domain": d, "NDCG@10": v}
                     for d, v in scores.table["NDCG@10"].items()]
    curve = pd.DataFrame(rows)
    clean = curve[curve["noise_rate"] == 0.0].set_index(["model", "domain"])["NDCG@10"]
    curve["retention"] = curve["NDCG@10"] / clean.loc[list(zip(curve["model"], curve["domain"]))].to_numpy()
    return curve


def plot_robustness(curve: pd.DataFrame) -> Figure:
    """Figure 3: NDCG@10 retention against the test-time noise rate, one panel per domain."""
    domains = list(dict.fromkeys(curve["domain"]))
    fig = Figure(figsize=(4 * len(domains), 2.8), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(domains), sharey=True))
    for ax, domain in zip(axes, domains):
        for name, rows in curve[curve["domain"] == domain].groupby("model", sort=False):
            ax.plot(100 * rows["noise_rate"], rows["retention"], marker="o", label=name)
        ax.axhline(PAPER_RETENTION, color="grey", linestyle=":", linewidth=1, label="paper: DPG-Diff at 30%")
        ax.set(xlabel="test-time noise rate (%)", title=f"domain {domain}")
    axes[0].set_ylabel("NDCG@10 / NDCG@10 at noise 0")
    axes[0].legend(fontsize=8)
    return fig


def noise_widget(trained: dict[str, TrainResult], dataset: CrossDomainDataset, seed: int = 0,
                 max_rate: float = 0.5, value: float = 0.2):
    """A slider over the test-time noise rate re-evaluating the trained models live.

    Returns (widget, update); update(rate) -> Figure: NDCG@10 per domain and model, noisy (solid)
    next to clean (outline).
    """
    import ipywidgets as widgets
    from IPython.display import display

    clean = {name: r.test.table["NDCG@10"] for name, r in trained.items()}

    def update(rate: float) -> Figure:
        histories = noisy_histories(dataset, rate, seed)
        noisy = {name: run_evaluation(r.model, dataset, r.config, "test", histories=histories).table["NDCG@10"]
                 for name, r in trained.items()}
        fig = Figure(figsize=(6, 2.6), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        width = 0.8 / len(trained)
        x = np.arange(dataset.n_domains)
        for i, name in enumerate(trained):
            ax.bar(x + i * width, noisy[name].to_numpy(), width, color=f"C{i}", label=name)
            ax.bar(x + i * width, clean[name].to_numpy(), width, fill=False, edgecolor=f"C{i}", linestyle="--")
        ax.set_xticks(x + width * (len(trained) - 1) / 2, [f"domain {d}" for d in dataset.domain_names])
        ax.set(ylabel="test NDCG@10 (×100)", title=f"test-time noise {rate:.0%} (dashed outline: clean)")
        ax.legend(fontsize=8, ncol=len(trained))
        return fig

    slider = widgets.FloatSlider(value=value, min=0.0, max=max_rate, step=0.05, description="noise rate",
                                 continuous_update=False, readout_format=".0%")
    out = widgets.interactive_output(lambda rate: display(update(rate)), {"rate": slider})
    return widgets.VBox([slider, out]), update


# --- Figure 4: inference steps (RQ4) ----------------------------------------------------------
def step_curve(trained: dict[str, TrainResult], dataset: CrossDomainDataset, steps: tuple[int, ...]) -> pd.DataFrame:
    """Test NDCG@10 and scoring time with k reverse steps (eq. 15), for each diffusion model.

    Sets ``model.config.inference_steps = k`` for the evaluation and restores it afterwards.
    Columns: model, steps, domain, NDCG@10, seconds (wall time to score the whole test split).
    """
    rows = []
    for name, result in trained.items():
        if result.config.model not in VARIANT_FLAGS:
            continue  # SASRec and popularity have no reverse process
        config = result.model.config
        saved = config.inference_steps
        try:
            for k in steps:
                if not 1 <= k <= config.T:
                    raise ValueError(f"steps must be in 1..T={config.T}, got {k}")
                config.inference_steps = k
                started = time.perf_counter()
                scores = run_evaluation(result.model, dataset, config, "test")
                seconds = time.perf_counter() - started
                rows += [{"model": name, "steps": k, "domain": d, "NDCG@10": v, "seconds": seconds}
                         for d, v in scores.table["NDCG@10"].items()]
        finally:
            config.inference_steps = saved
    return pd.DataFrame(rows, columns=["model", "steps", "domain", "NDCG@10", "seconds"])


def _plot_steps(ax_ndcg, ax_time, curve: pd.DataFrame) -> None:
    styles = ["-", "--", ":", "-."]
    for i, (name, rows) in enumerate(curve.groupby("model", sort=False)):
        colour = f"C{i}"
        for j, (domain, part) in enumerate(rows.groupby("domain", sort=False)):
            ax_ndcg.plot(part["steps"], part["NDCG@10"], marker="o", color=colour, linestyle=styles[j % 4],
                         label=f"{name} {domain}")
        timing = rows.drop_duplicates("steps")
        ax_time.plot(timing["steps"], timing["seconds"], marker="o", color=colour, label=name)
    for ax in (ax_ndcg, ax_time):
        ax.set_xscale("log")
        ax.set_xlabel("inference steps k (log scale)")
    ax_ndcg.set(ylabel="test NDCG@10 (×100)", title="quality")
    ax_time.set(ylabel="seconds to score the test split", title="cost")
    ax_ndcg.legend(fontsize=7)
    ax_time.legend(fontsize=8)


def plot_steps(curve: pd.DataFrame) -> Figure:
    """Figure 4: NDCG@10 and scoring time against the number of inference steps."""
    fig = Figure(figsize=(8, 2.8), dpi=DPI, layout="constrained")
    _plot_steps(*fig.subplots(1, 2), curve)
    return fig


def steps_widget(result: TrainResult, dataset: CrossDomainDataset, curve: pd.DataFrame | None = None,
                 value: int = 1):
    """A slider over k re-scoring a trained diffusion model live (about a second at k = T on a CPU).

    Returns (widget, update); update(k) -> Figure: the step curve (when given) with the live
    point at k marked in both panels.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def update(k: int) -> Figure:
        live = step_curve({result.config.model: result}, dataset, (int(k),))
        fig = Figure(figsize=(8, 2.8), dpi=DPI, layout="constrained")
        ax_ndcg, ax_time = fig.subplots(1, 2)
        if curve is not None:
            _plot_steps(ax_ndcg, ax_time, curve)
        ax_ndcg.plot(live["steps"], live["NDCG@10"], "k*", markersize=12, label=f"live k={k}")
        ax_time.plot(live["steps"][:1], live["seconds"][:1], "k*", markersize=12)
        ax_ndcg.set_title(f"{result.config.model}, k={k}: " + ", ".join(
            f"{d} {v:.2f}" for d, v in zip(live["domain"], live["NDCG@10"])), fontsize=9)
        ax_ndcg.set(xscale="log", xlabel="inference steps k (log scale)", ylabel="test NDCG@10 (×100)")
        return fig

    slider = widgets.IntSlider(value=value, min=1, max=result.config.T, description="steps k",
                               continuous_update=False)
    out = widgets.interactive_output(lambda k: display(update(k)), {"k": slider})
    return widgets.VBox([slider, out]), update


# --- the open question: noise in the training sequences ---------------------------------------
def with_noisy_training(dataset: CrossDomainDataset, rate: float, seed: int = 0) -> CrossDomainDataset:
    """A copy of ``dataset`` whose training sequences carry ``rate`` noise; validation and test stay clean."""
    return dataclasses.replace(dataset, train=inject_noise_split(dataset.train, rate, dataset.offsets, seed=seed))


def train_noise_experiment(dataset: CrossDomainDataset, params: RobustnessParams, clean: dict[str, TrainResult],
                           out_dir: str | Path | None = None, progress: bool = False
                           ) -> tuple[pd.DataFrame, dict[str, TrainResult]]:
    """Train ``params.train_noise_models`` again on noisy training sequences; evaluate both twins on
    clean test histories and on test histories with the same noise rate.

    Returns (frame with columns model, trained_on, domain, clean test, noisy test; the noisy-trained runs).
    """
    rate, seed = params.train_noise, params.noise_seed
    noisy_data = with_noisy_training(dataset, rate, seed)
    noisy_test = noisy_histories(dataset, rate, seed)
    out = Path(out_dir) if out_dir is not None else None
    label = f"noisy {rate:.0%}"
    rows, noisy_runs = [], {}
    for name in params.train_noise_models:
        run_dir = out / f"{name}-train-noise{round(100 * rate)}" if out else None
        noisy_runs[name] = train_or_resume(noisy_data, params.config(name), run_dir,
                                           f"{params.data}|train-noise={rate}|seed={seed}", params.resume, progress)
        for trained_on, result in (("clean", clean[name]), (label, noisy_runs[name])):
            scores = {test: run_evaluation(result.model, dataset, result.config, "test", histories=h).table["NDCG@10"]
                      for test, h in (("clean test", None), (f"test {label}", noisy_test))}
            rows += [{"model": name, "trained_on": trained_on, "domain": d,
                      **{test: float(s[d]) for test, s in scores.items()}} for d in dataset.domain_names]
    return pd.DataFrame(rows), noisy_runs


def describe_train_noise(frame: pd.DataFrame) -> str:
    """One sentence per model and domain: what noisy training did to clean and noisy test NDCG@10."""
    tests = [c for c in frame.columns if "test" in c]
    lines = []
    for (name, domain), rows in frame.groupby(["model", "domain"], sort=False):
        clean_row, noisy_row = rows.iloc[0], rows.iloc[1]
        changes = ", ".join(f"{t} {noisy_row[t]:.2f} vs {clean_row[t]:.2f} "
                            f"({100 * (noisy_row[t] / clean_row[t] - 1):+.0f}%)" for t in tests)
        lines.append(f"{name} {domain}: trained on noisy vs clean sequences: {changes}")
    return "\n".join(lines)


def summarize_robustness(curve: pd.DataFrame, steps: pd.DataFrame, train_noise: pd.DataFrame,
                         params: RobustnessParams) -> dict:
    """The numbers notebook 06 ends with (``summary.json``), and a one-line ``headline``."""
    top = curve[curve["noise_rate"] == curve["noise_rate"].max()]
    retention = {m: rows.set_index("domain")["retention"].round(3).to_dict() for m, rows in top.groupby("model")}
    best_k = {m: int(rows.groupby("steps")["NDCG@10"].mean().idxmax()) for m, rows in steps.groupby("model")}
    summary = {
        "notebook": "06_robustness_and_steps", "data": params.data, "preset": params.preset,
        "max_noise_rate": float(curve["noise_rate"].max()), "retention_at_max_noise": retention,
        "step_curve_NDCG@10": {m: rows.groupby("steps")["NDCG@10"].mean().round(3).to_dict()
                               for m, rows in steps.groupby("model")},
        "best_steps": best_k, "train_noise": params.train_noise,
        "train_noise_table": train_noise.round(3).to_dict(orient="records"),
    }
    mean_retention = {m: float(np.mean(list(v.values()))) for m, v in retention.items()}
    summary["headline"] = (f"NDCG@10 retained at {summary['max_noise_rate']:.0%} test noise: "
                           + ", ".join(f"{m} {v:.2f}" for m, v in mean_retention.items())
                           + "; best k: " + ", ".join(f"{m} {k}" for m, k in best_k.items()))
    return summary


# --- Table 3 (RQ2) ----------------------------------------------------------------------------
def ablation_table(results: dict[str, TrainResult], metric: str = "NDCG@10") -> pd.DataFrame:
    """Table 3: one row per variant (in the paper's order) with its components, ``metric`` per domain,
    and the change and paired t-test p-value against the row above."""
    names = [m for m in ABLATION_ORDER if m in results]
    if len(names) != len(results):
        extra = sorted(set(results) - set(names))
        raise ValueError(f"ablation_table takes the diffusion variants {', '.join(ABLATION_ORDER)}; got {', '.join(extra)}")
    domains = list(results[names[0]].test.table.index)
    rows = []
    for i, name in enumerate(names):
        de, g, cl = VARIANT_FLAGS[name]
        row = {"variant": name, "DE": "✓" if de else "", "G": "✓" if g else "", "Tri-CL": "✓" if cl else ""}
        test = paired_test(results[name].test, results[names[i - 1]].test, metric) if i else None
        for d in domains:
            row[d] = results[name].test.table.loc[d, metric]
            row[f"{d} Δ"] = test.loc[d, "diff"] if test is not None else np.nan
            row[f"{d} p"] = test.loc[d, "p"] if test is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def plot_ablation(table: pd.DataFrame, metric: str = "NDCG@10") -> Figure:
    """Table 3 as bars: one group per domain, one bar per variant (in the paper's order)."""
    domains = [c for c in table.columns if c not in ("DE", "G", "Tri-CL") and " " not in c]
    fig = Figure(figsize=(7, 2.6), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(table)
    x = np.arange(len(domains))
    for i, name in enumerate(table.index):
        ax.bar(x + i * width, table.loc[name, domains].to_numpy(dtype=float), width, color=f"C{i}", label=name)
    ax.set_xticks(x + width * (len(table) - 1) / 2, [f"domain {d}" for d in domains])
    ax.set(ylabel=f"test {metric} (×100)", title="Table 3: adding components one at a time")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def summarize_ablation(table: pd.DataFrame, params: AblationParams, metric: str = "NDCG@10") -> dict:
    """The numbers notebook 07 ends with (``summary.json``), and a one-line ``headline``."""
    domains = [c for c in table.columns if c not in ("DE", "G", "Tri-CL") and " " not in c]
    best = {d: table[d].idxmax() for d in domains}
    summary = {
        "notebook": "07_ablation", "data": params.data, "preset": params.preset, "metric": metric,
        f"test_{metric}": {d: table[d].round(3).to_dict() for d in domains},
        "p_vs_previous_row": {d: table[f"{d} p"].round(6).dropna().to_dict() for d in domains},
        "best_by_domain": best,
    }
    summary["headline"] = f"test {metric} " + "; ".join(
        f"{d}: " + " < ".join(table[d].sort_values().index) for d in domains) + " (ascending)"
    return summary


# --- exercises ----------------------------------------------------------------------------------
def _not_attempted(result) -> bool:
    return result is None


def improvement_and_p_by_hand(ours: EvalResult, other: EvalResult, domain: str,
                              metric: str = "NDCG@10") -> tuple[float, float]:
    """Exercise (05): Table 1's "Imp." (%) and paired t-test p of ``ours`` vs ``other`` on one row,
    from the per-case metrics alone."""
    mask_ours = ours.per_case["domain"] == domain
    x = ours.per_case.loc[mask_ours, metric].to_numpy()
    y = other.per_case.loc[other.per_case["domain"] == domain, metric].to_numpy()
    return 100 * (x.mean() / y.mean() - 1), float(stats.ttest_rel(x, y).pvalue)


def check_improvement(fn: Callable, results: dict[str, TrainResult], table: pd.DataFrame,
                      ours: str = "dpgdiff", metric: str = "NDCG@10") -> str:
    """Compare a reader's ``fn(ours, other, domain, metric) -> (imp %, p)`` with Table 1's first domain."""
    if "Imp." not in table.columns:
        return f"needs a table with {ours!r} and at least one other model"
    domain = table.index[0][0]
    other = max((n for n in results if n != ours), key=lambda n: results[n].test.table.loc[domain, metric])
    answer = fn(results[ours].test, results[other].test, domain, metric)
    if _not_attempted(answer):
        return "not attempted yet (reference: experiments.improvement_and_p_by_hand)"
    imp, p = (float(v) for v in answer)
    want_imp = float(table.loc[(domain, metric), "Imp."].rstrip("%"))
    want_p = float(table.loc[(domain, metric), "p"])
    ok = abs(imp - want_imp) < 0.05 + 1e-9 and math.isclose(p, want_p, rel_tol=1e-6, abs_tol=1e-12)
    return (f"correct: {domain} {metric} vs {other}: Imp. {imp:.1f}%, p = {p:.3g}" if ok else
            f"mismatch: got Imp. {imp:.2f}%, p = {p:.4g}; Table 1 says {want_imp:.1f}%, p = {want_p:.4g}")


def robustness_score_by_hand(rates, retention) -> float:
    """Exercise (06): one number for a robustness curve, the mean retention over the noise range
    (trapezoid area under retention(rate), divided by the range of rates)."""
    rates, retention = np.asarray(rates, dtype=float), np.asarray(retention, dtype=float)
    area = np.sum((rates[1:] - rates[:-1]) * (retention[1:] + retention[:-1]) / 2)
    return float(area / (rates[-1] - rates[0]))


def check_robustness_score(fn: Callable, curve: pd.DataFrame) -> str:
    """Compare a reader's ``fn(rates, retention) -> float`` with the reference on every curve of ``curve``."""
    mismatches, scores = [], []
    for (name, domain), rows in curve.groupby(["model", "domain"], sort=False):
        rates, retention = rows["noise_rate"].to_numpy(), rows["retention"].to_numpy()
        got = fn(rates, retention)
        if _not_attempted(got):
            return "not attempted yet (reference: experiments.robustness_score_by_hand)"
        want = robustness_score_by_hand(rates, retention)
        scores.append(f"{name} {domain} {want:.3f}")
        if not math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12):
            mismatches.append(f"{name} {domain}: got {float(got):.4f}, expected {want:.4f}")
    return "mismatch: " + "; ".join(mismatches) if mismatches else "correct: " + ", ".join(scores)


def paired_t_by_hand(x, y) -> tuple[float, float]:
    """Exercise (07): the paired t-test, t = mean(d) / (sd(d) / √n) with d = x − y and n − 1 degrees
    of freedom; returns (t, two-sided p)."""
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    n = len(d)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    return float(t), float(2 * stats.t.sf(abs(t), df=n - 1))


def check_paired_t(fn: Callable, a: EvalResult, b: EvalResult, metric: str = "NDCG@10") -> str:
    """Compare a reader's ``fn(x, y) -> (t, p)`` with :func:`dpgdiff_lite.evaluation.paired_test` per domain."""
    expected = paired_test(a, b, metric)
    lines = []
    for domain, row in expected.iterrows():
        x = a.per_case.loc[a.per_case["domain"] == domain, metric].to_numpy()
        y = b.per_case.loc[b.per_case["domain"] == domain, metric].to_numpy()
        got = fn(x, y)
        if _not_attempted(got):
            return "not attempted yet (reference: experiments.paired_t_by_hand)"
        t, p = (float(v) for v in got)
        if not (math.isclose(t, row["t"], rel_tol=1e-6) and math.isclose(p, row["p"], rel_tol=1e-6, abs_tol=1e-12)):
            return f"mismatch in {domain}: got t = {t:.4f}, p = {p:.4g}; expected t = {row['t']:.4f}, p = {row['p']:.4g}"
        lines.append(f"{domain} t = {t:.2f}, p = {p:.3g}")
    return "correct: " + "; ".join(lines)

"""One trainer for every model: Adam, validation with early stopping, atomic resumable checkpoints.

A run folder holds the run record — ``config.json``, ``history.csv``, ``model.pt`` (the best weights
by validation NDCG@10) and ``metrics.json`` (which names the data spec) — all written here and
nowhere else, and ``checkpoint.pt`` (resume state), each atomically (:mod:`dpgdiff_lite.run_folder`).
Training the same configuration into the same folder again resumes it; another configuration is
refused with the list of differences unless ``resume=False`` (the CLI's ``--fresh``) starts over.
Under ``torchrun`` the ranks train data-parallel (:mod:`dpgdiff_lite.distributed`); rank 0
evaluates and writes.

The loop reads as Algorithm 1: :func:`setup_training` builds the model, optimiser and random
streams; each epoch runs :func:`train_step` over shuffled batches (:func:`_train_epoch`); then
:func:`_validate` keeps the best weights and counts evaluations without improvement.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from dpgdiff_lite import distributed, run_folder
from dpgdiff_lite.anchored import AnchoredDPGDiff
from dpgdiff_lite.config import SCORE_WEIGHT_CHOICES, Config
from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset, iterate_batches, pad_training
from dpgdiff_lite.evaluation import EvalResult, evaluate
from dpgdiff_lite.losses import total_loss
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.popularity import PopularityScorer
from dpgdiff_lite.recommender import Recommender, Scorer
from dpgdiff_lite.runtime import cpu_threads, explain_out_of_memory, get_device, set_seed
from dpgdiff_lite.sasrec import SASRec, SingleDomainSASRec

log = logging.getLogger(__name__)


def build_model(dataset: CrossDomainDataset, config: Config, truth=None) -> Scorer:
    """The scorer named by ``config.model``: a trainable :class:`Recommender`, popularity, or the
    planted oracle (which needs the synthetic data's ``truth``)."""
    if config.model == "pop":
        return PopularityScorer(dataset)
    if config.model == "oracle":
        if truth is None:
            raise ValueError("model 'oracle' needs synthetic data (it scores with the planted truth)")
        return truth.oracle_scorer()
    if config.model == "sasrec":
        return SASRec(dataset.n_items, config)
    if config.model == "sasrec-single":
        return SingleDomainSASRec(dataset.n_items, config)
    if config.model == "dpgdiff-anchored":
        return AnchoredDPGDiff(dataset.n_items, config)
    return DPGDiff(dataset.n_items, config)


def metrics_record(config: Config, test: EvalResult, valid: EvalResult | None = None, data: str | None = None,
                   **extra) -> dict:
    """The ``metrics.json`` layout (also used for re-evaluations): protocols, model, data spec,
    test (and validation) metrics ×100 per domain letter, then ``extra`` fields."""
    record = {"protocol": test.dataset_protocol, "eval_protocol": test.protocol, "model": config.model,
              "data": data, "test": test.to_dict()}
    if valid is not None:
        record["valid"] = valid.to_dict()
    return {**record, **extra}


@dataclass
class TrainResult:
    model: Scorer
    config: Config
    history: pd.DataFrame
    valid: EvalResult
    test: EvalResult
    seconds_per_epoch: float
    data: str | None = None

    @property
    def epochs_run(self) -> int:
        return int(self.history["epoch"].max()) if len(self.history) else 0

    def metrics(self) -> dict:
        """The ``metrics.json`` layout."""
        chosen = {"score_weight": float(self.model.chosen_score_weight)} if self.config.select_score_weight else {}
        if isinstance(self.model, AnchoredDPGDiff):
            chosen["mix_weight"] = self.model.mix_weight.tolist()  # w per (domain, user group), fit on validation
        return metrics_record(self.config, self.test, self.valid, self.data,
                              seconds_per_epoch=self.seconds_per_epoch, epochs_run=self.epochs_run, **chosen)


def validation_score(result: EvalResult) -> float:
    """Model selection criterion: NDCG@10 averaged over domains."""
    return float(result.table["NDCG@10"].mean())


def run_evaluation(model: Scorer, dataset: CrossDomainDataset, config: Config, split: str,
                   histories: list[np.ndarray] | None = None, steps: int | None = None) -> EvalResult:
    """Evaluate with the config's protocol (:func:`evaluation_settings`) and ``steps`` reverse steps
    (default: ``config.inference_steps``)."""
    return evaluate(model, dataset, split=split, histories=histories, steps=steps,
                    **evaluation_settings(dataset, config))


def evaluation_settings(dataset: CrossDomainDataset, config: Config) -> dict:
    """The protocol, negatives and seed of :func:`~dpgdiff_lite.evaluation.evaluate` for ``config``.

    A domain too small to draw ``eval_negatives`` distinct negatives from (the small synthetic
    presets) is ranked against all its items instead: the ``full`` protocol, named in the result.
    """
    protocol = config.eval_protocol
    if protocol == "sampled" and min(dataset.n_items) - 1 < config.eval_negatives:
        log.debug("a domain has fewer than %d other items: ranking against all items", config.eval_negatives)
        protocol = "full"
    return {"protocol": protocol, "n_negatives": config.eval_negatives, "seed": config.eval_seed}


class NonFiniteLoss(RuntimeError):
    pass


@dataclass
class TrainingSetup:
    """Everything one training step needs: the model, its optimiser, the data and the random streams."""

    model: Recommender
    config: Config
    device: torch.device
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator  # shuffling and augmentations
    generator: torch.Generator  # diffusion steps and noise
    inputs: np.ndarray  # (sequences, max_len) left-padded training inputs
    targets: np.ndarray  # (sequences, max_len) their next items
    offsets: np.ndarray
    autocast: AbstractContextManager = field(repr=False)


def setup_training(dataset: CrossDomainDataset, config: Config, device: torch.device) -> TrainingSetup:
    """Seed, build the model on ``device``, its Adam optimiser, the padded training data and the
    random streams (each rank draws its own noise and augmentations under torchrun)."""
    set_seed(config.seed)
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(config.cpu_threads, dataset.n_items, config.dim))
    model = build_model(dataset, config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed + distributed.rank())
    generator = torch.Generator(device=device).manual_seed(config.seed + distributed.rank())
    inputs, targets = pad_training(dataset.train, config.max_len)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and config.bf16)
    return TrainingSetup(model, config, device, optimizer, rng, generator, inputs, targets, dataset.offsets, autocast)


def train_step(setup: TrainingSetup, batch: Batch, step_fn=None) -> dict[str, torch.Tensor]:
    """One optimiser step on L_total (eq. 14, Algorithm 1 line 11); returns the unweighted terms.

    ``step_fn`` computes the loss terms (default: ``model.loss_terms``; the DDP or compiled wrapper).
    """
    config = setup.config
    step_fn = step_fn or setup.model.loss_terms
    with setup.autocast, explain_out_of_memory(config.batch_size, config.dim):
        terms = step_fn(batch, generator=setup.generator, rng=setup.rng)
    loss = total_loss(terms, config.loss_weights)
    setup.optimizer.zero_grad(set_to_none=True)
    with explain_out_of_memory(config.batch_size, config.dim):
        loss.backward()
    setup.optimizer.step()
    return terms


def train(dataset: CrossDomainDataset, config: Config, out_dir: str | Path | None = None, *,
          data: str | None = None, truth=None, progress: bool = True, resume: bool = True) -> TrainResult:
    """Train ``config.model`` on ``dataset`` into ``out_dir`` (optional).

    A folder that already holds this configuration and data resumes from its ``checkpoint.pt`` (a
    finished run is just re-evaluated); one holding other settings is refused, naming every
    difference, unless ``resume=False``, which deletes its run and starts over. ``data`` is the spec
    the dataset was loaded from, recorded in ``metrics.json``; ``truth`` is the synthetic data's
    planted truth, needed by ``model="oracle"``. Under torchrun every rank returns rank 0's
    metrics; only rank 0's model holds the best weights.
    """
    folder = Path(out_dir) if out_dir is not None else None
    if folder is not None:  # every refusal comes before any training
        if distributed.is_main():
            run_folder.ensure_writable(folder)
        if resume and (folder / "config.json").exists():
            run_folder.check_same_run(folder, config, data, recorded_data(folder))
    with distributed.process_group(get_device(config.device)) as device:
        # rank 0 writes the run folder and logs; the other ranks only read the checkpoint to resume
        out = folder if distributed.is_main() else None
        if out is not None:
            if not resume:
                run_folder.clear(out)
            run_folder.write_text(out / "config.json", config.to_json())
        if not config.trainable:  # popularity, the oracle: nothing to train
            return _finish(build_model(dataset, config, truth), dataset, config, out, data,
                           pd.DataFrame(columns=["epoch"]), 0.0)
        setup = setup_training(dataset, config, device)
        checkpoint = folder / "checkpoint.pt" if folder is not None else None
        state = _resume(setup, checkpoint) if resume and checkpoint is not None and checkpoint.exists() else {
            "epoch": 0, "history": [], "best_score": -1.0, "best_state": None, "bad_evals": 0}
        step = distributed.data_parallel(setup.model, device)  # DDP averages gradients under torchrun
        step_fn = torch.compile(step) if config.compile else step
        epoch_times = []
        for epoch in range(state["epoch"] + 1, config.epochs + 1):
            if state["bad_evals"] >= config.patience:
                break
            row = _train_epoch(setup, epoch, step_fn, progress and distributed.is_main())
            epoch_times.append(row["seconds"])
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                _validate(setup, dataset, state, row)
            state["history"].append(row)
            state["epoch"] = epoch
            if out is not None:
                _save_checkpoint(setup, state, checkpoint, data)
            if progress and distributed.is_main():
                tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        model = setup.model
        if state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        model.eval()
        if config.select_score_weight and distributed.is_main():
            select_score_weight(model, dataset, config)
        history = pd.DataFrame(state["history"])
        seconds = float(np.mean(epoch_times)) if epoch_times else float(history["seconds"].mean()) if len(history) else 0.0
        if out is not None:
            run_folder.save_torch(out / "model.pt", model.state_dict())
        return _finish(model, dataset, config, out, data, history, seconds)


def select_score_weight(model: Scorer, dataset: CrossDomainDataset, config: Config) -> float:
    """Set the model's λ of eq. (15)'s score (x̂_0 + λ ĝ_d)ᵀE_d to the one of ``SCORE_WEIGHT_CHOICES``
    with the best validation NDCG@10 (the larger λ on a tie); returns it."""
    scores = {}
    for weight in SCORE_WEIGHT_CHOICES:
        model.chosen_score_weight.fill_(weight)
        scores[weight] = validation_score(run_evaluation(model, dataset, config, "valid"))
    best = max(SCORE_WEIGHT_CHOICES, key=lambda weight: (scores[weight], weight))
    model.chosen_score_weight.fill_(best)
    log.info("score weight λ chosen on validation: %g (validation NDCG@10 %s)", best,
             ", ".join(f"{w:g}: {v:.2f}" for w, v in scores.items()))
    return best


def _resume(setup: TrainingSetup, checkpoint: Path) -> dict:
    """Restore model, optimiser and random streams from ``checkpoint``; returns the loop state."""
    saved = run_folder.load_checkpoint(checkpoint, setup.config)
    try:
        setup.model.load_state_dict(saved["model"])
        setup.optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, KeyError, ValueError) as error:  # the model code changed since it was written
        reason = str(error).strip().split("\n")[-1].strip()
        raise run_folder.RunFolderError(f"{checkpoint} does not fit this version's model ({reason}); "
                                        f"run again with --fresh to start over") from None
    setup.rng.bit_generator.state = saved["numpy_rng"]
    setup.generator.set_state(saved["generator"].cpu() if setup.device.type == "cpu" else saved["generator"])
    torch.set_rng_state(saved["torch_rng"].cpu())
    log.info("resumed from %s at epoch %d", checkpoint, saved["epoch"])
    return {key: saved[key] for key in ("epoch", "history", "best_score", "best_state", "bad_evals")}


def _train_epoch(setup: TrainingSetup, epoch: int, step_fn, progress: bool) -> dict:
    """One pass over the shuffled training sequences; returns the history row (mean loss terms)."""
    config, device = setup.config, setup.device
    setup.model.train()
    for group in setup.optimizer.param_groups:
        group["lr"] = config.learning_rate(epoch)
    started = time.perf_counter()
    batch_size = distributed.local_batch_size(config.batch_size)
    order = distributed.shard(distributed.broadcast_from_main(setup.rng.permutation(len(setup.inputs))))
    batches = iterate_batches(setup.inputs[order], setup.targets[order], setup.offsets, batch_size)
    sums: dict[str, float] = {}
    n_batches = 0
    for batch in tqdm(batches, total=-(-len(order) // batch_size), desc=f"{config.model} epoch {epoch}",
                      disable=not progress, leave=False):
        terms = train_step(setup, batch.to(device, non_blocking=True), step_fn)
        for name, value in terms.items():
            value = float(value.detach())
            if not np.isfinite(value):
                raise NonFiniteLoss(f"epoch {epoch}: loss term {name!r} is {value} "
                                    f"(try a lower lr, currently {config.lr})")
            sums[name] = sums.get(name, 0.0) + value
        n_batches += 1
    losses = distributed.mean_over_ranks({k: v / max(n_batches, 1) for k, v in sums.items()}, device)
    return {"epoch": epoch, "seconds": time.perf_counter() - started, **{f"loss_{k}": v for k, v in losses.items()}}


def _validate(setup: TrainingSetup, dataset: CrossDomainDataset, state: dict, row: dict) -> None:
    """Validation NDCG@10 into ``row``; keep the best weights, count evaluations without improvement.
    Every rank stops early together, on rank 0's validation."""
    if distributed.is_main():
        setup.model.fit_on_validation(dataset, evaluation_settings(dataset, setup.config))
        score = validation_score(run_evaluation(setup.model, dataset, setup.config, "valid"))
        row["valid_NDCG@10"] = score
        if score > state["best_score"]:
            state["best_score"] = score
            state["best_state"] = {k: v.detach().clone() for k, v in setup.model.state_dict().items()}
            state["bad_evals"] = 0
        else:
            state["bad_evals"] += 1
    shared_row, state["bad_evals"] = distributed.broadcast_from_main((row, state["bad_evals"]))
    row.update(shared_row)


def _save_checkpoint(setup: TrainingSetup, state: dict, checkpoint: Path, data: str | None) -> None:
    run_folder.save_torch(checkpoint, {
        "format": run_folder.CHECKPOINT_FORMAT, "config": dataclasses.asdict(setup.config), "data": data,
        "model": setup.model.state_dict(), "optimizer": setup.optimizer.state_dict(),
        "numpy_rng": setup.rng.bit_generator.state, "generator": setup.generator.get_state(),
        "torch_rng": torch.get_rng_state(), **state})


def _finish(model: Scorer, dataset: CrossDomainDataset, config: Config, out: Path | None, data: str | None,
            history: pd.DataFrame, seconds: float) -> TrainResult:
    """Evaluate the selected model on validation and test; write history.csv and metrics.json."""
    valid = test = None
    if distributed.is_main():
        valid, test = run_evaluation(model, dataset, config, "valid"), run_evaluation(model, dataset, config, "test")
    valid, test = distributed.broadcast_from_main((valid, test))
    result = TrainResult(model, config, history, valid, test, seconds, data)
    if out is not None:
        run_folder.write_csv(out / "history.csv", history)
        run_folder.write_json(out / "metrics.json", result.metrics())
    return result


def recorded_data(run_dir: str | Path) -> str | None:
    """The data spec a run folder was trained on: from ``metrics.json`` once finished, else from the
    checkpoint of an unfinished run; None when the folder records neither."""
    run = Path(run_dir)
    if (run / "metrics.json").exists():
        return run_folder.read_json(run / "metrics.json").get("data")
    if (run / "checkpoint.pt").exists():
        saved = run_folder.load_torch(run / "checkpoint.pt", "Delete it, or run again with --fresh to start over.")
        return saved.get("data") if isinstance(saved, dict) else None
    return None


def load_run(run_dir: str | Path, dataset: CrossDomainDataset, device: str = "cpu", truth=None) -> tuple[Scorer, Config]:
    """Rebuild a trained model from a run folder (``config.json`` + ``model.pt``)."""
    run = Path(run_dir)
    for name in ("config.json", "metrics.json"):
        if not (run / name).exists():
            raise FileNotFoundError(f"{run / name} not found: is {run} a run folder written by `train`?")
    config = run_folder.read_config(run / "config.json")
    model = build_model(dataset, config, truth)
    if config.trainable:
        run_folder.load_weights(run / "model.pt", model, run)
        model.to(get_device(device))
    return model, config

"""One trainer for every model: Adam, validation with early stopping, atomic resumable checkpoints.

A run folder holds ``config.json``, ``history.csv``, ``checkpoint.pt`` (resume state),
``model.pt`` (the best weights by validation NDCG@10) and ``metrics.json``. Under ``torchrun``
the ranks train data-parallel (:mod:`dpgdiff_lite.distributed`); rank 0 evaluates and writes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from dpgdiff_lite import distributed
from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import CrossDomainDataset, iterate_batches, pad_training
from dpgdiff_lite.evaluation import EvalResult, evaluate
from dpgdiff_lite.losses import total_loss
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.popularity import PopularityScorer
from dpgdiff_lite.runtime import explain_out_of_memory, get_device, set_seed
from dpgdiff_lite.sasrec import SASRec

log = logging.getLogger(__name__)


def build_model(dataset: CrossDomainDataset, config: Config):
    """The scorer named by ``config.model``: a trainable nn.Module, or popularity."""
    if config.model == "pop":
        return PopularityScorer(dataset)
    if config.model == "sasrec":
        return SASRec(dataset.n_items, config)
    return DPGDiff(dataset.n_items, config)


@dataclass
class TrainResult:
    model: object
    config: Config
    history: pd.DataFrame
    valid: EvalResult
    test: EvalResult
    seconds_per_epoch: float

    def metrics(self) -> dict:
        """The ``metrics.json`` layout."""
        return {
            "protocol": self.valid.dataset_protocol,
            "eval_protocol": self.valid.protocol,
            "model": self.config.model,
            "test": self.test.to_dict(),
            "valid": self.valid.to_dict(),
            "seconds_per_epoch": self.seconds_per_epoch,
            "epochs_run": int(self.history["epoch"].max()) if len(self.history) else 0,
        }


def validation_score(result: EvalResult) -> float:
    """Model selection criterion: NDCG@10 averaged over domains."""
    return float(result.table["NDCG@10"].mean())


def run_evaluation(model, dataset: CrossDomainDataset, config: Config, split: str,
                   histories: list[np.ndarray] | None = None) -> EvalResult:
    """Evaluate with the config's protocol (sampled negatives fixed by ``eval_seed``).

    A domain too small to draw ``eval_negatives`` distinct negatives from (the small synthetic
    presets) is ranked against all its items instead: the ``full`` protocol, named in the result.
    """
    protocol = config.eval_protocol
    if protocol == "sampled" and min(dataset.n_items) - 1 < config.eval_negatives:
        log.debug("a domain has fewer than %d other items: ranking against all items", config.eval_negatives)
        protocol = "full"
    return evaluate(model, dataset, split=split, protocol=protocol,
                    n_negatives=config.eval_negatives, seed=config.eval_seed, histories=histories)


def _save_atomic(state: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


class NonFiniteLoss(RuntimeError):
    pass


def train(dataset: CrossDomainDataset, config: Config, out_dir: str | Path | None = None,
          progress: bool = True, resume: bool = True) -> TrainResult:
    """Train ``config.model`` on ``dataset``; resumes from ``out_dir/checkpoint.pt`` when present.

    Under torchrun every rank returns rank 0's metrics; only rank 0's model holds the best weights.
    """
    with distributed.process_group(get_device(config.device)) as device:
        return _train(dataset, config, out_dir, progress, resume, device)


def _train(dataset: CrossDomainDataset, config: Config, out_dir: str | Path | None, progress: bool,
           resume: bool, device: torch.device) -> TrainResult:
    checkpoint = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
    # the other ranks only read the checkpoint to resume; rank 0 writes the run folder and logs
    out = Path(out_dir) if out_dir is not None and distributed.is_main() else None
    progress = progress and distributed.is_main()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        config.to_json(out / "config.json")
    set_seed(config.seed)
    if device.type == "cpu" and config.cpu_threads > 0:
        torch.set_num_threads(config.cpu_threads)
    model = build_model(dataset, config)
    if not isinstance(model, nn.Module):  # popularity: nothing to train
        return _finish(model, dataset, config, out, pd.DataFrame(columns=["epoch"]), 0.0)

    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # each rank draws its own noise and augmentations; the shuffle is rank 0's, broadcast below
    rng = np.random.default_rng(config.seed + distributed.rank())
    generator = torch.Generator(device=device).manual_seed(config.seed + distributed.rank())
    batch_size = distributed.local_batch_size(config.batch_size)
    inputs, targets = pad_training(dataset.train, config.max_len)
    offsets = dataset.offsets
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and config.bf16)

    state = {"epoch": 0, "history": [], "best_score": -1.0, "best_state": None, "bad_evals": 0}
    if resume and checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=True, map_location=device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = saved["numpy_rng"]
        generator.set_state(saved["generator"].cpu() if device.type == "cpu" else saved["generator"])
        torch.set_rng_state(saved["torch_rng"].cpu())
        state = {key: saved[key] for key in state}
        log.info("resumed from %s at epoch %d", checkpoint, state["epoch"])
    step = distributed.data_parallel(model, device)  # DDP averages gradients when under torchrun
    step_fn = torch.compile(step) if config.compile else step

    epoch_times = []
    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        if state["bad_evals"] >= config.patience:
            break
        model.train()
        started = time.perf_counter()
        sums: dict[str, float] = {}
        n_batches = 0
        order = distributed.shard(distributed.broadcast_from_main(rng.permutation(len(inputs))))
        batches = iterate_batches(inputs[order], targets[order], offsets, batch_size)
        total_batches = -(-len(order) // batch_size)
        for batch in tqdm(batches, total=total_batches, desc=f"{config.model} epoch {epoch}",
                          disable=not progress, leave=False):
            batch = batch.to(device, non_blocking=True)
            with autocast, explain_out_of_memory(config.batch_size, config.dim):
                terms = step_fn(batch, generator=generator, rng=rng)
            for name, value in terms.items():
                if not torch.isfinite(value):
                    raise NonFiniteLoss(f"epoch {epoch}: loss term {name!r} is {value.item()} "
                                        f"(try a lower lr, currently {config.lr})")
            loss = total_loss(terms, config.loss_weights)
            optimizer.zero_grad(set_to_none=True)
            with explain_out_of_memory(config.batch_size, config.dim):
                loss.backward()
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            n_batches += 1
        epoch_times.append(time.perf_counter() - started)
        losses = distributed.mean_over_ranks({k: v / max(n_batches, 1) for k, v in sums.items()}, device)
        row = {"epoch": epoch, "seconds": epoch_times[-1], **{f"loss_{k}": v for k, v in losses.items()}}
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            if distributed.is_main():
                valid = run_evaluation(model, dataset, config, "valid")
                row["valid_NDCG@10"] = validation_score(valid)
                if row["valid_NDCG@10"] > state["best_score"]:
                    state["best_score"] = row["valid_NDCG@10"]
                    state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    state["bad_evals"] = 0
                else:
                    state["bad_evals"] += 1
            # every rank stops early together, on rank 0's validation
            row, state["bad_evals"] = distributed.broadcast_from_main((row, state["bad_evals"]))
        state["history"].append(row)
        state["epoch"] = epoch
        if out is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "numpy_rng": rng.bit_generator.state, "generator": generator.get_state(),
                          "torch_rng": torch.get_rng_state(), **state}, checkpoint)
        if progress:
            tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))

    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    history = pd.DataFrame(state["history"])
    seconds = float(np.mean(epoch_times)) if epoch_times else float(history["seconds"].mean()) if len(history) else 0.0
    if out is not None:
        torch.save(model.state_dict(), out / "model.pt")
    return _finish(model, dataset, config, out, history, seconds)


def _finish(model, dataset: CrossDomainDataset, config: Config, out: Path | None,
            history: pd.DataFrame, seconds: float) -> TrainResult:
    valid = test = None
    if distributed.is_main():
        valid, test = run_evaluation(model, dataset, config, "valid"), run_evaluation(model, dataset, config, "test")
    valid, test = distributed.broadcast_from_main((valid, test))
    result = TrainResult(model, config, history, valid, test, seconds)
    if out is not None:
        history.to_csv(out / "history.csv", index=False)
        (out / "metrics.json").write_text(json.dumps(result.metrics(), indent=2))
    return result


def load_run(run_dir: str | Path, dataset: CrossDomainDataset, device: str = "cpu"):
    """Rebuild a trained model from a run folder (``config.json`` + ``model.pt``)."""
    run = Path(run_dir)
    for name in ("config.json", "metrics.json"):
        if not (run / name).exists():
            raise FileNotFoundError(f"{run / name} not found: is {run} a run folder written by `train`?")
    config = Config.from_json(run / "config.json")
    model = build_model(dataset, config)
    if isinstance(model, nn.Module):
        model.load_state_dict(torch.load(run / "model.pt", weights_only=True, map_location=device))
        model.to(get_device(device))
    return model, config

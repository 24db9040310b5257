"""Probes of a representation: how much of a known (planted) quantity it holds. A closed-form ridge probe
scored by held-out R² (one table of them per representation and target, and its reading in words), and the share
of nearest neighbours that agree on a class (notebook 03)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def split_users(n: int, test_fraction: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random (train rows, held-out rows) split of ``n`` users."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def ridge_fit(features: np.ndarray, targets: np.ndarray, alpha: float = 1.0):
    """Closed-form ridge regression W = (X̃ᵀX̃ + αI)⁻¹ X̃ᵀỸ on standardised features X̃ and centred
    targets Ỹ; returns predict(features) -> (N, outputs)."""
    x, y = np.asarray(features, np.float64), np.asarray(targets, np.float64)
    mean, std, y_mean = x.mean(0), x.std(0) + 1e-8, y.mean(0)
    z = (x - mean) / std  # (N, D)
    weights = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - y_mean))  # (D, outputs)
    return lambda new: ((np.asarray(new, np.float64) - mean) / std) @ weights + y_mean


def r_squared(predicted: np.ndarray, targets: np.ndarray) -> float:
    """1 − SSE/SST per output column, averaged over the columns (scikit-learn's 'uniform_average')."""
    targets = np.asarray(targets, np.float64).reshape(len(targets), -1)
    predicted = np.asarray(predicted, np.float64).reshape(len(targets), -1)
    sse = ((targets - predicted) ** 2).sum(0)
    sst = ((targets - targets.mean(0)) ** 2).sum(0)
    return float(np.mean(1 - sse / np.maximum(sst, 1e-12)))


def probe(features: np.ndarray, targets: np.ndarray, train: np.ndarray, test: np.ndarray,
          alpha: float = 1.0) -> tuple[float, np.ndarray]:
    """Fit a ridge probe on the ``train`` rows; return (held-out R², predictions for the ``test`` rows)."""
    predict = ridge_fit(features[train], targets[train], alpha)
    predicted = predict(features[test])
    return r_squared(predicted, targets[test]), predicted


def neighbour_agreement(points: np.ndarray, classes: np.ndarray, k: int = 10) -> float:
    """The mean fraction of each point's ``k`` nearest neighbours (Euclidean, itself excluded) that share
    its class: 1 when classes form clean regions, about :func:`chance_agreement` when they are mixed."""
    x = torch.as_tensor(np.asarray(points, np.float64))
    distances = torch.cdist(x, x)  # (N, N)
    distances.fill_diagonal_(float("inf"))
    neighbours = distances.topk(k, largest=False).indices.numpy()  # (N, k)
    return float((classes[neighbours] == classes[:, None]).mean())


def chance_agreement(classes: np.ndarray) -> float:
    """The agreement of :func:`neighbour_agreement` when neighbours are random: Σ_c (share of class c)²."""
    shares = np.bincount(classes) / len(classes)
    return float((shares ** 2).sum())


def probe_table(representations: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                test_fraction: float = 0.3, alpha: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Held-out R² of a ridge probe from each representation (rows) to each planted target (columns),
    plus the held-out accuracy of the argmax of the predicted θ against the true dominant shared topic."""
    n = len(next(iter(targets.values())))
    train, test = split_users(n, test_fraction, seed)
    shared = next(iter(targets))
    rows = {}
    for name, features in representations.items():
        row = {}
        for target_name, target in targets.items():
            row[f"R² {target_name}"], predicted = probe(features, target, train, test, alpha)
            if target_name == shared:
                row["top-1 shared topic"] = float((predicted.argmax(1) == target[test].argmax(1)).mean())
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("representation")
    # chance level of the top-1 column: always guess the most common dominant topic of the probe's train users
    majority = np.bincount(targets[shared][train].argmax(1)).argmax()
    table.attrs["top-1 chance"] = float((targets[shared][test].argmax(1) == majority).mean())
    return table


def describe_probe(table: pd.DataFrame, reference: str | None = None, threshold: float = 0.03) -> str:
    """Plain-language reading of :func:`probe_table`, computed from the numbers so it cannot drift:
    per target, which representations beat ``threshold`` (pure-noise features score slightly *below*
    0 here, about −D/N, so 0.03 is a small margin above chance) and the ``reference`` row's R² for scale."""
    lines = []
    for column in [c for c in table.columns if c.startswith("R² ")]:
        rows = table.drop(index=reference) if reference in table.index else table
        found = [f"{name} {value:.2f}" for name, value in rows[column].items() if value > threshold]
        none = [name for name, value in rows[column].items() if value <= threshold]
        line = f"{column[3:]}: " + (f"found in {', '.join(found)}" if found else "found in none")
        line += f"; nothing above {threshold:g} in {', '.join(none)}" if none else ""
        if reference in table.index:
            line += f" (reference '{reference}': {table.loc[reference, column]:.2f})"
        lines.append(line)
    if "top-1 shared topic" in table.columns and "top-1 chance" in table.attrs:
        best = table["top-1 shared topic"].drop(index=reference, errors="ignore")
        lines.append(f"dominant shared topic: best {best.idxmax()} {best.max():.2f}, "
                     f"chance (most common topic) {table.attrs['top-1 chance']:.2f}")
    return "\n".join(lines)

"""Lesson 09 — reading the paper critically: its tables checked against themselves and against the kit.

Every number typed from the paper lives in :data:`dpgdiff_lite.paper.PAPER`, one dict, each entry citing its table and
row (or the sentence of the text); ``09_reading_the_paper.ipynb`` states each finding as a claim
checked against these numbers, against the kit's committed notebook 07 (the inference-step curve)
and against the Food-Kitchen files (the eval-split protocol). The metric bounds used to scan Table 1
hold case by case for one target ranked among candidates (rank r ≥ 1):

    HR@K = 1[r ≤ K],  NDCG@K = 1[r ≤ K] / log2(r + 1),  MRR@10 = 1[r ≤ 10] / r,

so, averaged over the same cases, NDCG@K ≤ HR@K (equality only if every hit is at rank 1), a hit
at rank 6–10 adds between 1/log2(11) and 1/log2(7) to NDCG@10 − NDCG@5, and MRR@10 ≤ NDCG@10.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from dpgdiff_lite.lessons.common import NOTEBOOKS_DIR, not_attempted, not_attempted_message, resolve
from dpgdiff_lite.parameters import CheckedParams
from dpgdiff_lite.paper import DOMAINS, METHODS, METRICS, PAPER, TABLE3_DOMAINS, table1

ROUNDING = 0.005
"""Half a unit of the tables' last digit: a reported value x stands for a true value in x ± 0.005."""


@dataclass
class ReadingParams(CheckedParams):
    """Notebook 09's parameters: the executed notebook 07 to read the kit's step curve from (required),
    and the paper's markdown and the Food-Kitchen folder (optional: their checks are skipped when absent).
    Relative paths are taken from the working directory, else from ``notebooks/``."""

    notebook_07: str = "07_robustness_and_steps.ipynb"
    paper: str = "../../shared/paper/dpg-diff-paper.md"
    food_kitchen: str = "../../shared/data/c2dsr/Food-Kitchen"

    def check(self) -> None:
        for name in ("notebook_07", "paper", "food_kitchen"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a path, got {getattr(self, name)!r}")
        if not resolve(self.notebook_07).exists():
            raise ValueError(f"notebook_07: {self.notebook_07!r} not found")

    @property
    def notebook_07_path(self) -> Path:
        return resolve(self.notebook_07)

    @property
    def paper_path(self) -> Path | None:
        path = resolve(self.paper)
        return path if path.exists() else None

    @property
    def food_kitchen_path(self) -> Path | None:
        path = resolve(self.food_kitchen)
        return path if (path / "testdata_new.txt").exists() else None


# --- bounds between metrics ------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """A linear inequality Σ coefficient·metric ≤ 0 that holds for every ranking (module docstring)."""

    name: str
    coefficients: dict[str, float]
    kind: str  # "elementary", "band" (ranks 6–10) or "mrr"

    def excess(self, values: dict[str, float]) -> float:
        """How far the reported values break the bound beyond rounding (> 0: impossible)."""
        total = sum(c * values[m] for m, c in self.coefficients.items())
        return total - ROUNDING * sum(abs(c) for c in self.coefficients.values())


L7, L11 = math.log2(7), math.log2(11)
BOUNDS = (
    Bound("HR@5 ≤ HR@10", {"HR@5": 1, "HR@10": -1}, "elementary"),
    Bound("NDCG@5 ≤ NDCG@10", {"NDCG@5": 1, "NDCG@10": -1}, "elementary"),
    Bound("NDCG@5 ≤ HR@5", {"NDCG@5": 1, "HR@5": -1}, "elementary"),
    Bound("NDCG@10 ≤ HR@10", {"NDCG@10": 1, "HR@10": -1}, "elementary"),
    # a top-5 hit adds at most 1 to NDCG@10, a rank 6–10 hit at most 1/log2(7): equality with HR@10
    # needs every hit at rank 1, hence HR@5 = HR@10
    Bound("NDCG@10 ≤ HR@5 + (HR@10 − HR@5)/log2 7", {"NDCG@10": 1, "HR@5": -(1 - 1 / L7), "HR@10": -1 / L7},
          "elementary"),
    Bound("NDCG@10 − NDCG@5 ≤ (HR@10 − HR@5)/log2 7",
          {"NDCG@10": 1, "NDCG@5": -1, "HR@10": -1 / L7, "HR@5": 1 / L7}, "band"),
    Bound("NDCG@10 − NDCG@5 ≥ (HR@10 − HR@5)/log2 11", {"NDCG@10": -1, "NDCG@5": 1, "HR@10": 1 / L11,
                                                        "HR@5": -1 / L11}, "band"),
    Bound("MRR@10 ≤ NDCG@10", {"MRR@10": 1, "NDCG@10": -1}, "mrr"),
)


def impossible_cells(table: pd.DataFrame, kinds: tuple[str, ...] = ("elementary",)) -> pd.DataFrame:
    """Every (domain, method) of ``table`` (Table 1's layout) breaking a bound of ``kinds`` beyond
    rounding: one row per broken bound with the reported values and the excess."""
    rows = []
    for domain in dict.fromkeys(table.index.get_level_values("domain")):
        for method in METHODS:
            values = {m: float(table.loc[(domain, m), method]) for m in METRICS}
            for bound in (b for b in BOUNDS if b.kind in kinds):
                excess = bound.excess(values)
                if excess > 0:
                    rows.append({"domain": domain, "method": method, "bound": bound.name, "kind": bound.kind,
                                 "excess": excess, **values})
    return pd.DataFrame(rows, columns=["domain", "method", "bound", "kind", "excess", *METRICS])


def cells_of(found: pd.DataFrame) -> set[tuple[str, str]]:
    """The (domain, method) pairs of an :func:`impossible_cells` table."""
    return set(zip(found["domain"], found["method"]))


def improvements(table: pd.DataFrame) -> pd.DataFrame:
    """Per row: the best baseline, "Our", the reported Imp. and the recomputed
    (Our − best baseline) / best baseline × 100, with its rounding interval."""
    baselines = table[list(METHODS[:-1])]
    best = baselines.max(axis=1)
    ours = table["Our"]
    recomputed = 100 * (ours - best) / best
    low = 100 * ((ours - ROUNDING) - (best + ROUNDING)) / (best + ROUNDING)
    high = 100 * ((ours + ROUNDING) - (best - ROUNDING)) / (best - ROUNDING)
    return pd.DataFrame({"best baseline": baselines.idxmax(axis=1), "best": best, "Our": ours,
                         "Imp. reported": table["Imp."], "Imp. recomputed": recomputed,
                         "consistent": (table["Imp."] >= low - 0.05) & (table["Imp."] <= high + 0.05)})


# --- Figure 4 against the kit's notebook 07 ---------------------------------------------------------
def parse_step_table(text: str) -> pd.DataFrame | None:
    """A printed pivot table with row index ``steps`` (``DataFrame.to_string`` of notebook 07's step
    table: header lines ``model …``, ``domain …``, then ``steps``, then one line per k) as a frame with
    one column per (model, domain); None when ``text`` is not such a table."""
    lines = [line.split() for line in text.strip("\n").splitlines()]
    if "steps" not in (row[0] for row in lines if len(row) == 1):
        return None
    at = next(i for i, row in enumerate(lines) if row == ["steps"])
    header, body = lines[:at], lines[at + 1:]
    if not header or not body or header[0][0] != "model":
        return None
    width = len(body[0]) - 1
    tuples = [[] for _ in range(width)]
    for level in header:  # sparse labels: each spans an equal share of the columns below it
        labels = level[1:]
        for j in range(width):
            tuples[j].append(labels[j // (width // len(labels))])
    columns = pd.MultiIndex.from_tuples([tuple(t) for t in tuples], names=[level[0] for level in header])
    data = {int(row[0]): [float(v) for v in row[1:]] for row in body}
    return pd.DataFrame.from_dict(data, orient="index", columns=columns).rename_axis("steps")


def kit_step_curve(notebook: str | Path = NOTEBOOKS_DIR / "07_robustness_and_steps.ipynb") -> tuple[pd.DataFrame, str]:
    """The NDCG@10-by-steps table the committed notebook 07 displays (rows k, columns (model, domain)),
    found by its printed layout, and the line of that notebook's output naming its parameters."""
    cells = json.loads(Path(notebook).read_text())["cells"]

    def joined(value) -> str:  # the notebook format stores a multi-line string as a list of lines
        return "".join(value) if isinstance(value, list) else value

    texts = [joined(o["text"]) if "text" in o else joined(o.get("data", {}).get("text/plain", ""))
             for cell in cells for o in cell.get("outputs", [])]
    params = next((t.strip() for t in texts if t.startswith("RobustnessParams(")), "")
    for text in texts:
        table = parse_step_table(text)
        if table is not None:
            return table, params
    raise ValueError(f"{Path(notebook).name}: no executed step table found; execute notebook 07 first")


# --- the eval-split protocol -----------------------------------------------------------------------
def protocol_facts(dataset) -> dict:
    """What the eval-split protocol trains and tests on, beside Table 2's Food / Kitchen column."""
    positions = {int(u): i for i, u in enumerate(dataset.train_users)}
    evaluated = set(dataset.valid.users.tolist()) | set(dataset.test.users.tolist())

    def prefix_trained(split) -> int:
        return sum(int(u) in positions and np.array_equal(dataset.train[positions[int(u)]], history)
                   for u, history in zip(split.users, split.histories))

    lengths = [len(h) + 1 for split in (dataset.valid, dataset.test) for h in split.histories]
    return {"protocol": dataset.protocol, "items": tuple(int(n) for n in dataset.n_items),
            "train_sequences": len(dataset.train),
            "valid": tuple(int((dataset.domain_of(dataset.valid.targets) == d).sum()) for d in range(2)),
            "test": tuple(int((dataset.domain_of(dataset.test.targets) == d).sum()) for d in range(2)),
            "train_users_evaluated": len(set(positions) & evaluated), "train_users": len(positions),
            "valid_test_users_shared": len(set(dataset.valid.users.tolist()) & set(dataset.test.users.tolist())),
            "test_histories_trained_on": prefix_trained(dataset.test), "test_cases": len(dataset.test.targets),
            "valid_histories_trained_on": prefix_trained(dataset.valid), "valid_cases": len(dataset.valid.targets),
            "avg_length": float(np.mean(lengths))}


ROW_NAMES = {"MRR": "MRR@10", "N@5": "NDCG@5", "N@10": "NDCG@10", "H@5": "HR@5", "H@10": "HR@10"}


def tables_from_markdown(text: str) -> tuple[dict, dict]:
    """(Table 1 rows, Table 3 rows) read back from the paper's markdown, keyed as in :data:`PAPER`, to
    check the typed numbers against the source (bold, underline and % signs stripped)."""
    rows1, rows3, domain = {}, {}, None
    for line in text.splitlines():
        tokens = re.sub(r"<[^>]+>", "", line).replace("%", "").split()
        if tokens and tokens[0] in DOMAINS:
            domain, tokens = tokens[0], tokens[1:]
        if domain and len(tokens) == len(METHODS) + 2 and tokens[0] in ROW_NAMES:
            rows1[(domain, ROW_NAMES[tokens[0]])] = tuple(float(v) for v in tokens[1:])
        name = " ".join(tokens[:-4])
        if name in PAPER["table3"] and len(tokens) > 4:
            rows3[name] = dict(zip(TABLE3_DOMAINS, (float(v) for v in tokens[-4:])))
    return rows1, rows3


# --- exercise ----------------------------------------------------------------------------------------
def check_scan(fn: Callable) -> str:
    """Compare a reader's ``fn(table) -> set of (domain, method)`` with the elementary bounds' scan of
    Table 1 (:func:`impossible_cells`), and on a table with one planted impossible cell."""
    table = table1()
    got = fn(table)
    if not_attempted(got):
        return not_attempted_message("reading.reference_scan")
    expected = cells_of(impossible_cells(table))
    if set(got) != expected:
        return f"mismatch: got {sorted(set(got))}, expected {sorted(expected)}"
    planted = table.copy()
    planted.loc[("Food", "HR@5"), "SAS"] = planted.loc[("Food", "HR@10"), "SAS"] + 1.0
    if set(fn(planted)) != expected | {("Food", "SAS")}:
        return "your scan misses a planted HR@5 > HR@10 (Food, SAS)"
    return f"correct: {len(expected)} impossible cells, and the planted one"


def reference_scan(table: pd.DataFrame) -> set[tuple[str, str]]:
    """Exercise (reference): the (domain, method) cells of Table 1 breaking an elementary bound."""
    return cells_of(impossible_cells(table))

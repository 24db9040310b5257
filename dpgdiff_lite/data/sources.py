"""One entry point for every data source, named by a short spec string (the CLI's ``--data``).

``synthetic[:preset]`` draws planted data (default preset "teaching"), ``c2dsr:PATH`` reads a C2DSR
folder, ``amazon:X.csv,Y.csv`` prepares two Amazon ratings CSVs into a cached C2DSR folder
``<folder of X.csv>/c2dsr-cache/<X stem>-<Y stem>/`` and reads that.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from dpgdiff_lite.data.amazon import prepare_amazon
from dpgdiff_lite.data.c2dsr import SEQUENCE_FILES, load_c2dsr
from dpgdiff_lite.data.dataset import CrossDomainDataset

SCHEMES = ("synthetic[:preset]", "c2dsr:PATH", "amazon:X.csv,Y.csv")


@dataclass
class DataSource:
    """A dataset and, for synthetic data, the planted ground truth (``SyntheticTruth``) behind it."""

    dataset: CrossDomainDataset
    truth: object | None


def load_data(spec: str, max_len: int = 15) -> DataSource:
    """Load the dataset a spec names; histories keep their latest ``max_len`` events."""
    scheme, _, rest = spec.partition(":")
    if scheme == "synthetic":
        from dpgdiff_lite.data.synthetic import PRESETS, generate

        preset = rest or "teaching"
        if preset not in PRESETS:
            raise ValueError(f"data spec {spec!r}: unknown synthetic preset {preset!r}, "
                             f"choose one of {sorted(PRESETS)}")
        dataset, truth = generate(dataclasses.replace(PRESETS[preset], max_len=max_len))
        return DataSource(dataset, truth)
    if scheme == "c2dsr" and rest:
        return DataSource(load_c2dsr(rest, max_len), None)
    if scheme == "amazon" and len(rest.split(",")) == 2 and all(rest.split(",")):
        x_csv, y_csv = (Path(p) for p in rest.split(","))
        return DataSource(load_c2dsr(amazon_cache(x_csv, y_csv), max_len), None)
    raise ValueError(f"data spec {spec!r} not understood; valid schemes: {', '.join(SCHEMES)}")


def amazon_cache(x_csv: Path, y_csv: Path) -> Path:
    """The C2DSR folder prepared from two ratings CSVs, rebuilt when missing or older than a CSV."""
    names = tuple(p.stem.replace("-", "_") for p in (x_csv, y_csv))  # the folder name splits into them
    folder = x_csv.parent / "c2dsr-cache" / f"{names[0]}-{names[1]}"
    files = [folder / f for f in ("Alist.txt", "Blist.txt", "userlist.txt") + SEQUENCE_FILES]
    built = [f.stat().st_mtime for f in files if f.exists()]
    fresh = len(built) == len(files) and all(not p.exists() or p.stat().st_mtime <= min(built) for p in (x_csv, y_csv))
    if not fresh:
        prepare_amazon(x_csv, y_csv, folder, names=names)
    return folder

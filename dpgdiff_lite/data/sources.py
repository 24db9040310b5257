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


def parse_spec(spec: str) -> tuple[str, list[str]]:
    """(scheme, arguments) of a data spec — ("synthetic", [preset]), ("c2dsr", [PATH]) or
    ("amazon", [X.csv, Y.csv]) — or a ValueError naming the spec; nothing is read."""
    scheme, _, rest = str(spec).partition(":")
    if scheme == "synthetic":
        from dpgdiff_lite.data.synthetic import PRESETS

        preset = rest or "teaching"
        if preset not in PRESETS:
            raise ValueError(f"data spec {spec!r}: unknown synthetic preset {preset!r}, "
                             f"choose one of {sorted(PRESETS)}")
        return scheme, [preset]
    if scheme == "c2dsr" and rest:
        return scheme, [rest]
    if scheme == "amazon" and len(rest.split(",")) == 2 and all(rest.split(",")):
        return scheme, rest.split(",")
    raise ValueError(f"data spec {spec!r} not understood; valid schemes: {', '.join(SCHEMES)}")


def check_data_spec(spec: str) -> None:
    """Fail before any work for a spec :func:`load_data` would refuse or whose files do not exist."""
    scheme, paths = parse_spec(spec)
    if scheme != "synthetic":
        for path in paths:
            if not Path(path).exists():
                raise ValueError(f"data spec {spec!r}: {Path(path).name!r} not found")


def load_data(spec: str, max_len: int = 15) -> DataSource:
    """Load the dataset a spec names; histories keep their latest ``max_len`` events."""
    scheme, args = parse_spec(spec)
    if scheme == "synthetic":
        from dpgdiff_lite.data.synthetic import PRESETS, generate

        dataset, truth = generate(dataclasses.replace(PRESETS[args[0]], max_len=max_len))
        return DataSource(dataset, truth)
    if scheme == "c2dsr":
        return DataSource(load_c2dsr(args[0], max_len), None)
    x_csv, y_csv = (Path(p) for p in args)
    return DataSource(load_c2dsr(amazon_cache(x_csv, y_csv), max_len), None)


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

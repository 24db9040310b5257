"""One entry point for every data source, named by a short spec string (the CLI's ``--data``).

``synthetic[:preset]`` draws planted data (default preset "teaching"), ``c2dsr:PATH`` reads a C2DSR
folder, ``amazon:X.csv,Y.csv`` prepares two Amazon ratings CSVs into a cached C2DSR folder
``<folder of X.csv>/c2dsr-cache/<X stem>-<Y stem>/`` and reads that.

Options in brackets after a spec change the data it names: any scalar generator knob for synthetic
data (``synthetic:teaching[conflict_rate=1.0,seed=3]``, what the regimes grid records), and for
real data ``users=FRACTION`` with ``seed=N`` to keep a random share of the users
(``c2dsr:data/Food-Kitchen[users=0.3]``, a sparser catalogue with the same items).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from dpgdiff_lite.data.amazon import prepare_amazon
from dpgdiff_lite.data.c2dsr import SEQUENCE_FILES, load_c2dsr
from dpgdiff_lite.data.dataset import CrossDomainDataset

SCHEMES = ("synthetic[:preset]", "c2dsr:PATH", "amazon:X.csv,Y.csv")
REAL_OPTIONS = {"users": "a fraction in (0, 1] of the users to keep", "seed": "an integer seed of that draw"}


@dataclass
class DataSource:
    """A dataset and, for synthetic data, the planted ground truth (``SyntheticTruth``) behind it."""

    dataset: CrossDomainDataset
    truth: object | None


def parse_spec(spec: str) -> tuple[str, list[str], dict]:
    """(scheme, arguments, options) of a data spec — ("synthetic", [preset], knobs), ("c2dsr", [PATH],
    {}), ("amazon", [X.csv, Y.csv], {}) — or a ValueError naming the spec; nothing is read."""
    body, options = _split_options(str(spec))
    scheme, _, rest = body.partition(":")
    if scheme == "synthetic":
        from dpgdiff_lite.data.synthetic import PRESETS, knob_value

        preset = rest or "teaching"
        if preset not in PRESETS:
            raise ValueError(f"data spec {spec!r}: unknown synthetic preset {preset!r}, "
                             f"choose one of {sorted(PRESETS)}")
        return scheme, [preset], {k: knob_value(k, v, f"data spec {spec!r}") for k, v in options.items()}
    if scheme == "c2dsr" and rest:
        return scheme, [rest], _real_options(spec, options)
    if scheme == "amazon" and len(rest.split(",")) == 2 and all(rest.split(",")):
        return scheme, rest.split(","), _real_options(spec, options)
    raise ValueError(f"data spec {spec!r} not understood; valid schemes: {', '.join(SCHEMES)}")


def _split_options(spec: str) -> tuple[str, dict[str, str]]:
    """``"c2dsr:PATH[users=0.3,seed=1]"`` → ("c2dsr:PATH", {"users": "0.3", "seed": "1"})."""
    if not spec.endswith("]") or "[" not in spec:
        return spec, {}
    body, _, inner = spec[:-1].rpartition("[")
    options = {}
    for item in filter(None, (part.strip() for part in inner.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"data spec {spec!r}: expected key=value in brackets, got {item!r}")
        options[key.strip()] = value.strip()
    return body, options


def _real_options(spec: str, options: dict[str, str]) -> dict:
    unknown = sorted(set(options) - set(REAL_OPTIONS))
    if unknown:
        known = "; ".join(f"{k}: {v}" for k, v in REAL_OPTIONS.items())
        raise ValueError(f"data spec {spec!r}: unknown option(s) {', '.join(unknown)}; real data takes {known}")
    try:
        users, seed = float(options.get("users", 1.0)), int(options.get("seed", 0))
    except ValueError:
        raise ValueError(f"data spec {spec!r}: users must be a number and seed an integer, got {options}") from None
    if not 0 < users <= 1:
        raise ValueError(f"data spec {spec!r}: users must be a fraction in (0, 1], got {users}")
    return {"users": users, "seed": seed} if "users" in options else {}


def check_data_spec(spec: str) -> None:
    """Fail before any work for a spec :func:`load_data` would refuse or whose files do not exist."""
    scheme, paths, _ = parse_spec(spec)
    if scheme != "synthetic":
        for path in paths:
            if not Path(path).exists():
                raise ValueError(f"data spec {spec!r}: {Path(path).name!r} not found")


def load_data(spec: str, max_len: int = 15) -> DataSource:
    """Load the dataset a spec names; histories keep their latest ``max_len`` events."""
    scheme, args, options = parse_spec(spec)
    if scheme == "synthetic":
        from dpgdiff_lite.data.synthetic import PRESETS, generate

        dataset, truth = generate(dataclasses.replace(PRESETS[args[0]], **options, max_len=max_len))
        return DataSource(dataset, truth)
    folder = Path(args[0]) if scheme == "c2dsr" else amazon_cache(*(Path(p) for p in args))
    dataset = load_c2dsr(folder, max_len)
    if options:
        dataset = dataset.subsample_users(options["users"], options["seed"])
    return DataSource(dataset, None)


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

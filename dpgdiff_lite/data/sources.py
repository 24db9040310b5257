"""One entry point for every data source, named by a short spec string (the CLI's ``--data``).

``synthetic[:preset]`` draws planted data (default preset "teaching"), ``c2dsr:PATH`` reads a C2DSR
folder (two domains), ``amazon:X.csv,Y.csv[,Z.csv…]`` filters two or more Amazon ratings CSVs, one
domain each (:func:`dpgdiff_lite.data.amazon.read_amazon`), caches the kept events in
``<folder of X.csv>/amazon-cache/<X stem>-<Y stem>[-<Z stem>…].npz`` (rebuilt when missing, older
than a CSV, or made from other files) and splits them leave-one-out; two CSVs give the dataset that
the C2DSR files of :func:`~dpgdiff_lite.data.amazon.prepare_amazon` would.

Options in brackets after a spec change the data it names: any scalar generator knob for synthetic
data (``synthetic:teaching[conflict_rate=1.0,seed=3]``, what the regimes grid records),
``domains=X+Y`` for synthetic data to keep only those domains' events of the drawn world
(:func:`dpgdiff_lite.data.synthetic.restrict_domains`; no planted truth then), and for
real data ``users=FRACTION`` with ``seed=N`` to keep a random share of the users
(``c2dsr:data/Food-Kitchen[users=0.3]``, a sparser catalogue with the same items). Every scheme takes
``train_noise=RATE`` with ``train_noise_seed=N`` (default 0): the training sequences get ``RATE``
injected noise (:func:`dpgdiff_lite.data.augment.inject_noise_split`, the test-time noise of RQ3) and
validation and test stay clean (``synthetic[train_noise=0.2]``, notebook 07's noisy-trained twins).
:func:`with_options` adds options to a spec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from dpgdiff_lite.data.augment import inject_noise_split
from dpgdiff_lite.data.amazon import AmazonEvents, amazon_dataset, load_events, read_amazon, save_events
from dpgdiff_lite.data.c2dsr import load_c2dsr
from dpgdiff_lite.data.dataset import CrossDomainDataset

SCHEMES = ("synthetic[:preset]", "c2dsr:PATH", "amazon:X.csv,Y.csv[,Z.csv…]")
REAL_OPTIONS = {"users": "a fraction in (0, 1] of the users to keep", "seed": "an integer seed of that draw"}
TRAIN_NOISE_OPTIONS = {"train_noise": "a rate in [0, 1] of noise injected into the training sequences",
                       "train_noise_seed": "an integer seed >= 0 of that noise (default 0)"}
"""Options every scheme takes: training noise (validation and test stay clean)."""


@dataclass
class DataSource:
    """A dataset and, for synthetic data, the planted ground truth (``SyntheticTruth``) behind it."""

    dataset: CrossDomainDataset
    truth: object | None


def parse_spec(spec: str) -> tuple[str, list[str], dict]:
    """(scheme, arguments, options) of a data spec — ("synthetic", [preset], knobs and "domains"),
    ("c2dsr", [PATH], users and seed), ("amazon", [X.csv, Y.csv, …], users and seed), each with
    "train_noise": (rate, seed) when given — or a ValueError naming the spec; nothing is read."""
    body, options = _split_options(str(spec))
    noise = _train_noise(spec, options)
    scheme, _, rest = body.partition(":")
    scheme, args, parsed = _parse_scheme(spec, scheme, rest, options)
    return scheme, args, parsed | ({"train_noise": noise} if noise is not None else {})


def _parse_scheme(spec: str, scheme: str, rest: str, options: dict[str, str]) -> tuple[str, list[str], dict]:
    """:func:`parse_spec` for one scheme, its training-noise options already taken out of ``options``."""
    if scheme == "synthetic":
        from dpgdiff_lite.data.synthetic import PRESETS, knob_value

        preset = rest or "teaching"
        if preset not in PRESETS:
            raise ValueError(f"data spec {spec!r}: unknown synthetic preset {preset!r}, "
                             f"choose one of {sorted(PRESETS)}")
        knobs = {k: knob_value(k, v, f"data spec {spec!r}") for k, v in options.items() if k != "domains"}
        try:  # the generator's own range checks, before any work
            dataclasses.replace(PRESETS[preset], **knobs)
        except ValueError as error:
            raise ValueError(f"data spec {spec!r}: {error}") from None
        if "domains" in options:
            knobs["domains"] = _kept_domains(spec, options["domains"], PRESETS[preset].domain_names)
        return scheme, [preset], knobs
    if scheme == "c2dsr" and rest:
        return scheme, [rest], _real_options(spec, options)
    if scheme == "amazon" and len(rest.split(",")) >= 2 and all(rest.split(",")):
        stems = [Path(p).stem.replace("-", "_") for p in rest.split(",")]
        if len(set(stems)) != len(stems):
            raise ValueError(f"data spec {spec!r}: expected one CSV per domain with distinct names (the domains are "
                             f"named by the file stems), got {', '.join(stems)}")
        return scheme, rest.split(","), _real_options(spec, options)
    raise ValueError(f"data spec {spec!r} not understood; valid schemes: {', '.join(SCHEMES)}")


def _split_options(spec: str) -> tuple[str, dict[str, str]]:
    """``"c2dsr:PATH[users=0.3,seed=1]"`` → ("c2dsr:PATH", {"users": "0.3", "seed": "1"}); unbalanced
    brackets and an option given twice are errors."""
    if spec.count("[") != spec.count("]"):
        raise ValueError(f"data spec {spec!r}: unbalanced brackets; expected scheme:argument[key=value,…]")
    if not spec.endswith("]") or "[" not in spec:
        return spec, {}
    body, _, inner = spec[:-1].rpartition("[")
    options = {}
    for item in filter(None, (part.strip() for part in inner.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"data spec {spec!r}: expected key=value in brackets, got {item!r}")
        if key.strip() in options:
            raise ValueError(f"data spec {spec!r}: expected each option once, got {key.strip()!r} twice")
        options[key.strip()] = value.strip()
    return body, options


def _train_noise(spec: str, options: dict[str, str]) -> tuple[float, int] | None:
    """Pop the ``train_noise=RATE`` and ``train_noise_seed=N`` options: (rate, seed), or None without them."""
    if "train_noise" not in options:
        if "train_noise_seed" in options:
            raise ValueError(f"data spec {spec!r}: train_noise_seed must be given with train_noise=RATE "
                             f"(it seeds that noise), got {options}")
        return None
    parsed = []
    for key, kind, default in (("train_noise", float, None), ("train_noise_seed", int, "0")):
        value = options.pop(key, default)
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or not (0.0 <= number <= 1.0 if kind is float else number >= 0):
            raise ValueError(f"data spec {spec!r}: option {key} expects {TRAIN_NOISE_OPTIONS[key]}, got {value!r}")
        parsed.append(number)
    return parsed[0], parsed[1]


def with_options(spec: str, **options) -> str:
    """``spec`` with ``options`` added inside its brackets (opening them if it has none):
    ``with_options("synthetic:teaching[conflict_rate=1.0]", train_noise=0.2)`` is
    ``"synthetic:teaching[conflict_rate=1.0,train_noise=0.2]"``; the result is checked by :func:`parse_spec`."""
    body, present = _split_options(str(spec))
    clash = sorted(set(present) & set(options))
    if clash:
        raise ValueError(f"data spec {spec!r} already sets {', '.join(clash)}")
    items = [f"{key}={value}" for key, value in {**present, **options}.items()]
    combined = f"{body}[{','.join(items)}]" if items else body
    parse_spec(combined)
    return combined


def _kept_domains(spec: str, value: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The ``domains=X+Y`` option: two or more of the preset's domain names, each once, in its order."""
    kept = tuple(name.strip() for name in value.split("+"))
    if len(kept) < 2 or len(set(kept)) != len(kept) or not set(kept) <= set(names):
        raise ValueError(f"data spec {spec!r}: domains must name two or more distinct domains of the preset, "
                         f"joined by '+' (e.g. {'+'.join(names[:2])}), got {value!r}")
    if list(kept) != [n for n in names if n in kept]:
        raise ValueError(f"data spec {spec!r}: list the domains in the preset's order "
                         f"({'+'.join(n for n in names if n in kept)}), got {value!r}")
    return kept


def _real_options(spec: str, options: dict[str, str]) -> dict:
    unknown = sorted(set(options) - set(REAL_OPTIONS))
    if unknown:
        known = "; ".join(f"{k}: {v}" for k, v in (REAL_OPTIONS | TRAIN_NOISE_OPTIONS).items())
        raise ValueError(f"data spec {spec!r}: unknown option(s) {', '.join(unknown)}; real data takes {known}")
    try:
        users, seed = float(options.get("users", 1.0)), int(options.get("seed", 0))
    except ValueError:
        raise ValueError(f"data spec {spec!r}: users must be a number and seed an integer, got {options}") from None
    if not 0 < users <= 1:
        raise ValueError(f"data spec {spec!r}: users must be a fraction in (0, 1], got {users}")
    if seed < 0 or "users" not in options and "seed" in options:
        raise ValueError(f"data spec {spec!r}: seed must be an integer >= 0 given with users=FRACTION (the seed of "
                         f"that draw), got {options}")
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
        from dpgdiff_lite.data.synthetic import PRESETS, generate, restrict_domains

        kept = options.pop("domains", None)
        noise = options.pop("train_noise", None)
        config = dataclasses.replace(PRESETS[args[0]], **options, max_len=max_len)
        if kept is not None:  # a world with fewer domains: the planted law no longer applies
            return _noisy_training(DataSource(restrict_domains(config, kept), None), noise)
        return _noisy_training(DataSource(*generate(config)), noise)
    if scheme == "c2dsr":
        dataset = load_c2dsr(Path(args[0]), max_len)
    else:
        events = amazon_events([Path(p) for p in args])
        dataset = amazon_dataset(events, max_len, name="-".join(events.domain_names))
    if "users" in options:
        dataset = dataset.subsample_users(options["users"], options["seed"])
    return _noisy_training(DataSource(dataset, None), options.get("train_noise"))


def _noisy_training(source: DataSource, noise: tuple[float, int] | None) -> DataSource:
    """``source`` with ``noise`` = (rate, seed) injected into its training sequences (RQ3's noise on the
    training side); validation, test and the planted truth are left alone."""
    if noise is None:
        return source
    dataset = source.dataset
    train = inject_noise_split(dataset.train, noise[0], dataset.offsets, seed=noise[1])
    return DataSource(dataclasses.replace(dataset, train=train), source.truth)


def amazon_events(csvs: list[Path]) -> AmazonEvents:
    """The filtered events of ratings CSVs (one domain each, named by their stems with ``-`` → ``_``),
    from the cache next to the first CSV unless it is missing, older than a CSV or made from other files."""
    names = tuple(p.stem.replace("-", "_") for p in csvs)  # "-" joins the names in the dataset's name
    cache = csvs[0].parent / "amazon-cache" / f"{'-'.join(names)}.npz"
    sources = [str(p.resolve()) for p in csvs]
    fresh = cache.exists() and all(not p.exists() or p.stat().st_mtime <= cache.stat().st_mtime for p in csvs)
    events = load_events(cache, sources) if fresh else None
    if events is None:
        events = read_amazon(csvs, names=names)
        save_events(events, cache, sources)
    return events

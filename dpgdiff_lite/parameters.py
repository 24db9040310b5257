"""The notebooks' papermill parameters, checked the moment they are set.

Each notebook's parameters cell is followed by one dataclass built from them (a :class:`CheckedParams`):
a bad value stops the notebook at once with a :class:`ParameterError` naming the parameter and what was
expected, never a traceback. :class:`ExperimentParams` and :class:`SeededParams` are the shared
parameters of the training notebooks (06–08): data, preset, models, seeds, device, overrides, output.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from dpgdiff_lite.config import PRESETS, Config, parse_models, parse_seeds
from dpgdiff_lite.data.sources import DataSource, check_data_spec
from dpgdiff_lite.evaluation import PROTOCOLS
from dpgdiff_lite.experiments.compare import Setting
from dpgdiff_lite.experiments.runner import train_models, train_seeds
from dpgdiff_lite.runtime import get_device
from dpgdiff_lite.trainer import TrainResult


class ParameterError(ValueError):
    """A bad notebook parameter. Jupyter shows only the message, naming the parameter: no traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own display
        return [f"ParameterError: {self}"]


class CheckedParams:
    """Base of the notebooks' parameter dataclasses: every :func:`integer` field's range, then ``check()``,
    run on construction, and any ValueError they raise reaches the reader as a :class:`ParameterError`. A value of the wrong kind
    (``steps=4`` for a tuple, ``T=None``) that breaks ``check()`` itself is named from the field's
    declared type instead of escaping as a TypeError."""

    def __post_init__(self) -> None:
        try:
            for item in fields(self):
                if "minimum" in item.metadata:
                    check_int(item.name, getattr(self, item.name), item.metadata["minimum"], item.metadata["maximum"])
            self.check()
        except ParameterError:
            raise
        except ValueError as error:
            raise ParameterError(str(error)) from None
        except (TypeError, AttributeError, OverflowError) as error:
            raise ParameterError(self._wrong_kind() or f"a parameter has a value of the wrong kind ({error})") from None

    def _wrong_kind(self) -> str | None:
        """The first field whose value is not of its declared type, as a sentence; None if all are."""
        for item in fields(self):
            value = getattr(self, item.name)
            if not _of_type(str(item.type), value):
                return f"{item.name} must be {item.type}, got {value!r}"
        return None

    def check(self) -> None:
        """Validate every field (subclasses extend it, calling ``super().check()``)."""


_SCALARS = {"int": int, "float": (int, float), "str": str, "bool": bool}


def _of_type(annotation: str, value) -> bool:
    """Whether ``value`` fits a field annotation such as ``int``, ``float | None`` or ``tuple[float, ...]``
    (an int passes for a float, a list for a tuple, a bool only for a bool; a type this check does not
    know accepts anything)."""
    for option in (part.strip() for part in annotation.split("|")):
        if option == "None":
            if value is None:
                return True
        elif option in _SCALARS:
            if isinstance(value, _SCALARS[option]) and (option == "bool") == isinstance(value, bool):
                return True
        elif option.startswith("tuple[") and option.endswith(", ...]"):
            if isinstance(value, (tuple, list)) and all(_of_type(option[6:-6], item) for item in value):
                return True
        else:
            return True
    return False


def names(value: str | tuple | list, what: str) -> tuple[str, ...]:
    """A comma-separated string (papermill ``-p models a,b``) or a list or tuple of strings, as a tuple of strings."""
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{what} must be a comma-separated string or a list of strings, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def numbers(value: str | tuple | list, what: str, kind: type) -> tuple:
    """A comma-separated string (papermill ``-p seeds 0,1,2``), one number (``-p seeds 3`` passes the int 3)
    or a list or tuple of numbers, as a tuple of ``kind`` (int or float), read exactly: no bool is a
    number, no float is cut to an int, no digits but ASCII ones, floats finite."""
    bad = ValueError(f"{what} must be a comma-separated list of {kind.__name__}s, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    if not isinstance(value, (str, list, tuple)):
        raise bad
    parsed = []
    for item in value.split(",") if isinstance(value, str) else value:
        if isinstance(item, str):
            text = item.strip()
            if not text:
                continue
            if not text.isascii() or "_" in text:
                raise bad
            try:
                parsed.append(kind(text))
            except ValueError:
                raise bad from None
        elif isinstance(item, (bool, np.bool_)) or not isinstance(
                item, (int, np.integer) if kind is int else (int, float, np.integer, np.floating)):
            raise bad
        else:
            parsed.append(kind(item))
    if kind is float and not all(np.isfinite(parsed)):
        raise ValueError(f"{what} must hold finite numbers, got {value!r}")
    return tuple(parsed)


def integer(default: int, minimum: int, maximum: int = 2 ** 32 - 1):
    """A dataclass field holding an int in ``minimum … maximum`` (:func:`check_int`), checked by
    :class:`CheckedParams` before ``check()``: ``epochs: int = integer(5, 1)``."""
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum})


def check_int(name: str, value, minimum: int, maximum: int = 2 ** 32 - 1) -> None:
    """``value`` is an int (a bool is not) in ``minimum … maximum``; the default maximum is numpy's seed
    range, beyond any count a notebook takes."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value > maximum:
        raise ValueError(f"{name} must be an integer in {minimum} … {maximum}, got {value!r}")


@dataclass
class ExperimentParams(CheckedParams):
    """The papermill parameters of notebooks 06–08, checked at once so a bad value names itself.

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
    output: str = "runs/06_full_training"
    protocol: str = "sampled"
    overrides: str | tuple[str, ...] = ()
    resume: bool = True

    def check(self) -> None:
        self.models = parse_models(self.models, "models")
        if self.preset not in PRESETS:
            raise ValueError(f"preset: unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        check_int("epochs", self.epochs, 0)
        check_int("seed", self.seed, 0)
        if not isinstance(self.resume, bool):
            raise ValueError(f"resume must be True or False, got {self.resume!r}")
        if not str(self.output).strip():
            raise ValueError("output: name a run folder")
        self.overrides = names(self.overrides, "overrides")
        try:
            check_data_spec(self.data)
        except ValueError as error:
            raise ValueError(f"data: {error}") from None
        if not isinstance(self.device, str):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        try:
            get_device(self.device)  # an unknown device, or cuda on a machine without one, raises here
        except RuntimeError as error:  # torch's own parser: "Invalid device string"
            raise ValueError(f"device: {error}") from None
        for name in self.models:
            self.config(name)  # a bad override raises here, naming its key

    @property
    def torch_device(self) -> torch.device:
        return get_device(self.device)

    def experiment(self) -> Setting:
        """These parameters as the experiments take them (:class:`dpgdiff_lite.experiments.compare.Setting`)."""
        return Setting(self.data, self.preset, tuple(self.models), self.epochs, self.protocol, tuple(self.overrides),
                       self.device)

    def config(self, model: str) -> Config:
        """The preset for ``model`` with the overrides, then seed, device, protocol and epochs."""
        return self.experiment().config(model, self.seed)

    def load(self) -> DataSource:
        """The dataset (and, for synthetic data, the planted truth) the ``data`` spec names."""
        return self.experiment().load()

    @property
    def output_path(self) -> Path:
        return Path(self.output)

    def train(self, source: DataSource, models: tuple[str, ...] | None = None) -> dict[str, TrainResult]:
        """Train each model (default: ``models``) on ``source`` into ``output/<model>/``, reusing runs."""
        configs = {name: self.config(name) for name in models or self.models}
        return train_models(source, configs, self.output_path, self.data, self.resume)


def check_seeds(value: str | int | tuple | list) -> tuple[int, ...]:
    """``seeds`` of notebooks 06–08 ("0" or "0,1,2", papermill ``-p seeds 0,1,2``): :func:`~dpgdiff_lite.config.parse_seeds`."""
    return parse_seeds(value, "seeds")


@dataclass
class SeededParams(ExperimentParams):
    """:class:`ExperimentParams` over several model seeds (notebooks 06–08). ``seed`` becomes the
    first of ``seeds``: the run the widgets and exercises use. One seed trains into
    ``output/<model>/`` (the layout ``train`` and ``compare`` write), several into
    ``output/<model>/seed<k>/`` (the layout of ``compare --seeds``)."""

    seeds: str | tuple[int, ...] = (0,)

    def check(self) -> None:
        self.seeds = check_seeds(self.seeds)
        self.seed = self.seeds[0]
        super().check()

    def run_dir(self, name: str, seed: int) -> Path:
        """Where model ``name`` trained with ``seed`` lives."""
        return self.output_path / name if len(self.seeds) == 1 else self.output_path / name / f"seed{seed}"

    def train_seeds(self, source: DataSource, models: tuple[str, ...] | None = None) -> dict[str, dict[int, TrainResult]]:
        """Every model (default: ``models``) trained with every seed: ``{model: {seed: result}}``."""
        configs = {name: self.config(name) for name in models or self.models}
        return train_seeds(source, configs, self.seeds, self.output_path, self.data, self.resume, one_seed_flat=True)

    def setting(self) -> dict:
        """What decides the numbers apart from the seed: compared with a precomputed run's record."""
        return self.experiment().record()


def same_setting(params: SeededParams, recorded: dict) -> bool:
    """True when ``params`` would reproduce the precomputed numbers (same setting; seeds may differ)."""
    return all(recorded.get(key) == value for key, value in params.setting().items())

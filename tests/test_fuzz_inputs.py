"""Property-based fuzzing of every reader of outside input (issue 33): an input is read exactly or
refused with one sentence (a ValueError, a FileNotFoundError for a missing file) naming the file,
line and field, or the option or parameter, and what was expected; via the CLI, exit code 2 and
``error: …`` on stderr, never a traceback.

This module holds the shared pieces (settings, nasty values, dataset equality) and the fuzzing of
``--set``, ``--seeds``, ``--models`` and the notebooks' papermill parameters; the data readers are
fuzzed in ``test_fuzz_c2dsr.py``, ``test_fuzz_amazon.py`` and ``test_fuzz_sources.py``.

Examples are bounded: ``fuzz_settings(base=n)`` runs n examples, 20 n with ``DPGDIFF_SLOW_TESTS=1``.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings

SLOW = os.environ.get("DPGDIFF_SLOW_TESTS") == "1"
SLOW_FACTOR = 20


def fuzz_settings(base: int):
    """Hypothesis settings: ``base`` examples (``SLOW_FACTOR`` times more in a slow run), no deadline; the
    default run draws the same examples every time (derandomized), a slow run fresh ones."""
    return settings(max_examples=base * (SLOW_FACTOR if SLOW else 1), deadline=None, derandomize=not SLOW,
                    database=None,  # no .hypothesis/ folder in the working tree
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


NASTY_FIELDS = ("", " ", "-1", "-0", "1.5", "1e3", "nan", "inf", "x", "1_0", " 7", "7 ", "٣", "9" * 19, "9" * 400,
                "0x1f", "+3", "\x00", "\udcff", "\ufeff1", "é", "1|2", "1\t2", "[", "]", "a=b", ",", "\u2028")
"""Field values that are not what a field expects (or are, in a form ``int()`` would read loosely)."""


def same_dataset(a, b) -> bool:
    """Two CrossDomainDatasets hold the same data, array for array."""
    def same_lists(x, y) -> bool:
        return len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y))

    return ((a.name, a.protocol, a.domain_names, a.n_items, a.max_len) == (b.name, b.protocol, b.domain_names,
                                                                           b.n_items, b.max_len)
            and same_lists(a.train, b.train) and np.array_equal(a.train_users, b.train_users)
            and all(same_lists(getattr(a, s).histories, getattr(b, s).histories)
                    and np.array_equal(getattr(a, s).targets, getattr(b, s).targets)
                    and np.array_equal(getattr(a, s).users, getattr(b, s).users) for s in ("valid", "test")))


# --- --set key=value (Config.with_overrides), --seeds, --models --------------------------------------
import re  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import fields  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dpgdiff_lite.cli import main  # noqa: E402
from dpgdiff_lite.config import MAX_SEED, MODELS, Config, parse_seeds  # noqa: E402

KEYS = tuple(f.name for f in fields(Config)) + ("", "dimension", " dim ", "DIM")
VALUES = NASTY_FIELDS + ("0", "1", "2", "64", "true", "False", "cosine", "dot", "own", "1e-3", "-1e-3", "1e309",
                         str(2 ** 63), str(2 ** 32), "sasrec", "paper")


def cli_refuses(argv: list[str], capsys, expected: str | None = None) -> str:
    """Run the CLI; it must exit != 0 with one ``error: …`` line (or argparse's usage and error) and no traceback."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own refusal of an option
        code = exit.code
    out = capsys.readouterr()
    assert code != 0 and "Traceback" not in out.err + out.out
    assert re.search(r"^(\S+: )?error: ", out.err, re.MULTILINE), out.err
    if expected is not None:
        assert out.err == f"error: {expected}\n"
    return out.err


@fuzz_settings(base=200)
@given(assignments=st.lists(st.one_of(st.tuples(st.sampled_from(KEYS), st.sampled_from(["=", "", " = "]),
                                                st.sampled_from(VALUES)).map("".join), st.text(max_size=20)),
                            max_size=3))
def test_set_is_applied_exactly_or_refused_naming_the_key(assignments):
    try:
        config = Config().with_overrides(assignments)
    except ValueError as error:
        message = str(error)
        assert type(error) is ValueError and "\n" not in message and len(message) < 700, message
        assert re.match(r"^(--set expects|config key [\"']|unknown config key [\"']|unknown model [\"']|config field [\"']|"
                        r"SyntheticConfig)", message), message
        return
    for assignment in assignments:
        key, _, raw = assignment.partition("=")
        value = getattr(config, key.strip())
        assert value == raw.strip() or str(value).lower() == raw.strip().lower() or value == float(raw) or (
            isinstance(value, bool) and raw.strip() in "01")
        if key.strip() in ("seed", "inference_seed", "eval_seed"):
            assert 0 <= value <= MAX_SEED


@fuzz_settings(base=10)
@given(assignment=st.tuples(st.sampled_from(KEYS), st.sampled_from(["=", ""]), st.sampled_from(VALUES)).map("".join))
def test_the_cli_refuses_a_bad_set_with_one_line(assignment, capsys):
    try:
        Config().with_overrides([assignment])
        return  # applied: training would start
    except ValueError as error:
        expected = str(error)
    with tempfile.TemporaryDirectory() as tmp:
        cli_refuses(["train", "--data", "synthetic:tiny", f"--set={assignment}", "--out", f"{tmp}/run", "--quiet"],
                    capsys, expected)


@pytest.mark.parametrize("assignments, message", [
    (["lr=nan"], "config key 'lr' expects a finite float, got 'nan'"),
    (["score_weight=inf"], "config key 'score_weight' expects a finite float, got 'inf'"),
    (["epochs=" + str(2 ** 63)], f"config key 'epochs' expects an int within ±2^63, got '{2 ** 63}'"),
    (["seed=-1"], f"config key 'seed' expects a seed in 0 … {MAX_SEED}, got '-1'"),
    (["eval_seed=4294967296"], f"config key 'eval_seed' expects a seed in 0 … {MAX_SEED}, got '4294967296'"),
    (["dim=32", "dim=64"], "--set expects each key once, got 'dim' twice"),
    (["dim=" + "9" * 5000], "config key 'dim' expects int, got '" + "9" * 59 + "…"),
])
def test_each_set_fault_the_fuzzing_found_names_the_key(assignments, message):
    with pytest.raises(ValueError) as error:
        Config().with_overrides(assignments)
    assert str(error.value) == message


SEED_ITEMS = ("0", "1", "2", "-1", "x", "1.5", "٣", "¹", "3 ", "", str(MAX_SEED), str(MAX_SEED + 1), "9" * 5000, "1e3",
              "0x1")


@fuzz_settings(base=200)
@given(items=st.lists(st.sampled_from(SEED_ITEMS), max_size=4), sep=st.sampled_from([",", ", ", ";"]))
def test_seeds_are_distinct_integers_in_numpy_range_or_refused(items, sep):
    text = sep.join(items)
    try:
        seeds = parse_seeds(text, "--seeds")
    except ValueError as error:
        assert type(error) is ValueError and str(error).startswith("--seeds must be "), str(error)
        return
    assert list(seeds) == [int(s) for s in text.split(",") if s.strip()]
    assert len(set(seeds)) == len(seeds) and all(0 <= s <= MAX_SEED for s in seeds)


@fuzz_settings(base=6)
@given(text=st.sampled_from(["0,x", "-1", "0,0", ",", "", str(MAX_SEED + 1), "9" * 5000, "٣", "1;2"]))
def test_the_cli_refuses_bad_seeds_with_one_line(text, capsys):
    with pytest.raises(ValueError) as error:
        parse_seeds(text, "--seeds")
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["compare", "--data", "synthetic:tiny", "--models", "pop", f"--seeds={text}", "--out", tmp, "--quiet"]
        cli_refuses(argv, capsys, str(error.value))


MODEL_ITEMS = MODELS + ("", "bogus", "SASRec", " pop ", "pop,pop", "dpgdiff-gated")


@fuzz_settings(base=30)
@given(models=st.lists(st.sampled_from(MODEL_ITEMS), min_size=1, max_size=3).map(",".join))
def test_models_are_known_and_distinct_or_refused_before_any_data_is_read(models, capsys):
    names = [m.strip() for m in models.split(",") if m.strip()]  # an empty item (a trailing comma) is benign
    if names and all(n in MODELS for n in names) and len(set(names)) == len(names):
        return  # training would start
    with tempfile.TemporaryDirectory() as tmp:
        # a data spec that does not exist: the model check must come first
        err = cli_refuses(["compare", "--data", "c2dsr:/nowhere/Food-Kitchen", f"--models={models}", "--out", tmp,
                           "--quiet"], capsys)
    assert err.startswith("error: --models: ") and "\n" == err[-1] and err.count("\n") == 1


# --- papermill parameters -----------------------------------------------------------------------------
import dataclasses  # noqa: E402

from dpgdiff_lite.parameters import numbers  # noqa: E402
from dpgdiff_lite.parameters import ExperimentParams, ParameterError, SeededParams, check_seeds

BAD_PARAMETERS = (None, True, -1, 0, 1.5, float("nan"), float("inf"), 2 ** 40, "", " ", "bogus", "0,0", "0,-1",
                  "1,x", "nan", "٣", "1_0", [1], [], ("a", 5), {"a": 1}, b"x", "dpgdiff,dpgdiff", "cpu:x", "cuda",
                  "/nowhere/results", 3.0, "3")
"""Values a papermill ``-p name value`` (or a hand-edited parameters cell) may inject, of every type."""


def params_classes() -> dict[str, type]:
    """Every notebook's parameter dataclass, by a short name."""
    from dpgdiff_lite.lessons import ablation, beyond, comparison, contrast, ddpm_toy, disentangle, guided, robustness
    from dpgdiff_lite.lessons import negative_transfer

    return {"ExperimentParams": ExperimentParams, "SeededParams": SeededParams,
            "TrainingParams": comparison.TrainingParams, "AblationParams": ablation.AblationParams,
            "RobustnessParams": robustness.RobustnessParams, "BeyondParams": beyond.BeyondParams,
            "TransferParams": negative_transfer.TransferParams, "guided.LessonParams": guided.LessonParams,
            "contrast.LessonParams": contrast.LessonParams, "ddpm_toy.LessonParams": ddpm_toy.LessonParams,
            "disentangle.LessonParams": disentangle.LessonParams}


def names_the_parameter(message: str, field: str) -> bool:
    """A refusal names the parameter (a bad ``overrides`` entry names its config key instead)."""
    return field in message or field == "overrides" and re.search(r"config (key|field)|--set|unknown model", message)


def construct(cls: type, field: str, value):
    """``cls(field=value)`` (the other fields at their defaults): the object, or the ValueError it raised."""
    try:
        return cls(**{field: value})
    except ValueError as error:
        message = str(error)
        assert "\n" not in message and names_the_parameter(message, field), f"{cls.__name__}.{field}={value!r}: {message}"
        if issubclass(cls, ExperimentParams):
            assert type(error) is ParameterError
        return error


@fuzz_settings(base=60)
@given(name=st.sampled_from(["ExperimentParams", "SeededParams", "TrainingParams", "AblationParams"]),
       data=st.data(), value=st.sampled_from(BAD_PARAMETERS))
def test_experiment_parameters_are_read_or_refused_naming_the_parameter(name, data, value):
    cls = params_classes()[name]
    field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]))
    result = construct(cls, field, value)
    if not isinstance(result, ValueError):  # read: the value it holds is the one given, normalised
        assert 0 <= result.seed <= MAX_SEED and all(m in MODELS for m in result.models)
        assert len(set(result.models)) == len(result.models)


@pytest.mark.parametrize("name, field, value", [
    ("ExperimentParams", "preset", []),  # was TypeError: unhashable type: 'list' (`in PRESETS`)
    ("ExperimentParams", "device", None),  # was AttributeError: 'NoneType' object has no attribute 'startswith'
    ("ExperimentParams", "device", "cpu:x"),  # was RuntimeError from torch.device
    ("BeyondParams", "widget_conflict", None),  # was TypeError from float(None)
    ("BeyondParams", "widget_conflict", "bogus"),  # was "could not convert string to float: 'bogus'": no name
    ("TransferParams", "results", None),  # was TypeError from Path(None)
    ("guided.LessonParams", "steps", 4),  # was TypeError: 'int' object is not iterable
    ("guided.LessonParams", "test_noise", "0.3"),  # was TypeError: '<=' between float and str
    ("contrast.LessonParams", "weights_cl", 0.1),  # was TypeError: 'float' object is not iterable
    ("ddpm_toy.LessonParams", "T", None),  # was TypeError inside NoiseSchedule
    ("ddpm_toy.LessonParams", "T", 2 ** 40),  # was an 8 TB allocation
    ("disentangle.LessonParams", "probe_alpha", "10"),  # was TypeError: '>=' between str and int
    ("disentangle.LessonParams", "test_fraction", None),  # was TypeError: '<' between int and NoneType
    ("ddpm_toy.LessonParams", "seed", -1),  # was accepted (ddpm_toy, contrast, disentangle never checked seed)
    ("contrast.LessonParams", "seed", -1),
    ("disentangle.LessonParams", "seed", -1),
])
def test_each_defect_the_fuzzing_found_in_a_lesson_is_refused_naming_the_parameter(name, field, value):
    assert isinstance(construct(params_classes()[name], field, value), ValueError)


@pytest.mark.parametrize("kwargs, message", [
    (dict(seeds=3), None),  # papermill -p seeds 3 passes an int: one seed
    (dict(seeds=[0, 1.5]), "seeds must be a comma-separated list of ints, got [0, 1.5]"),
    (dict(seeds=[True]), "seeds must be a comma-separated list of ints, got [True]"),
    (dict(seeds="٣"), "seeds must be a comma-separated list of ints, got '٣'"),
    (dict(seeds=2 ** 40), f"seeds must be at most {MAX_SEED} (numpy's seed range), got {2 ** 40}"),
    (dict(seeds=None), "seeds must be a comma-separated list of ints, got None"),
    (dict(models=5), "models must be a comma-separated string or a list of strings, got 5"),
    (dict(models=None), "models must be a comma-separated string or a list of strings, got None"),
    (dict(overrides=7), "overrides must be a comma-separated string or a list of strings, got 7"),
    (dict(epochs=2 ** 40), f"epochs must be an integer in 0 … {MAX_SEED}, got {2 ** 40}"),
])
def test_each_parameter_fault_the_fuzzing_found_names_the_parameter(kwargs, message):
    if message is None:
        assert SeededParams(**kwargs).seeds == (3,)
        return
    with pytest.raises(ParameterError) as error:
        SeededParams(**kwargs)
    assert str(error.value) == message


@fuzz_settings(base=100)
@given(value=st.one_of(st.sampled_from(BAD_PARAMETERS), st.lists(st.one_of(st.integers(-3, 2 ** 33), st.floats(),
                                                                        st.booleans(), st.text(max_size=3)),
                                                               max_size=3)),
       kind=st.sampled_from([int, float]))
def test_numbers_are_read_exactly_or_refused_naming_the_parameter(value, kind):
    try:
        parsed = numbers(value, "rates", kind)
    except ValueError as error:
        assert str(error).startswith("rates must ")
        return
    items = [value] if not isinstance(value, (str, list, tuple)) else value.split(",") if isinstance(value, str) else value
    given_numbers = [kind(v.strip()) if isinstance(v, str) else v for v in items if not isinstance(v, str) or v.strip()]
    assert list(parsed) == given_numbers and all(type(p) is kind for p in parsed)
    assert kind is int or all(np.isfinite(parsed))


@fuzz_settings(base=60)
@given(value=st.one_of(st.sampled_from(BAD_PARAMETERS), st.lists(st.integers(-2, 2 ** 33), max_size=3)))
def test_seeds_parameter_is_distinct_ints_in_numpy_range_or_refused(value):
    try:
        seeds = check_seeds(value)
    except ValueError as error:
        assert str(error).startswith("seeds must ")
        return
    assert len(set(seeds)) == len(seeds) and all(0 <= s <= MAX_SEED for s in seeds) and seeds


@fuzz_settings(base=60)
@given(name=st.sampled_from(["TransferParams", "BeyondParams", "RobustnessParams", "guided.LessonParams",
                             "contrast.LessonParams", "ddpm_toy.LessonParams", "disentangle.LessonParams"]),
       data=st.data(), value=st.sampled_from(BAD_PARAMETERS))
def test_lesson_parameters_are_read_or_refused_naming_the_parameter(name, data, value):
    cls = params_classes()[name]
    field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]))
    construct(cls, field, value)


def test_a_results_folder_that_does_not_exist_is_refused_naming_it(tmp_path):
    from dpgdiff_lite.lessons.negative_transfer import TransferParams

    with pytest.raises(ParameterError, match=r"^results: .*nowhere/regimes\.csv not found; write it with "):
        TransferParams(results=str(tmp_path / "nowhere"))

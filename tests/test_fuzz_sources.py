"""Property-based fuzzing of the data-spec grammar ``scheme:argument[knob=value,…]`` (issue 33): a spec
is understood (its knobs in the generator's ranges, before any work) or refused naming the spec."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpgdiff_lite.cli import main
from dpgdiff_lite.data.sources import check_data_spec, parse_spec
from dpgdiff_lite.data.synthetic import PRESETS, SCALAR_KNOBS
from test_fuzz_inputs import NASTY_FIELDS, fuzz_settings

VALUES = NASTY_FIELDS + ("0", "1", "0.5", "2", "1e-300", "-5", "opposed", "None", "X+Y", "X+Z", "Z+X", "X+X", "0.3")
KEYS = tuple(SCALAR_KNOBS) + ("users", "seed", "domains", "n_items", "bogus", "", " seed ", "train_noise",
                              "train_noise_seed", "noise_rate")


@st.composite
def specs(draw) -> str:
    scheme = draw(st.sampled_from(["synthetic", "c2dsr", "amazon", "csv", "", "Synthetic"]))
    argument = draw(st.sampled_from(sorted(PRESETS) + ["", "huge", "data/Food-Kitchen", "a.csv,b.csv", "a.csv",
                                                       "a.csv,,b.csv", "x/a.csv,y/a.csv", "a.csv,a.csv", "[", "]"]))
    spec = scheme + draw(st.sampled_from([":", "", "::"])) + argument
    if draw(st.booleans()):
        items = draw(st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(["=", "", "=="]),
                                        st.sampled_from(VALUES)), max_size=4))
        inner = ",".join(k + sep + v for k, sep, v in items)
        spec += draw(st.sampled_from(["[", "[[", "("])) + inner + draw(st.sampled_from(["]", "", "]]", ",]"]))
    return spec


def check_refusal(spec: str, error: ValueError) -> None:
    message = str(error)
    assert type(error) is ValueError and message.startswith(f"data spec {spec!r}"), message
    assert "\n" not in message.replace(repr(spec), "") and re.search(r"expect|must|unknown|not understood|choose|"
                                                                     r"list the domains|holds one value", message), message


@fuzz_settings(base=150)
@given(spec=st.one_of(specs(), st.text(max_size=40)))
def test_a_spec_is_understood_within_range_or_refused_naming_it(spec):
    try:
        scheme, arguments, options = parse_spec(spec)
    except ValueError as error:
        check_refusal(spec, error)
        return
    rate, seed = options.pop("train_noise", (0.0, 0))
    assert 0.0 <= rate <= 1.0 and isinstance(seed, int) and seed >= 0
    if scheme == "synthetic":
        knobs = {k: v for k, v in options.items() if k != "domains"}
        config = dataclasses.replace(PRESETS[arguments[0]], **knobs)  # in range: never raises here
        assert all(np.isfinite(v) for v in knobs.values() if isinstance(v, float)) and config.seed >= 0
    else:
        assert all(arguments) and set(options) <= {"users", "seed"}
        assert "users" in options or not options


@fuzz_settings(base=10)
@given(spec=specs())
def test_the_cli_refuses_a_bad_spec_with_one_line_and_no_traceback(spec, capsys):
    try:
        parse_spec(spec)
    except ValueError as error:
        expected = str(error)
    else:
        try:
            check_data_spec(spec)
            return  # understood and there: training would start
        except ValueError:
            expected = None  # a path that does not exist: the loader names it in its own words
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as tmp:
        assert main(["train", f"--data={spec}", "--out", str(Path(tmp) / "run"), "--quiet"]) == 2
    out = capsys.readouterr()
    assert out.err.startswith("error: ") and out.err.count("\n") == 1 and "Traceback" not in out.err + out.out
    assert expected is None or out.err == f"error: {expected}\n"


@pytest.mark.parametrize("spec, message", [
    ("synthetic:tiny[seed=1", "unbalanced brackets; expected scheme:argument[key=value,…]"),
    ("synthetic:tiny[seed=1]]", "unbalanced brackets; expected scheme:argument[key=value,…]"),
    ("synthetic:tiny[seed=1,seed=2]", "expected each option once, got 'seed' twice"),
    ("synthetic:tiny[seed=-1]", "knob 'seed' expects an integer >= 0, got '-1'"),
    ("synthetic:tiny[mean_length=nan]", "knob 'mean_length' expects a finite float, got 'nan'"),
    ("synthetic:tiny[mean_length=inf]", "knob 'mean_length' expects a finite float, got 'inf'"),
    ("synthetic:tiny[adhoc_noise=2]", "SyntheticConfig.adhoc_noise must lie in [0, 1], got 2.0"),
    ("synthetic:tiny[n_users=0]", "SyntheticConfig.n_users must be at least 1, got 0"),
    ("c2dsr:somewhere[seed=3]", "seed must be an integer >= 0 given with users=FRACTION (the seed of that draw), "
                                "got {'seed': '3'}"),
    ("c2dsr:somewhere[users=0.5,seed=-3]", "seed must be an integer >= 0 given with users=FRACTION (the seed of that "
                                           "draw), got {'users': '0.5', 'seed': '-3'}"),
    ("synthetic:tiny[noise_rate=0.1]", "unknown knob 'noise_rate' (renamed 'adhoc_noise')"),
    ("synthetic:tiny[train_noise_rate=0.1]", "unknown knob 'train_noise_rate' (renamed 'train_adhoc_noise')"),
    ("synthetic:tiny[train_noise=1.5]", "option train_noise expects a rate in [0, 1] of noise injected into the "
                                        "training sequences, got '1.5'"),
    ("c2dsr:somewhere[train_noise=nan]", "option train_noise expects a rate in [0, 1] of noise injected into the "
                                         "training sequences, got 'nan'"),
    ("amazon:a.csv,b.csv[train_noise=0.1,train_noise_seed=-2]", "option train_noise_seed expects an integer seed "
                                                                ">= 0 of that noise (default 0), got '-2'"),
    ("synthetic:tiny[train_noise_seed=2]", "train_noise_seed must be given with train_noise=RATE (it seeds that "
                                           "noise), got {'train_noise_seed': '2'}"),
    ("amazon:x/a.csv,y/a.csv", "expected one CSV per domain with distinct names (the domains are named by the file "
                               "stems), got a, a"),
])
def test_each_fault_the_fuzzing_found_is_refused_naming_the_spec(spec, message):
    with pytest.raises(ValueError) as error:
        parse_spec(spec)
    assert str(error.value) == f"data spec {spec!r}: {message}"

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
    """Hypothesis settings: ``base`` examples (``SLOW_FACTOR`` times more in a slow run), no deadline."""
    return settings(max_examples=base * (SLOW_FACTOR if SLOW else 1), deadline=None, derandomize=not SLOW,
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

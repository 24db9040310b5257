"""The exercises' reference solutions, shown readable and collapsed under each exercise.

Every exercise of the notebooks is checked by a ``check_*`` function of its lesson module against a
reference solution in that module (the tests run both). :func:`show` displays the reference's own
source in a collapsed ``<details>`` block, so a reader who wants the answer opens it and what they read
is the code the tests run, never a copy that could drift.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from IPython.display import Markdown


def reference(name: str) -> Callable:
    """The reference solution named ``module.function`` as the checkers' messages print it
    (``"ablation.paired_t_by_hand"`` → :func:`dpgdiff_lite.lessons.ablation.paired_t_by_hand`)."""
    module, _, function = name.rpartition(".")
    found = getattr(importlib.import_module(f"dpgdiff_lite.lessons.{module}"), function, None)
    if not callable(found):
        raise ValueError(f"no reference solution {name!r}: dpgdiff_lite/lessons/{module}.py has no function {function!r}")
    return found


def source_block(*names: str) -> str:
    """Markdown: one collapsed block per reference, its summary the function's name, its body the source."""
    blocks = []
    for name in names:
        code = inspect.getsource(reference(name)).rstrip()
        blocks.append(f"<details><summary>Reference solution: <code>dpgdiff_lite.lessons.{name}</code> "
                      f"(click to open)</summary>\n\n```python\n{code}\n```\n</details>")
    return "\n\n".join(blocks)


def show(*names: str) -> Markdown:
    """Display the reference solutions ``names`` (``"module.function"``) collapsed, in a notebook."""
    return Markdown(source_block(*names))

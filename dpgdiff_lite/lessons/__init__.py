"""Lesson modules behind the numbered notebooks: their figures, widgets and exercise solutions.

``ddpm_toy`` (01), ``disentangle`` (02), ``guided`` (03), ``contrast`` (04), ``comparison`` (05),
``robustness`` (06), ``ablation`` (07); what they share is in ``common``; ``architecture`` draws the
paper's Figure 2 as the kit builds it (``docs/architecture.png``). Each is imported on first use
(``dl.lessons.guided``).
"""

import importlib

LESSONS = ("common", "ddpm_toy", "disentangle", "guided", "contrast", "comparison", "robustness", "ablation",
           "architecture")


def __getattr__(name: str):
    if name in LESSONS:
        return importlib.import_module(f"dpgdiff_lite.lessons.{name}")
    raise AttributeError(f"module 'dpgdiff_lite.lessons' has no attribute {name!r}")

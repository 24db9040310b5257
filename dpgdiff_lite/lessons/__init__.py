"""Lesson modules behind the numbered notebooks: their figures, widgets and exercise solutions.

``ddpm_toy`` (01), ``negative_transfer`` and ``conflicted_user`` (02), ``disentangle`` (03), ``guided`` (04), ``contrast`` (05),
``comparison`` (06), ``robustness`` (07), ``ablation`` (08), ``reading`` (09), ``beyond`` (10, the
kit's model beyond the paper); what they share is in
``common``; ``architecture`` draws the paper's Figure 2 as the kit builds it (``docs/architecture.png``).
Each is imported on first use (``dl.lessons.guided``).
"""

import importlib

LESSONS = ("common", "ddpm_toy", "negative_transfer", "conflicted_user", "disentangle", "guided", "contrast", "comparison", "robustness",
           "ablation", "reading", "beyond", "solutions", "architecture")


def __getattr__(name: str):
    if name in LESSONS:
        return importlib.import_module(f"dpgdiff_lite.lessons.{name}")
    raise AttributeError(f"module 'dpgdiff_lite.lessons' has no attribute {name!r}")

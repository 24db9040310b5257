"""The experiments layer: runs over models × seeds × settings, each writing the tables a notebook reads.

Between the trainer (:mod:`dpgdiff_lite.trainer`) and the lessons. :mod:`.runner` trains or reloads run
folders, :mod:`.tables` builds and writes the results tables, :mod:`.registry` names every committed
folder under ``notebooks/results/`` with the commands that regenerate it (``python -m dpgdiff_lite
reproduce``). Each other module is one experiment: :mod:`.regimes` (negative transfer over a grid of
generator knobs), :mod:`.third_domain`, :mod:`.sparsity` (cold and warm targets), :mod:`.small_world`
(the conflict sliders' world), :mod:`.regime_tables` (a regimes folder read back), :mod:`.anchored` (the kit's model beyond the paper), :mod:`.gate_stall` (why its predecessor's gate stalled), :mod:`.transfer` (the
paired comparisons every experiment reports), :mod:`.verdicts` (the paper's claims judged on the committed tables).
"""

import importlib

EXPERIMENTS = ("runner", "tables", "transfer", "eq15", "compare", "robustness", "table3", "regimes", "regime_tables", "table3_paired",
               "shortfall", "third_domain", "sparsity", "small_world", "gate_stall", "anchored", "registry", "reproduce", "verdicts")


COMMANDS = {
    "regimes": ("regimes", "negative transfer over a grid of generator knobs × seeds"),
    "third-domain": ("third_domain", "does an extra domain help or hurt? all domains vs the kept ones × seeds"),
    "table3-paired": ("table3_paired", "Table 3 on a one-cell regimes folder, each variant paired against its parent and the better SASRec"),
    "shortfall": ("shortfall", "DPG-Diff against the better SASRec by part of eq. (15) and with the own-domain ĝ_d"),
    "robustness": ("robustness", "Figures 3 and 4 and training noise over seeds (notebook 07's results folder)"),
    "table3": ("table3", "Table 3, the diffusion variants over seeds, with eq. (15) by part (notebook 08's results folder)"),
    "gate-stall": ("gate_stall", "why a gate learned by the training loss stalls near 1/2: loss and validation "
                                 "NDCG@10 with the gate forced to 0, 1/2, 1 and learned"),
    "anchored": ("anchored", "dpgdiff-anchored against both SASRecs, DPG-Diff, its fused reading and popularity, "
                             "with each part removed, over the seeds of a compare --seeds folder"),
    "reproduce": ("reproduce", "regenerate a committed results folder, check it against the committed files"),
}
"""Subcommands of ``python -m dpgdiff_lite``: name → (module of this package, help). Each module has
``configure_parser(parser) -> parser`` and ``command(args)``."""


def __getattr__(name: str):
    if name in EXPERIMENTS:
        return importlib.import_module(f"dpgdiff_lite.experiments.{name}")
    raise AttributeError(f"module 'dpgdiff_lite.experiments' has no attribute {name!r}")

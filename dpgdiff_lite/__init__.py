"""dpgdiff_lite: a teaching kit for DPG-Diff (Ye, Huang, Huang, Yao; arXiv 2509.00389).

Notebooks reach every helper through one namespace, d2l-style::

    import dpgdiff_lite as dl
    source = dl.load_data("synthetic")
    result = dl.train(source.dataset, dl.preset("teaching", model="dpgdiff"))
    dl.lessons.guided.plot_attention(...)
    dl.experiments.tables.seeds_table(...)

The experiment and lesson modules (``dl.experiments.*``, ``dl.lessons.*``) are imported on first use,
so the command line does not pay for matplotlib.
"""

from dpgdiff_lite.config import MODELS, Config, preset
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.diffusion import NoiseSchedule
from dpgdiff_lite.encoders import ItemEmbeddings
from dpgdiff_lite.evaluation import evaluate, paired_test, results_table
from dpgdiff_lite.losses import info_nce, tri_view_loss
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.runtime import get_device, set_seed
from dpgdiff_lite.trainer import load_run, run_evaluation, train

__version__ = "0.1.0"
__all__ = ["MODELS", "Config", "DPGDiff", "ItemEmbeddings", "NoiseSchedule", "evaluate", "get_device", "info_nce",
           "claims", "experiments", "lessons", "load_data", "load_run", "paired_test", "paper", "parameters", "preset", "readout", "results_table",
           "run_evaluation", "set_seed", "train", "tri_view_loss"]


def __getattr__(name: str):
    if name in ("claims", "experiments", "lessons", "paper", "parameters", "readout"):
        import importlib

        return importlib.import_module(f"dpgdiff_lite.{name}")
    raise AttributeError(f"module 'dpgdiff_lite' has no attribute {name!r}")

"""Data sources (synthetic, C2DSR files, raw Amazon ratings) and the one dataset type they produce."""

from dpgdiff_lite.data.dataset import PAD, Batch, CrossDomainDataset, EvalSplit, make_batch

__all__ = ["PAD", "Batch", "CrossDomainDataset", "EvalSplit", "make_batch"]

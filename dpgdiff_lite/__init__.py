"""dpgdiff_lite: a teaching kit for DPG-Diff (Ye, Huang, Huang, Yao; arXiv 2509.00389)."""

__version__ = "0.1.0"

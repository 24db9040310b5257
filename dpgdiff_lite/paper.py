"""Every number and sentence the kit types from the DPG-Diff paper (arXiv 2509.00389), in one dict, each
entry citing its table and row or the sentence of the text. Notebook 09 (``lessons.reading``) checks the paper
against itself and the kit with them, and ``experiments.verdicts`` quotes them in the verdict table;
:func:`table1` and :func:`table3` give the two tables as frames."""

import pandas as pd

METHODS = ("SAS", "TCSR", "Diffu", "CGRec", "PSJ", "C2DSR", "PCDSR", "EAGCL", "LGCN", "ABXI", "C2DREIF", "DREAM",
           "Our")
"""Table 1's columns, left to right ("Our" = DPG-Diff)."""
DOMAINS = ("Movie", "Book", "Food", "Kitchen")
METRICS = ("MRR@10", "NDCG@5", "NDCG@10", "HR@5", "HR@10")
"""Table 1's rows per domain: MRR, N@5, N@10, H@5, H@10 ("MRR (Mean Reciprocal Rank at 10)", Experiment settings)."""

TABLE3_DOMAINS = ("Food", "Kitchen", "Movie", "Book")
"""Table 3's columns, left to right."""

PAPER: dict = {
    # Table 1 (Performance comparison), one row per (domain, metric): the 13 methods of METHODS, then Imp. (%)
    "table1": {
        ("Movie", "MRR@10"): (3.79, 3.71, 5.65, 4.37, 4.63, 5.54, 5.77, 5.69, 5.58, 5.07, 6.70, 8.74, 10.95, 25.3),
        ("Movie", "NDCG@5"): (3.23, 3.71, 5.96, 4.46, 4.06, 4.76, 4.93, 5.13, 4.15, 5.29, 5.80, 9.52, 11.60, 21.8),
        ("Movie", "NDCG@10"): (3.69, 4.41, 6.94, 5.33, 4.76, 5.76, 5.79, 6.01, 5.59, 6.31, 7.14, 10.58, 13.34, 26.1),
        ("Movie", "HR@5"): (3.99, 5.18, 8.14, 5.81, 5.30, 6.47, 6.21, 6.01, 6.41, 7.23, 7.93, 13.21, 15.68, 18.7),
        ("Movie", "HR@10"): (5.20, 7.36, 11.17, 8.54, 7.53, 9.55, 8.89, 8.20, 8.67, 10.41, 12.08, 16.49, 21.15, 28.2),
        ("Book", "MRR@10"): (1.81, 2.15, 2.30, 1.56, 2.44, 2.55, 2.44, 2.74, 2.57, 1.75, 2.80, 4.08, 4.92, 20.5),
        ("Book", "NDCG@5"): (1.41, 2.19, 2.42, 1.64, 2.07, 2.17, 2.03, 2.02, 2.08, 1.82, 2.37, 4.24, 5.16, 21.6),
        ("Book", "NDCG@10"): (1.71, 2.50, 2.89, 1.94, 2.35, 2.45, 2.31, 2.30, 2.26, 2.18, 2.71, 4.87, 5.79, 18.9),
        ("Book", "HR@5"): (1.83, 2.98, 3.37, 2.25, 2.58, 2.84, 2.60, 2.67, 2.41, 2.48, 3.03, 5.58, 6.67, 19.6),
        ("Book", "HR@10"): (2.75, 3.92, 4.80, 3.18, 3.28, 3.75, 2.31, 3.50, 3.67, 3.61, 4.11, 7.34, 8.63, 17.5),
        ("Food", "MRR@10"): (7.30, 7.25, 7.85, 8.19, 8.33, 8.91, 9.87, 9.93, 9.14, 9.19, 10.17, 10.00, 11.20, 10.1),
        ("Food", "NDCG@5"): (6.90, 7.17, 8.46, 8.73, 8.07, 8.65, 9.57, 9.05, 8.76, 9.89, 10.06, 10.75, 12.01, 11.7),
        ("Food", "NDCG@10"): (7.79, 8.26, 9.13, 9.43, 8.77, 9.71, 10.72, 10.22, 9.85, 10.50, 10.93, 11.74, 13.07, 11.3),
        ("Food", "HR@5"): (8.92, 9.24, 11.10, 11.21, 10.28, 11.24, 12.34, 12.54, 12.70, 12.74, 12.85, 14.27, 15.75,
                           10.4),
        ("Food", "HR@10"): (11.68, 12.62, 13.21, 13.40, 12.45, 14.54, 15.94, 15.07, 15.85, 14.63, 15.54, 17.29, 19.04,
                            10.1),
        ("Kitchen", "MRR@10"): (3.79, 4.24, 3.60, 3.99, 4.10, 4.65, 4.78, 4.89, 4.78, 4.70, 4.98, 5.04, 5.56, 10.3),
        ("Kitchen", "NDCG@5"): (3.35, 3.22, 3.90, 4.25, 3.68, 4.16, 4.37, 4.28, 4.12, 5.10, 4.52, 5.44, 6.02, 10.7),
        ("Kitchen", "NDCG@10"): (3.93, 5.66, 4.55, 4.86, 4.32, 4.94, 5.08, 5.16, 5.28, 5.75, 5.31, 6.37, 7.01, 10.0),
        ("Kitchen", "HR@5"): (4.78, 4.79, 5.62, 5.81, 5.17, 5.74, 6.06, 6.22, 6.07, 7.12, 6.22, 7.85, 8.65, 10.1),
        ("Kitchen", "HR@10"): (6.62, 5.66, 7.67, 7.70, 7.15, 8.18, 8.27, 8.37, 8.58, 9.12, 8.67, 10.73, 11.74, 9.4),
    },
    # Table 2 (Statistics of the cross-domain datasets), column Food / Kitchen
    "table2_food_kitchen": {"items": (29_207, 34_886), "avg_length": 9.91, "train_sequences": 34_117,
                            "valid": (2_722, 5_451), "test": (2_747, 5_659)},
    # Table 3 (Model variants for Ablation Study), rows top to bottom; columns Food, Kitchen, Movie, Book.
    # The table names no metric; the RQ2 text reads it as NDCG@10.
    "table3": {
        "Diff": {"Food": 9.06, "Kitchen": 4.21, "Movie": 5.95, "Book": 2.36},
        "Diff + DE": {"Food": 9.24, "Kitchen": 4.27, "Movie": 5.83, "Book": 3.67},
        "Diff + DE + G": {"Food": 10.43, "Kitchen": 5.38, "Movie": 8.34, "Book": 3.83},
        "Diff + DE + Tri-CL": {"Food": 10.44, "Kitchen": 4.90, "Movie": 9.07, "Book": 4.01},
        "DPG-Diff (Full)": {"Food": 13.50, "Kitchen": 5.58, "Movie": 13.50, "Book": 5.58},
    },
    # Ablation Study (RQ2), the bullets under Table 3
    "text_rq2": {
        "diff_de": ("Adding the Disentangled Encoder improves NDCG@10 from 5.95 to 5.83 on the Movie dataset",
                    5.95, 5.83),
        "diff_de_g": ("Incorporating Preference Guidance further boosts performance to 8.34", 8.34),
        "diff_de_tricl": "Combining DE and Tri-CL yields stronger results, but still falls short of the full model",
        "full": "The complete model achieves the highest scores across all domains",
    },
    # Model Efficiency Analysis (RQ4), the paragraph on Figure 4 (the figure itself is an image: no numbers)
    "text_figure4": ("DPG-Diff consistently outperforms DiffuRec across all inference steps in terms of NDCG, "
                     "achieving strong performance even in early stages at all datasets",
                     "This demonstrates its stability and efficiency, in contrast to DiffuRec's slower and more "
                     "fluctuating convergence"),
}


def table1() -> pd.DataFrame:
    """Table 1 as a frame: index (domain, metric), one column per method of :data:`METHODS`, then "Imp."."""
    frame = pd.DataFrame.from_dict(PAPER["table1"], orient="index", columns=[*METHODS, "Imp."])
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["domain", "metric"])
    return frame


def table3() -> pd.DataFrame:
    """Table 3 as a frame: one row per variant, one column per domain."""
    return pd.DataFrame.from_dict(PAPER["table3"], orient="index")[list(TABLE3_DOMAINS)]

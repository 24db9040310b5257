"""One configuration dataclass for models and training, its presets and its JSON round trip.

Every choice the paper leaves open is a field whose comment says what was chosen and which
reference does the same.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from dpgdiff_lite.data.augment import DEFAULT_RATES

MODELS = ("dpgdiff", "diff", "diff+de", "diff+de+g", "diff+de+tricl", "dpgdiff-anchored", "sasrec", "sasrec-single",
          "pop", "oracle")
"""Trainable and baseline models; the five diffusion variants are the rows of the paper's Table 3;
``dpgdiff-anchored`` is the kit's model beyond the paper (:data:`BEYOND_THE_PAPER`);
``sasrec-single`` is SASRec on each domain's own subsequence (C2DSR's single-domain rows);
``oracle`` ranks by the planted next-item law (synthetic data only)."""
SCORE_WEIGHT_CHOICES = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The λ of eq. (15)'s weighted score that ``Config.select_score_weight`` chooses from."""
PREFERENCES = ("fused", "own", "gated")
"""Readings of ĝ_d in eq. (12) and (15); see ``Config.preference``."""
MIX_SPACES = ("logit", "prob")
"""How dpgdiff-anchored mixes its three paths (``Config.mix_space``, ``anchored.mix``)."""
LR_SCHEDULES = ("constant", "linear")
"""How the learning rate changes over the epochs; see ``Config.lr_schedule``."""
UNTRAINED = ("pop", "oracle")
"""Scorers that need no training: popularity counts, and the planted oracle."""

VARIANT_FLAGS: dict[str, tuple[bool, bool, bool]] = {
    # name: (disentangled encoder, guidance by cross-attention, tri-view contrastive loss)
    "diff": (False, False, False),
    "diff+de": (True, False, False),
    "diff+de+g": (True, True, False),
    "diff+de+tricl": (True, False, True),
    "dpgdiff": (True, True, True),
}

BEYOND_THE_PAPER: dict[str, dict] = {
    # the paper's DPG-Diff beside a SASRec on s_d and one on s_c, mixed by weights fit on validation
    # (dpgdiff_lite/anchored.py; its own settings are the mix_* fields); notebook 10 and
    # notebooks/results/anchored/ give the evidence
    "dpgdiff-anchored": dict(),
}
"""Models the kit adds beyond the paper: the architecture of a Table 3 row (:data:`BASE_VARIANT`) and
the settings that differ from that row's defaults (:func:`preset` applies them)."""
BASE_VARIANT = {"dpgdiff-anchored": "dpgdiff"}
"""The Table 3 variant each model of :data:`BEYOND_THE_PAPER` is built on."""


@dataclass
class Config:
    """Model and training settings (defaults = the `teaching` preset)."""

    model: str = "dpgdiff"
    # --- architecture (paper: embedding size 512; the teaching preset is smaller for a CPU) ---
    dim: int = 64
    layers: int = 1  # self-attention + MLP blocks per encoder (paper: "a SA layer followed by a MLP")
    heads: int = 2
    dropout: float = 0.1
    max_len: int = 15  # C2DSR's maximum sequence length: the most recent 15 events are kept
    fusion: str = "memory"  # see encoders.DisentangledEncoder: per-position guidance tokens + pooled g_x + g_y
    # ĝ_d in eq. (12) and (15). "own" (the paper as written) = the target domain's own encoder
    # output: ĝ_y for Y in eq. (15), "the single-domain preference from Encoder_y", and eq. (12) read
    # the same way so that training scores what inference scores (notebooks/equations.md). "fused"
    # (a kit option, KIT_OPTIONS) = g_x + g_y, the paper's "fused single-domain preference" of eq.
    # (9) and (13), added to every domain's score. "gated" (a kit option, the kit's first model beyond
    # the paper) learns between the two, per user and position: ĝ_d = ĝ_own + Σ_e γ_{d,e} ĝ_e over the
    # other domains e, γ = σ(a·cos(ĝ_d, ĝ_e) + b) with one learned (a, b) per ordered pair of
    # domains; γ = 0 is "own", γ = 1 is "fused" (model.py); the training loss leaves γ near 1/2 where
    # validation wants 0 (notebooks/results/anchored/gate_stall.csv). The two readings are measured side
    # by side in notebooks/results/regimes/ablation/shortfall.csv and preference_fused_teaching.csv.
    preference: str = "own"
    # λ of the score (x̂_0 + λ ĝ_d)ᵀE_d (eq. 15 with a weight; 1 = the paper's sum, 0 = x̂_0 alone)
    score_weight: float = 1.0
    # choose λ after training from SCORE_WEIGHT_CHOICES by validation NDCG@10 (trainer.select_score_weight;
    # early stopping uses score_weight). Measured over 3 seeds (validation NDCG@10, mean of domains, λ = 0 /
    # 0.5 / 1): teaching data 22.40 / 21.94 / 21.35, the most conflicted regime cell 13.68 / 14.78 / 14.85
    # (with preference="gated"): no single λ is best on both.
    select_score_weight: bool = False
    # dpgdiff-anchored (anchored.py): how its three paths' log-probabilities are mixed ("logit": a weighted sum
    # of log-probabilities; "prob": the log of a weighted sum of probabilities) and into how many user groups
    # (by the target domain's share of the window) the weights fit on validation are split. Fixed on the
    # teaching data and the conflicted world before any held-out run (notebooks/results/anchored/*/ablation.csv,
    # test NDCG@10, 3 seeds, variant − default): "prob" −0.20 / −0.23 and −0.21 / −0.48; one group
    # +0.03 / +0.09 and +0.08 / −0.15 (none significant but prob's −0.48)
    mix_space: str = "logit"
    mix_groups: int = 3
    # --- diffusion (paper silent; DiffuRec's choices) ---
    T: int = 32  # DiffuRec: 32 diffusion steps
    schedule: str = "trunc_lin"  # DiffuRec's truncated linear β schedule
    # k reverse steps at inference (0 means k = T). Measured on the synthetic teaching data and
    # Food-Kitchen: NDCG@10 is best at k = 1 (at one seed of 3 k = 2, by 0.1) and drifts down as k
    # grows (the denoiser, trained on crisp item embeddings, over-trusts its own blurry intermediate
    # x̂_0), so k = 1 is the default;
    # notebook 07 draws the whole curve (the paper's Figure 4).
    inference_steps: int = 1
    eta: float = 0.0  # 0: deterministic DDIM-style updates (repeatable scores); 1: DDPM sampling
    inference_seed: int = 0  # seed of the N(0, I) start x_T at inference (eq. 15)
    # --- loss (eq. 14); paper sums the three terms, we weight L_tri-cl like CL4SRec/DREAM ---
    weight_diff: float = 1.0
    weight_rec: float = 1.0
    weight_cl: float = 0.1
    # Eq. (13) is written on raw dot products with no temperature: cl_similarity="dot" with
    # temperature=1.0 reproduces it exactly. But the views have norms of about √D, so the dot
    # products reach ±100 and the loss mostly pushes vector lengths around; measured on the
    # teaching data (test NDCG@10 X / Y): dot, τ = 1: 17.1 / 16.3; no contrastive term:
    # 19.7 / 18.7; cosine, τ = 0.2 (SimCLR / CL4SRec style): 19.3 / 18.6. The default is the
    # cosine form, which keeps InfoNCE about direction; set the two fields for the literal eq. (13).
    cl_similarity: str = "cosine"
    temperature: float = 0.2
    # --- augmentation rates for s_aug (CoSeRec / CL4SRec defaults, see data.augment.DEFAULT_RATES) ---
    crop_rate: float = DEFAULT_RATES["crop"]
    mask_rate: float = DEFAULT_RATES["mask"]
    reorder_rate: float = DEFAULT_RATES["reorder"]
    substitute_rate: float = DEFAULT_RATES["substitute"]
    insert_rate: float = DEFAULT_RATES["insert"]
    # --- optimisation (paper: Adam, batch 512, 100 epochs) ---
    # Measured on the teaching data (test NDCG@10 X / Y, mean of seeds 0-2): batch 256 at lr 3e-3
    # ran all 15 epochs still improving (DPG-Diff 19.0 / 18.2, SASRec 19.2 / 18.4); batch 128 at
    # lr 1e-2 peaks at epoch 5-6 and stops after 8-9 (DPG-Diff 19.9 / 19.1, SASRec 20.0 / 19.0),
    # in half the time. lr 1e-3 needs twice the epochs of 3e-3.
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-2
    # L2 penalty of Adam on every weight, the item tables included. A sparse catalogue needs it
    # (synthetic:sparse, Movie-Book's sparsity, test NDCG@10 X / Y, SASRec seed 0): without it every
    # model peaks after one epoch and stays below popularity (SASRec 0.87 / 0.90, popularity 1.61 /
    # 1.65); 1e-4: 1.82 / 1.23; 3e-4: 1.81 / 1.83; 1e-3: 1.85 / 1.81. On the teaching data 3e-4 helps
    # too (mean of seeds 0-2: SASRec 20.0 / 19.0 → 21.1 / 20.2, DPG-Diff 19.9 / 19.1 → 20.8 / 19.9).
    # Tried and not kept (synthetic:sparse, SASRec): dropout 0.3, lr 1e-3, dim 32, a learned or a
    # fixed log-popularity item bias, zero-initialised never-trained items (all below popularity).
    weight_decay: float = 3e-4
    # "linear": the learning rate of epoch e is lr · (1 − (e − 1) / epochs), falling to lr / epochs in
    # the last epoch; "constant": lr throughout (docs/speed.md measures both)
    lr_schedule: str = "constant"
    eval_every: int = 1
    patience: int = 3  # early stopping: evaluations without a better validation NDCG@10
    seed: int = 0
    device: str = "auto"  # auto: cuda, then mps, then cpu
    bf16: bool = True  # bf16 autocast on CUDA only
    compile: bool = False  # torch.compile the model (helps on GPU only)
    # torch threads on a CPU; 0 chooses by workload (runtime.cpu_threads): one thread for small
    # catalogues such as the synthetic data, and for large ones (Food-Kitchen) whichever of one
    # thread or all cores is faster on a timed scoring GEMM (2 threads 1.7x faster when the
    # machine is idle, 1.9x slower when another process holds a core).
    cpu_threads: int = 0
    # --- evaluation (C2DSR protocol: 999 negatives from the target's own domain) ---
    eval_protocol: str = "sampled"
    eval_negatives: int = 999
    eval_seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        for name in ("dim", "layers", "heads", "max_len", "T", "epochs", "batch_size", "eval_every", "patience",
                     "mix_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"config field {name!r} must be >= 1, got {getattr(self, name)}")
        if self.cpu_threads < 0:
            raise ValueError(f"config field 'cpu_threads' must be >= 0 (0: chosen by workload), got {self.cpu_threads}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"config field 'lr_schedule' must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.cl_similarity not in ("dot", "cosine"):
            raise ValueError(f"config field 'cl_similarity' must be 'dot' or 'cosine', got {self.cl_similarity!r}")
        if self.preference not in PREFERENCES:
            raise ValueError(f"config field 'preference' must be one of {', '.join(PREFERENCES)}, got {self.preference!r}")
        if self.mix_space not in MIX_SPACES:
            raise ValueError(f"config field 'mix_space' must be one of {', '.join(MIX_SPACES)}, got {self.mix_space!r}")
        if self.score_weight < 0:
            raise ValueError(f"config field 'score_weight' must be >= 0, got {self.score_weight}")
        if self.dim % self.heads:
            raise ValueError(f"config field 'dim' ({self.dim}) must be divisible by 'heads' ({self.heads})")
        if not 0 <= self.inference_steps <= self.T:
            raise ValueError(f"config field 'inference_steps' must be in 0..T={self.T}, got {self.inference_steps}")
        if self.temperature <= 0:
            raise ValueError(f"config field 'temperature' must be > 0, got {self.temperature}")
        for name in ("dropout", "crop_rate", "mask_rate", "reorder_rate", "substitute_rate", "insert_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"config field {name!r} must be in [0, 1], got {getattr(self, name)}")

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (from 1) under ``lr_schedule``."""
        return self.lr * (1 - (epoch - 1) / self.epochs) if self.lr_schedule == "linear" else self.lr

    def reverse_steps(self, steps: int | None = None) -> int:
        """k, the reverse steps of one scoring (eq. 15): ``steps`` when given, else ``inference_steps``,
        whose 0 means k = T. The one place this default is decided."""
        return steps or self.inference_steps or self.T

    @property
    def loss_weights(self) -> dict[str, float]:
        """Weights of the terms of eq. (14) by the names ``loss_terms`` gives them."""
        return {"diff": self.weight_diff, "rec": self.weight_rec, "cl": self.weight_cl}

    @property
    def augment_rates(self) -> dict[str, float]:
        """The rates of the five augmentations of s_aug (eq. 13), keyed as in ``data.augment``."""
        return {op: getattr(self, f"{op}_rate") for op in DEFAULT_RATES}

    @property
    def trainable(self) -> bool:
        """False for the scorers that need no training (popularity, the oracle)."""
        return self.model not in UNTRAINED

    @property
    def variant_flags(self) -> tuple[bool, bool, bool]:
        """(disentangled encoder, guidance, tri-view CL) for a diffusion model."""
        return VARIANT_FLAGS[BASE_VARIANT.get(self.model, self.model)]

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(asdict(self), indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """Build from a dict, refusing unknown keys and values of the wrong type (naming the key)."""
        return replace(cls(), **{key: _typed(key, value) for key, value in values.items()})

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> "Config":
        text = Path(path_or_text).read_text() if Path(str(path_or_text)).suffix == ".json" else str(path_or_text)
        return cls.from_dict(json.loads(text))

    def with_overrides(self, assignments: list[str]) -> "Config":
        """Apply ``key=value`` strings (the CLI's ``--set``), parsing each value to the field's type; a key
        set twice, and a seed outside numpy's range 0 … 2^32 - 1, are errors."""
        values = {}
        for assignment in assignments:
            key, sep, raw = str(assignment).partition("=")
            if not sep:
                raise ValueError(f"--set expects key=value, got {_shown(assignment)}")
            if key.strip() in values:
                raise ValueError(f"--set expects each key once, got {key.strip()!r} twice")
            values[key.strip()] = _parse(key.strip(), raw.strip())
            if key.strip() in SEED_FIELDS and not 0 <= values[key.strip()] <= MAX_SEED:
                raise ValueError(f"config key {key.strip()!r} expects a seed in 0 … {MAX_SEED}, got {_shown(raw.strip())}")
        return replace(self, **{key: _typed(key, value) for key, value in values.items()})


_FIELD_TYPES = {f.name: f.type for f in fields(Config)}


def _known(key: str) -> str:
    if key not in _FIELD_TYPES:
        raise ValueError(f"unknown config key {key!r}; known keys: {', '.join(sorted(_FIELD_TYPES))}")
    return _FIELD_TYPES[key]


def _typed(key: str, value):
    kind = _known(key)
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "str": isinstance(value, str)}[kind]
    if not ok:
        raise ValueError(f"config key {key!r} expects {kind}, got {value!r}")
    return float(value) if kind == "float" else value


SEED_FIELDS = ("seed", "inference_seed", "eval_seed")
MAX_SEED = 2 ** 32 - 1
"""The largest seed numpy's legacy global state (``runtime.set_seed``) accepts."""


def parse_seeds(value: str | int | Sequence[int], what: str = "seeds") -> tuple[int, ...]:
    """Model seeds as a command line writes them ("0,1,2") or papermill passes them (3, [0, 1]): distinct
    integers in 0 … :data:`MAX_SEED`, read exactly (ASCII digits only, no bool, no float cut to an int).
    The one parser of seeds: ``--seeds`` of every subcommand and the notebooks' ``seeds`` parameter."""
    bad = ValueError(f"{what} must be a comma-separated list of ints, got {_shown(value)}")
    if isinstance(value, str):
        items: list = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = [value]
    else:
        raise bad
    seeds = []
    for item in items:
        if isinstance(item, str):
            digits = item.removeprefix("-")
            if not (digits.isascii() and digits.isdigit()):
                raise bad
            if len(digits) > len(str(MAX_SEED)):  # int() of thousands of digits is refused by Python itself
                raise ValueError(f"{what} must be at most {MAX_SEED} (numpy's seed range), got {_shown(value)}")
            seeds.append(int(item))
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            seeds.append(int(item))
        else:
            raise bad
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"{what} must be distinct integers >= 0, e.g. '0' or '0,1,2'; got {_shown(value)}")
    if max(seeds) > MAX_SEED:
        raise ValueError(f"{what} must be at most {MAX_SEED} (numpy's seed range), got {_shown(value)}")
    return tuple(seeds)


def parse_models(value: str | Sequence[str], what: str = "models", allowed: Sequence[str] = MODELS) -> tuple[str, ...]:
    """Model names as a command line writes them ("dpgdiff,sasrec") or a sequence: each of ``allowed``, each
    once, at least one. The one parser of ``--models`` and the notebooks' ``models`` parameter."""
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{what} must be a comma-separated string or a list of strings, got {_shown(value)}")
    names = tuple(item.strip() for item in items if item.strip())
    if not names:
        raise ValueError(f"{what}: name at least one model")
    for name in names:
        if name not in allowed:
            raise ValueError(f"{what}: unknown model {_shown(name)}; choose from {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: each model once, got {', '.join(names)}")
    return names


def _shown(text) -> str:
    """``repr(text)``, cut to a readable length for a message."""
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:60] + "…"


def _parse(key: str, raw: str):
    """``raw`` as the type of field ``key``: ints within int64, finite floats, true/false/1/0 for bools."""
    kind = _known(key)
    try:
        if kind == "bool":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        value = {"int": int, "float": float, "str": str}[kind](raw)
    except ValueError:
        raise ValueError(f"config key {key!r} expects {kind}, got {_shown(raw)}") from None
    if kind == "float" and not math.isfinite(value):
        raise ValueError(f"config key {key!r} expects a finite float, got {_shown(raw)}")
    if kind == "int" and not -2 ** 63 <= value < 2 ** 63:
        raise ValueError(f"config key {key!r} expects an int within ±2^63, got {_shown(raw)}")
    return value


PRESETS: dict[str, dict] = {
    # CI: seconds on the tiny synthetic data
    "smoke": dict(dim=32, epochs=2, batch_size=128, patience=2, eval_negatives=99),
    # a laptop CPU on the synthetic teaching data, well under a minute
    "teaching": dict(),
    # the paper's implementation details: embedding and batch size 512, 100 epochs, Adam; the
    # paper gives no learning rate: 1e-3, SASRec's official one
    "paper": dict(dim=512, heads=4, batch_size=512, epochs=100, patience=10, lr=1e-3),
}


def with_model(config: Config, model: str, **fields) -> Config:
    """``config`` for ``model``: the model's own settings (:data:`BEYOND_THE_PAPER`) over ``config``'s, then
    ``fields``; how experiments that share one base config across models build each model's."""
    return Config.from_dict({**asdict(config), "model": model, **BEYOND_THE_PAPER.get(model, {}), **fields})


def preset(name: str, model: str = "dpgdiff", **overrides) -> Config:
    """The named preset for ``model``, with field overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Config.from_dict({**PRESETS[name], "model": model, **BEYOND_THE_PAPER.get(model, {}), **overrides})

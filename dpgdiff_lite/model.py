"""DPG-Diff (Algorithm 1, eq. 8–15) and its Table 3 ablations in one module.

Flags from :data:`dpgdiff_lite.config.VARIANT_FLAGS`: ``disentangled`` adds Encoder_x/Encoder_y and
the single-domain loss (eq. 12) and score term (eq. 15); ``guided`` adds the Decoder's
cross-attention over the guidance (eq. 9); ``tri_cl`` adds L_tri-cl (eq. 13). With all three off
this is the base diffusion recommender `diff` (DiffuRec-style, on the mixed sequence).

Training targets every position of a sequence at once: position j carries its own noisy target
x_t,j = q_sample(x_0 of v_{j+1}, t) with one t per sequence. At inference only the last position
is denoised: Encoder_c and the guidance are computed once, then each reverse step re-runs the
Decoder on the last position only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.augment import augment_batch
from dpgdiff_lite.data.dataset import PAD, Batch, positions
from dpgdiff_lite.denoiser import DPGDenoiser
from dpgdiff_lite.diffusion import NoiseSchedule, diffusion_loss
from dpgdiff_lite.encoders import DisentangledEncoder, Guidance, ItemEmbeddings
from dpgdiff_lite.losses import domain_cross_entropy, tri_view_loss
from dpgdiff_lite.recommender import Recommender


GATE_GAIN = 10.0
"""G of the gate's logit G·(a·cos + b): Adam moves a parameter by about the learning rate per step
whatever its gradient, so G sets how far the gate can travel in a teaching run (about 130 steps at lr
1e-2: 13 logits with G = 10, 1.3 with G = 1, where it stayed near 1/2 on every world tried)."""


class DPGDiff(Recommender):
    """The full model or one of its ablations, chosen by ``config.model``."""

    def __init__(self, n_items: tuple[int, ...], config: Config):
        super().__init__()
        self.config = config
        self.disentangled, self.guided, self.tri_cl = config.variant_flags
        dim = config.dim
        self.items = ItemEmbeddings(n_items, dim)
        self.position = nn.Embedding(config.max_len, dim)  # the shared Pos of eq. (8)
        self.drop = nn.Dropout(config.dropout)
        self.encoder = (
            DisentangledEncoder(self.items, self.position, len(n_items), dim, config.layers,
                                config.heads, config.dropout, config.fusion, memory=self.guided)
            if self.disentangled else None
        )
        self.denoiser = DPGDenoiser(dim, config.layers, config.heads, config.dropout, guided=self.guided)
        self.schedule = NoiseSchedule(config.schedule, config.T)
        if config.preference == "gated" and self.disentangled:
            # (a, b) of γ_{d,e} = σ(G·(a·cos(ĝ_d, ĝ_e) + b)) for each ordered pair of domains: γ starts at
            # 1/2, halfway between the own-domain and the fused preference (see ``preferences``)
            self.gate_scale = nn.Parameter(torch.zeros(len(n_items), len(n_items)))
            self.gate_bias = nn.Parameter(torch.zeros(len(n_items), len(n_items)))
        if config.select_score_weight:
            # λ of the score, chosen on validation after training (trainer.select_score_weight), saved with the weights
            self.register_buffer("chosen_score_weight", torch.tensor(config.score_weight))

    # --- building blocks -------------------------------------------------------------------
    def embed_sequence(self, items: Tensor) -> Tensor:
        """h_c = Emb(s_c) + Pos(s_c) for left-padded global ids (B, L) → (B, L, D)."""
        return self.drop(self.items(items) + self.position(positions(items)))

    def context(self, batch: Batch, last_only: bool = False) -> Tensor:
        """Encoder_c over the clean mixed sequence s_c, (B, L, D) or the last position (B, 1, D):
        the history the Decoder reads (eq. 9)."""
        return self.denoiser.encode(self.embed_sequence(batch.items), batch.padding_mask, last_only)

    def target_embedding(self, items: Tensor) -> Tensor:
        """x_0: the embedding of the next item, gradients flowing into E_d.

        The lookup is scaled by √D (see ItemEmbeddings), so x_0 has unit variance per dimension,
        the scale of the N(0, I) diffusion noise; DiffuRec gets the same by initialising E with
        N(0, 1). Without it the noise would drown x_0 at every step but the first few.
        """
        return self.items(items)

    def guidance(self, batch: Batch) -> Guidance | None:
        """g_x, g_y and their fusion g_d (eq. 8), or None for the `diff` ablation.

        Implements eq. (8).
        """
        return self.encoder(batch) if self.encoder is not None else None

    def denoise(self, context: Tensor, x_t: Tensor, t: Tensor, guidance: Guidance | None,
                last_only: bool = False, need_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """x̂_0 = f_θ(x_t, g_d) (eq. 9) at every position (B, L, D), or the last one (B, 1, D).

        With ``need_weights`` also the Decoder's cross-attention weights (B, L, M), head-averaged.

        Implements eq. (9).
        """
        signal = self.schedule.to(x_t.device).sqrt_alpha_bars[t - 1]  # √ᾱ_t, (B,)
        if not self.guided:
            if need_weights:
                raise ValueError(f"model {self.config.model!r} has no guidance, hence no cross-attention")
            return self.denoiser(context, x_t, t, signal)[0]
        allowed = guidance.memory_allowed[:, -1:] if last_only else guidance.memory_allowed
        x0_hat, weights = self.denoiser(context, x_t, t, signal, guidance.memory, allowed, need_weights)
        return (x0_hat, weights) if need_weights else x0_hat

    # --- training (Algorithm 1) -----------------------------------------------------------
    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None,
                   rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        """The terms of eq. (14) for one batch: ``diff`` (eq. 6), ``rec`` (eq. 10) and ``cl`` (eq. 13).

        Implements eq. (10), (14).
        """
        cfg = self.config
        has_target = batch.targets != PAD  # (B, L)
        context = self.context(batch)
        guidance = self.guidance(batch)  # Algorithm 1, lines 2–4
        x0 = self.target_embedding(batch.targets)  # (B, L, D)
        t = torch.randint(1, cfg.T + 1, (len(batch),), device=x0.device, generator=generator)  # line 5
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        x_t = self.schedule.to(x0.device).q_sample(x0, t, noise=noise)  # line 6, eq. (3)–(4)
        x0_hat = self.denoise(context, x_t, t, guidance)  # line 7, eq. (9)

        rows = has_target.nonzero(as_tuple=True)
        local, domains = batch.target_local[rows], batch.target_domains[rows]
        terms = {"diff": diffusion_loss(x0_hat, x0, has_target)}  # line 8, eq. (6)
        if guidance is None:
            terms["rec"] = domain_cross_entropy(x0_hat[rows], local, domains, self.items)  # eq. (11)
        else:  # eq. (11) for x̂_0 and eq. (12) for ĝ_d of the target's domain, scored in one pass
            single = torch.stack(self.preferences(guidance))[domains, rows[0], rows[1]]
            both = torch.cat([x0_hat[rows], single])  # (2N, D)
            terms["rec"] = 2 * domain_cross_entropy(both, local.repeat(2), domains.repeat(2), self.items)  # line 9, eq. (10)
        if self.tri_cl:
            views = self.views(batch, x0_hat[:, -1], guidance, rng if rng is not None else np.random.default_rng())
            terms["cl"] = tri_view_loss(*views.values(), cfg.temperature, cfg.cl_similarity)  # line 10
        return terms

    def augment(self, items: Tensor, rng: np.random.Generator) -> Tensor:
        """s_aug for eq. (13): one of the five augmentations per row of left-padded global ids (B, L),
        at the rates of the config."""
        augmented = augment_batch(items.cpu().numpy(), self.items.offsets.cpu().numpy(), rng,
                                  rates=self.config.augment_rates)
        return torch.from_numpy(augmented).to(items.device)

    def views(self, batch: Batch, x0_hat: Tensor, guidance: Guidance, rng: np.random.Generator) -> dict[str, Tensor]:
        """The three views of eq. (13) at the last position, (B, D) each: h_c = x̂_0 (given: denoised
        in training, generated at inference), h_d = g_d (the fused guidance) and h_aug = Encoder_c(s_aug).

        Implements eq. (13).
        """
        if guidance is None:
            raise ValueError(f"model {self.config.model!r} has no disentangled encoder, hence no h_d view")
        aug_items = self.augment(batch.items, rng)
        h_aug = self.denoiser.encode(self.embed_sequence(aug_items), aug_items == PAD, last_only=True)[:, 0]
        return {"h_c": x0_hat, "h_d": guidance.fused[:, -1], "h_aug": h_aug}

    def preferences(self, guidance: Guidance) -> list[Tensor]:
        """ĝ_d of eq. (12)/(15) for each target domain d, every (B, L, D); see ``Config.preference``."""
        if self.config.preference == "fused":
            return [guidance.fused] * len(guidance.per_domain)
        if self.config.preference == "own":
            return guidance.per_domain
        stacked = torch.stack(guidance.per_domain)  # (N, B, L, D)
        gates = self.gates(guidance)  # (N, N, B, L)
        # ĝ_d = Σ_e γ_{d,e} ĝ_e with γ_{d,d} = 1: γ = 1 sums exactly as ``fused`` does, γ = 0 leaves ĝ_own
        return [(gates[d, ..., None] * stacked).sum(0) for d in range(len(stacked))]

    def gates(self, guidance: Guidance) -> Tensor:
        """γ_{d,e} (N, N, B, L): how much of domain e's preference joins domain d's, per user and position,
        from their agreement σ(a_{d,e}·cos(ĝ_d, ĝ_e) + b_{d,e}); 1 on the diagonal (``preference="gated"``)."""
        stacked = torch.stack(guidance.per_domain)  # (N, B, L, D)
        unit = nn.functional.normalize(stacked, dim=-1)
        agreement = torch.einsum("dblk,eblk->debl", unit, unit)  # cos(ĝ_d, ĝ_e), (N, N, B, L)
        logit = self.gate_scale[..., None, None] * agreement + self.gate_bias[..., None, None]
        gates = torch.sigmoid(GATE_GAIN * logit)
        own = torch.eye(len(stacked), dtype=torch.bool, device=gates.device)[..., None, None]
        return torch.where(own, torch.ones_like(gates), gates)

    @torch.no_grad()
    def last_gates(self, batch: Batch) -> Tensor:
        """γ_{d,e} at the last position of each row, (B, N, N): the learned gate of each case."""
        return self.gates(self.guidance(batch))[..., -1].permute(2, 0, 1)

    # --- inference (eq. 15) ---------------------------------------------------------------
    @torch.no_grad()
    def generate(self, batch: Batch, steps: int | None = None, generator: torch.Generator | None = None,
                 return_trajectory: bool = False):
        """Denoise the last position's x̂_0 from x_T ~ N(0, I) in ``steps`` reverse steps.

        Returns (x̂_0 (B, D), guidance) and, with ``return_trajectory``, the list of x_t (B, D).

        Implements eq. (15).
        """
        cfg = self.config
        steps = cfg.reverse_steps(steps)
        context = self.context(batch, last_only=True)  # (B, 1, D)
        guidance = self.guidance(batch)
        schedule = self.schedule.to(context.device)

        def denoise_last(x_t: Tensor, t: Tensor) -> Tensor:  # (B, D) → x̂_0 (B, D)
            return self.denoise(context, x_t[:, None], t, guidance, last_only=True)[:, 0]

        result = schedule.sample(denoise_last, (len(batch), cfg.dim), k=steps, eta=cfg.eta,
                                 generator=generator, device=context.device, return_trajectory=return_trajectory)
        return (*result, guidance) if return_trajectory else (result, guidance)

    def item_scores(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """Eq. (15): scores (x̂_0 + λ ĝ_d)ᵀ E_d of every item of ``domain`` for the last position, with
        ``steps`` reverse steps (default: ``config.inference_steps``) and λ = ``config.score_weight``
        (1: the paper's sum), or the λ chosen on validation (``config.select_score_weight``).

        Implements eq. (15).
        """
        x0_hat, preference = self.score_parts(batch, domain, steps)
        weight = self.chosen_score_weight if self.config.select_score_weight else self.config.score_weight
        user = x0_hat if preference is None else x0_hat + weight * preference
        return user @ self.items.table(domain).T  # (B, n_items[domain])

    def score_parts(self, batch: Batch, domain: int, steps: int | None = None) -> tuple[Tensor, Tensor | None]:
        """The two parts of eq. (15) at the last position, each (B, D): x̂_0 after ``steps`` reverse
        steps from the fixed x_T of ``config.inference_seed``, and the preference ĝ_d of ``domain``
        (None for a variant without the Disentangled Encoder). :meth:`item_scores` adds them."""
        generator = torch.Generator(device=batch.items.device).manual_seed(self.config.inference_seed)
        x0_hat, guidance = self.generate(batch, steps=steps, generator=generator)
        return x0_hat, None if guidance is None else self.preferences(guidance)[domain][:, -1]

"""DPG-Diff (Algorithm 1, eq. 8–15) and its Table 3 ablations in one module.

Flags from :data:`dpgdiff_lite.config.VARIANT_FLAGS`: ``disentangled`` adds Encoder_x/Encoder_y and
the single-domain loss (eq. 12) and score term (eq. 15); ``guided`` adds the Decoder's
cross-attention over the guidance (eq. 9); ``tri_cl`` adds L_tri-cl (eq. 13). With all three off
this is the base diffusion recommender `diff` (DiffuRec-style, on the mixed sequence).

Training targets every position of a sequence at once: position j carries its own noisy target
x_t,j = q_sample(E[v_{j+1}], t) with one t per sequence. At inference only the last target is
unknown: it starts from N(0, I) and is denoised, while earlier positions carry the same-t noisy
versions of their (known) next items, exactly the inputs seen in training.
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


class DPGDiff(nn.Module):
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

    # --- building blocks -------------------------------------------------------------------
    def embed_sequence(self, items: Tensor) -> Tensor:
        """h_c = Emb(s_c) + Pos(s_c) for left-padded global ids (B, L) → (B, L, D)."""
        return self.drop(self.items(items) + self.position(positions(items)))

    def guidance(self, batch: Batch) -> Guidance | None:
        """g_x, g_y and their fusion g_d (eq. 8), or None for the `diff` ablation."""
        return self.encoder(batch) if self.encoder is not None else None

    def denoise(self, h_c: Tensor, padding: Tensor, x_t: Tensor, t: Tensor, guidance: Guidance | None) -> Tensor:
        """x̂_0 = f_θ(x_t, g_d) (eq. 9) at every position, (B, L, D)."""
        if self.guided:
            return self.denoiser(h_c, padding, x_t, t, guidance.memory, guidance.memory_allowed)
        return self.denoiser(h_c, padding, x_t, t)

    # --- training (Algorithm 1) -----------------------------------------------------------
    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None,
                   rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        """The terms of eq. (14) for one batch: ``diff`` (eq. 6), ``rec`` (eq. 10) and ``cl`` (eq. 13)."""
        cfg = self.config
        padding = batch.padding_mask
        has_target = batch.targets != PAD  # (B, L)
        h_c = self.embed_sequence(batch.items)
        guidance = self.guidance(batch)  # Algorithm 1, lines 2–4
        # x_0: the embedding of each position's next item, gradients flowing into E_d
        x0 = self.items(batch.targets)  # (B, L, D)
        t = torch.randint(1, cfg.T + 1, (len(batch),), device=x0.device, generator=generator)  # line 5
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        x_t = self.schedule.to(x0.device).q_sample(x0, t, noise=noise)  # line 6, eq. (3)–(4)
        x0_hat = self.denoise(h_c, padding, x_t, t, guidance)  # line 7, eq. (9)

        rows = has_target.nonzero(as_tuple=True)
        local, domains = batch.target_local[rows], batch.target_domains[rows]
        terms = {"diff": diffusion_loss(x0_hat, x0, has_target)}  # line 8, eq. (6)
        rec = domain_cross_entropy(x0_hat[rows], local, domains, self.items)  # eq. (11)
        if guidance is not None:
            own = torch.stack(guidance.per_domain, 0)[domains, rows[0], rows[1]]  # ĝ_d of the target's domain
            rec = rec + domain_cross_entropy(own, local, domains, self.items)  # eq. (12)
        terms["rec"] = rec  # line 9, eq. (10)
        if self.tri_cl:
            augmented = augment_batch(batch.items.cpu().numpy(), self.items.offsets.cpu().numpy(),
                                      rng if rng is not None else np.random.default_rng(), rates=self.augment_rates)
            aug_items = torch.from_numpy(augmented).to(x0.device)
            h_aug = self.denoiser.encode(self.embed_sequence(aug_items), aug_items == PAD)[:, -1]
            terms["cl"] = tri_view_loss(x0_hat[:, -1], guidance.fused[:, -1], h_aug, cfg.temperature)  # line 10
        return terms

    @property
    def augment_rates(self) -> dict[str, float]:
        c = self.config
        return {"crop": c.crop_rate, "mask": c.mask_rate, "reorder": c.reorder_rate,
                "substitute": c.substitute_rate, "insert": c.insert_rate}

    # --- inference (eq. 15) ---------------------------------------------------------------
    @torch.no_grad()
    def generate(self, batch: Batch, steps: int | None = None, generator: torch.Generator | None = None,
                 return_trajectory: bool = False):
        """Denoise the last position's x̂_0 from x_T ~ N(0, I) in ``steps`` reverse steps.

        Returns (x̂_0 (B, D), guidance) and, with ``return_trajectory``, the list of x_t (B, D).
        """
        cfg = self.config
        steps = steps or cfg.inference_steps or cfg.T
        padding = batch.padding_mask
        h_c = self.embed_sequence(batch.items)
        guidance = self.guidance(batch)
        schedule = self.schedule.to(h_c.device)
        known = self.items(batch.items[:, 1:])  # the next item of every earlier position is known
        known_noise = torch.randn(known.shape, device=known.device, generator=generator)

        def denoise_last(x_t_last: Tensor, t: Tensor) -> Tensor:
            earlier = schedule.q_sample(known, t, noise=known_noise)
            x_t = torch.cat([earlier, x_t_last[:, None, :]], dim=1)
            return self.denoise(h_c, padding, x_t, t, guidance)[:, -1]

        result = schedule.sample(denoise_last, (len(batch), cfg.dim), k=steps, eta=cfg.eta,
                                      generator=generator, device=h_c.device, return_trajectory=return_trajectory)
        return (*result, guidance) if return_trajectory else (result, guidance)

    @torch.no_grad()
    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """Eq. (15): scores (x̂_0 + ĝ_d)ᵀ E_d of every item of ``domain`` for the last position."""
        generator = torch.Generator(device=batch.items.device).manual_seed(self.config.inference_seed)
        x0_hat, guidance = self.generate(batch, steps=steps, generator=generator)
        user = x0_hat if guidance is None else x0_hat + guidance.per_domain[domain][:, -1]
        return user @ self.items.table(domain).T  # (B, n_items[domain])

"""The kit's drawing of the paper's Figure 2: DPG-Diff box by box, each box naming its equation and
the code that implements it (relative to ``dpgdiff_lite``, in monospace).

:func:`plot_architecture` returns the figure (pyplot-free, like every lesson figure). The README and
``notebooks/equations.md`` show it as ``docs/architecture.png``, written by

    python -m dpgdiff_lite docs

Where the kit departs from the paper's literal text the box says "kit": Encoder_c reads the clean
s_c and x_t joins through a √ᾱ_t-gated residual (eq. 9), InfoNCE is cosine with τ = 0.2 (eq. 13),
inference takes k = 1 reverse step. ĝ_d of eq. (12) and (15) is the paper's: the target domain's own
encoder output (ĝ_y for Y). The reasons and the
flags that restore the literal form: ``notebooks/equations.md``, "Deviations from the paper's literal text".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path as MplPath
from PIL import Image

from dpgdiff_lite.lessons.common import figure, png_bytes

WIDTH, TOP, BOTTOM = 125.0, 90.0, -4.5
"""The drawing's coordinates: 1 unit = 0.1 inch = 8 px at the lessons' DPI, so the figure is 1000 px wide."""

COLOURS = {"data": "0.35", "guidance": "tab:orange", "diffusion": "tab:green", "denoised": "tab:blue"}
"""Arrow colour by what flows along it: the sequences, the guidance g_d, the diffusion x_0/x_t, x̂_0."""


@dataclass(frozen=True)
class Box:
    """One step of the model: lower-left corner and size in drawing units, a title naming the
    equation, one or two lines of detail and the code (a dotted name under ``dpgdiff_lite``)."""

    x: float
    y: float
    w: float
    h: float
    title: str
    detail: str
    code: str

    @property
    def left(self) -> float:
        return self.x

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def centre(self) -> float:
        return self.x + self.w / 2


# columns (x, width) and rows (y, height) of the grid the boxes sit on
C1, C2, C3, C4 = (2.5, 20.0), (26.5, 25.0), (57.0, 26.0), (99.0, 22.0)
R0, R1, R2, RG, R3 = (71.7, 10.3), (52.0, 10.5), (31.0, 11.0), (16.5, 9.5), (2.8, 9.8)


def _box(column, row, title: str, detail: str, code: str) -> Box:
    return Box(column[0], row[0], column[1], row[1], title, detail, code)


BOXES: dict[str, Box] = {
    # tri-view CL row
    "s_aug": _box(C1, R0, r"$s_{aug}$: augmented $s_c$", "Crop, Mask, Reorder,\nSubstitute or Insert",
                  "data.augment.augment_batch"),
    "encoder_aug": _box(C2, R0, r"Encoder$_c(s_{aug})$", "the same Encoder$_c$ weights;\n"
                        r"$h_{aug}$ = its last position", "model.DPGDiff.views"),
    "tri_cl": _box(C4, R0, r"$\mathcal{L}_{tri\mathrm{-}cl}$ — eq. (13)", r"$h_c=\hat x_0$, $h_d=g_d$, $h_{aug}$;"
                   "\nkit: cosine InfoNCE, τ = 0.2", "losses.tri_view_loss"),
    # disentangled encoder row
    "s_xy": _box(C1, R1, r"$s_x$, $s_y$", "each domain's events of $s_c$\n(Algorithm 1, line 2)",
                 "data.dataset.make_batch"),
    "encoder_xy": _box(C2, R1, r"Encoder$_x$, Encoder$_y$ — eq. (8)", "causal SA + MLP over\n"
                       r"$h_d$ = Emb($s_d$) + Pos", "encoders.DisentangledEncoder"),
    "fusion": _box(C3, R1, r"fusion into $g_d$ (Alg. 1, line 4)", r"memory: $g_x$, $g_y$ tokens + a null;"
                   "\n" r"pooled $g_d = g_x + g_y$", "encoders.Guidance"),
    "rec": _box(C4, R1, r"$\mathcal{L}_{rec}$ — eq. (10)–(12)", r"CE($\hat x_0^\top E_d$) + CE($\hat g_d^\top E_d$);"
                "\n" r"$\hat g_d$: Encoder$_d$'s own output", "losses.domain_cross_entropy"),
    # DPG denoiser rows
    "s_c": _box(C1, R2, r"$s_c$: mixed sequence", "both domains' events in\ntime order, the last 15",
                "data.dataset.Batch"),
    "encoder_c": _box(C2, R2, r"Encoder$_c$ — eq. (9)", "causal SA + MLP over the\n"
                      r"clean $s_c$ (paper: over $x_t$)", "denoiser.DPGDenoiser.encode"),
    "decoder": _box(C3, R2, "Decoder — eq. (9)", r"cross-attention: Encoder$_c$ + emb($t$)"
                    "\n" r"attends to $g_d$; then MLP, head", "denoiser.CrossAttentionDecoder"),
    "gate": _box(C3, RG, r"kit: $x_t$ joins after the Decoder", r"$+\sqrt{\bar\alpha_t}\,$LN$(W x_t)$,"
                 r"  $\sqrt{\bar\alpha_T}\approx 0.001$", "denoiser.DPGDenoiser.forward"),
    "score": _box(C4, R2, "score — eq. (15)", r"$(\hat x_0 + \hat g_d)^\top E_d$ for domain $d$;"
                  "\n" r"kit: $k$ = 1 reverse step", "model.DPGDiff.item_scores"),
    # diffusion row
    "target": _box(C1, R3, r"target $v$; $E_x$, $E_y$", "next item of each position;\nthe item tables",
                   "encoders.ItemEmbeddings"),
    "x0": _box(C2, R3, r"$x_0 = \sqrt{D}\,E_d[v]$", "unit variance, like the noise",
               "model.DPGDiff.target_embedding"),
    "forward": _box(C3, R3, r"$q(x_t\mid x_0)$ — eq. (3)–(4)", r"$x_t=\sqrt{\bar\alpha_t}\,x_0+\sqrt{1-\bar\alpha_t}\,\epsilon$",
                    "diffusion.NoiseSchedule.q_sample"),
    "diff": _box(C4, R3, r"$\mathcal{L}_{diff}$ — eq. (6)", r"$\Vert\hat x_0 - x_0\Vert^2$ at every position",
                 "diffusion.diffusion_loss"),
}

GROUPS = (
    # (label, x0, y0, x1, y1): the paper's components, shaded as in its Figure 2
    ("Tri-view CL (eq. 13)", 0.4, 69.5, 124.6, 84.5),
    ("Disentangled Encoder (eq. 8)", 25.0, 49.5, 85.0, 66.3),
    ("DPG Denoiser (eq. 9)", 25.0, 15.6, 86.8, 46.5),
    ("Diffusion process (eq. 3–4)", 25.0, 1.6, 85.0, 15.0),
    ("objective · inference", 97.3, 1.6, 124.6, 66.0),
)
GROUP_COLOURS = ("#f3e8fb", "#fdf0e0", "#e6f0fb", "#e7f5e7", "#f2f2f2")

SUM = (85.2, R2[0] + 5.0)  # the ⊕ where x_t's gated residual meets the Decoder's output
NODE = Box(87.4, R2[0] + 1.0, 7.6, 8.0, r"$\hat x_0$", "", "")  # the denoised representation

BUS = 123.0  # x of the line that carries x̂_0 to the right-hand side of the loss boxes
LOW = 0.6  # y of the line that carries x_0 to L_diff under the diffusion row

ARROWS = (
    # (kind, points, label, label position or None)
    ("data", [(BOXES["s_c"].centre, R2[0] + R2[1]), (BOXES["s_c"].centre, R1[0])], "split", None),
    ("data", [(C1[0], R2[0] + 5.5), (LOW + 0.4, R2[0] + 5.5), (LOW + 0.4, R0[0] + 4.75), (C1[0], R0[0] + 4.75)], "", None),
    ("data", [(BOXES["s_c"].centre, R2[0]), (BOXES["s_c"].centre, R3[0] + R3[1])], "next items", None),
    ("data", [(BOXES["s_aug"].right, R0[0] + 4.75), (C2[0], R0[0] + 4.75)], "", None),
    ("data", [(BOXES["s_xy"].right, R1[0] + 5.25), (C2[0], R1[0] + 5.25)], "", None),
    ("data", [(BOXES["s_c"].right, R2[0] + 5.5), (C2[0], R2[0] + 5.5)], "", None),
    ("data", [(BOXES["target"].right, R3[0] + 4.5), (C2[0], R3[0] + 4.5)], "", None),
    ("guidance", [(BOXES["encoder_xy"].right, R1[0] + 5.25), (C3[0], R1[0] + 5.25)], r"$g_x, g_y$", (54.25, R1[0] + 7.0)),
    ("guidance", [(65.0, R1[0]), (65.0, R2[0] + R2[1])], "keys, values", (65.0, 47.3)),
    ("guidance", [(BOXES["fusion"].right, R1[0] + 5.25), (C4[0], R1[0] + 5.25)], r"$\hat g_d$", (91.0, R1[0] + 5.25)),
    ("guidance", [(96.4, R1[0] + 5.25), (96.4, R2[0] + 8.5), (C4[0], R2[0] + 8.5)], "", None),
    ("guidance", [(77.0, R1[0] + R1[1]), (77.0, R0[0] + 2.5), (C4[0], R0[0] + 2.5)], r"$h_d = g_d$", (88.0, R0[0] + 2.5)),
    ("data", [(BOXES["encoder_aug"].right, R0[0] + 7.0), (C4[0], R0[0] + 7.0)], r"$h_{aug}$", (75.0, R0[0] + 7.0)),
    ("data", [(BOXES["encoder_c"].right, R2[0] + 5.5), (C3[0], R2[0] + 5.5)], "queries", (54.25, R2[0] + 7.3)),
    ("denoised", [(BOXES["decoder"].right, R2[0] + 5.0), (SUM[0] - 1.0, SUM[1])], "", None),
    ("diffusion", [(BOXES["gate"].right, RG[0] + 4.75), (SUM[0], RG[0] + 4.75), (SUM[0], SUM[1] - 1.0)], "", None),
    ("denoised", [(SUM[0] + 1.0, SUM[1]), (NODE.left, SUM[1])], "", None),
    ("diffusion", [(BOXES["x0"].right, R3[0] + 4.5), (C3[0], R3[0] + 4.5)], r"$t$, $\epsilon$", (54.25, R3[0] + 6.3)),
    ("diffusion", [(70.0, R3[0] + R3[1]), (70.0, RG[0])], r"$x_t$", None),
    ("diffusion", [(BOXES["x0"].centre, R3[0]), (BOXES["x0"].centre, LOW), (110.0, LOW), (110.0, R3[0])],
     r"$x_0$", (92.0, LOW)),
    ("denoised", [(NODE.right, R2[0] + 3.0), (C4[0], R2[0] + 3.0)], "", None),
    ("denoised", [(NODE.centre, NODE.y), (NODE.centre, 13.6), (BUS, 13.6), (BUS, R0[0] + 4.75),
                  (C4[0] + C4[1], R0[0] + 4.75)], r"$h_c = \hat x_0$", (110.0, 13.6)),
    ("denoised", [(BUS, R1[0] + 5.25), (C4[0] + C4[1], R1[0] + 5.25)], "", None),
    ("denoised", [(BUS, 13.6), (BUS, R3[0] + 4.5), (C4[0] + C4[1], R3[0] + 4.5)], "", None),
)

FOOTER = (r"$\mathcal{L}_{total} = \mathcal{L}_{diff} + \mathcal{L}_{rec} + 0.1\,\mathcal{L}_{tri\mathrm{-}cl}$"
          " (eq. 14, kit's weights):")
FOOTER_CODE = "losses.total_loss"
LEGEND = "arrows:  grey = sequences,  orange = guidance,  green = diffusion,  blue = $\\hat x_0$.   \"kit\": see notebooks/equations.md"


def _draw_box(ax, name: str, box: Box) -> None:
    """The box and its three texts, all with ``gid=name`` so a test can check the texts fit inside."""
    ax.add_patch(FancyBboxPatch((box.x, box.y), box.w, box.h, boxstyle="round,pad=0,rounding_size=1.2",
                                facecolor="white", edgecolor="0.25", linewidth=1.0, zorder=2, gid=name))
    ax.text(box.centre, box.y + box.h - 1.2, box.title, ha="center", va="top", fontsize=10.5,
            fontweight="bold", zorder=3, gid=name)
    ax.text(box.centre, box.y + box.h / 2 - 0.35, box.detail, ha="center", va="center", fontsize=9.5,
            linespacing=1.15, zorder=3, gid=name)
    ax.text(box.centre, box.y + 0.9, box.code, ha="center", va="bottom", fontsize=9, family="monospace",
            color="0.2", zorder=3, gid=name)


def _draw_arrow(ax, kind: str, points: list[tuple[float, float]], label: str, at) -> None:
    codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1)
    ax.add_patch(FancyArrowPatch(path=MplPath(points, codes), arrowstyle="-|>,head_length=5,head_width=3",
                                 color=COLOURS[kind], linewidth=1.4, shrinkA=0, shrinkB=0, zorder=1))
    if label:
        (x0, y0), (x1, y1) = points[0], points[1]
        x, y = at if at is not None else ((x0 + x1) / 2, (y0 + y1) / 2)
        ax.text(x, y, label, ha="center", va="center", fontsize=9, color=COLOURS[kind], zorder=4,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))


def plot_architecture() -> Figure:
    """The paper's Figure 2 as the kit builds it: inputs s_c, s_x, s_y, s_aug; the Disentangled Encoder
    (eq. 8); the forward process (eq. 3–4); the DPG Denoiser (eq. 9) with the kit's gated x_t residual;
    the losses (eq. 6, 10–12, 13) and the score (eq. 15), each box with its equation and its code."""
    fig = figure(WIDTH / 10, (TOP - BOTTOM) / 10)
    fig.set_layout_engine("none")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(BOTTOM, TOP)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.text(WIDTH / 2, TOP - 1.8, "DPG-Diff as dpgdiff_lite builds it: the paper's Figure 2, each box with its "
            "equation and code", ha="center", va="center", fontsize=12.5, fontweight="bold")
    for (label, x0, y0, x1, y1), colour in zip(GROUPS, GROUP_COLOURS):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, edgecolor="none", zorder=0))
        ax.text(x0 + 0.8, y1 - 0.6, label, ha="left", va="top", fontsize=9.5, fontstyle="italic", color="0.3")
    for name, box in BOXES.items():
        _draw_box(ax, name, box)
    ax.add_patch(Circle(SUM, 1.0, facecolor="white", edgecolor="0.25", linewidth=1.0, zorder=2))
    ax.text(*SUM, "+", ha="center", va="center", fontsize=11, zorder=3)
    ax.add_patch(FancyBboxPatch((NODE.x, NODE.y), NODE.w, NODE.h, boxstyle="round,pad=0,rounding_size=1.5",
                                facecolor="#dbe9f7", edgecolor="tab:blue", linewidth=1.4, zorder=2))
    ax.text(NODE.centre, NODE.y + NODE.h / 2, NODE.title, ha="center", va="center", fontsize=15, zorder=3)
    for kind, points, label, at in ARROWS:
        _draw_arrow(ax, kind, points, label, at)
    ax.text(0.8, BOTTOM + 2.9, FOOTER, ha="left", va="center", fontsize=9.5)
    ax.text(37.0, BOTTOM + 2.9, FOOTER_CODE, ha="left", va="center", fontsize=9, family="monospace", color="0.2")
    ax.text(0.8, BOTTOM + 0.9, LEGEND, ha="left", va="center", fontsize=9, color="0.3")
    return fig


def write_png(path: str | Path) -> Path:
    """Write the figure to ``path``, 1000 px wide (``python -m dpgdiff_lite docs`` writes
    ``docs/architecture.png``).

    Stored with a 128-colour palette: a third of the RGBA file's size, and no visible difference
    on a drawing of flat boxes and text.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgba = io.BytesIO(png_bytes(plot_architecture()))
    Image.open(rgba).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path

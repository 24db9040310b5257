"""lessons/architecture.py: the drawing of the paper's Figure 2 names every equation and only real code,
and its boxes and labels do not collide."""

from __future__ import annotations

import importlib
import itertools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text

from dpgdiff_lite.lessons import architecture


def resolve(dotted: str):
    """``encoders.DisentangledEncoder`` → the object ``dpgdiff_lite.encoders.DisentangledEncoder``."""
    parts = f"dpgdiff_lite.{dotted}".split(".")
    for cut in range(len(parts), 1, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


@pytest.fixture(scope="module")
def drawn():
    fig = architecture.plot_architecture()
    FigureCanvasAgg(fig).draw()
    texts = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    return fig, texts, fig.canvas.get_renderer()


def test_the_figure_names_every_equation_of_the_model(drawn):
    fig, texts, _ = drawn
    assert isinstance(fig, Figure) and fig.get_figwidth() * fig.dpi == pytest.approx(1000)
    text = "\n".join(t.get_text() for t in texts)
    for equation in ("(3)–(4)", "(6)", "(8)", "(9)", "(10)–(12)", "(13)", "(15)", "eq. 14"):
        assert equation in text, f"eq. {equation} is not in the drawing"
    for name in ("Encoder$_x$, Encoder$_y$", "Encoder$_c$", "Decoder", r"$+\sqrt{\bar\alpha_t}\,$LN$(W x_t)$",
                 r"$h_c=\hat x_0$", "$h_d=g_d$", "$h_{aug}$", "$E_x$, $E_y$", r"$x_0 = \sqrt{D}\,E_d[v]$"):
        assert name in text, f"{name!r} is not in the drawing"


def test_every_name_in_monospace_is_code_of_the_package(drawn):
    _, texts, _ = drawn
    shown = {t.get_text() for t in texts if "monospace" in t.get_fontfamily()}
    expected = {box.code for box in architecture.BOXES.values()} | {architecture.FOOTER_CODE}
    assert shown == expected
    assert {"encoders.DisentangledEncoder", "denoiser.DPGDenoiser.encode", "denoiser.CrossAttentionDecoder",
            "diffusion.NoiseSchedule.q_sample", "diffusion.diffusion_loss", "losses.domain_cross_entropy",
            "losses.tri_view_loss", "model.DPGDiff.item_scores", "encoders.ItemEmbeddings"} <= shown
    for dotted in sorted(shown):
        assert resolve(dotted).__doc__, f"dpgdiff_lite.{dotted} has no docstring"


def test_boxes_and_labels_do_not_collide(drawn):
    fig, texts, renderer = drawn
    boxes = {p.get_gid(): p.get_window_extent(renderer) for p in fig.findobj(FancyBboxPatch) if p.get_gid()}
    assert set(boxes) == set(architecture.BOXES)
    for a, b in itertools.combinations(boxes, 2):
        assert not boxes[a].overlaps(boxes[b]), f"boxes {a} and {b} overlap"
    inside = {name: [t.get_window_extent(renderer) for t in texts if t.get_gid() == name] for name in boxes}
    for name, extents in inside.items():
        box = boxes[name]
        assert len(extents) == 3, name
        for e in extents:  # every text of a box inside it, with a margin (pixels)
            assert e.x0 >= box.x0 + 1 and e.x1 <= box.x1 - 1 and e.y0 >= box.y0 + 1 and e.y1 <= box.y1 - 1, name
        for e, f in itertools.combinations(extents, 2):  # title, detail and code on separate lines
            assert max(f.y0 - e.y1, e.y0 - f.y1) >= 2, name
    for t in texts:  # titles, group labels, arrow labels, footer: on no box
        if t.get_gid() not in boxes:
            extent = t.get_window_extent(renderer)
            assert not any(extent.overlaps(b) for b in boxes.values()), t.get_text()


def test_write_png_writes_a_1000_px_png(tmp_path):
    path = architecture.write_png(tmp_path / "docs" / "architecture.png")
    height, width = imread(path).shape[:2]
    assert (width, height) == (1000, 756)

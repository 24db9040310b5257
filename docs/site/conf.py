"""Sphinx configuration of the course website.

``python -m dpgdiff_lite site --out site/`` (``dpgdiff_lite.site``) stages the notebooks and pages
into a temporary source folder and builds it with this file. Nothing is executed and nothing is
fetched: myst-nb renders the committed outputs, MathJax comes from the ``sphinx-mathjax-offline``
package and plotly.js from the ``plotly`` package, copied once into ``_static/``.
"""

from pathlib import Path

import plotly

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_FIGURE = "dpg-plotly"  # class of the <div> dpgdiff_lite.site stages for each plotly output

project = "DPG-Diff lite: the course"
author = "dpgdiff_lite"
extensions = ["myst_nb", "sphinx-mathjax-offline"]

nb_execution_mode = "off"
nb_ipywidgets_js = {}  # widget outputs are replaced by a note when staging: no widget manager from a CDN
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # `page.md#slug` links, as on GitHub; dpgdiff_lite.site links sections the same way

html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {"use_download_button": False, "show_toc_level": 2}
html_static_path = ["_static", str(PLOTLY_JS)]
html_css_files = ["site.css"]
html_favicon = "_static/favicon.svg"  # else the browser asks for /favicon.ico and logs its 404
html_copy_source = False
html_show_sourcelink = False
html_context = {"default_mode": "light"}  # the theme logs a console error when it has no mode to start from


def add_plotly(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """plotly.js (one site-wide copy in ``_static/``) and its loader, only on pages with a figure."""
    if PLOTLY_FIGURE in context.get("body", ""):
        app.add_js_file(PLOTLY_JS.name)
        app.add_js_file("plotly-figures.js")


def setup(app) -> None:
    app.connect("html-page-context", add_plotly)

"""The notebooks' widgets in a real JupyterLab, driven by a real (headless) Chromium.

Opt-in: runs only with ``DPGDIFF_BROWSER_TESTS=1`` and needs Debian's ``chromium`` at
``/usr/bin/chromium`` (or ``DPGDIFF_CHROMIUM``) plus Playwright's Python client
(``pip install playwright``; its own browser download is not used). For each notebook the test
opens a fresh copy (outputs and saved widget state stripped, so everything on the page comes from
this run) in JupyterLab, runs all cells from the Run menu, waits for the kernel to go idle, checks
that every widget rendered without errors, moves the sliders in ``CHECKS`` with the keyboard and
checks after each key that the slider's readout and the figure it controls changed, then checks
that each plotly figure in ``CHECKS`` responds: JupyterLab's plotly extension first shows the PNG that
``common.interactive`` ships beside the plotly JSON, swaps in the interactive plot when the pointer
enters it, and then hovering a point adds a hover label naming what is under the pointer.
Screenshots land in the test's ``tmp_path``. One JupyterLab serves both notebooks; its teardown stops it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("DPGDIFF_BROWSER_TESTS") != "1",
                                reason="browser tests run only with DPGDIFF_BROWSER_TESTS=1")

ROOT = Path(__file__).resolve().parents[1]
SERVER_START_S = 60  # JupyterLab answering on its port
RUN_ALL_S = 150  # one notebook's "Run All Cells" on a 2-core CPU (measured 20-40 s)
REDRAW_S = 60  # the controlled figure redrawn after a slider move
# JupyterLab settings for this run only: render every cell (no virtual scrolling, so all outputs
# are in the DOM), no news / update pop-ups (there is no network in CI).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                        "fetchNews": "false"},
}
WIDGET_ERROR = re.compile(r"widget|jupyter-widgets|ipywidgets|noUi|backbone|comm", re.I)


@dataclass(frozen=True)
class Move:
    label: str  # the slider's description, exactly
    keys: tuple[tuple[str, str], ...]  # (key pressed on the focused slider handle, readout expected after it)


@dataclass(frozen=True)
class Hover:
    cell: str  # text in the source of the cell whose output is the plotly figure
    title: str  # text the interactive figure's title must contain
    at: tuple[float, float]  # where to point, as fractions of the plotting area's width and height
    expected: tuple[str, ...]  # texts the hover label must contain


@dataclass(frozen=True)
class NotebookCheck:
    notebook: str
    n_widgets: int  # widget outputs the notebook displays
    moves: tuple[Move, ...]
    hovers: tuple[Hover, ...] = ()  # plotly figures (common.interactive) and a point to hover on each


CHECKS = [
    NotebookCheck("01_ddpm_basics.ipynb", 2, (
        # the step-count slider starts at k = 4 and the t slider at 8, where the static figures are drawn
        Move("steps k", (("Home", "1"), ("ArrowRight", "2"))),
        Move("t", (("ArrowRight", "9"), ("End", "32"))),
    )),
    NotebookCheck("04_guided_denoising.ipynb", 2, (
        # the noise-injection slider starts at r = 0.30 and moves in steps of 0.05
        Move("noise r", (("ArrowRight", "0.35"), ("End", "1.00"))),
        # the step-count slider starts at k = 4
        Move("steps k", (("ArrowRight", "5"),)),
    ), (
        # the cross-attention map: the bottom row is the last query, which may attend to every token
        Hover("attention_figure", "cross-attention", (0.5, 0.97), ("query", "attends to", "domain", "weight")),
    )),
]


# --- JupyterLab ------------------------------------------------------------------------------
@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_copy(source: Path, target: Path) -> None:
    """The notebook without outputs, execution counts or saved widget state."""
    nb = json.loads(source.read_text())
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    target.write_text(json.dumps(nb, indent=1))


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server by its own process id: SIGTERM (it shuts its kernels down), then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    root.mkdir()
    for check in CHECKS:
        _clean_copy(ROOT / "notebooks" / check.notebook, root / check.notebook)
    settings = base / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    kernel = base / "share" / "kernels" / "python3"  # the kernel runs on this very interpreter
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    env = os.environ | {
        "JUPYTER_PATH": str(base / "share"), "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"), "IPYTHONDIR": str(base / "ipython"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONPATH": os.pathsep.join(
            [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
    }
    port, token = _free_port(), secrets.token_hex(16)
    log = (base / "jupyterlab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--port-retries=0",
         f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
         "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        server = Lab(f"http://127.0.0.1:{port}", token, root)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{(base / 'jupyterlab.log').read_text()}")
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S} s")
                time.sleep(0.5)
        yield server
    finally:
        _stop(proc)
        log.close()


def _hover(page, hover: Hover) -> None:
    """Point at a plotly figure: the PNG shown first turns into JupyterLab's interactive plotly plot
    (an SVG with the figure's title), and hovering a point of it adds a label naming what is there."""
    output = page.locator(".jp-CodeCell", has_text=hover.cell).locator(".jp-RenderedPlotly")
    assert output.count() == 1, f"one plotly output in the cell containing {hover.cell!r}"
    output.scroll_into_view_if_needed()
    interactive = lambda: "js-plotly-plot" in (output.get_attribute("class") or "")  # noqa: E731
    if not interactive():  # the PNG is showing: the pointer entering it swaps in the interactive plot
        image = output.locator("img").first.bounding_box()
        page.mouse.move(image["x"] + image["width"] / 2, image["y"] + image["height"] / 2, steps=5)
    _wait_until(lambda: interactive() and output.locator(".nsewdrag").count() > 0, 30,
                f"the interactive plotly figure in the cell containing {hover.cell!r}")
    plot = output
    title = plot.locator(".gtitle").first.text_content() or ""  # SVG text: no inner_text
    assert hover.title in title, f"plotly title {title!r} lacks {hover.title!r}"
    labels = plot.locator(".hoverlayer .hovertext")
    box = plot.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)  # a blocked (blank) cell first: no label there
    page.mouse.move(box["x"] + box["width"] * hover.at[0], box["y"] + box["height"] * hover.at[1], steps=5)
    _wait_until(lambda: labels.count() > 0, 10, f"a hover label on {hover.title!r}")
    text = labels.first.text_content() or ""
    missing = [t for t in hover.expected if t not in text]
    assert not missing, f"hover label {text!r} lacks {missing}"


# --- Chromium --------------------------------------------------------------------------------


def _wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _shut_down_kernel(lab: Lab, notebook: str) -> None:
    for session in lab.api("/api/sessions"):
        if session["path"].endswith(notebook):
            lab.api(f"/api/sessions/{session['id']}", method="DELETE")


def _kernels_idle(lab: Lab) -> bool:
    kernels = lab.api("/api/kernels")
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def _pending_prompts(page) -> list[str]:
    """Input prompts of code cells that have not run yet ("[ ]:") or still run ("[*]:")."""
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    return [p for p in prompts if not re.fullmatch(r"\s*\[\d+\]:\s*", p)] if prompts else ["no cells"]


def _slider(page, label: str):
    label_ = page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(label)}$"))
    return page.locator(".widget-hslider", has=label_)


def _move(page, lab: Lab, move: Move) -> None:
    """Press each key on the slider's handle; after each, the readout and the figure under it change."""
    slider = _slider(page, move.label)
    assert slider.count() == 1, f"one slider labelled {move.label!r}"
    view = page.locator(".widget-vbox", has=slider)  # VBox([slider, interactive_output])
    images = view.locator(".widget-output img")
    for key, expected in move.keys:
        images.first.scroll_into_view_if_needed()
        before, readout = images.first.get_attribute("src"), slider.locator(".widget-readout").inner_text()
        assert before and before.startswith("data:image/png")
        slider.locator(".noUi-handle").first.press(key)
        _wait_until(lambda: slider.locator(".widget-readout").inner_text().strip() == expected, 10,
                    f"{move.label!r} readout {expected!r} after {key} (was {readout!r})")
        # interactive_output clears its output and displays the new figure: one new, different image
        _wait_until(lambda: _kernels_idle(lab) and images.count() == 1
                    and images.first.get_attribute("src") not in (None, before),
                    REDRAW_S, f"the figure under {move.label!r} to be redrawn after {key}")


@pytest.mark.parametrize("check", CHECKS, ids=[c.notebook.split("_")[0] for c in CHECKS])
def test_widgets_render_and_respond(check: NotebookCheck, lab: Lab, browser, tmp_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    stem = Path(check.notebook).stem
    try:
        # a workspace of its own, reset: only this notebook open, and it is the current widget
        page.goto(f"{lab.url}/lab/workspaces/{stem}/tree/{check.notebook}?reset&token={lab.token}")
        page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=60_000)
        _wait_until(lambda: _kernels_idle(lab), 60, "the kernel to start")
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()  # focus the notebook

        # Run > Run All Cells, as a reader would
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        started = time.monotonic()
        _wait_until(lambda: not _pending_prompts(page) and _kernels_idle(lab), RUN_ALL_S, "Run All Cells to finish")
        print(f"{check.notebook}: Run All Cells took {time.monotonic() - started:.1f} s")
        assert "Traceback (most recent call last)" not in page.locator(".jp-Notebook").inner_text(), "a cell raised"

        # every widget rendered: a VBox of a slider and a figure per widget output, no error view
        _wait_until(lambda: page.locator(".jp-Notebook .widget-vbox .widget-output img").count() == check.n_widgets,
                    30, f"{check.n_widgets} widget views with a figure")
        assert page.locator(".jp-Notebook .widget-vbox").count() == check.n_widgets
        assert page.locator(".jp-Notebook .widget-vbox .widget-hslider").count() == check.n_widgets
        assert "Error displaying widget" not in page.content()

        for move in check.moves:
            _move(page, lab, move)
            page.locator(".widget-vbox", has=_slider(page, move.label)).scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(tmp_path / f"{stem}-{move.label.replace(' ', '_')}.png"))

        for hover in check.hovers:
            _hover(page, hover)
            page.screenshot(path=str(tmp_path / f"{stem}-hover-{hover.title.replace(' ', '_')}.png"))

        assert "Error displaying widget" not in page.content()
        widget_errors = [e for e in errors if WIDGET_ERROR.search(e)]
        assert not widget_errors, "widget manager errors:\n" + "\n".join(widget_errors)
    except BaseException:
        try:
            page.screenshot(path=str(tmp_path / f"{stem}-failed.png"))
            print(f"{check.notebook}: pending prompts {_pending_prompts(page)}, kernels {lab.api('/api/kernels')}")
        finally:
            print("console errors:", *errors[:20], sep="\n  ")
        raise
    finally:
        (tmp_path / "console_errors.txt").write_text("\n".join(errors))
        page.close()
        try:
            _shut_down_kernel(lab, check.notebook)  # the server's teardown stops any kernel left
        except OSError:
            pass

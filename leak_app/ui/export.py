"""Files made from a model: the offline HTML dashboard and a PNG per view."""
from __future__ import annotations

import base64
import io
import re
import tempfile
from pathlib import Path

import panel as pn
from bokeh.resources import INLINE
from PIL import Image, ImageChops

from ..analysis.model import SessionModel
from ..data.files import replaced, write_atomically
from ..data.workspace import workspace
from .browser import chromium, offline_page
from .cards import CARDS
from .page import static_dashboard

#: Panel links its favicon and touch icon from its CDN even with inline resources.
_REMOTE_LINK = re.compile(r"<link[^>]+href=[\"']https?://[^>]*>\s*", re.IGNORECASE)
#: ...and its components' stylesheets (holoviz/panel#6759, #7073): each is in Panel's wheel.
_PANEL_CSS = re.compile(r"https://cdn\.holoviz\.org/panel/[^/]+/dist/([\w./-]+?\.css)(?:\?v=[\w.]+)?")
_PANEL_DIST = Path(pn.__file__).parent / "dist"


def _inline_css(match: re.Match) -> str:
    local = _PANEL_DIST / match.group(1)
    if not local.is_file():
        raise FileNotFoundError(f"{match.group(0)} is not in Panel's bundled files ({local})")
    return "data:text/css;base64," + base64.b64encode(local.read_bytes()).decode("ascii")


def make_offline(html: str) -> str:
    """Drop remote icon links and turn Panel's CDN stylesheets into data URIs."""
    return _PANEL_CSS.sub(_inline_css, _REMOTE_LINK.sub("", html))


def export_html(model: SessionModel, path: str | Path) -> Path:
    """One self-contained file: every view, the device filter's states embedded, no network; written
    whole or not at all (a scheduled export over the one people open)."""
    path = Path(path)
    # Inline: component stylesheets too, not only Bokeh's JS. Safe embed: a value set equal to the
    # one before is recorded too, so that each device's state holds all it shows (Dashboard.embedded).
    # (saved into memory, then written: Panel adds ".html" to a file name not ending so, "x.htm")
    page = io.StringIO()
    with pn.config.set(inline=True, safe_embed=True):
        static_dashboard(model).save(page, resources=INLINE, embed=True, title="Silent Leak Detector",
                                     progress=False)
    write_atomically(path, make_offline(page.getvalue()))
    return path


def view_objects(model: SessionModel) -> dict:
    """What each registered view renders, by the PNG file name it is exported to."""
    return {name: shown for card in CARDS for name, shown in card.view.figures(model).items()}


def _save_trimmed(png: bytes, target: Path, margin: int = 8) -> None:
    """Save a screenshot cropped to its content: the page is taller and wider than the view."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if box:
        left, top, right, bottom = box
        image = image.crop((max(left - margin, 0), max(top - margin, 0),
                            min(right + margin, image.width), min(bottom + margin, image.height)))
    with replaced(target) as temporary:  # whole or not at all, as the export and the reports
        image.save(temporary, format="PNG")


def export_pngs(model: SessionModel, folder: str | Path, width: int = 1200) -> list[Path]:
    """Render every view in headless Chromium and save it as ``<folder>/<view>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(dir=workspace()) as tmp, chromium() as browser:
        for name, obj in view_objects(model).items():
            html = Path(tmp) / f"{name}.html"
            pn.Column(obj, width=width).save(str(html), resources=INLINE)
            page = offline_page(browser, width=width + 40, height=900)
            page.goto(html.as_uri())
            page.wait_for_function("() => document.querySelector('body') && window.Bokeh && "
                                   "Object.keys(Bokeh.index).length > 0")
            page.wait_for_timeout(500)  # let canvases paint after the first layout
            # a picture's toolbar (Bokeh's logo, save, hover) does nothing: hidden, its place kept
            # (Playwright's locator reaches into each plot's shadow root, where page CSS does not)
            page.locator(".bk-Toolbar").evaluate_all("bars => bars.forEach(bar => {"
                                                     "bar.style.visibility = 'hidden'; })")
            target = folder / f"{name}.png"
            _save_trimmed(page.screenshot(full_page=True), target)
            page.close()
            written.append(target)
    return written

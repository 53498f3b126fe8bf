"""The dashboard as a page: served (one model per browser session over data loaded once per
process) or as the offline file's plain layout."""
from __future__ import annotations

import functools
import gc
from pathlib import Path

import panel as pn
import panel.io.resources

from ..analysis.cube import CellSettings
from ..analysis.model import SessionModel, opened_with_cube
from ..analysis.text import escape_markdown
from ..data.sources import data_path, open_data
from ..data.workspace import workspace
from .app import Dashboard
from .style import CSS, TITLE
from .upload import DEFAULT_UPLOAD_MB

ALL_DEVICES = "All devices"

# Panel sends MathJax's 1.8 MB bundle to every page holding an HTML or Markdown pane (its policy since
# holoviz/panel#2919; the switch it offers, ``enable_mathjax``, reaches notebooks and saved files, not
# served pages; holoviz/panel#8176 tracks loading it late). No view typesets mathematics, and text
# from data is never meant as a formula: leaving the bundle out drew the served demo's page in a
# median 2.08 s against 2.25 s (seven pages each, alternated, Chromium on loopback).
panel.io.resources._panel_use_mathjax = lambda roots: False


def cached_sessions(path: Path | None = None, mapping=None, table: tuple[str, str] | None = None):
    """Open a file, or a (connection URL, table name), once per process.

    Every browser session shares the (read-only) sessions and their cube.
    """
    opened = functools.partial(opened_with_cube, open_data, CellSettings(), path, mapping, table)
    return pn.state.as_cached(_key("data", path, mapping, table), opened)


def first_model(path: Path | None = None, mapping=None, table: tuple[str, str] | None = None) -> SessionModel:
    """The model a page of this data starts as, made once per process and never shown: each page's
    own model takes its outputs (about 0.1 s of the server's time a page at a million sessions)."""
    sessions, report = cached_sessions(path, mapping, table)
    return pn.state.as_cached(_key("first model", path, mapping, table),
                              lambda: SessionModel(sessions=sessions, load_report=report.to_dict()))


def _key(what: str, path: Path | None, mapping, table: tuple[str, str] | None) -> str:
    """The process cache's key of ``what`` for this data."""
    return f"leak_app:{what}:{table or Path(path).resolve()}:{mapping}"


def create_app(path: str | Path | None = None, mapping=None, table: tuple[str, str] | None = None,
               max_upload_mb: int = DEFAULT_UPLOAD_MB) -> pn.template.BaseTemplate:
    """A fresh model and template per browser session around data loaded once per process."""
    return _dashboard(path, mapping, table, max_upload_mb).template()


def start_serving(path: Path | None = None, mapping=None, table: tuple[str, str] | None = None) -> None:
    """What a server does before its first page of this data, once a process (later calls return at
    once): draw what every page copies (the map's projected shapes, each plot's figure; see
    :mod:`.drawn_once`: the first page of a new server took 8 s to its first paint where the next
    took 4 s), then leave what the process holds from then to its end (libraries, data, drawn
    figures: 350,000 objects at a million sessions) out of the garbage collector's passes
    (``gc.freeze``). Panel asks for a full pass after each closed page, which walked them all:
    0.2-0.3 s of the event loop a page. Pages' own objects are still collected; the warming page's
    garbage goes first. A server restarted after it was killed removes the uploads its predecessor
    left (see :mod:`leak_app.data.workspace`)."""
    def start() -> None:
        workspace()
        _dashboard(path, mapping, table)
        gc.collect()
        gc.freeze()

    pn.state.as_cached(_key("serving", path or data_path(), mapping, table), start)


def _dashboard(path, mapping, table, max_upload_mb: int = DEFAULT_UPLOAD_MB) -> Dashboard:
    first = first_model(path or data_path(), mapping, table)
    model = SessionModel(sessions=first.sessions, load_report=first.load_report, start_from=first)
    return Dashboard(model=model, max_upload_mb=max_upload_mb)


def serve_page(*args, **kwargs) -> None:
    """A new browser session's page (:func:`create_app`'s arguments) put in its document in one
    step: Bokeh otherwise walks the document's whole model graph again for each of the template's
    twenty roots (about a second of every new page's server time, half of putting it in)."""
    doc = pn.state.curdoc
    app = create_app(*args, **kwargs)  # before the freeze: Bokeh's freeze is not undone by an error (a
    with doc.models.freeze():          # file that cannot load), and the document then knew no new model
        app.server_doc(doc, title=TITLE)


def static_dashboard(model: SessionModel) -> pn.Column:
    """The offline file's layout: the device filter embedded, the other filters as they are.

    Templates cannot embed widget states, so the file gets a plain layout and its own title bar.
    """
    dashboard = Dashboard(model=model, embedded=True)
    devices = list(model.param.devices.objects)
    selector = pn.widgets.RadioButtonGroup(options=[ALL_DEVICES, *devices], value=ALL_DEVICES,
                                           color="primary", variant="outline",
                                           sizing_mode="stretch_width")
    selector.param.watch(
        lambda e: setattr(model, "devices", [] if e.new == ALL_DEVICES else [e.new]), "value"
    )
    start, end = (d.strftime("%Y-%m-%d") for d in model.date_range)
    note = pn.pane.Markdown(
        f"Saved snapshot of **{escape_markdown(Path(model.load_report.get('path', '')).name)}**, "
        f"{start} to {end}. The device filter works in this file; the other filters "
        f"(dates, countries, sources) need the live app: `python -m leak_app serve`.",
        sizing_mode="stretch_width",
    )
    header = pn.pane.HTML(f'<div class="title-bar">{TITLE}</div>', stylesheets=[CSS],
                          sizing_mode="stretch_width")
    # wrapping: on a phone the note goes under the buttons (in a row it was squeezed to no width, a
    # character a line, and pushed the views 2,900 px down)
    controls = pn.FlexBox(pn.pane.Markdown("**Device**", width=70),
                          pn.Column(selector, min_width=280, max_width=420, sizing_mode="stretch_width"),
                          note, flex_wrap="wrap", align_items="center", sizing_mode="stretch_width")
    # A plain column: Bokeh squashes fixed-size plot grids placed beside a sidebar column.
    return pn.Column(header, controls, *dashboard.main(), sizing_mode="stretch_width")

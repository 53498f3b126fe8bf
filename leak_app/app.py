"""The dashboard: one SessionModel, its filters in a sidebar, the views bound to its tables.

The same :class:`Dashboard` is served (inside a template), saved as a static
offline HTML file (with the device filter's states embedded), and displayed in
notebooks (as a plain layout, since templates do not render there).
"""
from __future__ import annotations

import functools
import html
import io
import os
import tempfile
from pathlib import Path

import holoviews as hv
import panel as pn
import param
from bokeh.models import ColorBar, GlyphRenderer

from . import views
from .downloads import to_csv
from .geo import country_shapes
from .model import SessionModel
from .schema import LoadError
from .sources import open_data

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data" / "demo_sessions.parquet"
TITLE = "Silent Leak Detector"
ACCENT = "#3b6ea8"
ALL_DEVICES = "All devices"

CSS = """
.kpis {display: flex; gap: 12px; flex-wrap: wrap;}
.kpi {flex: 1 1 160px; background: #f5f8fc; border-left: 4px solid #3b6ea8; padding: 8px 12px;
      border-radius: 4px;}
.kpi-label {font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .04em;}
.kpi-value {font-size: 26px; font-weight: 600; color: #1d2b3a;}
.kpi-note {font-size: 12px; color: #666;}
.takeaways li, .leaks li {margin-bottom: 6px; line-height: 1.4;}
h4 {margin: 6px 0;}
.load-report table {border-collapse: collapse; font-size: 13px;}
.load-report td {padding: 2px 10px 2px 0; border-bottom: 1px solid #eee;}
.title-bar {background: #3b6ea8; color: white; font-size: 22px; font-weight: 600; padding: 12px 18px;}
"""


def data_path() -> Path:
    """The file served by default: ``LEAK_APP_DATA`` if set, else the bundled demo data."""
    return Path(os.environ.get("LEAK_APP_DATA") or DEFAULT_DATA)


def cached_sessions(path: Path | None = None, mapping=None, table: tuple[str, str] | None = None):
    """Open a file, or a (connection URL, table name), once per process.

    Every browser session shares the (read-only) sessions and their cube.
    """
    key = f"leak_app:{table or Path(path).resolve()}:{mapping}"
    return pn.state.as_cached(key, functools.partial(open_data, path, mapping, table))


def live(view, model: SessionModel, *tables: str, **options) -> hv.DynamicMap:
    """A plot of model tables, redrawn in place when the dashboard finds they changed.

    Its stream does not watch the model: the dashboard redraws every changed plot in one
    batch, so the page's model graph is walked once per filter change, not once per plot.
    """
    stream = hv.streams.Params(model, list(tables), watch=False)
    return hv.DynamicMap(lambda **values: view(*(values[t] for t in tables), **options), streams=[stream])


#: The dashboard's texts: pane attribute -> (view, the model outputs it shows).
TEXTS = {
    "kpis": (views.kpi_cards_html, ("kpis",)),
    "takeaways": (views.takeaways_html, ("takeaways",)),
    "leaks_list": (views.leaks_html, ("leaks_table", "silent_leaks_table")),
    "load_report": (views.load_report_html, ("load_report",)),
}


class Dashboard(pn.viewable.Viewer):
    """Every view of one SessionModel, laid out for a page, a template or a notebook."""

    model = param.ClassSelector(class_=SessionModel)

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        for name in TEXTS:
            setattr(self, name, pn.pane.HTML(self._text(name), stylesheets=[CSS], sizing_mode="stretch_width"))
        self.leaks_list.min_width = 400
        self.map = pn.pane.Bokeh(hv.render(views.country_choropleth(m.country_table, country_shapes())),
                                 sizing_mode="stretch_width")
        # Plots are DynamicMaps: a filter change updates their data in place instead of
        # drawing new figures (less than half the work on the server, far less in the browser).
        self.funnel = pn.Row(*self._funnel_panels())
        self.duration_rates = pn.pane.HoloViews(self._duration_rates())
        # Not linked: its duration axis is nested by device, the rates' is not.
        self.duration_volume = pn.pane.HoloViews(live(views.duration_volume, m, "duration_table"),
                                                 linked_axes=False)
        # Not linked: both charts list segments on a "label" axis, but different ones.
        self.silent_chart = pn.pane.HoloViews(live(views.leaks_chart, m, "silent_leaks_table", silent=True),
                                              linked_axes=False)
        self.leaks_chart = pn.pane.HoloViews(live(views.leaks_chart, m, "leaks_table"), linked_axes=False)
        self.heatmap = pn.pane.HoloViews(live(views.source_device_heatmap, m, "source_device_table"),
                                         sizing_mode="stretch_width")
        shown = ["country_table", *(t for plot in self._plots() for t in _tables(plot)),
                 *(output for _, outputs in TEXTS.values() for output in outputs)]
        self._stale = set()  # outputs whose plots wait for the next redraw
        m.param.watch(self._refresh, list(dict.fromkeys(shown)))
        m.param.watch(self._restructure, ["sessions", "top_sources"])

    def _funnel_panels(self) -> list:
        m = self.model
        return [pn.pane.HoloViews(live(views.funnel_panel, m, "funnel_table", device=device))
                for device in m.param.devices.objects]

    def _duration_rates(self) -> hv.DynamicMap:
        return live(views.duration_rates, self.model, "duration_table", devices=self.model.param.devices.objects)

    def _restructure(self, event) -> None:
        """New data (other devices) or another number of top sources: plots of another shape."""
        if event.name == "sessions":
            self.funnel.objects = self._funnel_panels()
            self.duration_rates.object = self._duration_rates()
        self.heatmap.object = live(views.source_device_heatmap, self.model, "source_device_table")

    def _plots(self) -> list[hv.DynamicMap]:
        panes = [*self.funnel, self.duration_rates, self.duration_volume, self.silent_chart, self.leaks_chart,
                 self.heatmap]
        return [pane.object for pane in panes]

    def _text(self, name: str) -> str:
        view, outputs = TEXTS[name]
        return view(*(getattr(self.model, output) for output in outputs))

    def _refresh(self, *events) -> None:
        """Show what the changed outputs hold: texts and the map's colours at once, then the plots.

        Served, the plots follow on the next tick, so the texts reach the page without
        waiting for them. Each batch is frozen: every text or plot update otherwise walks
        the page's whole model graph (a tenth of a second on this page) when it ends.
        """
        changed = {event.name for event in events}
        with pn.io.hold(freeze=True):
            for name, (_, outputs) in TEXTS.items():
                if changed & set(outputs):
                    getattr(self, name).object = self._text(name)
            if "country_table" in changed:
                self._recolor_map(self.model.country_table)
        waiting, self._stale = self._stale, self._stale | changed
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self._redraw()
        elif not waiting:
            doc.add_next_tick_callback(functools.partial(self._redraw, doc))

    def _redraw(self, doc=None) -> None:
        """Update, in place, the plots of the outputs changed since the last redraw."""
        changed, self._stale = self._stale, set()
        with pn.io.hold(doc, freeze=True):
            for plot in self._plots():
                if changed & set(_tables(plot)):
                    hv.streams.Stream.trigger(plot.streams)

    def _recolor_map(self, countries) -> None:
        """New rates on the drawn map: only the values are sent, the country shapes stay.

        Re-rendering the map reprojects every shape (about a second); the colours and
        tooltips are all that a filter changes.
        """
        values = views.choropleth_values(countries, country_shapes())
        figure = self.map.object
        renderer = figure.select_one(GlyphRenderer)
        columns = {name: values[name].to_numpy() for name in views.MAP_VALUES}
        columns["color"] = columns["rate_shown"]
        rates = values["rate_shown"].dropna()
        mapper = figure.select_one(ColorBar).color_mapper
        with pn.io.hold():
            renderer.data_source.data.update(columns)  # these columns only: not the shapes
            if len(rates):
                mapper.update(low=float(rates.min()), high=float(rates.max()))

    def main(self, embed_downloads: bool = False) -> list:
        card = {"collapsible": False, "sizing_mode": "stretch_width", "header_background": "#f0f3f7"}
        return [
            self.kpis,
            pn.Card(self.takeaways, title="Business takeaways", **card),
            pn.Card(pn.Row(pn.Column(self.silent_chart, self.leaks_chart), self.leaks_list,
                           sizing_mode="stretch_width"),
                    title="Leaks, ranked by the conversions they lose", **card),
            pn.Card(self.map, title="Where visitors convert", **card),
            pn.Card(self.funnel, title="Where the funnel leaks, by device: reached (blue) and lost at each "
                    "step (red = largest leak)", **card),
            pn.Row(pn.Card(self.duration_rates, self.duration_volume, title="Session duration vs conversion",
                           **card),
                   pn.Card(self.heatmap, title="Traffic sources × device", **card),
                   sizing_mode="stretch_width"),
            pn.Card(self.downloads(embed_downloads), self.load_report, title="Data and downloads", **card),
        ]

    def downloads(self, embed: bool) -> pn.FlexBox:
        """A CSV download per derived table (embedded in a static file, live when served)."""
        def button(name):
            return pn.widgets.FileDownload(
                callback=lambda: io.StringIO(to_csv(self.model.download_tables()[name])),
                filename=f"{name}.csv", embed=embed, color="light", label=f"{name}.csv",
            )
        return pn.FlexBox(*(button(name) for name in self.model.download_tables()))

    @functools.cached_property
    def filters(self) -> list:
        """The sidebar's widgets, made once: each links itself to the model."""
        m = self.model
        return [
            pn.widgets.DateRangeSlider.from_param(m.param.date_range, step=1, sizing_mode="stretch_width"),
            pn.pane.Markdown("**Devices** (none selected = all)", margin=(10, 10, 0, 10)),
            pn.widgets.CheckButtonGroup.from_param(m.param.devices, name="", color="primary",
                                                   variant="outline", sizing_mode="stretch_width"),
            escaped_multichoice(m, "countries", "All countries"),
            escaped_multichoice(m, "sources", "All sources"),
            pn.Card(
                pn.widgets.IntInput.from_param(m.param.min_sessions, step=10),
                pn.widgets.IntSlider.from_param(m.param.top_sources),
                pn.widgets.IntInput.from_param(m.param.engaged_pageviews),
                pn.widgets.IntInput.from_param(m.param.deep_pageviews),
                pn.widgets.FloatInput.from_param(m.param.fdr, step=0.01),
                pn.widgets.RadioButtonGroup.from_param(m.param.funnel, color="primary", variant="outline"),
                title="Settings", collapsed=True, sizing_mode="stretch_width",
            ),
            Upload(model=m),
        ]

    def __panel__(self):
        return pn.Row(pn.Column(*self.filters, width=320),
                      pn.Column(*self.main(), sizing_mode="stretch_width"), sizing_mode="stretch_width")

    def template(self, sidebar: list | None = None, embed_downloads: bool = False) -> pn.template.BaseTemplate:
        # Bootstrap, not Fast: the Fast design always links Google Fonts, and the app
        # must not reach the internet.
        return pn.template.BootstrapTemplate(
            title=TITLE, sidebar=sidebar if sidebar is not None else self.filters,
            main=self.main(embed_downloads), header_background=ACCENT, sidebar_width=330,
        )


def _tables(plot: hv.DynamicMap) -> list[str]:
    """The model tables a :func:`live` plot shows."""
    return [parameter.name for parameter in plot.streams[0].parameters]


def escaped_multichoice(model: SessionModel, name: str, placeholder: str) -> pn.widgets.MultiChoice:
    """A MultiChoice bound to one of the model's list filters, its option labels escaped.

    Bokeh's MultiChoice renders option labels as HTML (Choices.js with allowHTML),
    and country and source names come from visitors' browsers: a source named
    ``<img src=x onerror=...>`` would run. Labels are escaped; values stay the names.
    """
    parameter = model.param[name]

    def options(names):
        return {html.escape(str(n)): n for n in names}

    widget = pn.widgets.MultiChoice(label=parameter.label, options=options(parameter.objects),
                                    value=list(getattr(model, name)), placeholder=placeholder,
                                    description=parameter.doc.strip(), sizing_mode="stretch_width")
    model.param.watch(lambda event: widget.param.update(options=options(event.new)), name, what="objects")
    widget.link(model, value=name, bidirectional=True)
    return widget


class Upload(pn.viewable.Viewer):
    """Load another session file into the model; a bad file leaves the current data in place."""

    model = param.ClassSelector(class_=SessionModel)

    def __init__(self, **params):
        super().__init__(**params)
        self.input = pn.widgets.FileInput(accept=".csv,.json,.ndjson,.jsonl,.gz,.parquet",
                                          sizing_mode="stretch_width")
        self.status = pn.pane.Alert("", alert_type="light", visible=False, sizing_mode="stretch_width")
        self.input.param.watch(self._load, "value")
        # The shown upload's folder: a large file is scanned from disk, again whenever a
        # setting rebuilds the cube, so it stays until another upload replaces it.
        self._folder = None

    def _load(self, event) -> None:
        if not event.new:
            return
        name = self.input.filename or "upload"
        folder = tempfile.TemporaryDirectory(prefix="leak_app_upload_")
        path = Path(folder.name) / Path(name).name
        path.write_bytes(event.new)
        try:
            self.model.load(path, name=name)
        except LoadError as exc:
            folder.cleanup()
            self._say(f"Could not load it; the current data stays. {exc}", "danger")
            return
        if self._folder is not None:
            self._folder.cleanup()
        self._folder = folder
        report = self.model.load_report
        self._say(f"Loaded {report['rows_kept']:,} sessions from {name}.", "success")

    def _say(self, text: str, kind: str) -> None:
        self.status.param.update(object=_escape_markdown(text), alert_type=kind, visible=True)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("**Load another file** (CSV, JSON, Parquet; gzipped or not)"),
                         self.input, self.status, sizing_mode="stretch_width")


def _escape_markdown(text: str) -> str:
    """File names and messages are shown literally, never as HTML or Markdown."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|<>" else c for c in html.escape(text))


def create_app(path: str | Path | None = None, mapping=None, table: tuple[str, str] | None = None
               ) -> pn.template.BaseTemplate:
    """A fresh model and template per browser session around data loaded once per process."""
    sessions, report = cached_sessions(path or data_path(), mapping, table)
    model = SessionModel(sessions=sessions, load_report=report.to_dict())
    return Dashboard(model=model).template()


def static_dashboard(model: SessionModel) -> pn.Column:
    """The offline file's layout: the device filter embedded, the other filters as they are.

    Templates cannot embed widget states, so the file gets a plain layout and its own title bar.
    """
    dashboard = Dashboard(model=model)
    devices = list(model.param.devices.objects)
    selector = pn.widgets.RadioButtonGroup(options=[ALL_DEVICES, *devices], value=ALL_DEVICES,
                                           color="primary", variant="outline",
                                           sizing_mode="stretch_width")
    selector.param.watch(
        lambda e: setattr(model, "devices", [] if e.new == ALL_DEVICES else [e.new]), "value"
    )
    start, end = (d.strftime("%Y-%m-%d") for d in model.date_range)
    note = pn.pane.Markdown(
        f"Saved snapshot of **{_escape_markdown(Path(model.load_report.get('path', '')).name)}**, "
        f"{start} to {end}. The device filter works in this file; the other filters "
        f"(dates, countries, sources) need the live app: `python -m leak_app serve`.",
        sizing_mode="stretch_width",
    )
    header = pn.pane.HTML(f'<div class="title-bar">{TITLE}</div>', stylesheets=[CSS],
                          sizing_mode="stretch_width")
    controls = pn.Row(pn.pane.Markdown("**Device**", width=70), pn.Column(selector, width=420), note,
                      sizing_mode="stretch_width")
    # A plain column: Bokeh squashes fixed-size plot grids placed beside a sidebar column.
    return pn.Column(header, controls, *dashboard.main(embed_downloads=True), sizing_mode="stretch_width")

"""The dashboard: one SessionModel, its filters in a sidebar, the views bound to its tables.

The same :class:`Dashboard` is served (inside a template), saved as a static
offline HTML file (with the device filter's states embedded), and displayed in
notebooks (as a plain layout, since templates do not render there): :mod:`.page` makes the
first two.
"""
from __future__ import annotations

import functools
import html
import io
from collections.abc import Callable

import panel as pn
import param
from bokeh.models import ColorBar
from panel.models.markup import HTML as HTMLModel

from ..analysis.model import SessionModel
from ..publish.downloads import download_tables, to_csv
from . import views
from .actions import Progress
from .drawn_once import keep, world_map
from .geo import country_shapes
from .live_plot import LivePlot, drawing, send_changed
from .period_controls import PeriodControls
from .settings_controls import CellSettingsControls
from .upload import DEFAULT_UPLOAD_MB, Upload
from .widgets import InstantCheckButtonGroup, escaped_multichoice

TITLE = "Silent Leak Detector"
ACCENT = "#3b6ea8"

CSS = """
.kpis {display: flex; gap: 12px; flex-wrap: wrap;}
.kpi {flex: 1 1 160px; background: #f5f8fc; border-left: 4px solid #3b6ea8; padding: 8px 12px;
      border-radius: 4px;}
.kpi-label {font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .04em;}
.kpi-value {font-size: 26px; font-weight: 600; color: #1d2b3a;}
.kpi-note {font-size: 12px; color: #666;}
.takeaways li, .leaks li {margin-bottom: 6px; line-height: 1.4;}
h4 {margin: 6px 0;}
.leaks ul.children {margin-top: 4px; padding-left: 18px; list-style: circle;}
.warning {background: #fff6e0; border-left: 4px solid #d9a400; padding: 4px 8px; margin: 4px 0;
          font-size: 13px;}
.note {font-size: 12px; color: #666;}
.waterfall {width: 100%; border-collapse: collapse; font-size: 12px;}
.waterfall td {padding: 1px 4px;}
.wf-label {white-space: nowrap; max-width: 200px; overflow: hidden; text-overflow: ellipsis;}
.wf-track {position: relative; width: 60%; height: 14px;}
.wf-bar {position: absolute; top: 2px; bottom: 2px; border-radius: 2px;}
.wf-value {white-space: nowrap; text-align: right; color: #333;}
.load-report table {border-collapse: collapse; font-size: 13px;}
.load-report td {padding: 2px 10px 2px 0; border-bottom: 1px solid #eee;}
.title-bar {background: #3b6ea8; color: white; font-size: 22px; font-weight: 600; padding: 12px 18px;}
"""


def _funnel_of(device: str) -> Callable:
    """The options of a device's funnel panel."""
    return lambda model: {"device": device}


#: The dashboard's texts: pane attribute -> (view, the model outputs it shows).
TEXTS = {
    "kpis": (views.kpi_cards_html, ("kpis",)),
    "takeaways": (views.takeaways_html, ("takeaways",)),
    "leaks_list": (views.leaks_html, ("leaks_table", "silent_leaks_table", "silent_warnings", "rate_change")),
    "load_report": (views.load_report_html, ("load_report",)),
    "funnel_needs": (views.funnel_needs_html, ("load_report", "funnel")),
    "duration_needs": (views.duration_needs_html, ("load_report",)),
}


class Dashboard(pn.viewable.Viewer):
    """Every view of one SessionModel, laid out for a page, a template or a notebook."""

    model = param.ClassSelector(class_=SessionModel)
    max_upload_mb = param.Integer(default=DEFAULT_UPLOAD_MB, bounds=(1, None), doc="Largest upload, in MB.")
    embedded = param.Boolean(default=False, constant=True, doc="""
        Show every change whole, for a file's embedded states: each is recorded as what changed
        since the state visited before it, and a reader may come to it from any other, so each
        must hold all it shows, drawn on figures of its own.""")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        # Texts are Panel HTML models whose text is replaced: a Panel HTML pane sends its
        # stylesheets again with each text, which makes the page walk its whole model graph,
        # and a Bokeh Div lays out the whole page again on each text, where this one does not.
        # The style is on the model, for plain layouts (the exported file, notebooks), and on the
        # pane, whose stylesheets a template's design puts in place of the model's.
        self._texts = {name: HTMLModel(text=self._text(name), sizing_mode="stretch_width", stylesheets=[CSS],
                                       disable_math=True, run_scripts=False) for name in TEXTS}
        self._texts["leaks_list"].min_width = 400
        for name, text in self._texts.items():
            setattr(self, name, pn.pane.Bokeh(text, stylesheets=[CSS], sizing_mode="stretch_width"))
        figure, source = world_map(m.country_table)
        self.map = pn.pane.Bokeh(figure, sizing_mode="stretch_width")
        # What a filter change recolours (found once: finding walks the figure).
        self._map_parts = (source, figure.select_one(ColorBar).color_mapper)
        self._recolor_map(m.country_table)  # a copy of the map as first drawn: this page's rates
        self.funnel = pn.Row()
        self.duration_rates = self._live(views.duration_rates, views.duration_rates_data, "duration_table",
                                         options=lambda model: {"devices": model.param.devices.objects})
        self.duration_volume = self._live(views.duration_volume, views.duration_volume_data, "duration_table")
        self.silent_chart = self._live(views.leaks_chart, views.leaks_chart_data, "silent_leaks_table",
                                       options=lambda model: {"silent": True})
        self.leaks_chart = self._live(views.leaks_chart, views.leaks_chart_data, "leaks_table")
        self.heatmap = self._live(views.source_device_heatmap, views.source_device_heatmap_data,
                                  "source_device_table", sizing_mode="stretch_width")
        self.periods = PeriodControls(model=m)
        self.progress = Progress()  # what the page works on off the event loop (uploads, cell settings)
        self._plots = [self.duration_rates, self.duration_volume, self.silent_chart, self.leaks_chart,
                       self.heatmap]
        self._draw_funnels()
        shown = ["cube", "top_sources", "country_table", *(t for plot in self._plots for t in plot.tables),
                 "funnel_table", *(output for _, outputs in TEXTS.values() for output in outputs)]
        self._shown = {name: getattr(m, name) for name in dict.fromkeys(shown)}  # what the page shows
        self._show_drawable()
        m.param.watch(self._refresh, "updated")

    def _live(self, view, data, table: str, options=lambda model: {}, **pane) -> LivePlot:
        return LivePlot(self.model, view, data, [table], options, **pane)

    def _draw_funnels(self) -> None:
        """A funnel panel per device of the data."""
        self._funnels = [self._live(views.funnel_panel, views.funnel_panel_data, "funnel_table",
                                    options=_funnel_of(device))
                         for device in self.model.param.devices.objects]
        self.funnel.objects = [plot.pane for plot in self._funnels]

    def predraw(self, model: SessionModel) -> None:
        """Draw the plots of ``model``, which this page is about to show (an upload's sessions, new cell
        settings), on the caller's thread (the worker): the event loop then only copies them (see
        :mod:`leak_app.ui.drawn_once`)."""
        for plot in self._plots:
            plot.predraw(model)
        for device in model.param.devices.objects:
            keep(*drawing(views.funnel_panel, ["funnel_table"], _funnel_of(device), model))

    def _text(self, name: str) -> str:
        """A text's HTML, escaped once more: the model shows its text unescaped."""
        view, outputs = TEXTS[name]
        return html.escape(view(*(getattr(self.model, output) for output in outputs)))

    def _refresh(self, *events) -> None:
        """Show what the model's change replaced, in one message.

        Texts, the map's colours and the plots are updated in place (new text and
        columns, no new model), unless the cube changed (new data or settings): then the
        plots may have other devices, stages or buckets and are drawn anew, and everything
        is sent (the heatmap alone, for another number of sources). An embedded dashboard
        shows every change that way (see ``embedded``).
        """
        m = self.model
        changed = {name for name, shown in self._shown.items() if getattr(m, name) is not shown}
        self._shown = {name: getattr(m, name) for name in self._shown}
        if not changed:
            return
        anew = self.embedded or "cube" in changed
        redrawn = [self.heatmap] if "top_sources" in changed else []  # another number of rows
        with pn.io.hold(freeze=anew or bool(redrawn)):  # new figures: one walk of the model graph
            for name, (_, outputs) in TEXTS.items():
                if anew or changed & set(outputs):
                    self._texts[name].text = self._text(name)
            if anew or "country_table" in changed:
                self._recolor_map(self.model.country_table, every_column=anew)
            if anew:
                self._draw_funnels()
                for plot in self._plots:
                    plot.draw()
                self._show_drawable()
                return
            for plot in redrawn:
                plot.draw()
            for plot in [*self._funnels, *self._plots]:
                if plot not in redrawn and changed & set(plot.tables):
                    plot.update()

    def _show_drawable(self) -> None:
        """Hide the views whose data has no column of what they are drawn from (their text says
        so: ``funnel_needs``, ``duration_needs``), rather than draw every session at 0."""
        self.funnel.visible = not self._texts["funnel_needs"].text
        for plot in (self.duration_rates, self.duration_volume):
            plot.pane.visible = not self._texts["duration_needs"].text

    def _recolor_map(self, countries, every_column: bool = False) -> None:
        """New rates on the drawn map: only the values are sent, the country shapes stay.

        Re-rendering the map reprojects every shape (about a second); the colours and
        tooltips are all that a filter changes. Only the columns that changed are sent,
        unless ``every_column``.
        """
        values = views.choropleth_values(countries, country_shapes())
        source, mapper = self._map_parts
        columns = {name: values[name].to_numpy() for name in views.MAP_VALUES}
        columns["color"] = columns["rate_shown"]
        rates = values["rate_shown"].dropna()
        with pn.io.hold():
            if every_column:
                source.data.update(columns)
            else:
                send_changed(source, columns)  # these columns only: not the shapes
            if len(rates):
                mapper.update(low=float(rates.min()), high=float(rates.max()))

    def main(self, embed_downloads: bool = False) -> list:
        card = {"collapsible": False, "sizing_mode": "stretch_width", "header_background": "#f0f3f7"}
        return [
            self.kpis,
            pn.Card(self.takeaways, title="Business takeaways", **card),
            pn.Card(self.periods.command_row() if embed_downloads else self.periods,
                    pn.Row(pn.Column(self.silent_chart, self.leaks_chart), self.leaks_list,
                           sizing_mode="stretch_width"),
                    title="Leaks, ranked by the conversions they lose", **card),
            pn.Card(self.map, title="Where visitors convert", **card),
            pn.Card(self.funnel_needs, self.funnel, title="Where the funnel leaks, by device: reached (blue) "
                    "and lost at each step (red = largest leak)", **card),
            pn.Row(pn.Card(self.duration_needs, self.duration_rates, self.duration_volume,
                           title="Session duration vs conversion", **card),
                   pn.Card(self.heatmap, title="Traffic sources × device", **card),
                   sizing_mode="stretch_width"),
            pn.Card(self.downloads(embed_downloads), self.load_report, title="Data and downloads", **card),
        ]

    def downloads(self, embed: bool) -> pn.FlexBox:
        """A CSV download per derived table (embedded in a static file, live when served)."""
        def button(name):
            return pn.widgets.FileDownload(
                callback=lambda: io.StringIO(to_csv(download_tables(self.model)[name]())),
                filename=f"{name}.csv", embed=embed, color="light", label=f"{name}.csv",
            )
        return pn.FlexBox(*(button(name) for name in download_tables(self.model)))

    @functools.cached_property
    def filters(self) -> list:
        """The sidebar's widgets, made once: each links itself to the model."""
        m = self.model
        return [
            pn.widgets.DateRangeSlider.from_param(m.param.date_range, step=1, sizing_mode="stretch_width"),
            pn.pane.Markdown("**Devices** (none selected = all)", margin=(10, 10, 0, 10)),
            InstantCheckButtonGroup.from_param(m.param.devices, name="", color="primary",
                                               variant="outline", sizing_mode="stretch_width"),
            escaped_multichoice(m, "countries", "All countries"),
            escaped_multichoice(m, "sources", "All sources"),
            escaped_multichoice(m, "channels", "All channels"),
            pn.Card(
                pn.widgets.IntInput.from_param(m.param.min_sessions, step=10),
                pn.widgets.IntSlider.from_param(m.param.top_sources),
                *CellSettingsControls(model=m, progress=self.progress, predraw=self.predraw).widgets(),
                pn.widgets.FloatInput.from_param(m.param.level, step=0.005),
                pn.widgets.FloatInput.from_param(m.param.fdr, step=0.01),
                title="Settings", collapsed=True, sizing_mode="stretch_width",
            ),
            Upload(model=m, max_mb=self.max_upload_mb, progress=self.progress, predraw=self.predraw),
        ]

    def __panel__(self):
        return pn.Row(pn.Column(self.progress, *self.filters, width=320),
                      pn.Column(*self.main(), sizing_mode="stretch_width"), sizing_mode="stretch_width")

    def template(self, sidebar: list | None = None,
                 embed_downloads: bool = False) -> pn.template.BaseTemplate:
        # Bootstrap, not Fast: the Fast design always links Google Fonts, and the app
        # must not reach the internet.
        return pn.template.BootstrapTemplate(
            title=TITLE, sidebar=sidebar if sidebar is not None else self.filters,
            main=self.main(embed_downloads), header=[self.progress], header_background=ACCENT,
            sidebar_width=330,
        )



"""The least a page like the dashboard costs with Panel and Bokeh on this machine: the baseline
``new_page.py`` measures the dashboard against.

The same template and sidebar width, a KPI card as new_page.py waits for, and as many
Bokeh figures as the dashboard draws (``--args N``), each a line of ten points with no tools and no
toolbar. No data, no model, no widget: what any Panel page of that many plots costs to build, send
and paint.
"""
import sys

import numpy as np
import panel as pn
from bokeh.plotting import figure

PLOTS = int(sys.argv[1]) if len(sys.argv) > 1 else 7


def plot():
    drawn = figure(height=300, sizing_mode="stretch_width", tools="", toolbar_location=None)
    drawn.line(np.arange(10), np.arange(10))
    return pn.pane.Bokeh(drawn, sizing_mode="stretch_width")


card = pn.pane.HTML('<div data-kpi="Sessions"><span class="kpi-value">1</span></div>')
pn.template.BootstrapTemplate(title="floor", sidebar_width=330,
                              main=[card, *(plot() for _ in range(PLOTS))]).servable()

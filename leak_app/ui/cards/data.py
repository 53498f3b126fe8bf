"""The data and downloads: a CSV per derived table, and how the data was loaded (the load report)."""
from __future__ import annotations

import io

import panel as pn

from ...publish.downloads import download_tables, to_csv
from .. import texts
from .base import TextView


class Data(TextView):
    shows = ("load_report",)
    text = texts.load_report_html

    def downloads(self) -> pn.FlexBox:
        """A CSV download per derived table (embedded in a saved file, computed on a click when served)."""
        def button(name):
            return pn.widgets.FileDownload(
                callback=lambda: io.StringIO(to_csv(download_tables(self.model)[name]())),
                filename=f"{name}.csv", embed=self.embedded, color="light", label=f"{name}.csv",
            )
        return pn.FlexBox(*(button(name) for name in download_tables(self.model)))

    def parts(self) -> list:
        return [self.downloads(), self._text.pane]

"""The sidebar's upload: another session file loaded off the event loop; a bad one leaves the data."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import panel as pn
import param

from ..analysis.model import SessionModel
from ..analysis.text import counted, escape_markdown
from ..data.file_sets import plain_suffix
from ..data.schema import LoadError
from ..data.workspace import workspace
from .actions import Progress, failure_reason, in_page
from .file_input import ChunkedFileInput
from .style import WORDS_WRAPPED

#: Files the upload offers to pick (a file of any other suffix is read all the same, by its content:
#: tab-delimited text is often .tsv, and Excel saves "Unicode Text", UTF-16, as .txt; workbooks are
#: Excel's and OpenDocument's); the largest it takes by default (``serve --max-upload-mb``), and the
#: size of each websocket message it is sent in.
ACCEPTED = (".csv", ".tsv", ".txt", ".json", ".ndjson", ".jsonl", ".gz", ".parquet", ".avro", ".zip",
            ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
DEFAULT_UPLOAD_MB, UPLOAD_CHUNK = 200, 4_000_000
#: A .zip upload may unpack to this many times the largest upload (an export's daily files: text,
#: which zip shrinks ten times).
UNZIPPED_PER_UPLOAD = 20
LOG = logging.getLogger(__name__)


class Upload(pn.viewable.Viewer):
    """Load another session file into the model; a bad file leaves the current data in place.

    The file comes in chunks (one websocket message each, never the whole file; see
    :mod:`.file_input`); one over ``max_mb`` is refused in the browser before any byte is sent.
    The file is read and its cube built on the worker thread (see :mod:`leak_app.ui.actions`): the
    page, and every other page of the server, keep answering on the data they show.
    """

    model = param.ClassSelector(class_=SessionModel)
    max_mb = param.Integer(default=DEFAULT_UPLOAD_MB, bounds=(1, None), doc="Largest file accepted, in MB.")
    progress = param.ClassSelector(class_=Progress, doc="Where the page shows what it is working on.")
    predraw = param.Callable(default=None, doc="""
        Called with a model of the loaded sessions (:meth:`SessionModel.like`) on the worker thread:
        the page draws there what it will show (Dashboard.predraw), so that the event loop only
        copies the figures.""")

    def __init__(self, **params):
        super().__init__(**params)
        self.progress = self.progress or Progress()
        self.input = ChunkedFileInput(accept=",".join(ACCEPTED), max_bytes=self.param.max_mb.rx() * 2**20,
                                      chunk_size=UPLOAD_CHUNK, on_file=self.receive,
                                      on_refused=lambda name, reason: self._refuse(f"{name}: {reason}"),
                                      sizing_mode="stretch_width")
        self.status = pn.pane.Alert("", alert_type="light", visible=False, sizing_mode="stretch_width",
                                    styles=WORDS_WRAPPED)
        # The shown upload's folder: a large file is scanned from disk, again whenever a
        # setting rebuilds the cube, so it stays until another upload replaces it.
        self._folder = None

    async def receive(self, name: str, content: bytes) -> None:
        """Load an uploaded file's bytes (at most ``max_mb``: see :mod:`.file_input`); ``name`` (the
        browser's) is only shown."""
        if not content:
            self._refuse(str(LoadError.empty(name)))
            return
        folder = tempfile.TemporaryDirectory(prefix="upload_", dir=workspace())
        self._say(f"Loading {name}; the page shows the current data until it is ready.", "secondary")
        try:
            sessions, report = await self.progress.run(f"Loading {name}", self._opened, folder, name, content)
        except Exception as exc:  # noqa: BLE001 - any failure of the user's action: said, data kept
            self._failed(name, exc, folder)
            return
        in_page(lambda: self._show(name, sessions, report, folder))

    def _opened(self, folder: tempfile.TemporaryDirectory, name: str, content: bytes):
        """The upload's sessions and report, its cube built (on the worker thread)."""
        # The browser's file name is a label, never a path: "..", or 300 bytes (legal on macOS), would
        # break or escape the folder. Its last suffixes (".csv.gz") are kept where they are plain.
        path = Path(folder.name) / f"upload{plain_suffix(name)}"
        path.write_bytes(content)
        sessions, report = self.model.opened(path, name=name,
                                             unzip_limit=UNZIPPED_PER_UPLOAD * self.max_mb * 2**20,
                                             load_limit=self.max_mb * 2**20)
        if self.predraw is not None:
            self.predraw(self.model.like(sessions, report))
        return sessions, report

    def _show(self, name: str, sessions, report: dict, folder: tempfile.TemporaryDirectory) -> None:
        """Put the loaded sessions in the page (on the event loop, under the page's lock)."""
        try:
            self.model.adopt(sessions, report)
        except Exception as exc:  # noqa: BLE001 - as in receive
            self._failed(name, exc, folder)
            return
        if self._folder is not None:
            self._folder.cleanup()
        self._folder = folder
        self._say(f"Loaded {counted(report['sessions'], 'session')} from {name}.", "success")

    def _failed(self, name: str, exc: Exception, folder: tempfile.TemporaryDirectory) -> None:
        folder.cleanup()
        if not isinstance(exc, LoadError):
            LOG.exception("loading the upload %r failed", name, exc_info=exc)
        reason = failure_reason(exc)
        self._refuse(reason if isinstance(exc, LoadError) else f"{name}: {reason}")

    def _refuse(self, reason: str) -> None:
        self._say(f"Could not load it; the current data stays. {reason}", "danger")

    def _say(self, text: str, kind: str) -> None:
        self.status.param.update(object=escape_markdown(text), alert_type=kind, visible=True)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown(f"**Load another file** (CSV or tab-delimited text, UTF-8 or "
                                          f"UTF-16; JSON, Parquet, Avro; gzipped or not; an Excel or "
                                          f"OpenDocument workbook's sheet; "
                                          f"up to {self.max_mb:,} MB; several files of one export as a "
                                          f".zip)"),
                         self.input, self.status, sizing_mode="stretch_width")

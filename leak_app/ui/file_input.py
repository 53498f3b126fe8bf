"""A file picker and drop zone that sends the file to the server in chunks, one at a time.

Panel's FileDropper draws with FilePond, whose script repaints every animation frame for as long
as it is loaded (pqina/filepond#243, fixed in FilePond 5; Panel 1.9 ships 4): each open page of the
dashboard cost 5-10% of a core, idle, for an upload few of its visitors make. This input has no loop:
it reads the chosen file in slices and sends each as binary in a message of its own, the next once
the server has answered the last (so the server's other pages keep their turn, and the page shows
how much has arrived). A file over the limit is refused in the browser, before any byte is sent,
and again by the server on the bytes it receives (a client may say anything).

A ReactiveHTML, not a JSComponent: Panel 1.9's ESM components do not render with Bokeh 3.8 ("this.
children_views is not a function": the view API they call came with Bokeh 3.9, bokeh/bokeh#14697).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ClassVar

import param
from panel.io.state import state
from panel.reactive import ReactiveHTML

LOG = logging.getLogger(__name__)


class ChunkedFileInput(ReactiveHTML):
    """Calls ``on_file(name, content)`` with each file received whole, and ``on_refused(name,
    reason)`` with each it refuses (over ``max_bytes``, or sent out of order)."""

    accept = param.String(default="", doc="File name suffixes offered in the picker, comma-separated.")
    max_bytes = param.Integer(default=2**20, bounds=(1, None), doc="Largest file taken, in bytes.")
    chunk_size = param.Integer(default=4_000_000, bounds=(1, None), doc="Bytes sent in each message.")
    label = param.String(default="Drop a file here or click to choose one")
    chunk = param.Bytes(default=b"", doc="The browser's: a chunk's bytes.")
    meta = param.Dict(default={}, doc="The browser's, after a chunk: id, name, size, chunk, chunks.")
    answer = param.Dict(default={}, doc="The server's: whether it took the chunk (id, chunk, ok).")

    _template = (
        '<label id="zone" class="zone" ondragover="${script(\'over\')}" ondragleave="${script(\'leave\')}" '
        'ondrop="${script(\'dropped\')}"><input id="file" type="file" accept="${accept}" '
        'onchange="${script(\'picked\')}"></input><span id="text"></span></label>')

    _scripts: ClassVar[dict] = {
        "render": """
          state.id = 0
          text.textContent = data.label
          state.next = (file, id, chunk) => {
            const chunks = Math.max(1, Math.ceil(file.size / data.chunk_size))
            const start = chunk * data.chunk_size
            file.slice(start, Math.min(start + data.chunk_size, file.size)).arrayBuffer().then((bytes) => {
              if (id !== state.id) return
              state.file = file
              data.chunk = bytes  // then what it is: new every time (the server takes the chunk then)
              data.meta = {id: id, name: file.name, size: file.size, chunk: chunk, chunks: chunks}
            })
          }
          state.send = (file) => {
            state.id += 1
            if (file.size > data.max_bytes) {  // only its name and size: the server says why
              data.chunk = new ArrayBuffer(0)
              data.meta = {id: state.id, name: file.name, size: file.size, chunk: 0, chunks: 0}
              return
            }
            zone.classList.add("busy")
            state.next(file, state.id, 0)
          }""",
        "answer": """
          const answer = data.answer, meta = data.meta
          if (answer.id !== state.id || answer.chunk !== meta.chunk) return
          const done = !answer.ok || answer.chunk + 1 >= meta.chunks
          text.textContent = done ? data.label :
            "Sending " + meta.name + ": " + Math.floor(100 * (answer.chunk + 1) / meta.chunks) + "%"
          if (done) zone.classList.remove("busy")
          else state.next(state.file, answer.id, answer.chunk + 1)""",
        "picked": """
          if (file.files.length) state.send(file.files[0])
          file.value = null""",
        "over": "event.preventDefault(); zone.classList.add('over')",
        "leave": "zone.classList.remove('over')",
        "dropped": """
          event.preventDefault()
          zone.classList.remove("over")
          if (event.dataTransfer.files.length) state.send(event.dataTransfer.files[0])""",
    }

    _stylesheets: ClassVar[list[str]] = ["""
    .zone { display: block; box-sizing: border-box; width: 100%; padding: 14px 10px; text-align: center;
            border: 2px dashed #adb5bd; border-radius: 8px; background: #f1f3f5; color: #495057;
            cursor: pointer; font-size: 0.9em; position: relative; }
    .zone.over, .zone:hover { border-color: #0d6efd; background: #e7f1ff; }
    .zone.busy { cursor: progress; }
    .zone input { position: absolute; left: 0; top: 0; width: 1px; height: 1px; opacity: 0; }
    .zone:focus-within { outline: 2px solid #0d6efd; outline-offset: 2px; }
    """]

    def __init__(self, on_file: Callable | None = None, on_refused: Callable | None = None, **params):
        super().__init__(**params)
        self.on_file, self.on_refused = on_file, on_refused
        self._received: dict = {}  # the file being received: its id, parts and bytes so far
        # each chunk is announced after it is sent, and the announcement is new each time (a chunk
        # may equal the last: param would not call a watcher of the chunk)
        self.param.watch(lambda event: self.take(event.new, self.chunk), "meta")

    def take(self, meta: dict, data: bytes) -> None:
        """Take one chunk (or a file the browser refused: ``chunks`` 0) and answer it (``answer``)."""
        try:
            name = str(meta["name"])
            size, chunk, chunks = (int(meta[key]) for key in ("size", "chunk", "chunks"))
        except (KeyError, TypeError, ValueError):
            LOG.warning("an upload message that is not a chunk of a file was ignored")
            return
        if chunk == 0:
            self._received = {"id": meta.get("id"), "parts": [], "bytes": 0}
        received, refusal, last = self._received, None, chunk + 1 == chunks
        if size > self.max_bytes:
            refusal = f"larger than {self.max_bytes / 2**20:,.0f} MB ({size / 2**20:,.1f} MB)"
        elif received.get("id") != meta.get("id") or len(received["parts"]) != chunk or chunk >= chunks:
            refusal = "its parts arrived out of order; send it again"
        else:
            received["parts"].append(bytes(data or b""))
            received["bytes"] += len(received["parts"][-1])
            if received["bytes"] > size or (last and received["bytes"] != size):
                refusal = f"{received['bytes']:,} bytes arrived where the browser announced {size:,}"
        self.answer = {"id": meta.get("id"), "chunk": chunk, "ok": refusal is None}
        if refusal is not None or last:  # the file is done: its last chunk (up to 4 MB) let go, here
            self.chunk = b""             # and in the page, where it stayed for as long as it was open
        if refusal is not None:
            self._received = {}
            if self.on_refused is not None:
                self.on_refused(name, refusal)
        elif last:
            content, self._received = b"".join(received["parts"]), {}
            if self.on_file is not None:  # (a coroutine function is scheduled on the event loop)
                state.execute(functools.partial(self.on_file, name, content), schedule=False)

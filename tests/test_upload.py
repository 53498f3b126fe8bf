"""The sidebar's upload: whatever the browser sends, the page says what happened and the data stays."""
from __future__ import annotations

import asyncio
import gzip
import os
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import GA_HEADER, ROOT, drawing_threads, held, settled

from leak_app import SessionModel
from leak_app.analysis import model as model_module
from leak_app.data.demo import generate_sessions
from leak_app.data.workspace import workspace
from leak_app.ui.file_input import ChunkedFileInput
from leak_app.ui.texts import load_report_html
from leak_app.ui.upload import Upload

TWO_SESSIONS = (GA_HEADER + "\n1,10,1,20170704,desktop,France,google,3,20,1,5000000\n"
                "2,11,1,20170705,mobile,Spain,bing,1,,,\n").encode()


@pytest.fixture
def upload():
    return Upload(model=SessionModel(sessions=generate_sessions(2_000, seed=9)))


def chunks(input: ChunkedFileInput, filename: str, content: bytes, size: int | None = None, id: int = 1
           ) -> list[tuple[dict, bytes]]:
    """What the page's file ``input`` sends for a file: its chunks, each with what it says of the
    file (``size``: the file's, unless a client says otherwise)."""
    step = input.chunk_size
    count = max(1, -(-len(content) // step))
    return [({"id": id, "name": filename, "size": len(content) if size is None else size, "chunk": i,
              "chunks": count}, content[i * step:(i + 1) * step]) for i in range(count)]


def sent(input: ChunkedFileInput, messages: list[tuple[dict, bytes]], answers: list | None = None) -> None:
    """The server receiving a file ``input``'s ``messages`` as the page sends them (the chunk, then
    what it says of it), its ``answers`` recorded."""
    for meta, data in messages:
        input.param.update(chunk=data)
        input.param.update(meta=meta)
        if answers is not None:
            answers.append(input.answer)


def send(upload: Upload, filename: str, content: bytes) -> None:
    """The browser sending a file in chunks; returns once it is loaded."""
    settled(lambda: sent(upload.input, chunks(upload.input, filename, content)))


@pytest.mark.parametrize("filename", ["..", ".", "é" * 200 + ".csv", "../../etc/passwd", "a/b.csv.gz.exe"])
def test_any_file_name_is_a_label_never_a_path(upload, filename):
    """'..' and '.' ("Is a directory"), a 400-byte name ("File name too long", legal on macOS) and
    paths made the upload fail in the server log only; the name is now only shown."""
    send(upload, filename, TWO_SESSIONS)
    assert upload.status.alert_type == "success", upload.status.object
    assert upload.model.kpis["sessions"] == 2 and upload.model.load_report["path"] == filename


def test_excels_unicode_text_is_offered_by_the_picker_and_loads(upload):
    """Excel saves "Unicode Text" as a UTF-16, tab-delimited .txt: the picker did not offer .txt or
    .tsv files, and the file was refused as not UTF-8."""
    assert {".txt", ".tsv"} <= set(upload.input.accept.split(","))
    text = TWO_SESSIONS.decode().replace(",", "\t")
    send(upload, "sessions.txt", text.encode("utf-16"))
    assert upload.status.object == "Loaded 2 sessions from sessions.txt.", upload.status.object
    assert upload.model.kpis["revenue"] == 5.0


def test_the_sessions_of_an_event_export_are_counted_as_sessions(upload):
    """A GA4 export's rows are events: the page said "Loaded 219 sessions" of its 40."""
    send(upload, "events.json", (ROOT / "tests" / "fixtures" / "events_20260803.json").read_bytes())
    assert upload.status.object == "Loaded 40 sessions from events.json."
    assert upload.model.kpis["sessions"] == 40


def test_an_empty_file_is_said_so_and_the_data_stays(upload):
    send(upload, "empty.csv", b"")
    assert upload.status.visible and upload.status.alert_type == "danger"
    assert "empty.csv: file is empty" in upload.status.object and upload.model.kpis["sessions"] == 2_000


def test_an_unexpected_failure_reaches_the_page_and_the_log(upload, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr(upload.model, "opened", broken)
    before = set(os.listdir(workspace()))
    send(upload, "big.csv", TWO_SESSIONS)
    assert upload.status.alert_type == "danger" and "big.csv: MemoryError: no room" in upload.status.object
    assert upload.model.kpis["sessions"] == 2_000
    assert "loading the upload 'big.csv' failed" in caplog.text and "Traceback" in caplog.text
    left = set(os.listdir(workspace())) - before
    assert not [name for name in left if name.startswith("upload_")]


BIG = TWO_SESSIONS + b"1,12,1,20170705,mobile,Spain,bing,1,,,\n" * 40_000  # 1.5 MB


def test_a_file_over_the_limit_is_refused_on_the_server_too(upload):
    """The browser refuses it first; a client that does not is refused before any parsing (the
    limit as it is now, not as the upload was made with)."""
    upload.max_mb = 1
    send(upload, "big.csv", BIG)
    assert upload.status.alert_type == "danger"
    assert "big.csv: larger than 1 MB (1.5 MB)" in upload.status.object
    assert upload.model.kpis["sessions"] == 2_000


def test_a_client_that_sends_more_than_it_announced_is_stopped_at_the_first_chunk_over():
    """A client may announce a small file and send a large one: the server counts the bytes that
    arrive, answers the first chunk past the announced size with a refusal, and keeps none."""
    upload = Upload(model=SessionModel(sessions=generate_sessions(2_000, seed=9)), max_mb=1)
    upload.input.chunk_size = 100_000
    answers = []
    messages = chunks(upload.input, "big.csv", BIG, size=len(TWO_SESSIONS))
    settled(lambda: sent(upload.input, messages[:1], answers))
    assert answers == [{"id": 1, "chunk": 0, "ok": False}]
    announced = len(TWO_SESSIONS)
    assert f"big.csv: 100,000 bytes arrived where the browser announced {announced}" in upload.status.object
    # a client that goes on is refused chunk by chunk
    settled(lambda: sent(upload.input, messages[1:], answers))
    assert [answer["ok"] for answer in answers] == [False] * len(messages) and not upload.input._received
    assert upload.model.kpis["sessions"] == 2_000


def test_chunks_are_joined_in_order_and_each_is_answered():
    """The page sends the next chunk once the server has answered the last: every chunk gets an
    answer, and a chunk out of order (another file's, or one lost) stops the file."""
    upload = Upload(model=SessionModel(sessions=generate_sessions(2_000, seed=9)))
    upload.input.chunk_size = 50
    answers = []
    messages = chunks(upload.input, "two.csv", TWO_SESSIONS)
    assert len(messages) == 5
    settled(lambda: sent(upload.input, messages, answers))
    assert answers == [{"id": 1, "chunk": i, "ok": True} for i in range(5)]
    assert upload.status.alert_type == "success" and upload.model.kpis["sessions"] == 2

    answers.clear()
    again = chunks(upload.input, "two.csv", TWO_SESSIONS, id=2)
    settled(lambda: sent(upload.input, [again[0], again[2]], answers))
    assert answers == [{"id": 2, "chunk": 0, "ok": True}, {"id": 2, "chunk": 2, "ok": False}]
    assert "two.csv: its parts arrived out of order" in upload.status.object


def test_chunks_alike_are_each_taken():
    """A file of repeated blocks sends equal chunks in a row: each is taken (a watcher of the chunk
    alone would not be called for a value equal to the last)."""
    received = []
    input = ChunkedFileInput(chunk_size=4, on_file=lambda name, content: received.append((name, content)))
    sent(input, chunks(input, "zeros", b"\0" * 12))
    assert received == [("zeros", b"\0" * 12)]


def test_a_file_the_browser_refused_is_said_in_the_page(upload):
    """Over the limit, the page sends only the file's name and size (no chunk): the server says why."""
    sent(upload.input, [({"id": 1, "name": "huge.csv", "size": 3 * 2**30, "chunk": 0, "chunks": 0}, b"")])
    assert upload.status.alert_type == "danger"
    assert "huge.csv: larger than 200 MB (3,072.0 MB)" in upload.status.object


def test_the_file_loads_off_the_event_loop_and_the_page_takes_it_when_ready(upload, monkeypatch):
    """The audit's case: a 140 MB upload blocked every other request of the server for 16 s. The
    file is now read on the worker thread: the event loop goes on (this test's own coroutine runs
    while the file loads), the page says what it is doing, and the data changes once, when ready."""
    hold = held(monkeypatch, model_module, "open_sessions",
                "the event loop was blocked while the file loaded")

    async def meanwhile():
        # the upload's coroutine runs as a task
        sent(upload.input, chunks(upload.input, "two.csv", TWO_SESSIONS))
        await asyncio.sleep(0.05)  # runs only if the loop is free
        during = (upload.model.kpis["sessions"], upload.progress.row.visible, upload.progress.text.object,
                  upload.status.alert_type)
        hold.release.set()
        return during

    assert settled(meanwhile) == (2_000, True, "Loading two.csv…", "secondary")  # (escaped HTML)
    assert upload.model.kpis["sessions"] == 2 and upload.status.alert_type == "success"
    assert not upload.progress.row.visible


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value per thread is Linux's")
def test_the_worker_and_the_duckdb_threads_it_starts_yield_the_cores_to_the_event_loop():
    """The busy-server benchmark: while an upload's DuckDB pass held both cores, the clicks of ten
    other pages waited behind it. The worker, and the threads of a DuckDB database it opens, now
    run at a lower priority than the event loop (this test's thread)."""
    import threading

    import duckdb

    from leak_app.ui.actions import WORKER

    def nice(thread_id: int) -> int:
        return int(Path(f"/proc/self/task/{thread_id}/stat").read_text().rsplit(")", 1)[1].split()[16])

    def on_the_worker():
        before = {int(task.name) for task in Path("/proc/self/task").iterdir()}
        with duckdb.connect() as database:  # an upload's scan, as data/scan.py opens it
            database.execute("SELECT sum(i) FROM range(1000000) t(i)").fetchall()
            started = {int(task.name) for task in Path("/proc/self/task").iterdir()} - before
            return nice(threading.get_native_id()), [nice(thread) for thread in started]

    loop = nice(threading.get_native_id())
    worker, duckdb_threads = WORKER.submit(on_the_worker).result(timeout=60)
    assert worker > loop and duckdb_threads and all(n == worker for n in duckdb_threads)


def test_an_uploads_figures_are_drawn_on_the_worker_and_only_copied_on_the_event_loop(monkeypatch):
    """Drawing a page's plots anew took 1–2 s of the event loop after each upload (every other page
    waited): the worker thread now draws them, and the loop's page takes copies."""
    from leak_app.ui.app import Dashboard

    dashboard = Dashboard(model=SessionModel(sessions=generate_sessions(2_000, seed=9)))
    upload = next(o for o in dashboard.filters if isinstance(o, Upload))
    drawn_on = drawing_threads(monkeypatch)
    other = generate_sessions(3_000, seed=31)  # data no other test draws: no figure of it is drawn yet
    send(upload, "other.csv", other.to_csv(index=False).encode())
    assert upload.status.alert_type == "success", upload.status.object
    assert dashboard.model.kpis["sessions"] == 3_000
    # each plot and funnel panel, drawn on the worker thread, none on the event loop's
    assert len(drawn_on) >= 5 and all(thread.startswith("leak_app_worker") for thread in drawn_on)


def zipped(files: dict[str, bytes]) -> bytes:
    """A .zip archive of these files (name inside -> bytes), as a person's zip tool makes one."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def understated(archive: bytes, size: int) -> bytes:
    """The archive with its (first) file's unpacked size written as ``size``, where both the file's
    own header and the archive's directory say it."""
    import struct

    out = bytearray(archive)
    struct.pack_into("<I", out, out.find(b"PK\x03\x04") + 22, size)
    struct.pack_into("<I", out, out.find(b"PK\x01\x02") + 24, size)
    return bytes(out)


EVENTS = (ROOT / "tests" / "fixtures" / "events_20260803.json").read_bytes().splitlines(keepends=True)


def cached_files() -> set:
    """What the cache folder holds, but the country names' lookups (kept by their digests: see
    countries.KnownCodes)."""
    from leak_app.data.files import cache_dir

    return {path for path in cache_dir().rglob("*") if path.is_file() and "country-codes" not in path.name}


@pytest.mark.parametrize("kind", ["csv", "zip", "avro", "zipped avro", "ga4"])
def test_nothing_is_kept_of_a_scanned_upload(upload, monkeypatch, tmp_path, kind):
    """A scanned file's results are kept in the cache folder (its load report, its repeated ids'
    rows as written, its cubes) for the next start on it; an upload's records must outlive it
    nowhere, and they were kept there for good. Nothing is kept of an upload (a new file at each
    upload: nothing kept could be found again), as an Avro upload's conversion is kept nowhere; a
    path's own file keeps them in the cache."""
    import json

    import formats

    from leak_app.data import sources

    monkeypatch.setattr(sources, "SCAN_FROM_BYTES", 0)  # scanned, as a large file is
    events = [json.loads(line) for line in EVENTS]
    # the second session's id repeated, split at midnight: its rows as written are kept
    repeated = TWO_SESSIONS + b"2,11,1,20170706,mobile,Spain,bing,2,30,,\n"
    name, content = {
        "csv": ("sessions.csv", repeated),
        "zip": ("export.zip", zipped({"day1.csv": TWO_SESSIONS, "day2.csv": repeated})),
        "avro": ("events.avro", formats.ga4_avro(events, tmp_path / "events.avro").read_bytes()),
        "ga4": ("events.json", b"".join(EVENTS)),
    }[kind] if kind != "zipped avro" else ("export.zip", zipped({"events.avro": formats.ga4_avro(
        events, tmp_path / "events.avro").read_bytes()}))
    before = cached_files()
    send(upload, name, content)
    assert upload.status.alert_type == "success", upload.status.object
    assert upload.model.load_report["format"].endswith("_scan")
    upload.model.duration_edges = [15, 150]  # a cube for other settings, kept too
    assert upload.model.kpis["sessions"] == (2 if kind in ("csv", "zip") else 40)
    assert cached_files() == before and upload.model.load_report["cache_key"] == ""
    path = tmp_path / name  # the same file of a path's own: its scan kept in the cache folder
    path.write_bytes(content)
    SessionModel.from_path(path)
    assert cached_files() - before


def test_a_zip_of_an_exports_files_loads_as_one_table(upload):
    """Several files of one export, sent at once as a .zip (the dropper takes one file at a time):
    read as a folder, a session split between two files one session, the files listed with their
    rows; the folders inside and what macOS adds to an archive left out."""
    half = len(EVENTS) // 2
    send(upload, "export.zip", zipped({
        "export/events_1.json": b"".join(EVENTS[:half]), "export/events_2.json": b"".join(EVENTS[half:]),
        "__MACOSX/export/._events_1.json": b"\x00\x05\x16\x07", "export/.DS_Store": b"\x00\x00\x00\x01"}))
    assert upload.status.object == "Loaded 40 sessions from export.zip.", upload.status.object
    report = upload.model.load_report
    # named as the archive writes them (the report named the private folder's paths)
    assert [(f["path"], f["rows"]) for f in report["files"]] == [
        ("export.zip/export/events_1.json", half), ("export.zip/export/events_2.json", len(EVENTS) - half)]
    assert f"export/events_1.json ({half:,}), export/events_2.json (" in load_report_html(report)
    whole = SessionModel.from_path(ROOT / "tests" / "fixtures" / "events_20260803.json")
    assert upload.model.kpis == whole.kpis and report["path"] == "export.zip"


@pytest.mark.parametrize("content, message", [
    # named as the archive writes it: the message named the private folder's copy,
    # "/tmp/leak_app_zip_…/export.zip/file00001.csv"
    (zipped({"events_1.json": b"".join(EVENTS), "days/notes (2).csv": TWO_SESSIONS}),
     "export.zip/days/notes (2).csv: a ga_sessions_csv file among ga4_events_json files"),
    # an Office document is a .zip: its XML files were read as session files (a workbook is read as
    # one: test_workbooks.py)
    (zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<document/>"}),
     "export.zip: an Office document (such as a Word file), not session files nor a workbook"),
    (b"PK\x03\x04 not really", "export.zip: not a readable zip archive"),
    (zipped({"empty/": b"", "__MACOSX/._x.csv": b"x"}), "export.zip: the archive holds no files"),
    # an archive of archives: read as text, it was "export.zip: not UTF-8 text: byte 0x..."
    (zipped({"days/week 1.zip": zipped({"a.csv": TWO_SESSIONS})}),
     "export.zip/days/week 1.zip: an archive inside the archive; zip the files themselves"),
    # 30 MB of one byte, a few kilobytes zipped: past 20 times the largest upload (1 MB here)
    (zipped({"bomb.csv": GA_HEADER.encode() + b"\n" + b"0" * 30 * 2**20}),
     "export.zip: its files would unpack to 30 MB, more than the 20 MB allowed"),
    # one that says it unpacks to 1,000 bytes, and holds 30 MB
    (understated(zipped({"bomb.csv": GA_HEADER.encode() + b"\n" + b"0" * 30 * 2**20}), 1_000),
     "export.zip: not a readable zip archive (Bad CRC-32 for file 'bomb.csv')"),
], ids=["mixed", "document", "not-a-zip", "no-files", "nested", "bomb",
        "understated-bomb"])  # (the bytes vary: zip times)
def test_a_zip_that_cannot_be_read_as_one_export_is_refused_and_the_data_stays(upload, content, message):
    upload.max_mb = 1
    before = set(os.listdir(workspace()))
    send(upload, "export.zip", content)
    said = upload.status.object.replace("\\", "")  # as written, not as escaped for Markdown
    assert upload.status.alert_type == "danger" and said.startswith(f"Could not load it; the current data "
                                                                    f"stays. {message}"), said
    assert upload.model.kpis["sessions"] == 2_000
    left = set(os.listdir(workspace())) - before
    # nothing sent or unpacked is kept
    assert not [name for name in left if name.startswith(("upload_", "zip_"))]


def test_names_inside_a_zip_are_labels_never_paths(upload, tmp_path):
    """A member named "../../x.csv" (a "zip slip") is unpacked inside, as "x.csv"; one named like
    another, or with a name no file system takes, is numbered."""
    def others(a: bytes, b: bytes) -> bytes:  # two more sessions, of other visitors
        return TWO_SESSIONS.replace(b"1,10,1,", a).replace(b"2,11,1,", b)

    send(upload, "../../evil.zip", zipped({
        "../../x.csv": TWO_SESSIONS, "a/x.csv": others(b"3,12,1,", b"4,13,1,"),
        "é" * 200 + ".csv": others(b"5,14,1,", b"6,15,1,")}))
    assert upload.status.alert_type == "success", upload.status.object
    names = [f["path"] for f in upload.model.load_report["files"]]
    assert names == [f"../../evil.zip/{name}" for name in ("a/x.csv", "é" * 200 + ".csv", "../../x.csv")]
    assert upload.model.kpis["sessions"] == 6
    assert not any((Path(folder) / "x.csv").exists() for folder in (tempfile.gettempdir(), workspace()))


def test_no_chunk_is_held_once_a_file_is_taken_or_refused():
    """The last chunk of a file (up to 4 MB) stayed in the page's model on the server, and in the
    page, for as long as the page was open: let go once the file is taken, or refused."""
    received = []
    input = ChunkedFileInput(chunk_size=4, max_bytes=10,
                             on_file=lambda name, content: received.append((name, content)))
    root = input.get_root()
    sent(input, chunks(input, "sessions.csv", b"0123456789"))
    assert received == [("sessions.csv", b"0123456789")]
    assert input.chunk == b"" and root.data.chunk == b""
    sent(input, chunks(input, "more.csv", b"0123", size=40, id=2))  # announced over the limit
    assert input.answer == {"id": 2, "chunk": 0, "ok": False}
    assert input.chunk == b"" and root.data.chunk == b""


@pytest.mark.parametrize("compress", ["gzip", "zip"])
def test_a_compressed_upload_holding_more_than_an_upload_may_in_memory_is_refused(upload, compress):
    """A layout DuckDB does not scan (one JSON array of records) is read by pandas, into memory, at
    several times its size; a 200 MB zip or gzip upload may hold 4 or 2 GB of it. What pandas would
    read of an upload is held to what an upload may weigh: a 1.6 MB JSON array in a gzip or zip of a
    few hundred kB, with a limit of 1 MB, is refused, saying why, and the data stays; the same file
    under the limit loads."""
    text = generate_sessions(6_000, seed=4).to_json(orient="records", date_format="iso").encode()
    content = gzip.compress(text) if compress == "gzip" else zipped({"sessions.json": text})
    assert len(content) < 2**20 < len(text) < 2 * 2**20
    upload.max_mb = 1
    send(upload, f"sessions.{'json.gz' if compress == 'gzip' else 'zip'}", content)
    said = upload.status.object.replace("\\", "")
    assert upload.status.alert_type == "danger" and "holds more than 1 MB of data once expanded" in said, said
    assert upload.model.kpis["sessions"] == 2_000
    upload.max_mb = 2
    settled(lambda: sent(upload.input, chunks(upload.input, "sessions.json.gz", gzip.compress(text), id=2)))
    assert upload.status.alert_type == "success", upload.status.object
    assert upload.model.load_report["format"] == "canonical" and upload.model.kpis["sessions"] == 6_000

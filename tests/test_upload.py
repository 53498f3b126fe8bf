"""The sidebar's upload: whatever the browser sends, the page says what happened and the data stays."""
from __future__ import annotations

import os
import tempfile

import pytest
from helpers import GA_HEADER

from leak_app import SessionModel
from leak_app.app import Upload
from leak_app.demo import generate_sessions

TWO_SESSIONS = (GA_HEADER + "\n1,10,1,20170704,desktop,France,google,3,20,1,5000000\n"
                "2,11,1,20170705,mobile,Spain,bing,1,,,\n").encode()


@pytest.fixture
def upload():
    return Upload(model=SessionModel(sessions=generate_sessions(2_000, seed=9)))


def send(upload: Upload, filename: str, content: bytes) -> None:
    """What the file dropper does once the browser has sent the last chunk."""
    upload.input.value = {filename: content}


@pytest.mark.parametrize("filename", ["..", ".", "é" * 200 + ".csv", "../../etc/passwd", "a/b.csv.gz.exe"])
def test_any_file_name_is_a_label_never_a_path(upload, filename):
    """'..' and '.' ("Is a directory"), a 400-byte name ("File name too long", legal on macOS) and
    paths made the upload fail in the server log only; the name is now only shown."""
    send(upload, filename, TWO_SESSIONS)
    assert upload.status.alert_type == "success", upload.status.object
    assert upload.model.kpis["sessions"] == 2 and upload.model.load_report["path"] == filename


def test_an_empty_file_is_said_so_and_the_data_stays(upload):
    send(upload, "empty.csv", b"")
    assert upload.status.visible and upload.status.alert_type == "danger"
    assert "empty.csv: file is empty" in upload.status.object and upload.model.kpis["sessions"] == 2_000


def test_an_unexpected_failure_reaches_the_page_and_the_log(upload, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr(upload.model, "load", broken)
    before = set(os.listdir(tempfile.gettempdir()))
    send(upload, "big.csv", TWO_SESSIONS)
    assert upload.status.alert_type == "danger" and "big.csv: MemoryError: no room" in upload.status.object
    assert upload.model.kpis["sessions"] == 2_000
    assert "loading the upload 'big.csv' failed" in caplog.text and "Traceback" in caplog.text
    left = set(os.listdir(tempfile.gettempdir())) - before
    assert not [name for name in left if name.startswith("leak_app_upload_")]


def test_a_file_over_the_limit_is_refused_on_the_server_too(upload):
    """The browser refuses it first; a client that does not is refused before any parsing."""
    upload.max_mb = 1
    send(upload, "big.csv", TWO_SESSIONS + b"1,12,1,20170705,mobile,Spain,bing,1,,,\n" * 40_000)
    assert upload.status.alert_type == "danger" and "big.csv: larger than 1 MB" in upload.status.object
    assert upload.model.kpis["sessions"] == 2_000

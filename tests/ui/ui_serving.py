"""Serve the app as people do, `python -m leak_app serve` or `panel serve leak_app/dashboard.py`, for
the browser tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(*args: str, panel_serve: bool = False, env: dict | None = None,
            app: str = "leak_app/dashboard.py", started: list | None = None):
    """Run the server with extra CLI arguments until the block ends (stopped as a service manager
    stops it: SIGTERM); yields its URL. With ``panel_serve``, Panel's own command (the ``panel``
    script of this Python) on the ``app`` file, the arguments after ``--args``; ``started`` gets
    its process."""
    port = free_port()
    if panel_serve:
        command = [str(Path(sys.executable).with_name("panel")), "serve", app, "--warm",
                   "--port", str(port), "--address", "127.0.0.1", "--allow-websocket-origin",
                   f"127.0.0.1:{port}", "--args", *args]
    else:
        # (-X faulthandler: a server that does not stop shows where each of its threads was)
        command = [sys.executable, "-X", "faulthandler", "-m", "leak_app", "serve", "--port", str(port),
                   *args]
    # A file, not a pipe: nobody reads the server's output while it runs, and a full pipe would
    # block the server at its next log line.
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, **(env or {})})
        if started is not None:
            started.append(process)
        url = f"http://127.0.0.1:{port}/{Path(app).stem if panel_serve else ''}"
        # up once it serves a static file: asking for the page built one (about a second of the server
        # each start), and the benchmarks' first page was then never the server's first
        probe = f"http://127.0.0.1:{port}/static/js/bokeh.min.js"
        deadline = time.monotonic() + 120
        try:
            while True:
                try:
                    with urllib.request.urlopen(probe, timeout=30) as response:
                        assert response.status == 200
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        output.seek(0)
                        pytest.fail(f"the server did not start: {output.read()}")
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGABRT)  # the Python stacks of its threads, then its end
                process.wait()
                output.seek(0)
                pytest.fail(f"the server did not stop in 30 s of SIGTERM: {output.read()[-20_000:]}")

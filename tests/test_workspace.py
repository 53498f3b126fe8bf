"""Each process's private folder (uploads, unpacked archives, spill files): removed at its exit, or
by a later process where it was killed; never while its process lives."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def python(code: str, tmp: Path, **options) -> subprocess.Popen:
    """A process running ``code`` with ``tmp`` as its temporary folder, its output read as text."""
    code = "from leak_app.data.workspace import workspace\n" + code
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, text=True, **options)


def test_a_folder_outlives_no_process_and_no_live_process_loses_its_own(tmp_path):
    live = python("print(workspace(), flush=True)\nimport sys; sys.stdin.read()", tmp_path,
                  stdin=subprocess.PIPE)
    held = Path(live.stdout.readline().strip())
    killed = python("import os, signal\nfolder = workspace(); (folder / 'upload.csv').write_text('a,b')\n"
                    "print(folder, flush=True); os.kill(os.getpid(), signal.SIGKILL)", tmp_path)
    left = Path(killed.stdout.readline().strip())
    assert killed.wait(timeout=60) == -signal.SIGKILL and (left / "upload.csv").is_file()
    ended = python("print(workspace())", tmp_path)
    made = Path(ended.communicate(timeout=60)[0].strip())
    assert not made.exists()  # removed at its exit
    assert not left.exists()  # the killed process's, removed by the next to make one
    assert held.is_dir()      # the live process's, kept
    live.stdin.close()
    assert live.wait(timeout=60) == 0 and not held.exists() and list(tmp_path.iterdir()) == []

"""The process's private folder for what it writes while it runs: uploads, unpacked archives,
Avro written as JSON, DuckDB's spill files. A user's data must not outlive the process that was
given it, and a server can die where no exit handler runs (killed, out of memory: its uploads then
stayed in the temporary folder for good). So each process writes under a folder of its own,
removed at exit, and holds a lock on it as long as it lives (the kernel lets go when the process
dies): the next process to make its folder removes every folder whose lock it can take.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: folders of killed processes are not found (those of ended ones are removed)
    fcntl = None

PREFIX = "leak_app_work_"
LOCK = "lock"

_made: dict[int, Path] = {}  # process id -> its folder (a forked server process makes its own)
_making = threading.Lock()


def workspace() -> Path:
    """This process's folder (made on first use; removed at its exit, or by a later process after it
    was killed)."""
    with _making:
        folder = _made.get(os.getpid())
        if folder is None or not folder.is_dir():
            _remove_abandoned()
            folder = _made[os.getpid()] = _locked(Path(tempfile.mkdtemp(prefix=PREFIX)))
            atexit.register(_remove, folder, os.getpid())
        return folder


def owned(path: Path) -> bool:
    """Whether ``path`` is in this process's folder: an upload, an archive's files, a conversion, whose
    records and whatever is kept of them (a scan's) must not outlive the process."""
    return workspace().resolve() in Path(path).resolve().parents  # (a temporary folder may be a link)


def _locked(folder: Path) -> Path:
    """``folder``, its lock held until the process ends. The lock file is locked under another name,
    then renamed: another process never sees a lock file before it is held."""
    if fcntl is not None:
        making = folder / f"{LOCK}.new"
        handle = os.open(making, os.O_CREAT | os.O_RDWR, 0o600)  # kept open: closing it lets go
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(making, folder / LOCK)
    return folder


def _remove_abandoned() -> None:
    """Remove the folders of processes that ended without removing theirs."""
    if fcntl is None:
        return
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            handle = os.open(folder / LOCK, os.O_RDWR)
        except OSError:  # being made, or not a folder of this app's
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its process lives
            continue
        else:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(handle)


def _remove(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # (a forked child inherits the handler, not the folder)
        shutil.rmtree(folder, ignore_errors=True)

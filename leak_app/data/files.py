"""Files written whole or not at all, and the folder of what is cached between runs.

Two processes may start together on one file, and a job may be stopped mid-write: a reader
must see the old file or the new one, never half of one.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/leak_app`` (``~/.cache/leak_app``): country shapes, scanned files' cubes."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "leak_app"


def identity(path: Path) -> list:
    """What tells a file apart from its next version: where it is, its size, its modification time
    and inode (a file replaced by another of the same size and time)."""
    resolved = path.resolve()
    stat = resolved.stat()
    return [str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_ino]


@functools.cache
def code_digest(modules: tuple[str, ...]) -> str:
    """A digest of these modules' source (paths under ``leak_app/``), in the key of what is kept from
    them: results kept by other code are not read. Read once a process (the code it runs; a folder
    of Avro shards asked for it once a file)."""
    root = Path(__file__).parents[1]
    code = "".join((root / name).read_text(encoding="utf-8") for name in modules)
    return hashlib.sha256(code.encode()).hexdigest()


def kept_scan(key: str) -> Path:
    """The folder where a scanned file's results are kept (its load report, repeated session ids and
    cube queries), under its :func:`leak_app.data.scan.scan_key`: removed whole when evicted."""
    return cache_dir() / "scans" / key


@contextmanager
def replaced(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it when the block ends well and removed when
    it does not (an error, Ctrl-C). Made with the permissions a plain ``open()`` would give."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(descriptor)
    try:
        yield Path(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

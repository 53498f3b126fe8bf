"""Files written whole or not at all, and the folder of what is cached between runs.

Two processes may start together on one file, and a job may be stopped mid-write: a reader
must see the old file or the new one, never half of one.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

#: The package's folder, under which :func:`code_digest` names modules.
PACKAGE = Path(__file__).parents[1]


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
    """A digest of the source of these modules and of every module of the package they import (paths
    under ``leak_app/``, see :func:`code_modules`), in the key of what is kept from them: results kept
    by other code are not read. Read once a process (the code it runs; a folder of Avro shards asked
    for it once a file)."""
    code = "".join((PACKAGE / name).read_text(encoding="utf-8") for name in sorted(code_modules(modules)))
    return hashlib.sha256(code.encode()).hexdigest()


def code_modules(modules: tuple[str, ...]) -> set[str]:
    """These modules and the package's modules they import, at any depth (relative imports, read from
    the source, not run). A hand-kept list of the modules a scan's results depend on missed the label
    hashes of duck.py and the cells a workbook's sheet is written with (workbooks.py): a change to
    them left kept results standing."""
    found, todo = set(), list(modules)
    while todo:
        if (name := todo.pop()) in found:
            continue
        found.add(name)
        for node in ast.walk(ast.parse((PACKAGE / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = PurePosixPath(name).parents[node.level - 1].joinpath(*(node.module or "").split("."))
                named = ([base.with_suffix(".py")] if node.module  # from .x import y; from . import x
                         else [base / f"{alias.name}.py" for alias in node.names])
                todo += [str(path) for path in named if (PACKAGE / path).is_file()]
    return found


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


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (see :func:`replaced`), flushed to disk."""
    with replaced(path) as temporary, open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())

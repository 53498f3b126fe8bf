"""Avro exports too large to read into memory (BigQuery's Avro export of ``events_*`` or
``ga_sessions_*``), which DuckDB reads only through an extension it downloads: each file decoded
once by fastavro into the newline-delimited JSON records of BigQuery's JSON export, read by DuckDB
as that export is and kept as Parquet in the cache folder, under the file's identity. Decoding is
most of a start: 254,157 GA4 events (4.9 MB of Avro) took 11.7 s to write as JSON at every start; a
later start on the same file takes the kept Parquet (3.4 MB) instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .files import cache_dir, code_digest, identity, replaced
from .readers import avro_as_json
from .scan import json_as_parquet
from .workspace import owned, workspace

#: Conversions kept (the most recently used); each is about the size of its Avro file.
KEPT_CONVERSIONS = 16


def as_parquet(file: Path, label: str, folder: Path, origin: list[Path] | None = None) -> Path:
    """``file`` as Parquet in ``folder`` (a private folder that lasts as long as the sessions read
    from it: the kept conversion may be evicted while they are in use), taken from the conversion
    kept for it, made first where there is none. ``origin``: the files it was unpacked from (a .zip
    archive: its files are new at each start), which key it with its name. Converted in ``folder``,
    and not kept, where the file is this process's own and comes from nothing else, or comes from
    an upload (whose records outlive it nowhere), or where the cache folder cannot be written (a
    cache: it only saves time). ``label``: how messages name the file."""
    target = folder / f"{file.name}.parquet"
    if any(owned(source) for source in origin or [file]):
        _converted(file, label, target)
        return target
    kept = cache_dir() / "avro" / f"{_key(file, origin)}.parquet"
    try:
        if kept.is_file():
            os.utime(kept)  # used: kept the longest
        else:
            _converted(file, label, kept)
    except OSError:
        _converted(file, label, target)
        return target
    _place(kept, target)
    _evict(kept.parent)
    return target


def _key(file: Path, origin: list[Path] | None) -> str:
    """What a conversion depends on: the file (or what it was unpacked from, and its name), and the
    code that decodes and types its records."""
    code = code_digest(("data/avro.py",))  # with every module of the package it imports
    source = [[identity(each) for each in origin], file.name] if origin else identity(file)
    return hashlib.sha256(json.dumps([source, code]).encode()).hexdigest()[:32]


def _converted(file: Path, label: str, out: Path) -> None:
    """``file`` decoded and written to ``out`` as Parquet, whole or not at all."""
    with tempfile.TemporaryDirectory(dir=workspace()) as folder:
        records = Path(folder) / "records.json"
        avro_as_json(file, records, label)
        with replaced(out) as temporary:
            json_as_parquet(records, temporary, label)


def _place(kept: Path, target: Path) -> None:
    """A link to the kept file at ``target``, or a copy where the two folders' file systems differ."""
    try:
        os.link(kept, target)
    except OSError:
        shutil.copyfile(kept, target)


def _evict(folder: Path) -> None:
    """Remove the conversions beyond the KEPT_CONVERSIONS most recently used (another process may be
    removing them too)."""
    def used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0
    for old in sorted(folder.glob("*.parquet"), key=used, reverse=True)[KEPT_CONVERSIONS:]:
        old.unlink(missing_ok=True)

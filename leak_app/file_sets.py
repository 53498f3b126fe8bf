"""A folder or a glob pattern of session files, read as one table: exports as analysts have them,
a file per day (``ga_sessions_YYYYMMDD``, ``events_YYYYMMDD``) or many per day (BigQuery's sharded
``events_20260801-000000000000.json.gz``).

The files must be of one format: a file of another among them is refused by name, not read into a
table where its columns would mean something else.
"""
from __future__ import annotations

import glob
from pathlib import Path

from .schema import LoadError

#: What makes a path a pattern: glob's own wildcards.
WILDCARDS = ("*", "?", "[")


def session_files(path: Path, label: str) -> list[Path]:
    """The files ``path`` names, in name order (so days are in date order): itself, a folder's
    files (hidden ones aside, not its subfolders), or a pattern's matches."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise LoadError(f"{label}: the folder holds no files")
        return files
    if any(wildcard in str(path) for wildcard in WILDCARDS):
        files = sorted(p for p in map(Path, glob.glob(str(path))) if p.is_file())
        if not files:
            raise LoadError(f"{label}: no file matches this pattern")
        return files
    raise LoadError(f"{label}: no such file")


def file_label(file: Path, files: list[Path], label: str) -> str:
    """How messages name one of ``files``: by its path, or, when it is the only one, as the user
    named it (an upload's own name)."""
    return label if len(files) == 1 else str(file)


def format_name(layout: str, kind: str) -> str:
    """A file's format as messages name it: its layout and its kind ("ga_sessions_csv",
    "canonical_parquet"), the kind once."""
    return layout if layout.endswith(f"_{kind}") else f"{layout}_{kind}"


def refuse_a_mix(formats: list[tuple[Path, str]]) -> None:
    """A LoadError naming the first file whose format (e.g. ``ga_sessions_csv``) is not the first
    file's."""
    first, expected = formats[0]
    for path, found in formats[1:]:
        if found != expected:
            raise LoadError(f"{path}: a {found} file among {expected} files (as {first.name}): the files "
                            f"of a folder or pattern are read as one table, so they must be of one format")


def file_rows(files: list[tuple[Path, int]]) -> list[dict]:
    """The load report's list of the files read, with the rows read from each."""
    return [{"path": str(path), "rows": int(rows)} for path, rows in files]

"""A folder or a glob pattern of session files, read as one table: exports as analysts have them,
a file per day (``ga_sessions_YYYYMMDD``, ``events_YYYYMMDD``) or many per day (BigQuery's sharded
``events_20260801-000000000000.json.gz``).

The files must be of one format: a file of another among them is refused by name, not read into a
table where its columns would mean something else.
"""
from __future__ import annotations

import glob
import re
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

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


def file_rows(files: list[tuple[Path, int]], commas: dict[str, list[str]] | None = None,
              sheets: dict[str, str] | None = None) -> list[dict]:
    """The load report's list of the files read, with the rows read from each and, for a file that
    wrote some with a decimal comma, those columns (``commas``, by file), for a workbook the sheet
    read (``sheets``, by file)."""
    commas, sheets = commas or {}, sheets or {}
    return [{"path": str(path), "rows": int(rows),
             **({"decimal_comma": commas[str(path)]} if commas.get(str(path)) else {}),
             **({"sheet": sheets[str(path)]} if str(path) in sheets else {})}
            for path, rows in files]


#: A name an archive's file keeps when unpacked (else it is numbered): plain, not hidden.
PLAIN_NAME = re.compile(r"\w[\w.+-]{0,150}")
#: Suffixes of a name kept on the file it is stored as (".csv", ".json.gz"...).
PLAIN_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,8}){0,2}")


def plain_suffix(name: str) -> str:
    """The last two suffixes of a file's name (".csv.gz"), "" unless plain: a name sent by a browser
    is a label, never a path ("..", 300 bytes)."""
    suffix = "".join(PurePosixPath(name).suffixes[-2:])
    return suffix if PLAIN_SUFFIX.fullmatch(suffix) else ""


def unzipped(archive: Path, folder: Path, label: str, limit_bytes: int) -> tuple[Path, dict[str, str]]:
    """A .zip archive's files (an export's daily files, zipped to be sent at once) unpacked side by
    side into ``folder``, a new folder then read as any folder is, and each unpacked file's path ->
    its name as the archive writes it, after ``label`` (how messages name the archive:
    "export.zip/days/day 2.csv"). Its folders are flattened and its names only labels (a member
    "../x.csv" is unpacked as "x.csv", inside; one no file system takes is numbered); the files
    macOS adds (``__MACOSX/``, ``.DS_Store``) are left out. An archive whose files would unpack to
    more than ``limit_bytes`` is refused before any is."""
    names = {}
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir() and not _added_by_macos(m.filename)]
            if not members:
                raise LoadError(f"{label}: the archive holds no files")
            if _an_office_document(zipped):
                raise LoadError(f"{label}: an Office document (such as a Word file), not session files nor "
                                f"a workbook: load the sessions' sheet or CSV export itself")
            if any(m.flag_bits & 0x1 for m in members):
                raise LoadError(f"{label}: the archive is encrypted; zip it without a password")
            total = sum(m.file_size for m in members)
            if total > limit_bytes:
                raise LoadError(f"{label}: its files would unpack to {total / 2**20:,.0f} MB, more than "
                                f"the {limit_bytes / 2**20:,.0f} MB allowed")
            folder.mkdir(parents=True)
            for i, member in enumerate(members):
                name = PurePosixPath(member.filename.replace("\\", "/")).name
                if not PLAIN_NAME.fullmatch(name) or (folder / name).exists():
                    name = f"file{i:05d}{plain_suffix(name)}"
                # zipfile unpacks no more than the size checked, and refuses a member that says less
                with zipped.open(member) as source, open(folder / name, "wb") as out:
                    shutil.copyfileobj(source, out)
                names[str(folder / name)] = f"{label}/{member.filename}"
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise LoadError(f"{label}: not a readable zip archive ({exc})") from exc
    return folder, names


def named_as_written(text: str, names: dict[str, str]) -> str:
    """``text`` with each path of ``names`` (a file as stored -> as the user knows it) replaced by
    its name: the longest first, so that a path that begins another is not replaced inside it."""
    for stored in sorted(names, key=len, reverse=True):
        text = text.replace(stored, names[stored])
    return text


def _an_office_document(zipped: zipfile.ZipFile) -> bool:
    """Whether an archive is a document a .zip holds (Office's files hold a "[Content_Types].xml";
    OpenDocument's begin with a "mimetype" of their own), not files zipped. (A workbook never gets
    here: it is read as one, see :mod:`.workbooks`.)"""
    names = zipped.namelist()
    return "[Content_Types].xml" in names or (
        names[0] == "mimetype" and zipped.read("mimetype").startswith(b"application/vnd.oasis.opendocument"))


def _added_by_macos(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return "__MACOSX" in parts or parts[-1].startswith(".")

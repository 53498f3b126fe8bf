"""Spreadsheet workbooks (Excel's .xlsx, .xlsm, .xlsb and .xls, OpenDocument's .ods): their sheet of
sessions written as CSV text, which either engine then reads as it reads any CSV file.

Analysts keep exports in workbooks, and a workbook was refused ("save its sheet as CSV"). The cells
are read by python-calamine (Rust's calamine), which reads each format in one pass, ten times as
fast as openpyxl; a cell is written as a spreadsheet saving CSV writes it, but that numbers
keep every digit, dates are ISO 8601 and a duration is its seconds (see
:func:`.sheet_reader.cell_text`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .files import cache_dir, replaced
from .interface_reports import totals_clause
from .schema import LoadError, quoted
from .workspace import workspace

#: The first bytes of an OLE2 compound file: Excel 97–2003's .xls (Word's .doc too: refused as no
#: workbook where calamine cannot read one).
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: The parts by which a .zip is a workbook: Excel's (.xlsx, .xlsm; .xlsb) and OpenDocument's.
XLSX_PARTS = ("xl/workbook.xml", "xl/workbook.bin")
ODS_TYPE = b"application/vnd.oasis.opendocument.spreadsheet"
#: Most a workbook's parts may unpack to (``LEAK_APP_MAX_WORKBOOK_MB``; an upload's: at most its
#: limit): calamine holds the sheet's cells in memory, about twice their XML (100,000 sessions:
#: 60 MB unpacked, 119 MB, benchmarks/workbooks.py; Excel's most, 1,048,576 rows, fits).
MAX_WORKBOOK_BYTES = int(os.environ.get("LEAK_APP_MAX_WORKBOOK_MB", "1024")) * 2**20
#: The process that reads a workbook's cells (:mod:`.sheet_reader`), and the most memory it may map:
#: 1 GB, then eight times the workbook's parts unpacked (its interpreter and calamine map 20 MB;
#: calamine holds about twice their XML, but as the range the cells span, which a stray cell far
#: out makes immense).
READER = str(Path(__file__).with_name("sheet_reader.py"))
READER_BYTES, READER_BYTES_PER_BYTE = 2**30, 8
#: The sheets a refusal of a workbook names (a workbook may hold thousands).
SHEETS_SAID = 8


def is_workbook(path: Path) -> bool:
    """Whether a file is a spreadsheet workbook, from its content (never its name)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head == OLE2_MAGIC:
            return True
        if not head.startswith(b"PK"):
            return False
        with zipfile.ZipFile(path) as zipped:
            names = set(zipped.namelist())
            return bool(names & set(XLSX_PARTS)) or (
                "mimetype" in names and zipped.read("mimetype").strip() == ODS_TYPE)
    except (OSError, zipfile.BadZipFile):
        return False


def unpacked_bytes(path: Path) -> int:
    """What a workbook's parts take unpacked (its size, for an .xls): calamine holds its cells in
    memory, about as much as their XML."""
    if not zipfile.is_zipfile(path):
        return path.stat().st_size
    with zipfile.ZipFile(path) as zipped:
        return sum(member.file_size for member in zipped.infolist())


def write_sheet(path: Path, target: Path, label: str, recognised, limit: int) -> str:
    """Write the workbook's sheet of sessions to ``target`` as CSV, and return its name: the first
    visible worksheet whose first row ``recognised`` (a header's lower-cased names -> a layout or
    None) takes for a session export's header; where none is, the only one that holds any cell (its
    header then refused as any CSV's would be), else a refusal naming each sheet's first columns. A
    workbook whose parts unpack to more than ``limit`` bytes is refused before a cell is read; its
    cells are read in a process of their own, under a cap on its memory (see :mod:`.sheet_reader`)."""
    size = unpacked_bytes(path)
    if size > limit:
        raise LoadError(f"{label}: a workbook of {size / 2**20:,.0f} MB once unpacked, more than the "
                        f"{limit / 2**20:,.0f} MB a workbook may be read into memory; save its sheet of "
                        f"sessions as CSV (UTF-8), which is scanned from disk at any size")
    most = READER_BYTES + READER_BYTES_PER_BYTE * size
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            [sys.executable, "-P", READER, str(path), str(target), str(most)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=errors, text=True, encoding="utf-8") as reader:
        for line in reader.stdout:
            message = json.loads(line)
            if "header" not in message:
                break
            taken = recognised([name.strip().lower() for name in message["header"]]) is not None
            reader.stdin.write(f"{json.dumps(taken)}\n")
            reader.stdin.flush()
        else:  # it ended without a word: killed, by the cap on its memory or otherwise
            reader.wait()
            errors.seek(0)
            raise _reader_failed(errors.read().decode(errors="replace"), reader.returncode, label, most)
    if "written" in message:
        return message["written"]
    if message["error"] == "unreadable":
        raise LoadError(f"{label}: not a readable workbook ({message['reason']})")
    if message["error"] == "empty":
        raise LoadError(f"{label}: no visible sheet of the workbook holds any cell")
    sheets = message["sheets"]
    raise LoadError(f"{label}: no sheet of the workbook has a session export's header; its sheets begin: "
                    + _beginnings(sheets)
                    + totals_clause([name.strip().lower() for header in sheets.values() for name in header]))


def _beginnings(sheets: dict[str, list[str]]) -> str:
    """Each sheet's name and first columns, as a refusal says them: the first SHEETS_SAID sheets, six
    columns each, every name cut as :func:`.schema.quoted` cuts it (a workbook's text, of any length)."""
    said = [f"{quoted(name)!r}: {', '.join(quoted(cell) for cell in header[:6])}"
            for name, header in list(sheets.items())[:SHEETS_SAID]]
    more = f"; and {len(sheets) - SHEETS_SAID:,} more" if len(sheets) > SHEETS_SAID else ""
    return "; ".join(said) + more


#: Sheets written as CSV kept in the cache folder for the next start on their workbook (the least
#: recently used removed beyond this): a sheet of Excel's most rows took about 18 s to write.
KEPT_SHEETS = 4


def kept_sheet(path: Path, target: Path, label: str, recognised, limit: int, key: str | None) -> str:
    """:func:`write_sheet`, taken from the cache folder where a start before wrote the sheet for the
    same ``key`` (the workbook as it is, the mapping and this code: see ``sources``), and kept there
    for the next (None: nothing is, an upload's). ``target`` is a link to the kept file, or its
    copy, never the kept file itself: that may be removed while these sessions read it."""
    if key is None:
        return write_sheet(path, target, label, recognised, limit)
    kept = cache_dir() / "sheets" / key
    try:  # the sheet's name, written last, marks it kept
        name = json.loads(kept.with_suffix(".json").read_text())["sheet"]
        _linked(kept.with_suffix(".csv"), target)
        os.utime(kept.with_suffix(".json"))  # (used: removed last)
        return name
    except (OSError, ValueError, KeyError, TypeError):
        target.unlink(missing_ok=True)
    name = write_sheet(path, target, label, recognised, limit)
    try:
        with replaced(kept.with_suffix(".csv")) as temporary:
            temporary.unlink()
            _linked(target, temporary)
        with replaced(kept.with_suffix(".json")) as temporary:
            temporary.write_text(json.dumps({"sheet": name}))
        marks = sorted(kept.parent.glob("*.json"), key=lambda mark: mark.stat().st_mtime, reverse=True)
        for old in marks[KEPT_SHEETS:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".csv").unlink(missing_ok=True)
    except OSError:
        pass  # a folder that cannot be written only costs the writing again
    return name


def _linked(source: Path, target: Path) -> None:
    """``target`` a hard link to ``source`` (the same file, without a copy's time), else its copy (on
    another file system: the cache folder in the home, the private folder in /tmp)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def sheet_text(path: Path, label: str, recognised, limit: int) -> tuple[str, str]:
    """(the CSV text of the workbook's sheet of sessions, its name): :func:`write_sheet` through a
    file of the process's private folder, removed once read."""
    descriptor, target = tempfile.mkstemp(suffix=".csv", dir=workspace())
    os.close(descriptor)
    try:
        name = write_sheet(path, Path(target), label, recognised, limit)
        return Path(target).read_text(encoding="utf-8"), name
    finally:
        os.unlink(target)


def _reader_failed(said: str, code: int, label: str, most: int) -> LoadError:
    """Why the process reading a workbook ended without a word (what it wrote to stderr, its exit)."""
    lines = said.strip().splitlines() or [f"exit status {code}"]
    if "memory allocation of" in lines[0] or lines[-1].startswith("MemoryError"):  # Rust's, Python's
        return LoadError(f"{label}: reading the workbook's sheet took more than the {most / 2**20:,.0f} MB "
                         f"of memory it may (a sheet is held as the whole range its cells span: one cell far "
                         f"out, up to Excel's last, XFD1048576, makes it immense); save its sheet of "
                         f"sessions as CSV (UTF-8), which is scanned from disk at any size")
    return LoadError(f"{label}: the workbook could not be read ({lines[-1][:200]})")

"""Spreadsheet workbooks (Excel's .xlsx, .xlsm, .xlsb and .xls, OpenDocument's .ods): their sheet of
sessions written as CSV text, which either engine then reads as it reads any CSV file.

Analysts keep exports in workbooks, and a workbook was refused ("save its sheet as CSV"). The cells
are read by python-calamine (Rust's calamine), which reads each format in one pass, ten times as
fast as openpyxl; a cell is written as the CSV a spreadsheet saves would write it, but that numbers
keep every digit, dates are ISO 8601 and a duration is its seconds (see :func:`cell_text`).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import zipfile
from pathlib import Path
from typing import TextIO

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from .interface_reports import totals_clause
from .schema import LoadError

#: The first bytes of an OLE2 compound file: Excel 97–2003's .xls (Word's .doc too: refused as no
#: workbook where calamine cannot read one).
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: The parts by which a .zip is a workbook: Excel's (.xlsx, .xlsm; .xlsb) and OpenDocument's.
XLSX_PARTS = ("xl/workbook.xml", "xl/workbook.bin")
ODS_TYPE = b"application/vnd.oasis.opendocument.spreadsheet"
#: Most a workbook's parts may unpack to (``LEAK_APP_MAX_WORKBOOK_MB``; an upload's: at most its
#: limit): calamine holds the sheet's cells in memory, about five times their XML (100,000
#: sessions of twelve columns: 60 MB unpacked, 0.3 GB; Excel's most, 1,048,576 rows, fits).
MAX_WORKBOOK_BYTES = int(os.environ.get("LEAK_APP_MAX_WORKBOOK_MB", "1024")) * 2**20


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


def write_sheet(path: Path, out: TextIO, label: str, recognised, limit: int) -> str:
    """Write the workbook's sheet of sessions to ``out`` as CSV, and return its name: the first
    visible worksheet whose first row ``recognised`` (a header's lower-cased names -> a layout or
    None) takes for a session export's header; where none is, the only one that holds any cell (its
    header then refused as any CSV's would be), else a refusal naming each sheet's first columns. A
    workbook whose parts unpack to more than ``limit`` bytes is refused before a cell is read."""
    size = unpacked_bytes(path)
    if size > limit:
        raise LoadError(f"{label}: a workbook of {size / 2**20:,.0f} MB once unpacked, more than the "
                        f"{limit / 2**20:,.0f} MB a workbook may be read into memory; save its sheet of "
                        f"sessions as CSV (UTF-8), which is scanned from disk at any size")
    try:
        book = CalamineWorkbook.from_path(str(path))
        filled = {}
        for sheet in book.sheets_metadata:
            if sheet.typ != SheetTypeEnum.WorkSheet or sheet.visible != SheetVisibleEnum.Visible:
                continue
            rows = book.get_sheet_by_name(sheet.name).iter_rows()
            header = [cell_text(cell) for cell in next(rows, [])]
            if not any(header):
                continue
            filled[sheet.name] = (header, rows)
            if recognised([name.strip().lower() for name in header]) is not None:
                break
        else:
            if len(filled) > 1:
                columns = [name.strip().lower() for header, _ in filled.values() for name in header]
                raise LoadError(f"{label}: no sheet of the workbook has a session export's header; its "
                                f"sheets begin: " + "; ".join(f"{name!r}: {', '.join(header[:6])}"
                                                              for name, (header, _) in filled.items())
                                + totals_clause(columns))
    except CalamineError as exc:
        raise LoadError(f"{label}: not a readable workbook ({exc})") from exc
    if not filled:
        raise LoadError(f"{label}: no visible sheet of the workbook holds any cell")
    name, (header, rows) = list(filled.items())[-1]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell_text(cell) for cell in row])
    return name


def sheet_text(path: Path, label: str, recognised, limit: int) -> tuple[str, str]:
    """(the CSV text of the workbook's sheet of sessions, its name): :func:`write_sheet` in memory."""
    out = io.StringIO()
    name = write_sheet(path, out, label, recognised, limit)
    return out.getvalue(), name


def cell_text(cell) -> str:
    """A cell as CSV text: a whole number without a decimal point (calamine reads every number as a
    float: an id 123 is "123", as a CSV export writes it, not "123.0"), any other number with every
    digit it holds; a date or date and time as ISO 8601 (a time of midnight left out); a duration
    or a time of day (how a spreadsheet shows a session's length, "0:03:12") as its seconds."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() and abs(cell) < 2**53 else repr(cell)
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(sep=" ")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    if isinstance(cell, dt.timedelta):
        return cell_text(cell.total_seconds())
    if isinstance(cell, dt.time):
        return cell_text(cell.hour * 3600 + cell.minute * 60 + cell.second + cell.microsecond / 1e6)
    return str(cell)

"""A workbook's sheet of sessions written as CSV, in a process of its own (run by
:func:`.workbooks.write_sheet`; imports nothing of the package, so it starts in a tenth of a second).

Calamine holds a sheet as the whole range its cells span: a workbook of 5 KB with one cell at A1 and
one at XFD1048576 asked for 550 GB, and a failed allocation aborts the process (Rust's rule, no
exception) — a served app's, for every user. Here it is this process's, run under a cap on its
memory (``RLIMIT_AS``), and the caller refuses the workbook.

The caller picks the sheet: this process writes a line of JSON for each visible worksheet whose
first row holds a cell (``{"sheet": name, "header": [...]}``) and reads the answer (``true``: it is
a session export's header). It ends with one line: ``{"written": name}``, or ``{"error": "several",
"sheets": {name: header}}``, ``{"error": "empty"}``, ``{"error": "unreadable", "reason": text}``.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import sys

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum


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


def said(message: dict) -> None:
    print(json.dumps(message), flush=True)


def write_sheet(path: str, target: str) -> dict:
    """The first visible worksheet the caller takes, else the only one that holds any cell, written
    to ``target`` as CSV; the message that ends the exchange."""
    book = CalamineWorkbook.from_path(path)
    headers, last = {}, None
    for meta in book.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet or meta.visible != SheetVisibleEnum.Visible:
            continue
        rows = book.get_sheet_by_name(meta.name).iter_rows()
        header = [cell_text(cell) for cell in next(rows, [])]
        if not any(header):
            continue
        headers[meta.name] = header
        last = (meta.name, header, rows)  # the one written: taken, or the only one filled (one held)
        said({"sheet": meta.name, "header": header})
        answer = sys.stdin.readline()
        if not answer:  # the caller is gone
            sys.exit(1)
        if json.loads(answer):
            break
    else:
        if len(headers) > 1:
            return {"error": "several", "sheets": headers}
    if last is None:
        return {"error": "empty"}
    name, header, rows = last
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([cell_text(cell) for cell in row])
    return {"written": name}


def main(path: str, target: str, most_bytes: str) -> None:
    try:  # (Windows has no such limit, and macOS may refuse it: an allocation the memory cannot
        import resource  # hold fails there, and only this process ends)

        resource.setrlimit(resource.RLIMIT_AS, (int(most_bytes), int(most_bytes)))
    except (ImportError, ValueError, OSError):
        pass
    try:
        said(write_sheet(path, target))
    except CalamineError as exc:
        said({"error": "unreadable", "reason": str(exc)})


if __name__ == "__main__":
    main(*sys.argv[1:])

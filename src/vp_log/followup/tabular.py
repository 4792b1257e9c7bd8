"""Follow-up entries as rows of a table: the import template, reading CSV and XLSX, checking.

One row is one entry. The columns are :data:`COLUMNS`: how the procedure is named
(``procedure_id``, ``accession_number`` or ``patient_id``: the first one filled is used), the
entry's ``date`` and ``timepoint``, one column per instrument item (its name in the instrument
table, so export and import speak the same names), ``new_fractures`` and ``complications``
(``none``, or ``L2@2025-03-01; L3`` and ``cement-leakage-venous:A@2025-01-11; infection:C``; an
empty cell is not assessed), ``notes``, ``closed`` (a time point closed without assessment:
lost, declined, unreachable, died, other) and ``entered_by``. Header names are matched without
regard to case; a column the template does not have is refused. Numbers may use a decimal comma,
the ODI total a ``%``; dates are YYYY-MM-DD (or date cells in XLSX).

:func:`read_rows` reads a file; :func:`parse_row` turns one row into the procedure key and the
entry input, or the problems found, each naming the row and column.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vp_log.followup.events import ComplicationType
from vp_log.followup.instruments import ITEMS
from vp_log.followup.models import ALLOWED, ENTRY_FIELDS, FollowupCreate
from vp_log.text import plain_reason

KEY_COLUMNS = ("procedure_id", "accession_number", "patient_id")
TEXT_COLUMNS = frozenset({"accession_number", "patient_id"})
TEMPLATE_ROWS = 1000  # rows of the XLSX template whose identifier cells are formatted as text

#: Every column of the import template, in order.
COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *ENTRY_FIELDS, "entered_by")

#: What each column holds (the template's documentation; ``followup template --columns``).
MEANINGS: dict[str, str] = {
    "procedure_id": "record id of the procedure (as vp-log shows it)",
    "accession_number": "accession number of the procedure",
    "patient_id": "patient ID: with the date, the patient's procedure (a baseline: the next one)",
    "date": "date of the assessment, YYYY-MM-DD",
    "timepoint": "time point (baseline, 1d, 1w, 1m, 3m, 6m, 12m; '1 month' too); empty: from date",
    **{item.name: f"{item.help}; allowed: {item.allowed()}" for item in ITEMS},
    "new_fractures": "none, or LEVEL[@DATE] separated by ';' (empty: not assessed)",
    "complications": (
        "none, or TYPE:SEVERITY[@DATE] separated by ';' (empty: not assessed); "
        f"types: {', '.join(c.value for c in ComplicationType)}"
    ),
    "notes": "free text",
    "closed": f"the time point closed without assessment: {ALLOWED['closed']}",
    "entered_by": "who entered it (default: who runs the import)",
}

NONE_WORDS = ("none", "no", "0")


class TableError(ValueError):
    """A file that cannot be read as an import table; the message says why."""


@dataclass
class Row:
    """One parsed row: its number in the file (header = 1), the procedure key, the entry."""

    number: int
    key: str | None = None
    key_column: str | None = None
    data: FollowupCreate | None = None
    problems: list[str] = field(default_factory=list)


def _cell(value: Any) -> Any:
    """A cell as given: empty text is empty (None); other values as they are."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return value


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        msg = "not a date (allowed: a date YYYY-MM-DD)"
        raise ValueError(msg) from None


def _events(value: Any, column: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in NONE_WORDS:
        return []
    events = []
    for part in (p.strip() for p in text.replace(",", ";").split(";")):
        if not part:
            continue
        head, _, when = part.partition("@")
        event: dict[str, Any] = {"date": _date(when) if when.strip() else None}
        if column == "new_fractures":
            event["level"] = head.strip()
        else:
            kind, sep, severity = head.rpartition(":")
            if not sep:
                msg = f"{part!r} is not TYPE:SEVERITY[@DATE]"
                raise ValueError(msg)
            event |= {"type": kind.strip(), "severity": severity.strip()}
        events.append(event)
    return events


def _problem(number: int, error: dict[str, Any]) -> str:
    loc = error["loc"]
    msg = plain_reason(error)
    if not loc:
        return f"row {number}: {msg}"
    column = str(loc[0])
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), column)
    where = "".join(f" #{p + 1}" if isinstance(p, int) else f" {p}" for p in loc[1:])
    allowed = ALLOWED.get(name)
    shown = "" if error["type"] == "missing" else f"{error['input']!r} "
    if msg.startswith("section "):
        head, _, msg = msg.partition(": ")
        shown = f"{head} "
    tail = f" (allowed: {allowed})" if allowed else ""
    return f"row {number}, column {column}{where}: {shown}refused: {msg}{tail}"


def parse_row(number: int, cells: dict[str, Any], *, entered_by: str) -> Row:
    """One row of the table as a procedure key and entry input, or its problems."""
    row = Row(number=number)
    values = {k: _cell(v) for k, v in cells.items()}
    for column in KEY_COLUMNS:
        if values.get(column) is not None:
            key = values[column]
            text = str(int(key)) if isinstance(key, float) and key.is_integer() else str(key)
            prefix = {"procedure_id": "id", "accession_number": "accession"}.get(column, "patient")
            row.key, row.key_column = f"{prefix}:{text}", column
            break
    else:
        row.problems.append(f"row {number}: no procedure (fill one of {', '.join(KEY_COLUMNS)})")
    entry: dict[str, Any] = {c: values.get(c) for c in COLUMNS if c not in KEY_COLUMNS}
    entry["entered_by"] = entry["entered_by"] or entered_by
    for column in ("date",):
        if entry[column] is None:
            row.problems.append(f"row {number}, column date: empty (allowed: a date YYYY-MM-DD)")
            return row
        try:
            entry[column] = _date(entry[column])
        except ValueError as exc:
            row.problems.append(f"row {number}, column date: {entry[column]!r} refused: {exc}")
            return row
    for column in ("new_fractures", "complications"):
        try:
            entry[column] = _events(entry[column], column)
        except ValueError as exc:
            row.problems.append(f"row {number}, column {column}: refused: {exc}")
    if entry["timepoint"] is not None:
        entry["timepoint"] = str(entry["timepoint"])
    if row.problems:
        return row
    try:
        row.data = FollowupCreate.model_validate(entry)
    except ValidationError as exc:
        row.problems += [_problem(number, e) for e in exc.errors()]  # type: ignore[arg-type]
    return row


def _header(names: list[Any]) -> list[str]:
    header = [str(n).strip().lower() if n is not None else "" for n in names]
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        msg = (
            f"column(s) {', '.join(unknown)} unknown; the template's columns are: "
            f"{', '.join(COLUMNS)}"
        )
        raise TableError(msg)
    if "date" not in header:
        msg = "no date column; the template's columns are: " + ", ".join(COLUMNS)
        raise TableError(msg)
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        msg = f"column(s) {', '.join(repeated)} appear more than once"
        raise TableError(msg)
    return header


def _csv_rows(path: Path) -> list[list[Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")
    first = text.splitlines()[0] if text else ""
    delimiter = max((";", ",", "\t"), key=first.count) if first else ","
    return list(csv.reader(text.splitlines(), delimiter=delimiter))


def _xlsx_rows(path: Path) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        msg = f"{path} cannot be read as an XLSX workbook ({exc})"
        raise TableError(msg) from None
    try:
        sheet = book.worksheets[0]
        return [[_xlsx_value(c) for c in r] for r in sheet.iter_rows()]
    finally:
        book.close()


def _xlsx_value(cell: Any) -> Any:
    """A cell's value as the person sees it: a cell formatted as a percentage holds 0.4 for
    what Excel shows as 40 %, so it is read as 40."""
    value = cell.value
    number_format = getattr(cell, "number_format", None) or ""
    if isinstance(value, int | float) and not isinstance(value, bool) and "%" in number_format:
        return round(value * 100, 10)
    return value


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The data rows of a CSV or XLSX file as (row number, {column: cell}); blank rows skipped."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            rows = _csv_rows(path)
        elif suffix in (".xlsx", ".xlsm"):
            rows = _xlsx_rows(path)
        else:
            msg = f"{path}: not a .csv or .xlsx file"
            raise TableError(msg)
    except OSError as exc:
        msg = f"{path} cannot be read: {exc}"
        raise TableError(msg) from None
    if not rows:
        msg = f"{path} is empty (the first row names the columns)"
        raise TableError(msg)
    header = _header(rows[0])
    out = []
    for number, cells in enumerate(rows[1:], start=2):
        if all(_cell(c) is None for c in cells):
            continue
        out.append((number, {h: c for h, c in zip(header, cells, strict=False) if h}))
    return out


def write_template(path: Path) -> None:
    """An empty import table: the header row (CSV), or the header and a column sheet (XLSX)."""
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerow(COLUMNS)
        return
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active or book.create_sheet()
    sheet.title = "entries"
    sheet.append(list(COLUMNS))
    # Identifiers and dates are text: Excel would drop an accession's leading zeros.
    for index, column in enumerate(COLUMNS, start=1):
        if column in TEXT_COLUMNS:
            for row in range(2, TEMPLATE_ROWS + 2):
                sheet.cell(row=row, column=index).number_format = "@"
    doc = book.create_sheet("columns")
    doc.append(["column", "meaning"])
    for column in COLUMNS:
        doc.append([column, MEANINGS[column]])
    book.save(path)

"""``vp-log export``: the data itself, long or wide, with its data dictionary and a manifest.

- long: one row per measurement (procedure, entry, instrument, value);
- wide: one row per procedure, columns like ``pain_baseline``, ``pain_1m`` (names valid in R,
  SPSS and Stata: a letter first, letters, digits and ``_``, at most 32 characters).

Column names of follow-up values are ``<instrument column>_<time point>``, the instrument
columns being those of follow-up entries (``pain``, ``odi_percent``, ``rmdq``, ``analgesic``),
so an import of the same file can map them back.

Pseudonymised (``pseudonymise=True``): patient, accession and study replaced by keyed HMAC
pseudonyms; dates shifted by one offset per patient (``dates="shift"``) or written as days from
the procedure (``dates="relative"``); ages over 89 as ``90+``; names, UIDs, birth dates and free
text dropped; the manifest names the DICOM PS3.15 profile and option applied.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vp_log.clinical import Indication
from vp_log.followup import Schedule
from vp_log.followup.instruments import Number
from vp_log.report.cohort import (
    CHOICES,
    NUMBERS,
    Cohort,
    EntryFacts,
    Filters,
    ProcedureFacts,
    ReportError,
)
from vp_log.report.outcomes import values_by_timepoint
from vp_log.report.pseudonym import PROFILE_CODES, Pseudonymiser, coarse_age

Format = Literal["csv", "xlsx", "json"]
Shape = Literal["long", "wide"]
Dates = Literal["shift", "relative"]

FORMATS = ("csv", "xlsx", "json")
SHAPES = ("long", "wide")
DATES = ("shift", "relative")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


@dataclass(frozen=True)
class ExportColumn:
    name: str
    meaning: str
    unit: str = ""
    allowed: str = ""
    identifying: bool = False
    """Dropped (or replaced by its pseudonym column) when pseudonymised."""


@dataclass
class Export:
    shape: Shape
    columns: list[ExportColumn]
    rows: list[dict[str, Any]]
    manifest: dict[str, Any] = field(default_factory=dict)

    def dictionary(self) -> list[dict[str, str]]:
        return [
            {"column": c.name, "meaning": c.meaning, "unit": c.unit, "allowed": c.allowed}
            for c in self.columns
        ]


@dataclass(frozen=True)
class Options:
    shape: Shape = "wide"
    pseudonymise: bool = False
    dates: Dates = "shift"


def check_options(fmt: str, shape: str, dates: str | None, pseudonymise: bool) -> None:
    if fmt not in FORMATS:
        msg = f"--format {fmt!r} is not known (allowed: {', '.join(FORMATS)})"
        raise ReportError(msg)
    if shape not in SHAPES:
        msg = f"--shape {shape!r} is not known (allowed: {', '.join(SHAPES)})"
        raise ReportError(msg)
    if dates is not None and dates not in DATES:
        msg = f"--dates {dates!r} is not known (allowed: {', '.join(DATES)})"
        raise ReportError(msg)
    if dates is not None and not pseudonymise:
        msg = "--dates applies to a pseudonymised export only (add --pseudonymise)"
        raise ReportError(msg)


# --- columns ---------------------------------------------------------------------------------


def _identity_columns(options: Options) -> list[ExportColumn]:
    if options.pseudonymise:
        cols = [
            ExportColumn(
                "patient",
                "Patient pseudonym (keyed HMAC-SHA256 of the patient ID)",
                allowed="P followed by 16 hexadecimal digits",
            ),
            ExportColumn(
                "procedure",
                "Procedure pseudonym (keyed HMAC of the Study Instance UID)",
                allowed="S followed by 16 hexadecimal digits",
            ),
            ExportColumn(
                "accession",
                "Accession pseudonym (keyed HMAC of the accession number)",
                allowed="A followed by 16 hexadecimal digits",
            ),
        ]
        if options.dates == "shift":
            cols.append(
                ExportColumn(
                    "procedure_date",
                    "Procedure date, shifted by the patient's offset",
                    "date",
                    "YYYY-MM-DD",
                )
            )
        return cols
    return [
        ExportColumn("patient_id", "Patient ID", identifying=True),
        ExportColumn("patient_name", "Patient name (DICOM PN)", identifying=True),
        ExportColumn("procedure", "vp_log record id", allowed="whole number"),
        ExportColumn("accession_number", "Accession number", identifying=True),
        ExportColumn("study_instance_uid", "Study Instance UID", identifying=True),
        ExportColumn("procedure_date", "Procedure (study) date", "date", "YYYY-MM-DD"),
    ]


def _procedure_columns(options: Options) -> list[ExportColumn]:
    cols = [
        ExportColumn(
            "procedure_type", "Procedure type", allowed="vertebroplasty, kyphoplasty, sacroplasty"
        ),
        ExportColumn(
            "age_years",
            "Age at the procedure",
            "years",
            "whole number; 90+ above 89" if options.pseudonymise else "whole number",
        ),
        ExportColumn("sex", "Patient sex (DICOM)", allowed="F, M, O"),
        ExportColumn("levels_treated", "Number of levels treated", allowed="whole number"),
        ExportColumn("levels", "Treated levels, craniocaudal", allowed="e.g. T12 L1, sacrum"),
        ExportColumn("cement_ml", "Total cement volume", "mL"),
        ExportColumn("fluoro_time_s", "Total fluoroscopy time", "s"),
        ExportColumn("dap_gy_cm2", "Total dose-area product", "Gy·cm²"),
        ExportColumn("ka_r_mgy", "Total air kerma at the reference point", "mGy"),
        ExportColumn("device", "X-ray system, manufacturer and model"),
        ExportColumn(
            "indication",
            "Indication (baseline clinical data); empty: not entered",
            allowed=", ".join(i.value for i in Indication),
        ),
        ExportColumn("trial_arm", "Trial arm (baseline clinical data); empty: not entered"),
    ]
    if not options.pseudonymise:
        cols.append(ExportColumn("operator", "Performing physician", identifying=True))
    cols.append(
        ExportColumn("status", "Record status", allowed="complete, needs_review, receiving")
    )
    cols.append(
        ExportColumn(
            "decided",
            "Values set by hand (vp-log procedures decide), the rest as extracted; "
            "empty: all as extracted",
            allowed="type, levels, cement, approach (space-separated)",
        )
    )
    return cols


def _value_column(column: str) -> tuple[str, str, str]:
    """Meaning, unit and allowed values of an instrument item (the follow-up table's)."""
    for item in (*NUMBERS, *CHOICES):
        if item.name == column:
            unit = ""
            if isinstance(item.kind, Number):
                unit = "%" if item.kind.percent else "points"
            return (item.help, unit, item.allowed() + "; empty: not assessed")
    msg = f"unknown instrument column {column!r}"
    raise ValueError(msg)


#: The follow-up values exported: every number and choice of the instrument table, named as
#: ``vp-log followup import`` and ``followup template`` name them.
VALUE_COLUMNS = tuple(item.name for item in (*NUMBERS, *CHOICES))


def wide_columns(schedule: Schedule, options: Options) -> list[ExportColumn]:
    cols = _identity_columns(options) + _procedure_columns(options)
    for column in VALUE_COLUMNS:
        meaning, unit, allowed = _value_column(column)
        for tp in schedule.timepoints:
            cols.append(
                ExportColumn(
                    f"{column}_{tp.name}", f"{meaning} at {tp.label or tp.name}", unit, allowed
                )
            )
    cols += [
        ExportColumn(
            "new_fractures", "New vertebral fractures after the procedure", allowed="whole number"
        ),
        ExportColumn("new_fracture_levels", "Levels of the new fractures"),
        ExportColumn("complications", "Complications recorded", allowed="whole number"),
        ExportColumn(
            "major_complications", "Complications of SIR grade C–F", allowed="whole number"
        ),
        ExportColumn("died", "Death recorded", allowed="true, false"),
        ExportColumn("last_followup_days", "Days from the procedure to the last entry", "days"),
    ]
    for col in cols:
        if not NAME.match(col.name):
            msg = f"export column {col.name!r} is not a valid R/SPSS/Stata name"
            raise ValueError(msg)
    return cols


def long_columns(options: Options) -> list[ExportColumn]:
    cols = [
        *_identity_columns(options),
        ExportColumn("procedure_type", "Procedure type"),
        ExportColumn("entry", "Follow-up entry number", allowed="whole number"),
        ExportColumn(
            "timepoint",
            "Time point of the entry",
            allowed="a time point of the schedule; empty: outside every window",
        ),
    ]
    if not (options.pseudonymise and options.dates == "relative"):
        cols.append(
            ExportColumn(
                "entry_date",
                "Date of the assessment" + (", shifted" if options.pseudonymise else ""),
                "date",
                "YYYY-MM-DD",
            )
        )
    cols += [
        ExportColumn("days_after", "Days from the procedure to the assessment", "days"),
        ExportColumn("out_of_window", "Outside the time point's window", allowed="true, false"),
        ExportColumn("instrument", "What was measured", allowed=", ".join(VALUE_COLUMNS)),
        ExportColumn("value", "The value (see the unit)"),
        ExportColumn("unit", "Unit of the value"),
    ]
    return cols


# --- rows ------------------------------------------------------------------------------------


def _patient_key(p: ProcedureFacts) -> str:
    return p.patient_id or f"study:{p.study_instance_uid}"


def _identity(p: ProcedureFacts, options: Options, pseudo: Pseudonymiser | None) -> dict[str, Any]:
    if pseudo is None:
        return {
            "patient_id": p.patient_id,
            "patient_name": p.patient_name,
            "procedure": p.id,
            "accession_number": p.accession_number,
            "study_instance_uid": p.study_instance_uid,
            "procedure_date": p.study_date.isoformat() if p.study_date else None,
        }
    row: dict[str, Any] = {
        "patient": pseudo.pseudonym("patient", _patient_key(p)),
        "procedure": pseudo.pseudonym("study", p.study_instance_uid),
        "accession": pseudo.pseudonym("accession", p.accession_number),
    }
    if options.dates == "shift":
        shifted = pseudo.shift(_patient_key(p), p.study_date)
        row["procedure_date"] = shifted.isoformat() if shifted else None
    return row


def _procedure_values(p: ProcedureFacts, options: Options) -> dict[str, Any]:
    age = p.age_years
    return {
        "procedure_type": p.procedure_type,
        "age_years": coarse_age(age) if options.pseudonymise else age,
        "sex": p.patient_sex if p.patient_sex in ("F", "M", "O") else None,
        "levels_treated": p.level_count or None,
        "levels": " ".join(t.level for t in p.levels) or None,
        "cement_ml": p.total_cement_ml,
        "fluoro_time_s": p.fluoro_time_s,
        "dap_gy_cm2": p.dap_gy_cm2,
        "ka_r_mgy": p.ka_r_mgy,
        "device": p.device,
        "indication": p.indication,
        "trial_arm": p.trial_arm,
        "operator": p.operator,
        "status": p.status,
        "decided": " ".join(f for f in p.decided if f != "exclude") or None,
    }


def _unit(column: str) -> str:
    return _value_column(column)[1]


def build_export(
    cohort: Cohort,
    schedule: Schedule,
    options: Options,
    pseudo: Pseudonymiser | None,
    filters: Filters,
) -> Export:
    if options.pseudonymise and pseudo is None:
        msg = "a pseudonymised export needs the export key"
        raise ValueError(msg)
    if options.shape == "wide":
        columns = wide_columns(schedule, options)
        rows = _wide_rows(cohort, schedule, options, pseudo)
    else:
        columns = long_columns(options)
        rows = _long_rows(cohort, options, pseudo)
    names = {c.name for c in columns}
    rows = [{k: v for k, v in row.items() if k in names} for row in rows]
    export = Export(options.shape, columns, rows)
    export.manifest = manifest(export, options, filters, cohort)
    return export


def _wide_rows(
    cohort: Cohort, schedule: Schedule, options: Options, pseudo: Pseudonymiser | None
) -> list[dict[str, Any]]:
    at = values_by_timepoint(cohort, schedule, VALUE_COLUMNS)
    rows = []
    for p in cohort.procedures:
        entries = cohort.entries_of(p.id)
        row = _identity(p, options, pseudo) | _procedure_values(p, options)
        for (column, tp_name), values in at.items():
            row[f"{column}_{tp_name}"] = values.get(p.id)
        fractures = sorted({f.level for e in entries for f in e.new_fractures})
        complications = {(c.type, c.severity, c.date) for e in entries for c in e.complications}
        row |= {
            "new_fractures": len(fractures),
            "new_fracture_levels": " ".join(fractures) or None,
            "complications": len(complications),
            "major_complications": sum(1 for c in complications if c[1] in "CDEF"),
            "died": any(c[0] == "death" for c in complications),
            "last_followup_days": max((e.days_after for e in entries), default=None),
        }
        rows.append(row)
    return rows


def _long_rows(
    cohort: Cohort, options: Options, pseudo: Pseudonymiser | None
) -> list[dict[str, Any]]:
    rows = []
    for p in cohort.procedures:
        identity = _identity(p, options, pseudo)
        for e in cohort.entries_of(p.id):
            base = identity | {
                "procedure_type": p.procedure_type,
                "entry": e.entry_id,
                "timepoint": e.timepoint,
                "entry_date": _entry_date(p, e, options, pseudo),
                "days_after": e.days_after,
                "out_of_window": e.out_of_window,
            }
            for column in VALUE_COLUMNS:
                value = e.analgesic if column == "analgesic" else e.scores.get(column)
                if value is not None:
                    rows.append(
                        base | {"instrument": column, "value": value, "unit": _unit(column)}
                    )
    return rows


def _entry_date(
    p: ProcedureFacts, e: EntryFacts, options: Options, pseudo: Pseudonymiser | None
) -> str | None:
    if pseudo is None:
        return e.date.isoformat()
    if options.dates == "relative":
        return None
    shifted = pseudo.shift(_patient_key(p), e.date)
    return shifted.isoformat() if shifted else None


def manifest(export: Export, options: Options, filters: Filters, cohort: Cohort) -> dict[str, Any]:
    document: dict[str, Any] = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "shape": export.shape,
        "rows": len(export.rows),
        "procedures": len(cohort.procedures),
        "filters": dict(filters.describe()),
        "columns": [c.name for c in export.columns],
        "pseudonymised": options.pseudonymise,
    }
    if options.pseudonymise:
        document["deidentification"] = {
            "standard": "DICOM PS3.15 Annex E",
            "methods": list(PROFILE_CODES),
            "patient_identity_removed": "YES",
            "pseudonyms": "patient, accession and study replaced by HMAC-SHA256 pseudonyms with "
            "a key kept in the data folder (mode 0600), never exported; the same key gives the "
            "same pseudonyms",
            "dates": "shifted back by one offset per patient (1 to 3650 days); intervals kept"
            if options.dates == "shift"
            else "written as days from the procedure; calendar dates removed",
            "ages": "ages over 89 written as 90+",
            "removed": [
                "patient name",
                "patient ID",
                "birth date",
                "accession number",
                "Study, Series and SOP Instance UIDs",
                "device serial number and UID",
                "institution",
                "operator and physician names",
                "free text (notes, descriptions)",
            ],
        }
    return document


# --- files -----------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_export(export: Export, fmt: Format, out_dir: Path) -> list[Path]:
    """Write the data, its dictionary and the manifest into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"vp_log_{export.shape}"
    names = [c.name for c in export.columns]
    written = []
    if fmt == "csv":
        data = out_dir / f"{stem}.csv"
        _write_csv(data, names, ([_cell(r.get(n)) for n in names] for r in export.rows))
        dictionary = out_dir / "data_dictionary.csv"
        keys = ["column", "meaning", "unit", "allowed"]
        _write_csv(dictionary, keys, ([d[k] for k in keys] for d in export.dictionary()))
        written += [data, dictionary]
    elif fmt == "xlsx":
        data = out_dir / f"{stem}.xlsx"
        _write_xlsx(data, export)
        written.append(data)
    else:
        data = out_dir / f"{stem}.json"
        document = {
            "dictionary": export.dictionary(),
            "rows": export.rows,
            "manifest": export.manifest,
        }
        data.write_text(
            json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8"
        )
        written.append(data)
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(
        json.dumps(export.manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    written.append(manifest_path)
    return written


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_xlsx(path: Path, export: Export) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    names = [c.name for c in export.columns]
    sheet.append(names)
    for row in export.rows:
        sheet.append([row.get(n) for n in names])
    dictionary = book.create_sheet("dictionary")
    dictionary.append(["column", "meaning", "unit", "allowed"])
    for entry in export.dictionary():
        dictionary.append([entry["column"], entry["meaning"], entry["unit"], entry["allowed"]])
    about = book.create_sheet("manifest")
    about.append(["key", "value"])
    for key, value in export.manifest.items():
        about.append([key, value if isinstance(value, str | int | bool) else json.dumps(value)])
    book.save(path)

"""``report dose``: fluoroscopy time, DAP and Ka,r per procedure type, number of levels,
operator and device; the 75th percentile against the site's reference levels.

Reference levels are set as the 75th percentile of a survey's distribution, so the department's
own 75th percentile is what is compared with them (``reference_levels`` in the report
settings, per procedure type). A procedure whose value is unknown is counted as unknown, never
as 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from vp_log.alerts import (
    AlertLevels,
    DoseAlert,
    Metric,
    Scope,
    alert_text,
    dose_alerts,
    levels_text,
    shown_alerts,
)
from vp_log.report import stats
from vp_log.report.cohort import Cohort, ProcedureFacts
from vp_log.report.settings import ReportSettings
from vp_log.report.tables import Column, Plot, Section, Table, View, median_iqr, num, text


@dataclass(frozen=True)
class Quantity:
    key: str
    label: str
    unit: str
    value: Callable[[ProcedureFacts], float | None]
    reference_key: str | None


def _per_level(p: ProcedureFacts) -> float | None:
    return p.dap_gy_cm2 / p.level_count if p.dap_gy_cm2 is not None and p.level_count else None


QUANTITIES = (
    Quantity(
        "fluoro_time_s",
        "Fluoroscopy time",
        "s",
        lambda p: p.fluoro_time_s,
        "fluoro_time_s",
    ),
    Quantity("dap_gy_cm2", "DAP", "Gy·cm²", lambda p: p.dap_gy_cm2, "dap_gy_cm2"),
    Quantity("ka_r_mgy", "Ka,r", "mGy", lambda p: p.ka_r_mgy, "ka_r_mgy"),
    Quantity("dap_per_level_gy_cm2", "DAP per level", "Gy·cm²", _per_level, None),
)

GROUPINGS: dict[str, Callable[[ProcedureFacts], str]] = {
    "procedure type": lambda p: p.procedure_type,
    "levels treated": lambda p: (
        f"{p.level_count} level{'s' if p.level_count != 1 else ''}"
        if p.level_count
        else "levels unknown"
    ),
    "operator": lambda p: p.operator or "unknown operator",
    "device": lambda p: p.device or "unknown device",
}


def _table(q: Quantity) -> Table:
    return Table(
        f"dose_{q.key}",
        f"{q.label} ({q.unit}) by procedure type, levels, operator, device: median [IQR], "
        "75th percentile (P75), reference level",
        [
            Column("grouping", "Grouping"),
            Column("group", "Group"),
            Column("quantity", "Quantity"),
            Column("unit", "Unit"),
            Column("n", "n known", "int"),
            Column("unknown", "n unknown", "int"),
            Column("median", "Median", "num"),
            Column("q1", "Q1", "num"),
            Column("q3", "Q3", "num"),
            Column("p75", "P75", "num"),
            Column("reference", "Reference level", "num"),
            Column("p75_above_reference", "P75 above the reference level"),
        ],
        view=[
            View("Group", text("group"), numeric=False),
            View("n", lambda r: f"{r['n']}" + (f" (+{r['unknown']}?)" if r["unknown"] else "")),
            View("Median [IQR]", median_iqr()),
            View("P75", lambda r: num(r["p75"])),
            View(
                "Ref.",
                lambda r: (
                    "–"
                    if r["reference"] is None
                    else num(r["reference"]) + (" ABOVE" if r["p75_above_reference"] else "")
                ),
            ),
        ],
        notes=["n (+k?): k procedures whose value is unknown, not counted."],
        group_by="grouping",
    )


_METRIC_LABELS = {Metric.KA_R: "Ka,r", Metric.DAP: "DAP", Metric.FLUORO_TIME: "Fluoroscopy time"}


def _alert_tables(cohort: Cohort, levels: AlertLevels) -> tuple[Table, Table, dict[str, int]]:
    """Procedures and patients at a dose follow-up level (alone, or added up over the
    patient's procedures in the window), and the alerts one by one."""
    found = dose_alerts(cohort.dose_history or [], levels) if cohort.dose_history else {}
    mine: dict[int, list[DoseAlert]] = {
        p.id: shown_alerts(found.get(p.id, [])) for p in cohort.procedures
    }
    summary = Table(
        "dose_alert_summary",
        "Dose follow-up levels reached: procedures and patients",
        [
            Column("scope", "Scope", description="procedure: alone; cumulative: the window"),
            Column("metric", "Metric"),
            Column("level", "Level", "num"),
            Column("unit", "Unit"),
            Column("window_days", "Window (days)", "int"),
            Column("procedures", "Procedures at the level", "int"),
            Column("patients", "Patients at the level", "int"),
        ],
        view=[
            View("Scope", text("scope"), numeric=False),
            View("Metric", text("metric"), numeric=False),
            View(
                "Level",
                lambda r: "off" if r["level"] is None else f"{num(r['level'], 0)} {r['unit']}",
            ),
            View("Procedures", text("procedures")),
            View("Patients", text("patients")),
        ],
    )
    for scope in Scope:
        for metric in Metric:
            level = levels.level(metric)
            hit = [
                (pid, a)
                for pid in mine
                for a in found.get(pid, [])
                if a.scope is scope and a.metric is metric
            ]
            fluoro = metric is Metric.FLUORO_TIME
            shown_level = level / 60 if level is not None and fluoro else level
            summary.rows.append(
                {
                    "scope": scope.value,
                    "metric": _METRIC_LABELS[metric],
                    "level": shown_level,
                    "unit": "min" if metric is Metric.FLUORO_TIME else metric.unit,
                    "window_days": levels.window_days if scope is Scope.CUMULATIVE else None,
                    "procedures": len({pid for pid, _ in hit}),
                    "patients": len({a.patient_id or f"record {pid}" for pid, a in hit}),
                }
            )
    listing = Table(
        "dose_alerts",
        "Procedures at a dose follow-up level (each to be followed up for skin injury)",
        [
            Column("id", "Record", "int"),
            Column("accession_number", "Accession"),
            Column("patient_id", "Patient ID"),
            Column("study_date", "Date"),
            Column("scope", "Scope"),
            Column("metric", "Metric"),
            Column("value", "Value", "num", description="the procedure's, or the window's sum"),
            Column("level", "Level", "num"),
            Column("unit", "Unit"),
            Column("records", "Records added up", description="oldest first"),
            Column("incomplete", "A value unknown in the window (a lower bound)"),
            Column("alert", "Alert"),
        ],
        view=[
            View("Record", text("id")),
            View("Date", text("study_date"), numeric=False),
            View("Patient", text("patient_id"), numeric=False),
            View("Alert", text("alert"), numeric=False),
        ],
    )
    facts = {p.id: p for p in cohort.procedures}
    for pid in sorted(mine, key=lambda i: (facts[i].study_date or dt.date.min, i)):
        p = facts[pid]
        for a in mine[pid]:
            listing.rows.append(
                {
                    "id": pid,
                    "accession_number": p.accession_number,
                    "patient_id": p.patient_id,
                    "study_date": p.study_date.isoformat() if p.study_date else None,
                    "scope": a.scope.value,
                    "metric": _METRIC_LABELS[a.metric],
                    "value": a.value,
                    "level": a.level,
                    "unit": a.unit,
                    "records": " ".join(str(r) for r in a.records),
                    "incomplete": a.incomplete,
                    "alert": alert_text(a),
                }
            )
    alerted = [pid for pid, alerts in mine.items() if alerts]
    counts = {
        "alerted_procedures": len(alerted),
        "alerted_patients": len({facts[pid].patient_id or f"record {pid}" for pid in alerted}),
    }
    return summary, listing, counts


def build_dose(
    cohort: Cohort, settings: ReportSettings, alert_levels: AlertLevels | None = None
) -> Section:
    tables = {q.key: _table(q) for q in QUANTITIES}
    for grouping, key_of in GROUPINGS.items():
        groups: dict[str, list[ProcedureFacts]] = {}
        for p in cohort.procedures:
            groups.setdefault(key_of(p), []).append(p)
        for group in sorted(groups):
            members = groups[group]
            for q in QUANTITIES:
                values = [q.value(p) for p in members]
                d = stats.describe(values)
                p75 = stats.percentile(values, 75)
                reference = None
                if grouping == "procedure type" and q.reference_key is not None:
                    levels_of = settings.reference_levels.get(group)
                    reference = getattr(levels_of, q.reference_key) if levels_of else None
                tables[q.key].rows.append(
                    {
                        "grouping": grouping,
                        "group": group,
                        "quantity": q.label,
                        "unit": q.unit,
                        "n": d.n,
                        "unknown": len(values) - d.n,
                        "median": d.median,
                        "q1": d.q1,
                        "q3": d.q3,
                        "p75": p75,
                        "reference": reference,
                        "p75_above_reference": None
                        if reference is None or p75 is None
                        else p75 > reference,
                    }
                )
    levels = alert_levels or AlertLevels()
    alert_summary, alert_listing, alert_counts = _alert_tables(cohort, levels)
    section = Section(
        "dose",
        "Dose",
        tables=[*tables.values(), alert_summary, alert_listing],
        counts={
            "procedures": len(cohort.procedures),
            "with_dap": sum(1 for p in cohort.procedures if p.dap_gy_cm2 is not None),
            **alert_counts,
        },
    )
    section.notes.append(
        "Reference levels (per procedure type, from the report settings) are compared with the "
        "75th percentile, the way reference levels are set."
    )
    above = [
        f"{r['group']} {r['quantity']}"
        for t in tables.values()
        for r in t.rows
        if r["p75_above_reference"]
    ]
    if above:
        section.notes.append("P75 above the reference level: " + ", ".join(above) + ".")
    section.notes.append(
        f"Dose follow-up {levels_text(levels)}. Cumulative: the patient's procedures (of any "
        f"type, also outside the filters) dated within {levels.window_days} days up to and "
        "including the procedure; a sum with an unknown value is a lower bound."
    )
    for q in QUANTITIES[:3]:
        by_type: dict[str, list[float]] = {}
        for p in cohort.procedures:
            value = q.value(p)
            if value is not None:
                by_type.setdefault(p.procedure_type, []).append(value)
        groups_data = []
        for kind in sorted(by_type):
            levels_of = settings.reference_levels.get(kind)
            groups_data.append(
                {
                    "name": kind,
                    "values": by_type[kind],
                    "p75": stats.percentile(by_type[kind], 75),
                    "reference": getattr(levels_of, q.key) if levels_of else None,
                }
            )
        section.plots.append(
            Plot(
                f"dose_{q.key}",
                f"{q.label} per procedure type, with the reference level",
                "dose",
                {"label": q.label, "unit": q.unit, "groups": groups_data},
            )
        )
    return section

"""``report completeness``: per time point, who was due and what became of it; records that
still need review.

On the as-of date a time point is *due* for a procedure once its window has opened (or when an
entry already holds it). A due time point is then exactly one of: done in window, done out of
window (an entry typed for it, outside its window), closed (the patient died before the window
closed), missed (window closed, nothing entered) or open (window still open). Percentages are
of the procedures due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from vp_log.followup import Schedule
from vp_log.followup.schedule import TimePoint
from vp_log.report.cohort import Cohort, ProcedureFacts
from vp_log.report.fractures import death_date
from vp_log.report.tables import Column, Plot, Row, Section, Table, View, percent, text

OUTCOMES = ("done_in_window", "done_out_of_window", "closed", "missed", "pending")


def _count_and_share(key: str) -> Callable[[Row], str]:
    return lambda r: f"{r[key]} ({percent(r[key + '_pct'], 0)})"


def _timepoint_outcome(
    cohort: Cohort, p: ProcedureFacts, tp: TimePoint, as_of: dt.date, died: dt.date | None
) -> str | None:
    """Where one procedure stands at one time point: a key of OUTCOMES, ``not_yet_due``, or
    None for an undated record (it cannot be scheduled); ``died``: its death date."""
    if p.study_date is None:
        return None
    days = (as_of - p.study_date).days
    held = cohort.entries_at(p.id, tp.name)
    if not held and days < tp.from_day:
        return "not_yet_due"
    closed = [e for e in held if e.closed_reason]
    mine = [e for e in held if not e.closed_reason]
    if mine:
        in_window = any(not e.out_of_window for e in mine)
        return "done_in_window" if in_window else "done_out_of_window"
    if closed or (died is not None and (died - p.study_date).days <= tp.to_day):
        return "closed"
    if days > tp.to_day:
        return "missed"
    return "pending"


def build_completeness(cohort: Cohort, schedule: Schedule, as_of: dt.date) -> Section:
    table = Table(
        "completeness",
        f"Follow-up per time point on {as_of.isoformat()} (% of those due)",
        [
            Column("timepoint", "Time point"),
            Column("due", "Due", "int"),
            Column("done_in_window", "Done in window", "int"),
            Column("done_out_of_window", "Done out of window", "int"),
            Column("closed", "Closed (lost, declined, unreachable, died)", "int"),
            Column("missed", "Missed", "int"),
            Column("pending", "Open (window not closed)", "int"),
            Column("not_yet_due", "Not yet due", "int"),
        ]
        + [Column(f"{key}_pct", f"{key} %", "rate") for key in OUTCOMES],
        view=[View("Time point", text("timepoint"), numeric=False), View("Due", text("due"))]
        + [
            View(title, _count_and_share(key))
            for key, title in zip(
                OUTCOMES, ("In window", "Out of w.", "Closed", "Missed", "Open"), strict=True
            )
        ],
    )
    dated = [p for p in cohort.procedures if p.study_date is not None]
    deaths = {p.id: death_date(cohort, p.id) for p in dated}
    for tp in schedule.timepoints:
        counts = dict.fromkeys((*OUTCOMES, "due", "not_yet_due"), 0)
        for p in dated:
            outcome = _timepoint_outcome(cohort, p, tp, as_of, deaths[p.id])
            if outcome is None:
                continue
            counts[outcome] += 1
            if outcome != "not_yet_due":
                counts["due"] += 1
        row: dict[str, object] = {"timepoint": tp.name, **counts}
        for key in OUTCOMES:
            row[f"{key}_pct"] = counts[key] / counts["due"] if counts["due"] else None
        table.rows.append(row)

    review = Table(
        "completeness_needs_review",
        "Records that still need review",
        [
            Column("id", "Record", "int"),
            Column("accession_number", "Accession"),
            Column("study_date", "Date"),
            Column("procedure_type", "Type"),
            Column("flags", "Flags"),
        ],
        view=[
            View("Record", text("id")),
            View("Accession", text("accession_number"), numeric=False),
            View("Date", text("study_date"), numeric=False),
            View("Type", text("procedure_type"), numeric=False),
            View("Flags", text("flags"), numeric=False),
        ],
    )
    for p in cohort.procedures:
        if p.status == "needs_review":
            review.rows.append(
                {
                    "id": p.id,
                    "accession_number": p.accession_number,
                    "study_date": p.study_date.isoformat() if p.study_date else None,
                    "procedure_type": p.procedure_type,
                    "flags": ", ".join(p.flags),
                }
            )
    unscheduled = sum(
        1 for p in cohort.procedures for e in cohort.entries_of(p.id) if e.timepoint is None
    )
    section = Section(
        "completeness",
        "Completeness",
        tables=[table, review],
        counts={
            "procedures": len(cohort.procedures),
            "without_date": len(cohort.procedures) - len(dated),
            "needs_review": len(review.rows),
            "unscheduled_entries": unscheduled,
        },
    )
    section.notes.append(
        "Closed: the time point was closed (vp-log followup close: lost, declined, unreachable, "
        "died, other), or a death was recorded before its window closed."
    )
    if unscheduled:
        section.notes.append(
            f"{unscheduled} entries are outside every window and hold no time point."
        )
    if len(dated) < len(cohort.procedures):
        section.notes.append(
            f"{len(cohort.procedures) - len(dated)} procedures have no study date and are not "
            "counted."
        )
    section.plots.append(
        Plot(
            "completeness",
            f"Follow-up completeness per time point on {as_of.isoformat()}",
            "completeness",
            {"rows": table.rows},
        )
    )
    return section

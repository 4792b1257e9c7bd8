"""How follow-up looks to people: the summary before saving, entry tables, the worklist, the
audit log and the outcome timeline (``vp-log procedures show``). Columns come from the
instrument table; rules live in :mod:`vp_log.followup`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from vp_log import followup as fu

DASH = "[dim]–[/]"


def cell(value: Any) -> str:
    """A value for a table cell: unknown as a dash, floats without trailing zeros."""
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return escape(", ".join("-" if v is None else str(v) for v in value)) or DASH
    if hasattr(value, "value"):
        return escape(str(value.value))
    return escape(str(value))


def fractures_text(fractures: list[dict[str, Any]]) -> str:
    adjacency = {True: " adjacent", False: " not adjacent", None: " adjacency unknown"}
    return ", ".join(f"{f['level']}@{f['date']}{adjacency[f['adjacent']]}" for f in fractures)


def complications_text(complications: list[dict[str, Any]]) -> str:
    return ", ".join(f"{c['type']} SIR {c['severity']} @{c['date']}" for c in complications)


def summary(values: dict[str, Any], procedure: fu.ProcedureRef, who: str) -> Table:
    """What is about to be saved, every item of every instrument included."""
    table = Table(show_header=False, title="Follow-up to be saved", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    timepoint = values["timepoint"] or "none (unscheduled)"
    if values["timepoint_inferred"]:
        timepoint += " (inferred from the date)"
    if values["out_of_window"]:
        timepoint += " [yellow]OUT OF WINDOW[/]"
    table.add_row("Procedure", escape(procedure.describe()))
    table.add_row("Date", f"{values['entry_date']} (day {values['days_after']})")
    table.add_row("Time point", timepoint)
    for item in fu.ITEMS:
        table.add_row(item.title, cell(values[item.name]))
    table.add_row("New fractures", fractures_text(values["new_fractures"]) or "[dim]none[/]")
    table.add_row("Complications", complications_text(values["complications"]) or "[dim]none[/]")
    table.add_row("Notes", cell(values["notes"]))
    table.add_row("Entered by", escape(who))
    return table


def entries_table(entries: list[fu.FollowupPublic], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Entry", "Proc", "Date", "Time point", "Day"):
        table.add_column(column)
    for item in fu.ITEMS:
        table.add_column(item.header)
    for column in ("New fractures", "Complications", "By"):
        table.add_column(column)
    for e in entries:
        timepoint = e.timepoint or "unscheduled"
        if e.out_of_window:
            timepoint += " [yellow]⚑ out of window[/]"
        table.add_row(
            f"{e.entry_id} v{e.version}",
            str(e.procedure_id),
            e.date.isoformat(),
            timepoint,
            str(e.days_after),
            *(cell(v) for v in fu.item_values(e).values()),
            fractures_text([f.model_dump(mode="json") for f in e.new_fractures]) or DASH,
            complications_text([c.model_dump(mode="json") for c in e.complications]) or DASH,
            escape(e.entered_by),
        )
    return table


def due_table(items: list[fu.DueItem], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Status", "Proc", "Patient", "Accession", "Procedure date", "Time point"):
        table.add_column(column)
    table.add_column("Window")
    table.add_column("Days", justify="right")
    for i in items:
        days = (
            f"[red]{i.days_overdue} overdue[/]" if i.status == "overdue" else f"{i.days_left} left"
        )
        table.add_row(
            "[red]overdue[/]" if i.status == "overdue" else "due",
            str(i.procedure_id),
            escape(i.patient_id or "?"),
            escape(i.accession_number or "?"),
            i.study_date.isoformat(),
            i.label,
            f"{i.window_from} – {i.window_to}",
            days,
        )
    return table


def audit_table(events: list[fu.AuditPublic]) -> Table:
    table = Table(title="Audit log", title_justify="left")
    for column in ("When", "Who", "Action", "Entity", "Details"):
        table.add_column(column)
    for e in events:
        details = e.details.get("reason") or ""
        if "version" in e.details:
            details = f"version {e.details['version']}" + (f": {details}" if details else "")
        table.add_row(
            e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.who),
            e.action,
            f"{e.entity} {e.entity_id}",
            escape(str(details)),
        )
    return table


def _show(value: Any, change: Any = None) -> str:
    if value is None:
        return DASH
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if change is not None:
        text += f" ({change:+g})"
    return text


def render_outcome_timeline(timeline: dict[str, Any]) -> RenderableType:
    """A rich renderable of ``fu.outcome_timeline`` (changes from baseline in brackets)."""
    outcomes = [fu.BY_NAME[name] for name in fu.OUTCOMES]
    table = Table(title="Outcomes", title_justify="left")
    for column in ("Time point", "Date", "Day", *(item.header for item in outcomes)):
        table.add_column(column, justify="left" if column in ("Time point", "Date") else "right")
    table.add_column("Analgesic")
    table.add_column("EQ-5D")
    table.add_column("Entry", justify="right", style="dim")
    for row in timeline["timepoints"]:
        change = row["change_from_baseline"] or {}
        label = row["timepoint"] or "unscheduled"
        if row["out_of_window"]:
            label += " [yellow](out of window)[/]"
        table.add_row(
            label,
            row["date"],
            str(row["days_after"]),
            *(_show(row[item.name], change.get(item.name)) for item in outcomes),
            _show(row["analgesic"]),
            _show(row.get("eq5d_profile")),
            f"{row['entry_id']}v{row['version']}",
        )
    parts: list[RenderableType] = [table]
    if not timeline["timepoints"]:
        parts = [Text("No follow-up entered yet.", style="dim")]
    where = {True: "adjacent to a treated level", False: "not adjacent", None: "adjacency unknown"}
    for f in timeline["new_fractures"]:
        extra = ", at a treated level" if f.get("at_treated_level") else ""
        parts.append(
            Text(f"New fracture {f['level']} on {f['date']}: {where[f['adjacent']]}{extra}")
        )
    for c in timeline["complications"]:
        parts.append(Text(f"Complication {c['type']} (SIR {c['severity']}) on {c['date']}"))
    return Group(*parts)

"""How follow-up looks to people: the summary before saving, entry tables, the worklist, the
audit log and the outcome timeline (``vp-log procedures show``). Columns come from the
instrument table; rules live in :mod:`vp_log.followup`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vp_log import followup as fu
from vp_log.cli.common import literal
from vp_log.text import printable

DASH = "[dim]–[/]"


def cell(value: Any) -> str:
    """A value for a table cell: unknown as a dash, floats without trailing zeros."""
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return literal(", ".join("-" if v is None else str(v) for v in value)) or DASH
    if hasattr(value, "value"):
        return literal(str(value.value))
    return literal(str(value))


def fractures_text(fractures: list[dict[str, Any]] | None) -> str:
    """New fractures as typed back: ``none`` and ``not assessed`` are different answers."""
    if fractures is None:
        return "[dim]not assessed[/]"
    if not fractures:
        return "none"
    adjacency = {True: " adjacent", False: " not adjacent", None: " adjacency unknown"}
    return literal(
        ", ".join(f"{f['level']}@{f['date']}{adjacency[f['adjacent']]}" for f in fractures)
    )


def complications_text(complications: list[dict[str, Any]] | None) -> str:
    if complications is None:
        return "[dim]not assessed[/]"
    if not complications:
        return "none"
    return literal(
        ", ".join(f"{c['type']} SIR {c['severity']} @{c['date']}" for c in complications)
    )


def summary(values: dict[str, Any], procedure: fu.ProcedureRef, who: str) -> Table:
    """What is about to be saved, every item of every instrument included."""
    table = Table(show_header=False, title="Follow-up to be saved", title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    timepoint = values["timepoint"] or "none (unscheduled)"
    if values["timepoint_inferred"]:
        timepoint += " (inferred from the date)"
    if values["out_of_window"]:
        timepoint += " [yellow]OUT OF WINDOW[/]"
    table.add_row("Procedure", literal(procedure.describe()))
    table.add_row("Date", f"{values['entry_date']} (day {values['days_after']})")
    table.add_row("Time point", timepoint)
    if values.get("closed_reason"):
        table.add_row("Closed", literal(values["closed_reason"]))
    else:
        for item in fu.ITEMS:
            table.add_row(item.title, cell(values[item.name]))
        table.add_row("New fractures", fractures_text(values["new_fractures"]))
        table.add_row("Complications", complications_text(values["complications"]))
    table.add_row("Notes", cell(values["notes"]))
    table.add_row("Entered by", literal(who))
    return table


def compact_table(title: str) -> Table:
    """A table that spends its width on content: a rule under the header, one space between."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )


def _timepoint_text(e: fu.FollowupPublic, *, wide: bool) -> str:
    text = literal(e.timepoint or "unscheduled")
    if e.closed:  # at 80 columns, why is `followup show`'s and --wide's
        return (
            f"{text} [yellow]closed: {e.closed.value}[/]" if wide else f"{text} [yellow]closed[/]"
        )
    if e.out_of_window and not e.closed:
        text += " [yellow]⚑[/]" if not wide else " [yellow]⚑ out of window[/]"
    return text


def _events_text(e: fu.FollowupPublic) -> str:
    if e.closed:
        return f"[yellow]closed: {e.closed.value}[/]"
    fractures = (
        None if e.new_fractures is None else [f.model_dump(mode="json") for f in e.new_fractures]
    )
    complications = (
        None if e.complications is None else [c.model_dump(mode="json") for c in e.complications]
    )
    return (
        f"fractures: {fractures_text(fractures)}\n"
        f"complications: {complications_text(complications)}"
    )


def _fractures_cell(e: fu.FollowupPublic) -> str:
    """New fractures in a few characters (80 columns): their levels, ``none`` or a dash
    (not assessed); the dates and adjacency are ``followup show``'s and ``--wide``'s."""
    if e.closed:  # the time point says so
        return ""
    if e.new_fractures is None:
        return DASH
    return literal(",".join(f.level for f in e.new_fractures)) or "none"


def _complications_cell(e: fu.FollowupPublic) -> str:
    """Complications in a few characters (80 columns): their SIR severities (``SIR A,F``),
    ``none`` or a dash (not assessed); their types and dates are ``followup show``'s."""
    if e.closed:
        return ""
    if e.complications is None:
        return DASH
    if not e.complications:
        return "none"
    return "SIR " + ",".join(sorted({c.severity.value for c in e.complications}))


#: The items an 80-column entry table shows (``--wide``: all of them).
NARROW_ITEMS = ("pain", "odi_percent", "rmdq", "analgesic")


def entries_table(entries: list[fu.FollowupPublic], title: str, *, wide: bool = False) -> Table:
    """Entries at 80 columns, one line each (the outcomes that matter, the events in short);
    ``wide``: everything, the events in full."""
    items = [i for i in fu.ITEMS if wide or i.name in NARROW_ITEMS]
    table = compact_table(title)
    table.add_column("Entry", no_wrap=True)
    if wide:
        table.add_column("Proc", no_wrap=True)
    table.add_column("Date", no_wrap=True)
    table.add_column("Time point", no_wrap=True)
    if wide:
        table.add_column("Day", justify="right")
    for item in items:
        choice = item.name == "analgesic"
        table.add_column(item.header, justify="left" if choice else "right", no_wrap=True)
    if wide:
        table.add_column("Events", ratio=1, min_width=14)
    else:  # one line an entry: the events' details are `followup show`'s and --wide's
        table.show_edge = False  # the blank edges' two columns are the severities'
        table.add_column("New fx", overflow="fold", min_width=6)
        table.add_column("Compl.", overflow="fold", min_width=6)
    if wide:
        table.add_column("By")
    for e in entries:
        values = fu.item_values(e)
        row = [str(e.entry_id) if e.version == 1 else f"{e.entry_id} v{e.version}"]
        if wide:
            row.append(str(e.procedure_id))
        row += [e.date.isoformat(), _timepoint_text(e, wide=wide)]
        if wide:
            row.append(str(e.days_after))
        row += [cell(values[i.name]) for i in items]
        if wide:
            row += [_events_text(e), literal(e.entered_by)]
        else:
            row += [_fractures_cell(e), _complications_cell(e)]
        table.add_row(*row)
    return table


def person_name(value: str) -> str:
    """A DICOM person name as people write it: ``NOVAK^INGRID`` -> ``NOVAK, INGRID``."""
    family, _, rest = value.partition("^")
    given = " ".join(p for p in rest.split("^") if p)
    return f"{family}, {given}" if given else family


def _patient(i: fu.DueItem) -> str:
    name = f"\n[dim]{literal(person_name(i.patient_name))}[/]" if i.patient_name else ""
    return literal(i.patient_id or "?") + name


def due_table(items: list[fu.DueItem], title: str, *, wide: bool = False) -> Table:
    """The worklist at 80 columns: accession, dates and time points never cut; ``wide``: all."""
    table = compact_table(title)
    table.add_column("Status", no_wrap=True)
    if wide:
        table.add_column("Proc", no_wrap=True)
    table.add_column("Patient", overflow="fold", min_width=8)
    table.add_column("Accession", no_wrap=True)
    if wide:
        table.add_column("Type")
    table.add_column("Procedure", no_wrap=True)
    table.add_column("Due", no_wrap=True)
    if wide:
        table.add_column("Window", no_wrap=True)
    table.add_column("Days", justify="right", no_wrap=True)
    for i in items:
        days = f"[red]{i.days_overdue} over[/]" if i.status == "overdue" else f"{i.days_left} left"
        row = ["[red]overdue[/]" if i.status == "overdue" else "due"]
        if wide:
            row.append(str(i.procedure_id))
        row += [_patient(i), literal(i.accession_number or "?")]
        if wide:
            row.append(literal(i.procedure_type))
        row += [
            i.study_date.isoformat(),
            literal(i.timepoint if not wide else f"{i.timepoint} ({i.label})"),
        ]
        if wide:
            row.append(f"{i.window_from} – {i.window_to}")
        row.append(days)
        table.add_row(*row)
    return table


def audit_table(events: Iterable[fu.AuditPublic], title: str) -> Table:
    """The audit log; at 80 columns the time, action and entity on one line, nothing cut
    (who and the details fold)."""
    table = compact_table(title)
    table.show_edge = False
    table.add_column("When", no_wrap=True)
    table.add_column("Who", overflow="fold")
    table.add_column("Action", no_wrap=True)
    table.add_column("Entity", no_wrap=True)
    table.add_column("Details", overflow="fold", ratio=1, min_width=10)
    for e in events:
        details = e.details.get("reason") or ""
        if "version" in e.details:
            details = f"version {e.details['version']}" + (f": {details}" if details else "")
        lines = [str(details)]
        changes = e.details.get("changes")
        if isinstance(changes, dict) and changes:  # record decisions, follow-up corrections
            lines = [*(_change(f, c) for f, c in changes.items()), *lines]
        table.add_row(
            e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            literal(e.who),
            literal(e.action),
            literal(f"{e.entity} {e.entity_id}"),
            "\n".join(literal(line) for line in lines if line),  # each change on its line
        )
    return table


def _change(field: str, change: Any) -> str:
    """``type: other -> vertebroplasty``: a record decision's change (``old``/``new``) or a
    follow-up correction's (``from``/``to``), as the audit log keeps them."""
    from vp_log.cli.decide import change_text

    if isinstance(change, dict) and ("from" in change or "to" in change):
        change = {"old": change.get("from"), "new": change.get("to")}
    return f"{field}: {change_text(change) if isinstance(change, dict) else change}"


def _show(value: Any, change: Any = None) -> str:
    """A value, its change from baseline below it in brackets."""
    if value is None:
        return DASH
    text = f"{value:g}" if isinstance(value, float) else literal(value)
    if change is not None:
        text += f"\n[dim]({change:+g})[/]"
    return text


#: The outcomes the timeline shows people (the JSON and ``followup list --wide`` have all).
TIMELINE_OUTCOMES = ("pain", "odi_percent", "rmdq", "eq5d_vas")


def render_outcome_timeline(timeline: dict[str, Any]) -> RenderableType:
    """A rich renderable of ``fu.outcome_timeline`` (changes from baseline in brackets).

    The main outcomes that were assessed at some time point get a column, so the table fits
    80 columns.
    """
    rows = timeline["timepoints"]
    outcomes = [
        fu.BY_NAME[name] for name in TIMELINE_OUTCOMES if any(r.get(name) is not None for r in rows)
    ]
    extras = [(key, head) for key, head in (("analgesic", "Analgesic"),)
              if any(r.get(key) for r in rows)]  # fmt: skip
    table = Table(
        title="Outcomes", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    table.add_column("Time point", no_wrap=True)
    table.add_column("Date", no_wrap=True)
    table.add_column("Day", justify="right")
    for item in outcomes:
        table.add_column(item.header, justify="right")
    for _, head in extras:
        table.add_column(head)
    for row in rows:
        change = row["change_from_baseline"] or {}
        label = literal(row["timepoint"] or "unscheduled")
        if row.get("closed"):
            label += "\n[yellow]closed[/]"
        elif row["out_of_window"]:
            label += " [yellow]⚑[/]"
        table.add_row(
            label,
            literal(row["date"]),
            str(row["days_after"]),
            *(_show(row[item.name], change.get(item.name)) for item in outcomes),
            *(_show(row.get(key)) for key, _ in extras),
        )
    parts: list[RenderableType] = [table]
    if not timeline["timepoints"]:
        parts = [Text("No follow-up entered yet.", style="dim")]
    for row in rows:
        if row.get("closed"):
            parts.append(
                Text(
                    printable(
                        f"Time point {row['timepoint']} closed on {row['date']}: {row['closed']}"
                    )
                )
            )
    where = {True: "adjacent to a treated level", False: "not adjacent", None: "adjacency unknown"}
    for f in timeline["new_fractures"]:
        extra = ", at a treated level" if f.get("at_treated_level") else ""
        parts.append(
            Text(
                printable(
                    f"New fracture {f['level']} on {f['date']}: {where[f['adjacent']]}{extra}"
                )
            )
        )
    for c in timeline["complications"]:
        parts.append(
            Text(printable(f"Complication {c['type']} (SIR {c['severity']}) on {c['date']}"))
        )
    return Group(*parts)

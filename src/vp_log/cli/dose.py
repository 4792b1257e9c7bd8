"""``vp-log dose alerts``: procedures and patients at a dose follow-up level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from vp_log.cli.common import (
    TABLE_LIMIT,
    console,
    counted,
    fail,
    literal,
    print_json,
    print_nothing,
    print_page_footer,
    state,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vp_log.alerts import AlertLevels, DoseAlert, DoseEntry
    from vp_log.config import Settings


app = typer.Typer(
    help="Dose follow-up: alerts per procedure and per patient.", no_args_is_help=True
)


def alert_levels(settings: Settings) -> AlertLevels:
    """The levels in force (``vp_log.alerts.alert_levels``, imported when used)."""
    from vp_log.alerts import alert_levels as levels_of

    return levels_of(settings)


def levels_text(levels: AlertLevels) -> str:
    """The levels and where they come from (``vp_log.alerts.levels_text``)."""
    from vp_log.alerts import levels_text as text_of

    return text_of(levels)


def _entries(rows: Sequence[Any]) -> dict[int, DoseEntry]:
    from vp_log.alerts import entry_of_record
    from vp_log.db.tables import record_document

    return {row.id: entry_of_record(row.id, record_document(row)) for row in rows}


def alerts_since(
    session: Session, levels: AlertLevels, since: str | None
) -> tuple[dict[int, list[DoseAlert]], dict[int, DoseEntry]]:
    """Alerts on every record dated ``since`` or later, each with its patient's history:
    ``(record id -> alerts, record id -> entry)`` of the records with an alert.

    Streamed a patient at a time (issue 15), of the patients who may reach a level: only
    the records with an alert are kept.
    """
    from vp_log.alerts import Metric, dose_alerts, entry_of_record
    from vp_log.db.listings import dose_fields_by_patient

    history_from = None
    if since:
        history_from = (
            date.fromisoformat(since) - timedelta(days=levels.window_days - 1)
        ).isoformat()
    found: dict[int, list[DoseAlert]] = {}
    entries: dict[int, DoseEntry] = {}
    reach = {m.record_field: level for m in Metric if (level := levels.level(m)) is not None}
    for _, rows in dose_fields_by_patient(session=session, levels=reach, since=history_from):
        recent = [
            pid
            for pid, fields in rows
            if not since or (isinstance(day := fields["study_date"], str) and day >= since)
        ]
        if not recent:
            continue  # only history: nothing of this patient is listed
        mine = {pid: entry_of_record(pid, fields) for pid, fields in rows}
        alerts = dose_alerts(mine.values(), levels)
        for pid in recent:
            if alerts.get(pid):
                found[pid], entries[pid] = alerts[pid], mine[pid]
    return found, entries


def record_alerts(
    session: Session, levels: AlertLevels, record_id: int, record: Mapping[str, Any]
) -> list[DoseAlert]:
    """The alerts on one record: its own values and its patient's window up to its date."""
    from vp_log.alerts import dose_alerts, entry_of_record
    from vp_log.db import repository as repo

    entry = entry_of_record(record_id, record)
    entries = {record_id: entry}
    if entry.patient_id and entry.day:
        start = entry.day - timedelta(days=levels.window_days - 1)
        rows = repo.dose_history(
            session=session,
            since=start.isoformat(),
            until=entry.day.isoformat(),
            patient_ids=[entry.patient_id],
        )
        entries = {**_entries(rows), record_id: entry}
    return dose_alerts(entries.values(), levels).get(record_id, [])


def alert_text(alert: DoseAlert) -> str:
    """One line per alert (``vp_log.alerts.alert_text``)."""
    from vp_log.alerts import alert_text as text_of

    return text_of(alert)


def shown_alerts(alerts: Sequence[DoseAlert]) -> list[DoseAlert]:
    """The alerts people see (``vp_log.alerts.shown_alerts``)."""
    from vp_log.alerts import shown_alerts as shown

    return shown(alerts)


@app.command("alerts")
def alerts(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Procedures dated from (YYYY-MM-DD); default: all")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"Only the N newest procedures with alerts (default: {TABLE_LIMIT} in the "
            "table, all with --json)",
        ),
    ] = None,
    offset: Annotated[
        int,
        typer.Option("--offset", min=0, help="Skip the N newest procedures first (next pages)"),
    ] = 0,
) -> None:
    """Procedures at a dose follow-up level, alone or added up per patient over the window."""
    if since is not None:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError:
            fail(f"--since must be a date as YYYY-MM-DD, got {since!r}")
    st = state(ctx)
    levels = alert_levels(st.settings)
    with st.reader.session() as session:
        found, entries = alerts_since(session, levels, since)
    newest_first = sorted(found, key=lambda r: (entries[r].day or date.min, r), reverse=True)
    if as_json:
        end = None if limit is None else offset + limit
        chosen = set(newest_first[offset:end])
        print_json(
            {
                "levels": {
                    "ka_r_mgy": levels.ka_r_mgy,
                    "dap_gy_cm2": levels.dap_gy_cm2,
                    "fluoro_time_s": levels.fluoro_time_s,
                    "window_days": levels.window_days,
                    "source": levels.source,
                },
                "alerts": [a.model_dump(mode="json") for rid in sorted(chosen) for a in found[rid]],
            }
        )
        return
    if not found:
        print_nothing(
            f"No dose alerts on procedures dated {since} or later." if since else "No dose alerts."
        )
        console.print(f"[dim]{literal(levels_text(levels))}[/]")
        return
    # The rows are alerts; the pages are procedures (each with all its alerts).
    count = sum(len(shown_alerts(a)) for a in found.values())
    patients = {entries[rid].patient_id for rid in found}
    title = (
        f"{counted(count, 'dose alert')} on {counted(len(found), 'procedure')} "
        f"of {counted(len(patients), 'patient')}"
    ) + (f", dated {since} or later" if since else "")
    page = newest_first[offset : offset + (TABLE_LIMIT if limit is None else limit)]
    table = Table(title=title, title_justify="left")
    for column in ("record", "date", "patient", "alert"):
        table.add_column(column, overflow="fold")
    for rid in reversed(page):
        entry = entries[rid]
        for alert in shown_alerts(found[rid]):
            table.add_row(
                str(rid),
                entry.day.isoformat() if entry.day else "?",
                literal(entry.patient_id or "?"),
                literal(alert_text(alert)),
            )
    console.print(table)
    print_page_footer(len(page), len(found), offset, noun=" procedures with alerts")
    console.print(f"[dim]{literal(levels_text(levels))}[/]")


# --- procedures show: events, subtotals, alerts ------------------------------------------------

_TYPE_SHORT = {
    "fluoroscopy": "fluoro",
    "stationary-acquisition": "acq",
    "stepping-acquisition": "step",
    "rotational-acquisition": "rot",
    "acquisition": "acq",
}


def _num(value: Any, digits: str = ".4g") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "[dim]?[/]"
    return format(value, digits)


def _measured(technique: Mapping[str, Any], name: str, digits: str = ".3g") -> str:
    found = technique.get(name)
    if not isinstance(found, Mapping):
        return "[dim]-[/]"
    return _num(found.get("value"), digits)


def _clock(start: Any) -> str:
    if not isinstance(start, str) or "T" not in start:
        return "[dim]?[/]"
    return start.split("T", 1)[1][:8]


def _filters(technique: Mapping[str, Any]) -> str:
    parts = []
    for item in technique.get("filters") or []:
        material = (item.get("material") or {}).get("meaning") or "?"
        symbol = next(
            (s for word, s in (("copper", "Cu"), ("alumin", "Al")) if word in material.casefold()),
            material[:6],
        )
        low = (item.get("thickness_min") or {}).get("value")
        high = (item.get("thickness_max") or {}).get("value")
        values = [v for v in (low, high) if isinstance(v, int | float)]
        mean = f"{sum(values) / len(values):g}" if values else "?"
        parts.append(f"{literal(symbol)} {mean}")
    return " + ".join(parts) or "[dim]-[/]"


def _field(technique: Mapping[str, Any]) -> str:
    area = technique.get("collimated_field_area")
    if isinstance(area, Mapping) and isinstance(area.get("value"), int | float):
        return f"{area['value'] * 1e4:.0f} cm²"
    ii = technique.get("ii_field_size")
    if isinstance(ii, Mapping) and isinstance(ii.get("value"), int | float):
        return f"⌀{ii['value']:g} mm"
    return "[dim]-[/]"


def render_events(record: Mapping[str, Any]) -> None:
    """Every irradiation event: its dose, then its technique (two tables that fit 80 columns)."""
    events = record.get("events") or []
    if not events:
        console.print("[dim]no irradiation events listed by a dose report[/]")
        return
    dose = Table(
        "#",
        "start",
        "type",
        "plane",
        "protocol",
        "DAP Gy·cm²",
        "Ka,r mGy",
        "time s",
        title=f"Irradiation events ({len(events)})",
        title_justify="left",
    )
    technique = Table(
        "#",
        "kVp",
        "mA",
        "pulse ms",
        "p/s",
        "pulses",
        "filter mm",
        "field",
        "SID mm",
        "angles °",
        title="Technique",
        title_justify="left",
    )
    for index, event in enumerate(events, start=1):
        dose.add_row(
            str(index),
            _clock(event.get("start")),
            _TYPE_SHORT.get(str(event.get("type")), literal(str(event.get("type") or "?")[:8])),
            literal(str(event.get("plane") or "?")),
            literal(str(event.get("protocol") or "-")[:22]),
            _num(event.get("dap_gy_cm2")),
            _num(event.get("ka_r_mgy")),
            _num(event.get("duration_s"), ".3g"),
        )
        t = event.get("technique") or {}
        primary = _measured(t, "positioner_primary_angle", ".3g")
        secondary = _measured(t, "positioner_secondary_angle", ".3g")
        technique.add_row(
            str(index),
            _measured(t, "kvp"),
            _measured(t, "tube_current"),
            _measured(t, "pulse_width"),
            _measured(t, "pulse_rate"),
            _measured(t, "number_of_pulses", ".0f"),
            _filters(t),
            _field(t),
            _measured(t, "distance_source_to_detector", ".4g"),
            f"{primary}/{secondary}",
        )
    console.print(dose)
    console.print(technique)
    render_subtotals(record)


def render_subtotals(record: Mapping[str, Any]) -> None:
    """Per plane and per event type: events, DAP, Ka,r and time added up from the events."""
    per_plane = record.get("event_subtotals_per_plane") or {}
    if not per_plane:
        return
    table = Table(
        "plane",
        "type",
        "events",
        "DAP Gy·cm²",
        "Ka,r mGy",
        "time s",
        title="Subtotals from the events",
        title_justify="left",
    )
    for plane in sorted(per_plane):
        for kind, subtotal in per_plane[plane].items():
            table.add_row(
                literal(plane),
                literal(kind),
                str(subtotal.get("events")),
                _num(subtotal.get("dap_gy_cm2")),
                _num(subtotal.get("ka_r_mgy")),
                _num(subtotal.get("duration_s"), ".4g"),
            )
    console.print(table)


def render_alerts(alerts: Sequence[DoseAlert], levels: AlertLevels) -> None:
    """The record's dose alerts (or that it has none), with the levels in force."""
    shown = shown_alerts(alerts)
    if not shown:
        console.print(f"[green]dose alerts:[/] none [dim]({literal(levels_text(levels))})[/]")
        return
    for alert in shown:
        console.print(f"[bold red]dose alert:[/] {literal(alert_text(alert))}")
    console.print(f"[dim]{literal(levels_text(levels))}[/]")


def render_patient(record: Mapping[str, Any]) -> None:
    """Patient height, weight and age, and the software versions, where the files give them."""
    patient = record.get("patient") or {}
    parts = []
    for name, unit in (("height", "m"), ("weight", "kg"), ("age", "years")):
        value = (patient.get(name) or {}).get("value")
        parts.append(f"{name} {value:g} {unit}" if isinstance(value, int | float) else f"{name} ?")
    software = ", ".join(record.get("software_versions") or []) or "?"
    console.print(f"[bold]patient:[/] {', '.join(parts)}   [bold]software:[/] {literal(software)}")
    consistency = record.get("dose_consistency") or []
    for finding in consistency:
        events_value = finding.get("from_events")
        said = f"{events_value:g}" if isinstance(events_value, int | float) else "-"
        console.print(
            f"[yellow]dose report disagrees with its events:[/] {literal(str(finding['check']))}"
            f" (plane {literal(str(finding['plane']))}: stated {finding['stated']:g}"
            f" {literal(str(finding['unit']))}, events {said}, {finding['events']} events)"
        )


def register(root: typer.Typer) -> None:
    """Add ``vp-log dose`` to the root command (:data:`vp_log.cli.COMMANDS` lists it)."""
    root.add_typer(app, name="dose")

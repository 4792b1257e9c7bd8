"""``vp-log dose alerts``: procedures and patients at a dose follow-up level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from vp_log.alerts import AlertLevels, DoseAlert, DoseEntry, Metric, dose_alerts, entry_of_record
from vp_log.cli.common import console, fail, print_json, state
from vp_log.config import Settings
from vp_log.db import repository as repo

app = typer.Typer(
    help="Dose follow-up: alerts per procedure and per patient.", no_args_is_help=True
)


def alert_levels(settings: Settings) -> AlertLevels:
    """The levels in force (0 in the configuration turns a level off)."""
    return AlertLevels(
        ka_r_mgy=settings.dose_alert_ka_r_mgy or None,
        dap_gy_cm2=settings.dose_alert_dap_gy_cm2 or None,
        fluoro_time_s=(settings.dose_alert_fluoro_time_min * 60.0) or None,
        window_days=settings.dose_alert_window_days,
    )


def _entries(rows: Sequence[Any]) -> dict[int, DoseEntry]:
    return {row.id: entry_of_record(row.id, row.record) for row in rows}


def alerts_since(
    session: Session, levels: AlertLevels, since: str | None
) -> tuple[dict[int, list[DoseAlert]], dict[int, DoseEntry]]:
    """Alerts on every record dated ``since`` or later, each with its patient's history."""
    recent = _entries(repo.dose_history(session=session, since=since))
    patients = sorted({e.patient_id for e in recent.values() if e.patient_id})
    history_from = None
    if since:
        history_from = (
            date.fromisoformat(since) - timedelta(days=levels.window_days - 1)
        ).isoformat()
    history = _entries(repo.dose_history(session=session, since=history_from, patient_ids=patients))
    found = dose_alerts({**history, **recent}.values(), levels)
    return {rid: found[rid] for rid in recent if found.get(rid)}, recent


def record_alerts(
    session: Session, levels: AlertLevels, record_id: int, record: Mapping[str, Any]
) -> list[DoseAlert]:
    """The alerts on one record: its own values and its patient's window up to its date."""
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


def _value(alert: DoseAlert) -> str:
    if alert.metric is Metric.FLUORO_TIME:
        return f"{alert.value / 60:.1f} min"
    return f"{alert.value:.4g} {alert.unit}"


def _level(alert: DoseAlert) -> str:
    if alert.metric is Metric.FLUORO_TIME:
        return f"{alert.level / 60:g} min"
    return f"{alert.level:g} {alert.unit}"


def alert_text(alert: DoseAlert) -> str:
    """One line: ``cumulative Ka,r 5 040 mGy ≥ 5000 mGy (records 3, 7 within 42 days)``."""
    name = {Metric.KA_R: "Ka,r", Metric.DAP: "DAP", Metric.FLUORO_TIME: "fluoro time"}
    text = f"{alert.scope.value} {name[alert.metric]} {_value(alert)} ≥ {_level(alert)}"
    if alert.window_days is not None:
        records = ", ".join(str(r) for r in alert.records)
        text += f" (record{'s' if len(alert.records) > 1 else ''} {records}"
        text += f" within {alert.window_days} days)"
    if alert.incomplete:
        text += ", at least: a value is unknown"
    return text


def shown_alerts(alerts: Sequence[DoseAlert]) -> list[DoseAlert]:
    """For people: a cumulative alert that adds up this procedure alone says nothing more."""
    alone = {a.metric for a in alerts if a.scope.value == "procedure"}
    return [
        a
        for a in alerts
        if not (a.scope.value == "cumulative" and len(a.records) == 1 and a.metric in alone)
    ]


@app.command("alerts")
def alerts(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Procedures dated from (YYYY-MM-DD); default: all")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
) -> None:
    """Procedures at a dose follow-up level, alone or added up per patient over the window."""
    if since is not None:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError:
            fail(f"--since must be a date as YYYY-MM-DD, got {since!r}")
    st = state(ctx)
    levels = alert_levels(st.settings)
    with st.database.session() as session:
        found, entries = alerts_since(session, levels, since)
    if as_json:
        print_json(
            {
                "levels": {
                    "ka_r_mgy": levels.ka_r_mgy,
                    "dap_gy_cm2": levels.dap_gy_cm2,
                    "fluoro_time_s": levels.fluoro_time_s,
                    "window_days": levels.window_days,
                    "source": levels.source,
                },
                "alerts": [a.model_dump(mode="json") for rid in sorted(found) for a in found[rid]],
            }
        )
        return
    count = sum(len(shown_alerts(a)) for a in found.values())
    patients = {entries[rid].patient_id for rid in found}
    title = f"{count} dose alert(s) on {len(found)} procedure(s) of {len(patients)} patient(s)" + (
        f" since {since}" if since else ""
    )
    table = Table(title=title, title_justify="left")
    for column in ("record", "date", "patient", "alert"):
        table.add_column(column, overflow="fold")
    for rid in sorted(found, key=lambda r: (entries[r].day or date.min, r)):
        entry = entries[rid]
        for alert in shown_alerts(found[rid]):
            table.add_row(
                str(rid),
                entry.day.isoformat() if entry.day else "?",
                escape(entry.patient_id or "?"),
                escape(alert_text(alert)),
            )
    console.print(table)
    console.print(f"[dim]{escape(levels_text(levels))}[/]")


def levels_text(levels: AlertLevels) -> str:
    """The levels in force, and where the defaults come from."""

    def shown(value: float | None, unit: str) -> str:
        return f"{value:g} {unit}" if value else "off"

    fluoro = levels.fluoro_time_s / 60 if levels.fluoro_time_s else None
    return (
        f"levels: Ka,r {shown(levels.ka_r_mgy, 'mGy')}, DAP {shown(levels.dap_gy_cm2, 'Gy·cm²')},"
        f" fluoroscopy {shown(fluoro, 'min')}, window {levels.window_days} days"
        f" (defaults: {levels.source.split(',')[0]})"
    )

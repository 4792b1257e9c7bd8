"""``vp-log status``: is the listener up, what came in, what is waiting, what went wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.padding import Padding
from rich.table import Table

from vp_log.cli.common import console, counted, literal, print_json, state
from vp_log.cli.dose import alert_levels, alerts_since, shown_alerts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vp_log.config import Settings


NEWEST_REASONS = 5


def _spool_state(data_dir: Path) -> dict[str, Any]:
    from vp_log.spool import Spool

    ready = data_dir / "spool"
    if not ready.is_dir():
        return {"waiting": 0, "oldest_received_at": None}
    names = sorted(e.name for e in ready.iterdir() if e.name.endswith(".dcm"))
    oldest = Spool.received_time(ready / names[0]) if names else None
    return {"waiting": len(names), "oldest_received_at": oldest.isoformat() if oldest else None}


def _quarantine_state(data_dir: Path) -> dict[str, Any]:
    from vp_log.quarantine import list_quarantined

    files = list_quarantined(data_dir / "quarantine")
    return {
        "count": len(files),
        "newest": [
            {
                "file": q.name,
                "quarantined_at": q.quarantined_at.isoformat(timespec="seconds"),
                "reason": q.reason,
            }
            for q in files[:NEWEST_REASONS]
        ],
    }


def _dose_alert_state(session: Session, settings: Settings) -> dict[str, Any]:
    """Dose alerts on the procedures of the last alert window (counted back from today)."""
    levels = alert_levels(settings)
    since = (date.today() - timedelta(days=levels.window_days - 1)).isoformat()
    found, _ = alerts_since(session, levels, since)
    return {
        "since": since,
        "records": len(found),
        "alerts": sum(len(a) for a in found.values()),
        # what `vp-log dose alerts` shows of them (a cumulative alert of one record is not)
        "shown_alerts": sum(len(shown_alerts(a)) for a in found.values()),
        "record_ids": sorted(found),
    }


def _database_state(settings: Settings) -> dict[str, Any]:
    from sqlalchemy.exc import SQLAlchemyError

    from vp_log.config import redact_url
    from vp_log.db import Database
    from vp_log.db.engine import current_revision
    from vp_log.db.maintenance import count_rows, sqlite_path
    from vp_log.db.repository import receiving_studies

    url = settings.db_url
    info: dict[str, Any] = {"url": redact_url(url), "error": None}
    db_file = sqlite_path(url)
    if db_file is not None and not db_file.exists():
        info["error"] = "not created yet (the first listen or import creates it)"
        return info
    try:
        info["schema_revision"] = current_revision(url)
        info["rows"] = count_rows(url)
        database = Database(url, upgrade=False)
        try:
            with database.session() as session:
                info["receiving"] = [
                    {
                        "study_instance_uid": p.study_instance_uid,
                        "accession_number": p.accession_number,
                        "instances": p.instance_count,
                        "last_received_at": p.last_received_at.isoformat(timespec="seconds"),
                    }
                    for p in receiving_studies(session=session)
                ]
                info["dose_alerts"] = _dose_alert_state(session, settings)
        finally:
            database.dispose()
    except SQLAlchemyError as exc:
        info["error"] = f"cannot read it: {getattr(exc, 'orig', None) or exc}"
    return info


def collect_status(settings: Settings) -> dict[str, Any]:
    """Everything ``vp-log status`` shows, as one JSON-ready mapping."""
    from vp_log.spool import disk_space
    from vp_log.status import listener_running, read_status

    data_dir = Path(settings.data_dir)
    written = read_status(data_dir) or {}
    running = listener_running(data_dir)
    listener: dict[str, Any] = {"running": running, **written}
    if not running:
        listener["active_associations"] = []
    database = _database_state(settings)
    disk: dict[str, Any] = {"error": None}
    try:
        space = disk_space(data_dir, settings.disk_reserve_mb * 1_000_000)
        disk.update(
            free_bytes=space.free_bytes,
            reserve_bytes=space.reserve_bytes,
            below_reserve=space.below_reserve,
            text=space.describe(),
        )
    except OSError as exc:
        disk["error"] = str(exc)
    return {
        "dose_alerts": database.pop("dose_alerts", None),
        "disk": disk,
        "data_dir": str(data_dir),
        "listener": listener,
        "spool": _spool_state(data_dir),
        "quarantine": _quarantine_state(data_dir),
        "receiving": database.pop("receiving", []),
        "database": database,
    }


SHOWN_STUDIES = 10


def _when(text: str | None, *, short: bool = False) -> str:
    """An ISO time as ``2026-03-01 14:02:11`` (UTC), or ``03-01 14:02:11`` when ``short``."""
    if not text:
        return "?"
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


def _ago(text: str | None) -> str:
    if not text:
        return "unknown"
    seconds = (datetime.now(UTC) - datetime.fromisoformat(text)).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return text


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Listener up or not, last associations, spool backlog, quarantine, studies receiving."""
    st = state(ctx)
    st.require_database()  # a mistyped data folder is said so, not shown as an empty one
    data = collect_status(st.settings)
    if as_json:
        print_json(data)
        return
    lst = data["listener"]
    where = literal(
        f"{lst.get('ae_title', '?')} on {lst.get('bind_address', '?')}:{lst.get('port', '?')}"
    )
    if lst["running"]:
        console.print(
            f"listener:   [green]up[/] (pid {lst.get('pid', '?')}) as {where}, "
            f"since {_when(lst.get('started_at'))} UTC",
            highlight=False,
        )
    else:
        last = (
            f"; last ran as {where}, until {_when(lst.get('updated_at'))} UTC"
            if lst.get("pid")
            else ""
        )
        console.print(f"listener:   [red]not running[/]{last}", highlight=False)
    db = data["database"]
    if db["error"]:
        console.print(
            f"database:   {literal(db['url'])}: [red]{literal(db['error'])}[/]", highlight=False
        )
    else:
        rows = db["rows"]
        console.print(
            f"database:   {literal(db['url'])} (schema {db['schema_revision']}): "
            f"{counted(rows['procedures'], 'record')}, {counted(rows['instances'], 'instance')}",
            highlight=False,
        )
    doses = data["dose_alerts"]
    if doses is not None:
        hint = f" (vp-log dose alerts --since {doses['since']})" if doses["records"] else ""
        console.print(
            f"dose:       {counted(doses['shown_alerts'], 'dose alert')} on "
            f"{counted(doses['records'], 'procedure')} dated {doses['since']} or later{hint}",
            highlight=False,
        )
    disk = data["disk"]
    console.print(f"disk:       {literal(disk['error'] or disk['text'])}", highlight=False)
    spool = data["spool"]
    oldest = f", oldest received {_ago(spool['oldest_received_at'])}" if spool["waiting"] else ""
    console.print(f"spool:      {spool['waiting']} waiting for the worker{oldest}")
    quarantine = data["quarantine"]
    console.print(f"quarantine: {quarantine['count']} files", highlight=False)
    for q in quarantine["newest"]:
        console.print(f"  {literal(q['file'])}", highlight=False)
        text = literal(f"{_when(q['quarantined_at'])} UTC: {q['reason']}")
        console.print(Padding(text, (0, 0, 0, 4)), highlight=False)
    receiving = data["receiving"]
    console.print(f"receiving:  {len(receiving)} studies")
    if len(receiving) > SHOWN_STUDIES:
        console.print(f"  (the {SHOWN_STUDIES} newest; --json lists all)")
    for study in receiving[:SHOWN_STUDIES]:
        console.print(
            f"  {literal(study['accession_number'] or study['study_instance_uid'])}: "
            f"{study['instances']} instances, last {_ago(study['last_received_at'])}",
            highlight=False,
        )
    associations = lst.get("active_associations", []) + lst.get("recent_associations", [])
    if associations:
        table = Table(
            "started (UTC)",
            "calling AE",
            "called AE",
            "outcome",
            "stored",
            "failed",
            title="associations: running, then the last ones",
            title_justify="left",
            box=None,
        )
        for a in associations:
            table.add_row(
                _when(a["started_at"], short=True),
                literal(a["calling_ae"]),
                literal(a["called_ae"]),
                literal(a["outcome"]),
                str(a["stored"]),
                str(a["failed"]),
            )
        console.print(table)
    else:
        console.print("associations: none yet")


def register(root: typer.Typer) -> None:
    """Add ``vp-log status`` to the root command (:data:`vp_log.cli.COMMANDS` lists it)."""
    root.command("status")(status)

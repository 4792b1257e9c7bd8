"""``vp-log procedures list|show``: the records, as rich tables for people, JSON for scripts."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from vp_log.cli.common import console, fail, print_json, state
from vp_log.db import repository as repo
from vp_log.db.tables import Procedure
from vp_log.followup import load_schedule, outcome_timeline, render_outcome_timeline
from vp_log.pipeline import Pipeline
from vp_log.spool import Spool

app = typer.Typer(help="Procedure records built from received studies.", no_args_is_help=True)


def _iso_date(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, got {value!r}")


def record_json(row: Procedure) -> dict[str, Any]:
    """The public JSON of a record: its id first, then the assembled document."""
    return {"id": row.id, **row.record}


def _refresh(ctx: typer.Context) -> None:
    """Complete studies whose quiet period has passed (the listener may not be running)."""
    st = state(ctx)
    Pipeline(st.settings, st.database, Spool(st.settings.data_dir)).complete_quiet_studies()


@app.command("list")
def list_(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Study date from (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option(help="Study date until (YYYY-MM-DD)")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient ID")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include studies that are not vertebral augmentation")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
) -> None:
    """List procedure records (vertebroplasty, kyphoplasty, sacroplasty; --all for every study)."""
    since_iso, until_iso = _iso_date(since, "--since"), _iso_date(until, "--until")
    _refresh(ctx)
    with state(ctx).database.session() as session:
        rows = repo.list_procedures(
            session=session,
            since=since_iso,
            until=until_iso,
            patient_id=patient,
            include_all=all_,
        )
        records = [record_json(r) for r in rows]
    if as_json:
        print_json(records)
        return
    table = Table(title=f"{len(records)} procedure record(s)")
    for column in (
        "id",
        "date",
        "patient",
        "accession",
        "type",
        "levels",
        "cement",
        "status",
        "inst.",
    ):
        table.add_column(column)
    for rec in records:
        levels = ", ".join(str(lv.get("level")) for lv in rec.get("levels") or [])
        cement = rec.get("total_cement_ml")
        table.add_row(
            str(rec["id"]),
            rec.get("study_date") or "?",
            rec.get("patient_id") or "?",
            rec.get("accession_number") or "",
            rec.get("procedure_type") or "",
            levels or "-",
            f"{cement:g} mL" if isinstance(cement, int | float) else "unknown",
            rec.get("status") or "",
            str(rec.get("instance_count", 0)),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Record id, accession number or Study Instance UID")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
) -> None:
    """Show one procedure record with the source of each value."""
    _refresh(ctx)
    with state(ctx).database.session() as session:
        rows = repo.find_procedures(session=session, key=key)
        records = [record_json(r) for r in rows]
    if not records:
        fail(f"no procedure record with id, accession number or Study Instance UID {key!r}")
    if len(records) > 1:
        ids = ", ".join(
            f"{r['id']} ({r.get('study_date')}, {r.get('patient_id')})" for r in records
        )
        fail(f"{key!r} matches several records: {ids}; give the record id")
    record = records[0]
    st = state(ctx)
    schedule = load_schedule(st.settings.followup_schedule_path)
    with st.database.session() as session:
        record["outcomes"] = outcome_timeline(session, record["id"], schedule=schedule)
    if as_json:
        print_json(record)
        return
    render_record(record)
    console.print(render_outcome_timeline(record["outcomes"]))


def fluoro_time_text(seconds: float | None) -> str:
    """Fluoroscopy time as ``m:ss (N s)``; unknown stays unknown."""
    if seconds is None:
        return "[dim]unknown[/]"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d} ({seconds:g} s)"


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "[dim]unknown[/]"
    if isinstance(value, float):
        return f"{value:.4g}{unit}"
    return f"{value}{unit}"


def compact_sources(sources: list[str]) -> str:
    """Sources grouped by place: ``StudyDescription (9 instances)`` instead of nine lines."""
    counts: dict[str, set[str]] = {}
    for source in sources:
        path, _, uid = source.rpartition("@")
        counts.setdefault(path or source, set()).add(uid)
    return "\n".join(
        f"{path} ({len(uids)} instances)" if len(uids) > 1 else path
        for path, uids in counts.items()
    )


def _origin(record: dict[str, Any], field: str) -> str:
    origin = (record.get("origins") or {}).get(field)
    where = (record.get("sources") or {}).get(field) or []
    parts = [p for p in (origin, compact_sources(where) if where else None) if p]
    return escape(" · ".join(parts)) if parts else "-"


def _render_dose(record: dict[str, Any]) -> None:
    table = Table("dose and timing", "value", "source", title="Dose", title_justify="left")
    duration = record.get("duration_s")
    rows = [
        ("fluoroscopy time", fluoro_time_text(record.get("fluoro_time_s")), "fluoro_time_s"),
        ("acquisition time", _fmt(record.get("acquisition_time_s"), " s"), "acquisition_time_s"),
        ("dose-area product", _fmt(record.get("dap_gy_cm2"), " Gy·cm²"), "dap_gy_cm2"),
        ("air kerma at reference point", _fmt(record.get("ka_r_mgy"), " mGy"), "ka_r_mgy"),
        ("irradiation events", _fmt(record.get("irradiation_events")), "irradiation_events"),
        ("planes", ", ".join(record.get("planes") or []) or "-", "planes"),
        ("duration", fluoro_time_text(duration) if duration is not None else _fmt(None), "start"),
    ]
    for name, value, field in rows:
        table.add_row(name, value, _origin(record, field))
    console.print(table)


def _render_levels(record: dict[str, Any]) -> None:
    levels = record.get("levels") or []
    total = record.get("total_cement_ml")
    table = Table(
        "level",
        "cement",
        "approach",
        "side",
        "flags",
        "sources",
        title=f"Treated levels (total cement {_fmt(total, ' mL')})",
        title_justify="left",
    )
    for level in levels:
        sources = [
            src if isinstance(src, str) else f"{src.get('path')}@{src.get('sop_instance_uid')}"
            for src in level.get("sources") or []
        ]
        table.add_row(
            escape(str(level.get("level"))),
            _fmt(level.get("cement_ml"), " mL"),
            _fmt(level.get("approach")),
            _fmt(level.get("side")),
            escape(", ".join(level.get("flags") or [])) or "-",
            escape(compact_sources(sources)) or "-",
        )
    console.print(table)


def render_record(record: dict[str, Any]) -> None:
    table = Table(show_header=False, title=f"Procedure record {record['id']}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    device = record.get("device") or {}
    rows: list[tuple[str, str]] = [
        ("type", _fmt(record.get("procedure_type"))),
        ("status", _fmt(record.get("status"))),
        ("patient", f"{_fmt(record.get('patient_id'))}  {record.get('patient_name') or ''}"),
        ("study date", _fmt(record.get("study_date"))),
        ("accession", _fmt(record.get("accession_number"))),
        ("study", record["study_instance_uid"]),
        ("description", _fmt(record.get("study_description"))),
        ("modalities", ", ".join(record.get("modalities") or []) or "-"),
        ("series / instances", f"{record.get('series_count')} / {record.get('instance_count')}"),
        ("start", _fmt(record.get("start"))),
        ("end", _fmt(record.get("end"))),
        (
            "device",
            " ".join(
                str(v)
                for v in (device.get("manufacturer"), device.get("model"), device.get("serial"))
                if v
            )
            or "[dim]unknown[/]",
        ),
        ("operators", ", ".join(record.get("operators") or []) or "-"),
        ("performing physicians", ", ".join(record.get("performing_physicians") or []) or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    _render_dose(record)
    _render_levels(record)
    if record.get("flags"):
        console.print("[yellow]flags:[/] " + ", ".join(record["flags"]))
    for conflict in record.get("conflicts") or []:
        console.print(f"[red]conflict[/] {conflict.get('field')}: {conflict.get('values')}")
    sources = record.get("sources") or {}
    if sources:
        src = Table(
            "value",
            "source (attribute or SR path @ SOP Instance UID)",
            title="Sources",
            title_justify="left",
        )
        for name, where in sources.items():
            src.add_row(name, escape(compact_sources(where)))
        console.print(src)

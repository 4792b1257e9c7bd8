"""``vp-log procedures list|show``: the records, as rich tables for people, JSON for scripts."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from vp_log.cli import dose as dose_cli
from vp_log.cli.common import (
    TABLE_LIMIT,
    console,
    counted,
    fail,
    json_text,
    literal,
    print_json,
    print_nothing,
    print_page_footer,
    state,
    stream_json,
)
from vp_log.cli.decide import decide, decisions_table, not_one
from vp_log.cli.followup_views import render_outcome_timeline
from vp_log.clinical import (
    Blinding,
    ClinicalBaseline,
    ClinicalBaselineInput,
    Indication,
    Oedema,
    OnsetPrecision,
    baseline,
    merged_values,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vp_log.db.tables import Procedure
    from vp_log.record import ProcedurePublic


app = typer.Typer(help="Procedure records built from received studies.", no_args_is_help=True)
app.command("decide")(decide)


def _iso_date(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, got {value!r}")


def _public(ctx: typer.Context, row: Procedure) -> ProcedurePublic:
    from vp_log.db import repository as repo

    return repo.public_record(
        row, now=datetime.now(UTC), quiet_period_s=state(ctx).settings.quiet_period_s
    )


#: The record fields the table shows (and what its status is derived from): taken out of the
#: stored JSON by the database, not whole records with their provenance (issue 15).
LIST_FIELDS = (
    "study_date",
    "accession_number",
    "patient_id",
    "patient_name",
    "procedure_type",
    "levels",
    "total_cement_ml",
    "status",
    "needs_review",
    "last_received_at",
    "instance_count",
)

LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        help=f"Only the N newest records (default: {TABLE_LIMIT} in the table, all with --json)",
    ),
]
OffsetOpt = Annotated[
    int, typer.Option("--offset", min=0, help="Skip the N newest records first (next pages)")
]


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
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column (patient name, instance count)")
    ] = False,
    limit: LimitOpt = None,
    offset: OffsetOpt = 0,
) -> None:
    """List procedure records (vertebroplasty, kyphoplasty, sacroplasty; --all for every study).

    By study date, oldest first; the table shows the newest 200 unless --limit says otherwise.
    """
    from vp_log.db import listings

    only = listings.ProcedureFilter(
        since=_iso_date(since, "--since"),
        until=_iso_date(until, "--until"),
        patient_id=patient,
        include_all=all_,
    )
    quiet = state(ctx).settings.quiet_period_s
    now = datetime.now(UTC)
    with state(ctx).reader.session() as session:
        if as_json:
            page = listings.Page(limit, offset)
            records = listings.listed_records(session=session, only=only, page=page)
            lines = _json_lines(session, records, now=now, quiet_period_s=quiet)
            stream_json(lines, encoded=True)
            return
        total = listings.count_procedures(session=session, only=only)
        if not total:
            print_nothing("No procedure records.")
            return
        page = listings.Page(TABLE_LIMIT if limit is None else limit, offset)
        rows = listings.listed_fields(session=session, names=LIST_FIELDS, only=only, page=page)
        table = _list_table(rows, total=total, wide=wide, now=now, quiet_period_s=quiet)
    console.print(table)
    print_page_footer(table.row_count, total, offset)


def _json_lines(
    session: Session,
    records: Iterator[tuple[int, int, str, str, bool]],
    *,
    now: datetime,
    quiet_period_s: float,
) -> Iterator[str]:
    """Each record as ``procedures show --json`` prints it (without its outcomes), one line.

    A record stored in the current shape, with no decision in force and whose status needs
    no deriving, is its stored document's text (``listings.document_text``: the record's
    order) with its id put first and the public fields' defaults last, never validated
    (that was most of ``--json``'s time). Any other record (an older shape, a study still
    receiving, decisions in force) goes through ``repository.public_record`` as before.
    """
    from vp_log.db import repository as repo
    from vp_log.db.tables import Procedure
    from vp_log.record import RECORD_VERSION, ProcedurePublic, ProcedureRecord

    extra = {
        name: info.get_default(call_default_factory=True)
        for name, info in ProcedurePublic.model_fields.items()
        if name not in ProcedureRecord.model_fields and name != "id"
    }
    tail = "".join(f", {json.dumps(name)}: {json.dumps(value)}" for name, value in extra.items())
    for pid, version, status, text, decided in records:
        if version == RECORD_VERSION and status != "receiving" and not decided:
            inner = text[1:-1]
            yield f'{{"id": {pid}, {inner}{tail}}}' if inner else f'{{"id": {pid}{tail}}}'
            continue
        row = session.get(Procedure, pid)
        if row is None:  # deleted meanwhile (the listing reads no snapshot on SQLite)
            continue
        public = repo.public_record(row, now=now, quiet_period_s=quiet_period_s)
        yield json_text(public.to_json())
        session.expunge(row)


_SIDE = {"left": "L", "right": "R", "bilateral": "L+R"}


def _level_text(level: Any) -> str:
    """``L1``, ``S1 L``: a treated level (a stored record's ``levels`` item)."""
    if not isinstance(level, dict):
        return str(level)
    name, side = str(level.get("level") or "?"), level.get("side")
    if not side:
        return name
    return f"{name} {_SIDE.get(side, side)}"


def _status_text(fields: dict[str, Any], now: datetime, quiet_period_s: float) -> str:
    """The status as of ``now`` (``ProcedureRecord.status_at`` on the stored fields)."""
    from vp_log.db.listings import parse_time
    from vp_log.record import study_status

    stored = fields.get("status") or "receiving"
    last = parse_time(fields.get("last_received_at"))
    if stored != "receiving" or last is None:
        return str(stored)
    return study_status(
        last_received_at=last,
        now=now,
        quiet_period_s=quiet_period_s,
        needs_review=bool(fields.get("needs_review")),
    ).value


def _decided_fields(
    fields: dict[str, Any], state: dict[str, Any]
) -> tuple[dict[str, Any], set[str], str | None]:
    """The fields with the record's manual decisions applied, the decided fields (``type``,
    ``levels``...) and why it is excluded (None: it is not)."""
    from vp_log.decisions import DecisionState, effective

    decisions = DecisionState.model_validate(state)
    excluded = decisions.exclude.value.value if decisions.exclude else None
    return effective(fields, decisions), {f.value for f in decisions.decided()}, excluded


def _cement_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "unknown"
    return f"{value:g} mL"


def _list_table(
    rows: Iterable[tuple[int, dict[str, Any], dict[str, Any] | None]],
    *,
    total: int,
    wide: bool,
    now: datetime,
    quiet_period_s: float,
) -> Table:
    """At 80 columns: never cut an id, date, accession, patient ID, type or status (levels
    wrap); ``--wide`` adds the patient's name and the instance count."""
    table = Table(
        title=counted(total, "procedure record"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("date", no_wrap=True)
    table.add_column("accession\npatient", no_wrap=True)
    if wide:
        table.add_column("name", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("levels", overflow="fold")
    table.add_column("cement", no_wrap=True, justify="right")
    table.add_column("status", no_wrap=True)
    if wide:
        table.add_column("inst.", no_wrap=True, justify="right")
    marked = False
    for pid, extracted, decisions in rows:
        rec, decided, excluded = extracted, set[str](), None
        if decisions is not None:
            rec, decided, excluded = _decided_fields(extracted, decisions)
        marked = marked or bool(decided)
        star = {f: "*" if f in decided else "" for f in ("type", "levels", "cement")}
        if "levels" in decided or "approach" in decided:
            star["levels"] = "*"
        type_text = str(rec["procedure_type"] or "unclassified") + star["type"]
        if excluded is not None:
            type_text += f"\n[red]excluded[/]\n{excluded}"
        cells = [
            str(pid),
            literal(rec["study_date"] or "?"),
            f"{literal(rec['accession_number'] or '-')}\n{literal(rec['patient_id'] or '?')}",
        ]
        if wide:
            cells.append(literal(rec["patient_name"] or "?"))
        cells += [
            type_text,
            (literal(", ".join(_level_text(lv) for lv in rec["levels"] or [])) or "-")
            + star["levels"],
            _cement_text(rec["total_cement_ml"]) + star["cement"],
            _status_text(rec, now, quiet_period_s),
        ]
        if wide:
            cells.append(str(rec["instance_count"] or 0))
        table.add_row(*cells)
    if marked:
        table.caption = "* decided by hand (vp-log procedures show ID)"
        table.caption_justify = "left"
    return table


@app.command("show")
def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Record id, accession number or Study Instance UID")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
    events: Annotated[
        bool,
        typer.Option("--events", help="Every irradiation event: dose, technique, subtotals"),
    ] = False,
) -> None:
    """Show one procedure record with the source of each value."""
    from vp_log.db import repository as repo
    from vp_log.followup import load_schedule, outcome_timeline

    st = state(ctx)
    with st.reader.session() as session:
        rows = repo.find_procedures(session=session, key=key)
        records = [_public(ctx, r) for r in rows]
    if not records:
        fail(f"no procedure record with id, accession number or Study Instance UID {key!r}")
    if len(records) > 1:
        ids = ", ".join(f"{r.id} ({r.study_date}, {r.patient_id})" for r in records)
        fail(f"{key!r} matches several records: {ids}; give the record id")
    record = records[0]
    schedule = load_schedule(st.settings.followup_schedule_path)
    levels = dose_cli.alert_levels(st.settings)
    public = record.to_json()
    with st.reader.session() as session:
        outcomes = outcome_timeline(session, record.id, schedule=schedule)
        alerts = dose_cli.record_alerts(session, levels, record.id, public)
        clinical = _clinical(session, record.id, record.study_date)
    if as_json:
        dose_alerts = [a.model_dump(mode="json") for a in alerts]
        clinical_json = clinical.model_dump(mode="json") if clinical else None
        print_json(
            {**public, "dose_alerts": dose_alerts, "clinical": clinical_json, "outcomes": outcomes}
        )
        return
    render_record(record)
    if record.decisions:
        console.print(decisions_table(record.decisions, excluded=record.excluded is not None))
    _render_clinical(clinical)
    dose_cli.render_patient(public)
    dose_cli.render_alerts(alerts, levels)
    if events:
        dose_cli.render_events(public)
    console.print(render_outcome_timeline(outcomes))


def _clinical(session: Session, record_id: int, study_date: str | None) -> ClinicalBaseline | None:
    from vp_log.db import repository as repo

    versions = repo.clinical_versions(session=session, procedure_id=record_id)
    if not versions:
        return None
    latest = versions[-1]
    return baseline(
        latest.values,
        version=latest.version,
        entered_by=latest.entered_by,
        entered_at=latest.entered_at,
        procedure_date=_date_or_none(study_date),
    )


def _date_or_none(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@app.command("annotate")
def annotate(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Record id, accession number or Study Instance UID")],
    indication: Annotated[Indication | None, typer.Option(help="Why it was treated")] = None,
    onset: Annotated[
        str | None, typer.Option("--onset", help="Fracture onset date (YYYY-MM-DD)")
    ] = None,
    onset_precision: Annotated[
        OnsetPrecision | None, typer.Option(help="How precisely the onset date is known")
    ] = None,
    mri_oedema: Annotated[Oedema | None, typer.Option(help="Bone marrow oedema on MRI")] = None,
    trial_arm: Annotated[
        str | None, typer.Option(help="Trial arm, where a site runs a trial")
    ] = None,
    blinding: Annotated[Blinding | None, typer.Option(help="Blinding of the trial arm")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who enters this (default: the OS user)")
    ] = None,
) -> None:
    """Enter baseline clinical data of a procedure (a new version; options left out are kept)."""
    from vp_log.db import repository as repo

    onset_day = _iso_date(onset, "--onset")
    change = ClinicalBaselineInput.model_validate(
        {
            name: value
            for name, value in (
                ("indication", indication),
                ("fracture_onset", onset_day),
                ("onset_precision", onset_precision),
                ("mri_oedema", mri_oedema),
                ("trial_arm", trial_arm),
                ("blinding", blinding),
            )
            if value is not None
        }
    )
    if not change.model_fields_set:
        fail(
            "nothing to enter: give at least one of --indication, --onset, --onset-precision, "
            "--mri-oedema, --trial-arm, --blinding"
        )
    st = state(ctx)
    now = datetime.now(UTC)
    with st.database.session() as session:
        rows = repo.find_procedures(session=session, key=key)
        if len(rows) != 1:
            fail(not_one(key, rows))
        row = rows[0]
        procedure_date = _date_or_none(row.study_date)
        if change.fracture_onset and procedure_date and change.fracture_onset > procedure_date:
            fail(f"--onset {change.fracture_onset} is after the procedure ({procedure_date})")
        versions = repo.clinical_versions(session=session, procedure_id=row.id)
        values = merged_values(versions[-1].values if versions else None, change)
        version = repo.add_clinical_version(
            session=session,
            procedure_id=row.id,
            values=values,
            entered_by=by or getpass.getuser(),
            entered_at=now,
        )
        shown = baseline(
            values,
            version=version,
            entered_by=by or getpass.getuser(),
            entered_at=now,
            procedure_date=procedure_date,
        )
    console.print(f"Saved clinical data version {version} for record {row.id}.")
    _render_clinical(shown)


def _render_clinical(clinical: ClinicalBaseline | None) -> None:
    if clinical is None:
        console.print("Baseline clinical data: [dim]not entered[/] (vp-log procedures annotate)")
        return
    age = clinical.fracture_age
    age_text = (
        f"{age.days} days ({age.weeks:g} weeks)"
        + (f" ± {age.plus_minus_days} d" if age.plus_minus_days else "")
        if age
        else "[dim]unknown[/]"
    )
    onset = _fmt(clinical.fracture_onset)
    if clinical.fracture_onset and clinical.onset_precision:
        onset += f" (to the {clinical.onset_precision.value})"
    table = Table(show_header=False, title="Baseline clinical data", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in (
        ("indication", _fmt(clinical.indication.value if clinical.indication else None)),
        ("fracture onset", onset),
        ("fracture age", age_text),
        ("MRI oedema", _fmt(clinical.mri_oedema.value if clinical.mri_oedema else None)),
        ("trial arm", _fmt(clinical.trial_arm)),
        ("blinding", _fmt(clinical.blinding.value if clinical.blinding else None)),
        (
            "entered",
            f"version {clinical.version}, {literal(clinical.entered_by)}, "
            f"{clinical.entered_at:%Y-%m-%d %H:%M} UTC",
        ),
    ):
        table.add_row(name, value)
    console.print(table)


def fluoro_time_text(seconds: float | None) -> str:
    """Fluoroscopy time as ``m:ss (N s)``; unknown stays unknown."""
    if seconds is None:
        return "[dim]unknown[/]"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d} ({seconds:g} s)"


def _type_text(record: ProcedurePublic) -> str:
    decided = _decided(record)
    if "type" in decided and record.extracted is not None:
        was = record.extracted.get("procedure_type")
        other = record.extracted.get("other_procedure")
        return literal(
            f"{record.procedure_type.value} (decided; extracted: {was}"
            + (f", {other})" if other else ")")
        )
    if record.other_procedure:
        return (
            f"{record.procedure_type.value} ({literal(record.other_procedure)}, not augmentation)"
        )
    return record.procedure_type.value


def _decided(record: ProcedurePublic) -> set[str]:
    """The fields a decision sets (``type``, ``levels``, ``cement``, ``approach``...)."""
    return {d.field.value for d in record.decisions}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "[dim]unknown[/]"
    if isinstance(value, float):
        return f"{value:.4g}{unit}"
    return literal(f"{value}{unit}")


def compact_sources(sources: list[str]) -> str:
    """Sources grouped by place: ``StudyDescription (9 instances)`` instead of nine lines
    (markup, one line per place, each shown as it is: :func:`literal`)."""
    counts: dict[str, set[str]] = {}
    for source in sources:
        path, _, uid = source.rpartition("@")
        counts.setdefault(path or source, set()).add(uid)
    return "\n".join(
        literal(f"{path} ({len(uids)} instances)" if len(uids) > 1 else path)
        for path, uids in counts.items()
    )


def _origin(record: ProcedurePublic, field: str) -> str:
    origin = record.origins.get(field)
    where = record.sources.get(field) or []
    parts = [p for p in (literal(origin or ""), compact_sources(where) if where else "") if p]
    return " · ".join(parts) if parts else "-"


def _render_dose(record: ProcedurePublic) -> None:
    table = Table("dose and timing", "value", "source", title="Dose", title_justify="left")
    duration = record.duration_s
    rows = [
        ("fluoroscopy time", fluoro_time_text(record.fluoro_time_s), "fluoro_time_s"),
        ("acquisition time", _fmt(record.acquisition_time_s, " s"), "acquisition_time_s"),
        ("dose-area product", _fmt(record.dap_gy_cm2, " Gy·cm²"), "dap_gy_cm2"),
        ("air kerma at reference point", _fmt(record.ka_r_mgy, " mGy"), "ka_r_mgy"),
        ("irradiation events", _fmt(record.irradiation_events), "irradiation_events"),
        ("planes", ", ".join(record.planes) or "-", "planes"),
        ("duration", fluoro_time_text(duration) if duration is not None else _fmt(None), "start"),
    ]
    for name, value, field in rows:
        table.add_row(name, value, _origin(record, field))
    console.print(table)


def _render_levels(record: ProcedurePublic) -> None:
    table = Table(
        "level",
        "cement",
        "approach",
        "side",
        "flags",
        "sources",
        title=f"Treated levels (total cement {_fmt(record.total_cement_ml, ' mL')})",
        title_justify="left",
    )
    by_hand = bool(_decided(record) & {"levels", "cement", "approach"})
    for level in record.levels:
        sources = compact_sources([src.line() for src in level.sources])
        table.add_row(
            literal(level.level),
            _fmt(level.cement_ml, " mL"),
            _fmt(level.approach),
            _fmt(level.side),
            literal(", ".join(level.flags)) or "-",
            sources or ("decided by hand" if by_hand else "-"),
        )
    console.print(table)


def render_record(record: ProcedurePublic) -> None:
    table = Table(show_header=False, title=f"Procedure record {record.id}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    device = record.device
    rows: list[tuple[str, str]] = [
        ("type", _type_text(record)),
        ("why", _fmt(record.procedure_type_reason)),
        ("status", record.status.value),
        ("patient", f"{_fmt(record.patient_id)}  {literal(record.patient_name or '')}"),
        ("study date", _fmt(record.study_date)),
        ("accession", _fmt(record.accession_number)),
        ("study", literal(record.study_instance_uid)),
        ("description", _fmt(record.study_description)),
        ("modalities", literal(", ".join(record.modalities)) or "-"),
        ("series / instances", f"{record.series_count} / {record.instance_count}"),
        ("start", _fmt(record.start)),
        ("end", _fmt(record.end)),
        (
            "device",
            literal(" ".join(v for v in (device.manufacturer, device.model, device.serial) if v))
            or "[dim]unknown[/]",
        ),
        ("operators", literal(", ".join(record.operators)) or "-"),
        ("performing physicians", literal(", ".join(record.performing_physicians)) or "-"),
    ]
    if record.excluded is not None:
        rows.insert(1, ("excluded", f"[red]{record.excluded.value}[/] (by a decision, below)"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    _render_dose(record)
    _render_levels(record)
    if record.flags:
        console.print("[yellow]flags:[/] " + literal(", ".join(record.flags)))
    for conflict in record.conflicts:
        console.print(f"[red]conflict[/] {conflict.field}: {literal(conflict.values)}")
    if record.sources:
        src = Table(
            "value",
            "source (attribute or SR path @ SOP Instance UID)",
            title="Sources",
            title_justify="left",
        )
        for name, where in record.sources.items():
            src.add_row(name, compact_sources(where))
        console.print(src)


def register(root: typer.Typer) -> None:
    """Add ``vp-log procedures`` to the root command (:data:`vp_log.cli.COMMANDS` lists it)."""
    root.add_typer(app, name="procedures")

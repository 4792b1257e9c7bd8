"""``vp-log followup``: enter, correct, list and schedule follow-up outcomes; ``vp-log audit``.

Commands stay thin: parsing, prompts and tables here; rules in :mod:`vp_log.followup`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from vp_log import followup as fu
from vp_log.cli.common import console, print_json, state
from vp_log.cli.common import fail as _fail

app = typer.Typer(
    help="Follow-up outcomes: enter, correct, list; the worklist of who is due.",
    no_args_is_help=True,
)

PROCEDURE_HELP = (
    "Record id, accession number, Study Instance UID or patient ID (with --date: the most "
    "recent procedure on or before it); prefix id:, accession:, uid: or patient: to say which"
)

# Option name on the command line -> field of the entry (for --clear and messages).
CLEARABLE = {
    "timepoint": "timepoint",
    "pain": "pain",
    "pain-rest": "pain_rest",
    "pain-activity": "pain_activity",
    "odi": "odi_percent",
    "odi-sections": "odi_sections",
    "rmdq": "rmdq",
    "analgesic": "analgesic",
    "new-fractures": "new_fractures",
    "complications": "complications",
    "notes": "notes",
}


def fail(message: str) -> NoReturn:
    """Print ``message`` (user text, no markup) as the error and exit 2."""
    _fail(escape(message))


def register(root: typer.Typer) -> None:
    """Add ``followup`` and the top-level ``audit`` command to the ``vp-log`` app."""
    root.add_typer(app, name="followup")
    root.command("audit")(audit)


# --- shared helpers --------------------------------------------------------------------------


def _schedule(ctx: typer.Context) -> fu.Schedule:
    try:
        return fu.load_schedule(state(ctx).settings.followup_schedule_path)
    except fu.ScheduleError as exc:
        fail(str(exc))


def _refuse(exc: Exception) -> NoReturn:
    if isinstance(exc, ValidationError):
        fail("nothing written:\n" + fu.describe_validation_error(exc))
    fail(f"nothing written: {exc}")


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        fail(f"cannot tell who is entering this ({exc}); give --by NAME")


def _date(value: str, field: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        msg = f"{field} = {value!r} refused (allowed: a date YYYY-MM-DD)"
        raise typer.BadParameter(msg) from None


def _odi_sections(text: str) -> list[int | str | None]:
    """'2,3,1,-,0,...' or '2 3 1 - 0 ...' -> scores; '-' or an empty item is unanswered."""
    items = re.split(r"[,;]", text) if re.search(r"[,;]", text) else text.split()
    return [None if p.strip() in ("", "-") else p.strip() for p in items]


def _fracture(text: str) -> dict[str, Any]:
    level, _, when = text.partition("@")
    return {"level": level.strip(), "date": _date(when, "new fracture date") if when else None}


def _complication(text: str) -> dict[str, Any]:
    head, _, when = text.partition("@")
    kind, sep, severity = head.rpartition(":")
    if not sep or not kind.strip():
        msg = (
            f"complication = {text!r} refused (allowed: TYPE:SEVERITY[@DATE], "
            f"e.g. cement-leakage-venous:A@2025-01-31; types: {fu.ALLOWED['type']})"
        )
        raise typer.BadParameter(msg)
    return {
        "type": kind.strip(),
        "severity": severity.strip(),
        "date": _date(when, "complication date") if when else None,
    }


def _split_list(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


def _check_field(field: str, value: Any) -> Any:
    """Validate one field on its own (for prompts): BadParameter says why, click asks again."""
    probe = {"date": dt.date(2000, 1, 1), "entered_by": "-", "notes": "-", field: value}
    try:
        fu.FollowupCreate.model_validate(probe)
    except ValidationError as exc:
        raise typer.BadParameter(fu.describe_validation_error(exc)) from None
    return value


def _ask(label: str, field: str, parse: Any = None) -> Any:
    """Prompt for one field; an empty answer is not assessed (None), never 0."""

    def convert(text: str) -> Any:
        text = text.strip()
        if not text:
            return None
        return _check_field(field, parse(text) if parse else text)

    return typer.prompt(
        f"{label} (empty: not assessed)",
        default="",
        show_default=False,
        value_proc=convert,
    )


def _ask_odi() -> tuple[Any, Any]:
    def convert(text: str) -> tuple[Any, Any]:
        text = text.strip()
        if not text:
            return None, None
        if "," in text or " " in text or ";" in text:
            return None, _check_field("odi_sections", _odi_sections(text))
        return _check_field("odi_percent", text), None

    result: tuple[Any, Any] = typer.prompt(
        "ODI: total % or the ten section scores 0-5, '-' unanswered (empty: not assessed)",
        default="",
        show_default=False,
        value_proc=convert,
    )
    return result


def _ask_list(label: str, field: str, parse: Any) -> list[dict[str, Any]]:
    def convert(text: str) -> list[dict[str, Any]]:
        items = [parse(p) for p in _split_list(text)]
        _check_field(field, items)
        return items

    result: list[dict[str, Any]] = typer.prompt(
        f"{label} (comma separated; empty: none)",
        default="",
        show_default=False,
        value_proc=convert,
    )
    return result


def _resolve(ctx: typer.Context, key: str, on: dt.date, baseline: bool | None) -> fu.ProcedureRef:
    try:
        with state(ctx).database.session() as session:
            return fu.resolve_procedure(session, key, on=on, baseline=baseline)
    except fu.FollowupError as exc:
        _refuse(exc)


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]–[/]"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value)) or "[dim]–[/]"
    return escape(str(value))


def _fractures_text(entry: fu.FollowupPublic) -> str:
    return ", ".join(
        f"{f.level}@{f.date}"
        + {True: " (adjacent)", False: "", None: " (adjacency unknown)"}[f.adjacent]
        for f in entry.new_fractures
    )


def _complications_text(entry: fu.FollowupPublic) -> str:
    return ", ".join(f"{c.type.value}:{c.severity.value}@{c.date}" for c in entry.complications)


def _summary(values: dict[str, Any], procedure: fu.ProcedureRef, who: str) -> Table:
    table = Table(show_header=False, title="Follow-up to be saved", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    timepoint = values["timepoint"] or "none (unscheduled)"
    if values["timepoint_inferred"]:
        timepoint += " (inferred from the date)"
    if values["out_of_window"]:
        timepoint += " [yellow]OUT OF WINDOW[/]"
    fractures = ", ".join(
        f"{f['level']}@{f['date']}"
        + {True: " adjacent", False: " not adjacent", None: " adjacency unknown"}[f["adjacent"]]
        for f in values["new_fractures"]
    )
    complications = ", ".join(
        f"{c['type']} SIR {c['severity']} @{c['date']}" for c in values["complications"]
    )
    rows = [
        ("Procedure", escape(procedure.describe())),
        ("Date", f"{values['entry_date']} (day {values['days_after']})"),
        ("Time point", timepoint),
        ("Pain", _cell(values["pain"])),
        ("Pain at rest", _cell(values["pain_rest"])),
        ("Pain on activity", _cell(values["pain_activity"])),
        ("ODI %", _cell(values["odi_percent"])),
        ("ODI sections", _cell(values["odi_sections"])),
        ("RMDQ", _cell(values["rmdq"])),
        ("Analgesic", _cell(values["analgesic"])),
        ("New fractures", fractures or "[dim]none[/]"),
        ("Complications", complications or "[dim]none[/]"),
        ("Notes", _cell(values["notes"])),
        ("Entered by", escape(who)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _entries_table(entries: list[fu.FollowupPublic], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "Entry",
        "Proc",
        "Date",
        "Time point",
        "Day",
        "Pain",
        "Rest",
        "Activity",
        "ODI %",
        "RMDQ",
        "Analgesic",
        "New fractures",
        "Complications",
        "By",
    ):
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
            _cell(e.pain),
            _cell(e.pain_rest),
            _cell(e.pain_activity),
            _cell(e.odi_percent),
            _cell(e.rmdq),
            _cell(e.analgesic.value if e.analgesic else None),
            _fractures_text(e) or "[dim]–[/]",
            _complications_text(e) or "[dim]–[/]",
            escape(e.entered_by),
        )
    return table


# --- options shared by add and correct -------------------------------------------------------

DateOpt = Annotated[str | None, typer.Option("--date", help="Assessment date YYYY-MM-DD")]
TimepointOpt = Annotated[
    str | None,
    typer.Option("--timepoint", help="Time point (baseline, 1d, 1w, 1m, 3m, 6m, 12m by default)"),
]
PainOpt = Annotated[str | None, typer.Option("--pain", help="Pain NRS 0-10 (one decimal)")]
PainRestOpt = Annotated[str | None, typer.Option("--pain-rest", help="Pain at rest 0-10")]
PainActivityOpt = Annotated[
    str | None, typer.Option("--pain-activity", help="Pain on activity 0-10")
]
OdiOpt = Annotated[str | None, typer.Option("--odi", help="Oswestry Disability Index total %")]
OdiSectionsOpt = Annotated[
    str | None,
    typer.Option(
        "--odi-sections", help="The ten ODI section scores 0-5, comma separated, '-' unanswered"
    ),
]
RmdqOpt = Annotated[str | None, typer.Option("--rmdq", help="Roland-Morris 0-24")]
AnalgesicOpt = Annotated[
    str | None,
    typer.Option("--analgesic", help="none, non-opioid, weak-opioid or strong-opioid"),
]
FractureOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--new-fracture",
        help="New vertebral fracture LEVEL\\[@DATE] (repeatable), e.g. L2@2025-03-01",
    ),
]
ComplicationOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--complication",
        help="TYPE:SEVERITY\\[@DATE] (repeatable), SIR severity A-F, e.g. cement-leakage-venous:A",
    ),
]
NotesOpt = Annotated[str | None, typer.Option("--notes", help="Free-text notes")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who enters this (default: the OS user)")]
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="No prompts and no confirmation (for scripts)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def _given(
    *,
    timepoint: str | None,
    pain: str | None,
    pain_rest: str | None,
    pain_activity: str | None,
    odi: str | None,
    odi_sections: str | None,
    rmdq: str | None,
    analgesic: str | None,
    new_fracture: list[str] | None,
    complication: list[str] | None,
    notes: str | None,
) -> dict[str, Any]:
    """The fields given on the command line, as entry input."""
    if odi is not None and odi_sections is not None:
        fail("give --odi or --odi-sections, not both")
    given: dict[str, Any] = {
        "timepoint": timepoint,
        "pain": pain,
        "pain_rest": pain_rest,
        "pain_activity": pain_activity,
        "odi_percent": odi,
        "odi_sections": _odi_sections(odi_sections) if odi_sections is not None else None,
        "rmdq": rmdq,
        "analgesic": analgesic,
        "notes": notes,
    }
    given = {k: v for k, v in given.items() if v is not None}
    try:
        if new_fracture:
            given["new_fractures"] = [_fracture(f) for f in new_fracture]
        if complication:
            given["complications"] = [_complication(c) for c in complication]
    except typer.BadParameter as exc:
        fail(f"nothing written: {exc.message}")
    return given


# --- commands --------------------------------------------------------------------------------


@app.command("add")
def add(
    ctx: typer.Context,
    procedure: Annotated[str, typer.Argument(help=PROCEDURE_HELP)],
    date: DateOpt = None,
    timepoint: TimepointOpt = None,
    pain: PainOpt = None,
    pain_rest: PainRestOpt = None,
    pain_activity: PainActivityOpt = None,
    odi: OdiOpt = None,
    odi_sections: OdiSectionsOpt = None,
    rmdq: RmdqOpt = None,
    analgesic: AnalgesicOpt = None,
    new_fracture: FractureOpt = None,
    complication: ComplicationOpt = None,
    notes: NotesOpt = None,
    by: ByOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Enter a follow-up; fields not given are asked for, then confirmed (unless --yes).

    An empty answer means not assessed (stored as unknown, never 0).
    """
    schedule = _schedule(ctx)
    who = _who(by)
    given = _given(
        timepoint=timepoint,
        pain=pain,
        pain_rest=pain_rest,
        pain_activity=pain_activity,
        odi=odi,
        odi_sections=odi_sections,
        rmdq=rmdq,
        analgesic=analgesic,
        new_fracture=new_fracture,
        complication=complication,
        notes=notes,
    )
    today = dt.date.today()
    try:
        if date is not None:
            when = _date(date)
        elif yes:
            when = today
        else:
            when = typer.prompt(
                "Date of the assessment", default=today.isoformat(), value_proc=_date
            )
    except typer.BadParameter as exc:
        fail(f"nothing written: {exc.message}")
    if "timepoint" in given:
        try:
            schedule.get(given["timepoint"])
        except fu.FollowupError as exc:
            _refuse(exc)
    is_baseline = (given["timepoint"] == schedule.baseline.name) if "timepoint" in given else None
    ref = _resolve(ctx, procedure, when, is_baseline)
    if not yes:
        console.print(f"Procedure: {escape(ref.describe())}", highlight=False)
        if "timepoint" not in given and ref.study_date is not None:
            days = (when - ref.study_date).days
            guess = schedule.infer(days)

            def pick(text: str) -> str | None:
                text = text.strip()
                if not text:
                    return None
                try:
                    return schedule.get(text).name
                except fu.FollowupError as exc:
                    raise typer.BadParameter(str(exc)) from None

            chosen = typer.prompt(
                f"Time point ({', '.join(schedule.names)}; day {days})",
                default=guess.name if guess else "",
                show_default=guess is not None,
                value_proc=pick,
            )
            if chosen is not None and (guess is None or chosen != guess.name):
                given["timepoint"] = chosen
            if chosen == schedule.baseline.name and ref.study_date < when:
                ref = _resolve(ctx, procedure, when, True)
        for field, label in (
            ("pain", "Pain 0-10"),
            ("pain_rest", "Pain at rest 0-10"),
            ("pain_activity", "Pain on activity 0-10"),
        ):
            if field not in given:
                given[field] = _ask(label, field)
        if "odi_percent" not in given and "odi_sections" not in given:
            given["odi_percent"], given["odi_sections"] = _ask_odi()
        if "rmdq" not in given:
            given["rmdq"] = _ask("RMDQ 0-24", "rmdq")
        if "analgesic" not in given:
            given["analgesic"] = _ask(
                "Analgesic (none, non-opioid, weak-opioid, strong-opioid)", "analgesic"
            )
        if "new_fractures" not in given:
            given["new_fractures"] = _ask_list(
                "New vertebral fractures LEVEL[@DATE]", "new_fractures", _fracture
            )
        if "complications" not in given:
            given["complications"] = _ask_list(
                "Complications TYPE:SEVERITY[@DATE]", "complications", _complication
            )
        if "notes" not in given:
            given["notes"] = _ask("Notes", "notes")
    try:
        data = fu.FollowupCreate.model_validate({**given, "date": when, "entered_by": who})
        values = fu.build_values(procedure=ref, data=data, schedule=schedule, today=today)
    except (ValidationError, fu.FollowupError) as exc:
        _refuse(exc)
    if not yes:
        console.print(_summary(values, ref, who))
        if not typer.confirm("Save this follow-up?", default=True):
            console.print("Nothing written.")
            raise typer.Exit(1)
    try:
        entry = fu.add_followup(
            database=state(ctx).database,
            procedure_id=ref.id,
            data=data,
            schedule=schedule,
            today=today,
        )
    except fu.FollowupError as exc:
        _refuse(exc)
    if as_json:
        print_json(entry.model_dump(mode="json"))
        return
    flag = " [yellow](out of window)[/]" if entry.out_of_window else ""
    console.print(
        f"Saved follow-up entry [bold]{entry.entry_id}[/] (version 1) for procedure "
        f"{entry.procedure_id}, time point {entry.timepoint or 'unscheduled'}{flag}."
    )


@app.command("correct")
def correct(
    ctx: typer.Context,
    entry: Annotated[int, typer.Argument(help="Follow-up entry number")],
    reason: Annotated[str, typer.Option("--reason", help="Why the entry is corrected")],
    procedure: Annotated[
        str | None, typer.Option("--procedure", help="Link to another procedure: " + PROCEDURE_HELP)
    ] = None,
    date: DateOpt = None,
    timepoint: TimepointOpt = None,
    pain: PainOpt = None,
    pain_rest: PainRestOpt = None,
    pain_activity: PainActivityOpt = None,
    odi: OdiOpt = None,
    odi_sections: OdiSectionsOpt = None,
    rmdq: RmdqOpt = None,
    analgesic: AnalgesicOpt = None,
    new_fracture: FractureOpt = None,
    complication: ComplicationOpt = None,
    notes: NotesOpt = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(
            "--clear",
            help=f"Set a field to not assessed / empty (repeatable): {', '.join(CLEARABLE)}",
        ),
    ] = None,
    by: ByOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Correct an entry: a new version with the reason; the old version stays."""
    schedule = _schedule(ctx)
    who = _who(by)
    changes = _given(
        timepoint=timepoint,
        pain=pain,
        pain_rest=pain_rest,
        pain_activity=pain_activity,
        odi=odi,
        odi_sections=odi_sections,
        rmdq=rmdq,
        analgesic=analgesic,
        new_fracture=new_fracture,
        complication=complication,
        notes=notes,
    )
    for name in clear or []:
        field = CLEARABLE.get(name.strip().lower().removeprefix("--"))
        if field is None:
            fail(f"--clear {name!r} refused (allowed: {', '.join(CLEARABLE)})")
        if field in changes:
            fail(f"--clear {name} contradicts the new value given for it")
        changes[field] = None
    if date is not None:
        try:
            changes["date"] = _date(date)
        except typer.BadParameter as exc:
            fail(f"nothing written: {exc.message}")
    if procedure is not None:
        try:
            with state(ctx).database.session() as session:
                current = fu.entry_history(session, entry)[-1]
        except fu.FollowupError as exc:
            _refuse(exc)
        on = changes.get("date") or current.date
        tp = changes.get("timepoint") or current.timepoint
        changes["procedure_id"] = _resolve(
            ctx, procedure, on, tp == schedule.baseline.name if tp else None
        ).id
    if not changes:
        fail("nothing to correct: give the fields to change (or --clear FIELD)")
    if not yes:
        try:  # refuse a bad value before asking to confirm it
            diff = fu.check_correction(
                database=state(ctx).database,
                entry_id=entry,
                changes=changes,
                entered_by=who,
                schedule=schedule,
            )
        except (ValidationError, fu.FollowupError) as exc:
            _refuse(exc)
        shown = ", ".join(f"{k}: {_cell(v['from'])} → {_cell(v['to'])}" for k, v in diff.items())
        console.print(f"Correct entry {entry}: {shown}\nReason: {escape(reason)}", highlight=False)
        if not typer.confirm("Save this correction as a new version?", default=True):
            console.print("Nothing written.")
            raise typer.Exit(1)
    try:
        version = fu.correct_followup(
            database=state(ctx).database,
            entry_id=entry,
            changes=changes,
            reason=reason,
            entered_by=who,
            schedule=schedule,
        )
    except (ValidationError, fu.FollowupError) as exc:
        _refuse(exc)
    if as_json:
        print_json(version.model_dump(mode="json"))
        return
    console.print(
        f"Saved entry [bold]{version.entry_id}[/] version {version.version} "
        f"(version {version.version - 1} kept)."
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    procedure: Annotated[str | None, typer.Argument(help=PROCEDURE_HELP)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Follow-up entries (their current versions), of one procedure or patient or all."""
    try:
        with state(ctx).database.session() as session:
            entries = fu.list_followups(session, key=procedure)
    except fu.FollowupError as exc:
        fail(str(exc))
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    if not entries:
        console.print("No follow-up entries.")
        return
    console.print(_entries_table(entries, "Follow-up entries"))


@app.command("due")
def due(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date of the worklist YYYY-MM-DD (default today)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The worklist: who is due or overdue for which time point, and by how many days."""
    schedule = _schedule(ctx)
    try:
        day = _date(as_of, "as-of") if as_of else dt.date.today()
    except typer.BadParameter as exc:
        fail(exc.message)
    with state(ctx).database.session() as session:
        items = fu.due_worklist(session, as_of=day, schedule=schedule)
    if as_json:
        print_json([i.model_dump(mode="json") for i in items])
        return
    if not items:
        console.print(f"Nobody is due for follow-up on {day}.")
        return
    table = Table(title=f"Follow-up due on {day}", title_justify="left")
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
    console.print(table)


@app.command("history")
def history(
    ctx: typer.Context,
    entry: Annotated[int, typer.Argument(help="Follow-up entry number")],
    as_json: JsonOpt = False,
) -> None:
    """Every version of an entry, with who changed what and why."""
    try:
        with state(ctx).database.session() as session:
            versions = fu.entry_history(session, entry)
    except fu.FollowupError as exc:
        fail(str(exc))
    if as_json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    console.print(_entries_table(versions, f"History of follow-up entry {entry}"))
    for v in versions:
        when = v.entered_at.astimezone().strftime("%Y-%m-%d %H:%M")
        why = f": {v.reason}" if v.reason else " (as entered)"
        line = f"  version {v.version}, {when} by {v.entered_by}{why}"
        console.print(escape(line), highlight=False)


def _since(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--since {text!r} refused (allowed: YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
    if value.tzinfo is None:
        value = value.astimezone()  # local time
    return value.astimezone(dt.UTC)


def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only changes from this date or date-time (local time)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: who changed what, when."""
    start = _since(since) if since else None
    with state(ctx).database.session() as session:
        events = fu.audit_log(session, since=start)
    if as_json:
        print_json([e.model_dump(mode="json") for e in events])
        return
    if not events:
        console.print("No changes recorded.")
        return
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
    console.print(table)

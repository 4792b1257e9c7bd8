"""``vp-log followup``: enter, correct, list and schedule follow-up outcomes; ``vp-log audit``.

Commands stay thin: parsing and prompts here, tables in :mod:`vp_log.cli.followup_views`,
rules in :mod:`vp_log.followup`. One option per instrument item, and the prompts, come from
the instrument table (:data:`vp_log.followup.INSTRUMENTS`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.table import Table

from vp_log import followup as fu
from vp_log.cli import followup_views as views
from vp_log.cli.common import (
    TABLE_LIMIT,
    console,
    count_text,
    counted,
    err_console,
    literal,
    print_json,
    print_nothing,
    print_page_footer,
    state,
    stream_json,
)
from vp_log.cli.common import fail as _fail

if TYPE_CHECKING:
    from pydantic import ValidationError

app = typer.Typer(
    help="Follow-up outcomes: enter, correct, list; the worklist of who is due.",
    no_args_is_help=True,
)

PROCEDURE_HELP = (
    "Record id, accession number, Study Instance UID or patient ID (with --date: the most "
    "recent procedure on or before it); prefix id:, accession:, uid: or patient: to say which"
)

#: Field -> the user's word for it in messages: the option.
OPTION_NAMES: dict[str, str] = {
    "date": "--date",
    "timepoint": "--timepoint",
    **{item.name: item.flag for item in fu.ITEMS},
    "new_fractures": "--new-fracture",
    "complications": "--complication",
    "notes": "--notes",
    "entered_by": "--by",
    "closed": "--reason",
}

#: Option name on the command line -> field of the entry (for --clear).
CLEARABLE: dict[str, str] = {
    "timepoint": "timepoint",
    **{item.option: item.name for item in fu.ITEMS},
    "new-fractures": "new_fractures",
    "complications": "complications",
    "notes": "notes",
    "closed": "closed",
}

F = TypeVar("F", bound=Callable[..., Any])


def show(table: Table, *, wide: bool = False) -> None:
    """Print a table; ``wide`` tables take the width they need (``less -S`` scrolls them)."""
    if not wide:
        console.print(table)
        return
    width = console.width
    options = console.options.update_width(10_000)
    console.width = max(width, console.measure(table, options=options).maximum)
    try:
        console.print(table, crop=False)
    finally:
        console.width = width


def fail(message: str) -> NoReturn:
    """Print ``message`` (user text, no markup) as the error and exit 2."""
    _fail(message)


def register(root: typer.Typer) -> None:
    """Add ``followup`` and the top-level ``audit`` command to the ``vp-log`` app."""
    root.add_typer(app, name="followup")
    root.command("audit")(audit)


def with_item_options(func: F) -> F:
    """Give ``func`` one ``--flag`` option per instrument item, after ``timepoint``.

    The values arrive in ``func``'s ``**items`` (as typed; the models parse them).
    """
    signature = inspect.signature(func, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    at = [p.name for p in params].index("timepoint") + 1
    options = [
        inspect.Parameter(
            item.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[str | None, typer.Option(item.flag, help=item.help)],
        )
        for item in fu.ITEMS
    ]
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[at:]]
    func.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params[:at], *options, *keyword]
    )
    return func


# --- parsing ---------------------------------------------------------------------------------


def _schedule(ctx: typer.Context) -> fu.Schedule:
    try:
        return fu.load_schedule(state(ctx).settings.followup_schedule_path)
    except fu.ScheduleError as exc:
        fail(str(exc))


def _describe(exc: ValidationError) -> str:
    return fu.describe_validation_error(exc, OPTION_NAMES)


def _refuse(exc: Exception) -> NoReturn:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        fail("nothing written: " + "; ".join(_describe(exc).splitlines()))
    fail(f"nothing written: {exc}")


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        fail(f"cannot tell who is entering this ({exc}); give --by NAME")


def _date(value: str, field: str = "--date") -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        msg = f"{field} {value!r} refused (allowed: a date YYYY-MM-DD)"
        raise typer.BadParameter(msg) from None


def _fracture(text: str) -> dict[str, Any]:
    level, _, when = text.partition("@")
    return {"level": level.strip(), "date": _date(when, "new fracture date") if when else None}


def _complication(text: str) -> dict[str, Any]:
    head, _, when = text.partition("@")
    kind, sep, severity = head.rpartition(":")
    if not sep or not kind.strip():
        msg = (
            f"--complication {text!r} refused (allowed: TYPE:SEVERITY[@DATE], "
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


NONE_WORDS = ("none", "no", "0")


def _events(texts: list[str], parse: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as typed: ``none`` is the answer "none" (an empty list), else each one parsed."""
    if len(texts) == 1 and texts[0].strip().lower() in NONE_WORDS:
        return []
    return [parse(t) for text in texts for t in _split_list(text)]


def _given(
    items: dict[str, str | None],
    *,
    timepoint: str | None,
    new_fracture: list[str] | None,
    complication: list[str] | None,
    notes: str | None,
) -> dict[str, Any]:
    """The fields given on the command line, as entry input (an event option not given: not
    assessed; ``--new-fracture none``: none)."""
    for inst in fu.INSTRUMENTS:
        scored = inst.scored
        if scored and items.get(scored.total) is not None and items.get(scored.sections):
            total, sections = fu.BY_NAME[scored.total].flag, fu.BY_NAME[scored.sections].flag
            fail(f"give {total} or {sections}, not both")
    given: dict[str, Any] = {"timepoint": timepoint, **items, "notes": notes}
    given = {k: v for k, v in given.items() if v is not None}
    try:
        if new_fracture:
            given["new_fractures"] = _events(new_fracture, _fracture)
        if complication:
            given["complications"] = _events(complication, _complication)
    except typer.BadParameter as exc:
        fail(f"nothing written: {exc.message}")
    return given


# --- prompts ---------------------------------------------------------------------------------


def _check_field(field: str, value: Any) -> Any:
    """Validate one field on its own (for prompts): BadParameter says why, click asks again."""
    from pydantic import ValidationError

    probe = {"date": dt.date(2000, 1, 1), "entered_by": "-", "notes": "-", field: value}
    try:
        fu.FollowupCreate.model_validate(probe)
    except ValidationError as exc:
        raise typer.BadParameter(_describe(exc)) from None
    return value


def _prompt(item: fu.Item) -> str:
    """An item's prompt with what it allows (a choice's values; ranges are in the prompt)."""
    if item.kind.allowed() in item.prompt or not hasattr(item.kind, "enum"):
        return item.prompt
    return f"{item.prompt} ({item.kind.allowed()})"


def _ask(label: str, field: str, empty: str = "not assessed") -> Any:
    """Prompt for one field; an empty answer is not assessed (None), never 0."""

    def convert(text: str) -> Any:
        text = text.strip()
        return _check_field(field, text) if text else None

    return typer.prompt(
        f"{label} (empty: {empty})", default="", show_default=False, value_proc=convert
    )


def _ask_scored(item: fu.Item, scored: Any) -> dict[str, Any]:
    """One prompt for a scored instrument: the total, or the section scores."""

    def convert(text: str) -> dict[str, Any]:
        text = text.strip()
        if not text:
            return {scored.total: None, scored.sections: None}
        if any(sep in text for sep in ", ;"):
            return {scored.total: None, scored.sections: _check_field(scored.sections, text)}
        return {scored.total: _check_field(scored.total, text), scored.sections: None}

    result: dict[str, Any] = typer.prompt(
        f"{item.prompt} (empty: not assessed)", default="", show_default=False, value_proc=convert
    )
    return result


def _ask_instruments(given: dict[str, Any]) -> None:
    """Ask for every item not given, instrument by instrument."""
    for inst in fu.INSTRUMENTS:
        if inst.scored is not None:
            if inst.scored.total not in given and inst.scored.sections not in given:
                given.update(_ask_scored(fu.BY_NAME[inst.scored.total], inst.scored))
            continue
        for n, item in enumerate(inst.items):
            if item.name in given:
                continue
            skipped = n > 0 and inst.skip_rest_when_first_empty
            if skipped and given.get(inst.items[0].name) is None:
                given[item.name] = None
                continue
            given[item.name] = _ask(_prompt(item), item.name)


def _ask_events(
    label: str,
    field: str,
    parse: Callable[[str], dict[str, Any]],
    check: Callable[[str, dict[str, Any]], None],
) -> Any:
    """A list of events: empty is not assessed, ``none`` is none; each date checked at once."""

    def convert(text: str) -> list[dict[str, Any]] | None:
        if not text.strip():
            return None
        items = _events([text], parse)
        _check_field(field, items)
        for item in items:
            check(field, item)
        return items

    return typer.prompt(
        f"{label}, comma separated, or none (empty: not assessed)",
        default="",
        show_default=False,
        value_proc=convert,
    )


def _event_check(
    ref: fu.ProcedureRef, when: dt.date, today: dt.date
) -> Callable[[str, dict[str, Any]], None]:
    """Refuse an event dated before the procedure, after the assessment or in the future."""

    def check(field: str, item: dict[str, Any]) -> None:
        if ref.study_date is None:
            return
        try:
            fu.event_date(
                OPTION_NAMES[field],
                item.get("date"),
                procedure_date=ref.study_date,
                assessed=when,
                today=today,
            )
        except fu.FollowupError as exc:
            raise typer.BadParameter(str(exc)) from None

    return check


def _window_warning(tp: fu.TimePoint | None, days: int) -> str | None:
    if tp is None:
        return f"day {days} is outside every time point's window: saved as unscheduled"
    if not tp.contains(days):
        return f"day {days} is outside the window of {tp.name} (day {tp.from_day} to {tp.to_day})"
    return None


def _ask_timepoint(
    schedule: fu.Schedule,
    ref: fu.ProcedureRef,
    when: dt.date,
    today: dt.date,
    free: Callable[[str | None], None],
) -> str | None:
    """The time point, the one the date falls in offered as the default; checked at once.

    A time point the date rules refuse is asked again; one that already has an entry is
    refused there (``free``); one outside its window warns and asks.
    """
    if ref.study_date is None:
        return None
    days = (when - ref.study_date).days
    guess = schedule.infer(days)

    def pick(text: str) -> str | None:
        text = text.strip()
        try:
            name = schedule.get(text).name if text else None
            _, _, tp = fu.place_date(ref, when, name, schedule, today)
        except fu.FollowupError as exc:
            raise typer.BadParameter(str(exc)) from None
        try:
            free(name or (tp.name if tp else None))
        except fu.FollowupError as exc:  # already entered: another time point, or Ctrl-C
            raise typer.BadParameter(f"{exc}; or give another time point") from None
        warning = _window_warning(tp, days)
        if warning and not typer.confirm(f"Warning: {warning}. Keep it?", default=False):
            raise typer.BadParameter("then give another time point")
        return name

    chosen: str | None = typer.prompt(
        f"Time point ({', '.join(schedule.names)}; day {days})",
        default=guess.name if guess else "",
        show_default=guess is not None,
        value_proc=pick,
    )
    return None if chosen is None or (guess is not None and chosen == guess.name) else chosen


def _ask_missing(
    schedule: fu.Schedule,
    ref: fu.ProcedureRef,
    when: dt.date,
    given: dict[str, Any],
    today: dt.date,
    free: Callable[[str | None], None],
) -> None:
    console.print(f"Procedure: {literal(ref.describe())}", highlight=False)
    if "timepoint" in given:
        _placement(schedule, ref, when, given["timepoint"], today)
        try:
            free(schedule.get(given["timepoint"]).name)
        except fu.FollowupError as exc:
            _refuse(exc)
    elif (chosen := _ask_timepoint(schedule, ref, when, today, free)) is not None:
        given["timepoint"] = chosen
    _ask_instruments(given)
    check = _event_check(ref, when, today)
    if "new_fractures" not in given:
        given["new_fractures"] = _ask_events(
            "New vertebral fractures LEVEL[@DATE]", "new_fractures", _fracture, check
        )
    if "complications" not in given:
        given["complications"] = _ask_events(
            "Complications TYPE:SEVERITY[@DATE]", "complications", _complication, check
        )
    if "notes" not in given:
        given["notes"] = _ask("Notes", "notes", empty="none")


def _placement(
    schedule: fu.Schedule, ref: fu.ProcedureRef, when: dt.date, timepoint: str, today: dt.date
) -> None:
    """A time point given as an option: refused before any prompt; out of window asks."""
    try:
        _, days, tp = fu.place_date(ref, when, timepoint, schedule, today)
    except fu.FollowupError as exc:
        _refuse(exc)
    warning = _window_warning(tp, days)
    if warning:
        _confirm(f"Warning: {warning}. Keep it?")


# --- steps of add ----------------------------------------------------------------------------


def _past_date(text: str, today: dt.date) -> dt.date:
    when = _date(text, "date")
    if when > today:
        msg = f"date {when.isoformat()} refused: in the future (today is {today})"
        raise typer.BadParameter(msg)
    return when


def _assessment_date(date: str | None, yes: bool, today: dt.date) -> dt.date:
    try:
        if date is not None:
            return _date(date)
        if yes:
            return today
        when: dt.date = typer.prompt(
            "Date of the assessment (YYYY-MM-DD)",
            default=today.isoformat(),
            value_proc=lambda text: _past_date(text, today),
        )
        return when
    except typer.BadParameter as exc:
        fail(f"nothing written: {exc.message}")


def _resolve(
    ctx: typer.Context, key: str, on: dt.date, schedule: fu.Schedule, timepoint: str | None
) -> fu.ProcedureRef:
    try:
        baseline = fu.is_baseline(schedule, timepoint)
        with state(ctx).database.session() as session:
            return fu.resolve_procedure(session, key, on=on, baseline=baseline)
    except fu.FollowupError as exc:
        _refuse(exc)


def _linked(
    ctx: typer.Context,
    key: str,
    data: fu.FollowupCreate,
    schedule: fu.Schedule,
    today: dt.date,
) -> tuple[fu.ProcedureRef, dict[str, Any]]:
    """The procedure and the placed entry: the rules of :func:`vp_log.followup.link_entry`."""
    try:
        with state(ctx).database.session() as session:
            return fu.link_entry(session, key=key, data=data, schedule=schedule, today=today)
    except fu.FollowupError as exc:
        _refuse(exc)


def _validated(given: dict[str, Any], when: dt.date, who: str) -> fu.FollowupCreate:
    from pydantic import ValidationError

    try:
        return fu.FollowupCreate.model_validate({**given, "date": when, "entered_by": who})
    except ValidationError as exc:
        _refuse(exc)


def _check_given(given: dict[str, Any], who: str) -> None:
    """Refuse a bad value given on the command line before the first prompt asks anything."""
    _validated({"notes": "-", **given}, dt.date.today(), who)


def _free_check(ctx: typer.Context, procedure_id: int) -> Callable[[str | None], None]:
    """A check that raises :class:`~vp_log.followup.FollowupError` for a time point of the
    procedure that already has an entry (the prompt asks again; a given option is refused)."""

    def free(timepoint: str | None) -> None:
        if timepoint is not None:  # unscheduled holds no time point
            fu.check_timepoint_free(
                database=state(ctx).database, procedure_id=procedure_id, timepoint=timepoint
            )

    return free


def _confirm(question: str) -> None:
    if not typer.confirm(question, default=True):
        console.print("Nothing written.")
        raise typer.Exit(1)


# --- options shared by add and correct -------------------------------------------------------

DateOpt = Annotated[str | None, typer.Option("--date", help="Assessment date YYYY-MM-DD")]
TimepointOpt = Annotated[
    str | None,
    typer.Option("--timepoint", help="Time point (baseline, 1d, 1w, 1m, 3m, 6m, 12m by default)"),
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


# --- commands --------------------------------------------------------------------------------


@app.command("add")
@with_item_options
def add(
    ctx: typer.Context,
    procedure: Annotated[str, typer.Argument(help=PROCEDURE_HELP)],
    date: DateOpt = None,
    timepoint: TimepointOpt = None,
    new_fracture: FractureOpt = None,
    complication: ComplicationOpt = None,
    notes: NotesOpt = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="The time point has an entry: make these values a correction of it"
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (with --replace: why it is replaced)")
    ] = None,
    by: ByOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    **items: str | None,
) -> None:
    """Enter a follow-up; fields not given are asked for, then confirmed (unless --yes).

    An empty answer means not assessed (stored as unknown, never 0); for new fractures and
    complications, "none" is the answer none. One entry per procedure and time point: a second
    is refused with the first one's number (--replace --reason R corrects it instead).
    """
    if replace and not (reason or "").strip():
        fail("--replace needs --reason: why the entry of that time point is replaced")
    schedule = _schedule(ctx)
    who = _who(by)
    given = _given(
        items, timepoint=timepoint, new_fracture=new_fracture, complication=complication,
        notes=notes,
    )  # fmt: skip
    today = dt.date.today()
    if not yes:  # refused before the first prompt: a missing store, a bad value given
        state(ctx).require_database()
        _check_given(given, who)
    when = _assessment_date(date, yes, today)
    if not yes:
        ref = _resolve(ctx, procedure, when, schedule, given.get("timepoint"))
        free = _free_check(ctx, ref.id) if not replace else lambda _: None
        _ask_missing(schedule, ref, when, given, today, free)
    data = _validated(given, when, who)
    ref, values = _linked(ctx, procedure, data, schedule, today)
    if not yes:
        console.print(views.summary(values, ref, who))
        _confirm("Save this follow-up?")
    try:
        entry = fu.add_followup(
            database=state(ctx).database,
            procedure_id=ref.id,
            data=data,
            schedule=schedule,
            today=today,
            replace_reason=reason if replace else None,
        )
    except fu.FollowupError as exc:
        _refuse(exc)
    _saved(entry, as_json)


def _saved(entry: fu.FollowupPublic, as_json: bool) -> None:
    if as_json:
        print_json(entry.model_dump(mode="json"))
        return
    flag = " [yellow](out of window)[/]" if entry.out_of_window and not entry.closed else ""
    what = f"closed ({entry.closed.value})" if entry.closed else "entered"
    kept = f", version {entry.version - 1} kept" if entry.version > 1 else ""
    console.print(
        f"Saved follow-up entry [bold]{entry.entry_id}[/] (version {entry.version}{kept}) for "
        f"procedure {entry.procedure_id}: time point {literal(entry.timepoint or 'unscheduled')} "
        f"{what}{flag}."
    )


def _clearing(changes: dict[str, Any], clear: list[str]) -> None:
    for name in clear:
        field = CLEARABLE.get(name.strip().lower().removeprefix("--"))
        if field is None:
            fail(f"--clear {name!r} refused (allowed: {', '.join(CLEARABLE)})")
        if field in changes:
            fail(f"--clear {name} contradicts the new value given for it")
        changes[field] = None


@app.command("correct")
@with_item_options
def correct(
    ctx: typer.Context,
    entry: Annotated[int, typer.Argument(help="Follow-up entry number")],
    reason: Annotated[str, typer.Option("--reason", help="Why the entry is corrected")],
    procedure: Annotated[
        str | None, typer.Option("--procedure", help="Link to another procedure: " + PROCEDURE_HELP)
    ] = None,
    date: DateOpt = None,
    timepoint: TimepointOpt = None,
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
    **items: str | None,
) -> None:
    """Correct an entry: a new version with the reason; the old version stays."""
    from pydantic import ValidationError

    schedule = _schedule(ctx)
    who = _who(by)
    changes = _given(
        items, timepoint=timepoint, new_fracture=new_fracture, complication=complication,
        notes=notes,
    )  # fmt: skip
    _clearing(changes, clear or [])
    if date is not None:
        try:
            changes["date"] = _date(date)
        except typer.BadParameter as exc:
            fail(f"nothing written: {exc.message}")
    if procedure is not None:
        changes["procedure"] = procedure
    if not changes:
        fail("nothing to correct: give the fields to change (or --clear FIELD)")
    database = state(ctx).database
    request: dict[str, Any] = {
        "entry_id": entry,
        "changes": changes,
        "entered_by": who,
        "schedule": schedule,
    }
    try:
        if not yes:  # refuse a bad value before asking to confirm it
            diff = fu.check_correction(database=database, **request)
            shown = ", ".join(
                f"{k}: {views.cell(v['from'])} → {views.cell(v['to'])}" for k, v in diff.items()
            )
            console.print(
                f"Correct entry {entry}: {shown}\nReason: {literal(reason)}", highlight=False
            )
            _confirm("Save this correction as a new version?")
        version = fu.correct_followup(database=database, reason=reason, **request)
    except (ValidationError, fu.FollowupError) as exc:
        _refuse(exc)
    if as_json:
        print_json(version.model_dump(mode="json"))
        return
    console.print(
        f"Saved entry [bold]{version.entry_id}[/] version {version.version} "
        f"(version {version.version - 1} kept)."
    )


WideOpt = Annotated[bool, typer.Option("--wide", help="Every column (the default fits 80 columns)")]


@app.command("close")
def close(
    ctx: typer.Context,
    procedure: Annotated[str, typer.Argument(help=PROCEDURE_HELP)],
    timepoint: Annotated[str, typer.Option("--timepoint", help="The time point to close")],
    reason: Annotated[
        str, typer.Option("--reason", help="lost, declined, unreachable, died or other")
    ],
    notes: NotesOpt = None,
    date: Annotated[
        str | None, typer.Option("--date", help="When it was closed YYYY-MM-DD (default today)")
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a time point without an assessment: it leaves the worklist, counted as closed.

    Audited; reversed by correcting the entry it makes (give the values then measured).
    """
    from pydantic import ValidationError

    schedule = _schedule(ctx)
    who = _who(by)
    today = dt.date.today()
    when = _assessment_date(date, True, today)
    try:
        name = schedule.get(timepoint).name
        kind = fu.CloseReason(reason.strip().lower())
    except fu.FollowupError as exc:
        _refuse(exc)
    except ValueError:
        fail(f"--reason {reason!r} refused (allowed: {fu.ALLOWED['closed']})")
    ref = _resolve(ctx, procedure, when, schedule, name)
    try:
        entry = fu.close_timepoint(
            database=state(ctx).database,
            procedure_id=ref.id,
            timepoint=name,
            reason=kind.value,
            notes=notes,
            date=when,
            entered_by=who,
            schedule=schedule,
            today=today,
        )
    except (ValidationError, fu.FollowupError) as exc:
        _refuse(exc)
    _saved(entry, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    procedure: Annotated[str | None, typer.Argument(help=PROCEDURE_HELP)] = None,
    wide: WideOpt = False,
    as_json: JsonOpt = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"Only the last N entries (default: {TABLE_LIMIT} in the table, all with --json)",
        ),
    ] = None,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip the last N entries first (next pages)")
    ] = 0,
) -> None:
    """Follow-up entries (their current versions), of one procedure or patient or all.

    By procedure, then date; the table shows the last 200 (the newest procedures').
    """
    try:
        with state(ctx).reader.session() as session:
            if as_json:
                stream_json(fu.followup_json(session, key=procedure, limit=limit, offset=offset))
                return
            total = fu.count_followups(session, key=procedure)
            shown = TABLE_LIMIT if limit is None else limit
            page = list(fu.followup_items(session, key=procedure, limit=shown, offset=offset))
    except fu.FollowupError as exc:
        fail(str(exc))
    if not total:
        print_nothing("No follow-up entries.")
        return
    show(
        views.entries_table(
            page,
            f"Follow-up entries ({count_text(total)})"
            if len(page) < total
            else "Follow-up entries",
            wide=wide,
        ),
        wide=wide,
    )
    print_page_footer(len(page), total, offset, order="last")


def _worklist_filter(
    ctx: typer.Context,
    schedule: fu.Schedule,
    *,
    timepoint: str | None,
    procedure: str | None,
    since: str | None,
    until: str | None,
    overdue: bool,
) -> fu.WorklistFilter:
    try:
        ids = None
        if procedure is not None:
            with state(ctx).reader.session() as session:
                ids = [r.id for r in fu.procedures_for(session, procedure)]
            if not ids:
                fail(f"--procedure {procedure!r} refused: no such record, accession or patient")
        return fu.WorklistFilter(
            timepoint=schedule.get(timepoint).name if timepoint else None,
            procedure_ids=ids,
            since=_date(since, "--since") if since else None,
            until=_date(until, "--until") if until else None,
            overdue=overdue,
        )
    except fu.FollowupError as exc:
        fail(f"--{exc}")
    except typer.BadParameter as exc:
        fail(exc.message)


@app.command("due")
def due(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date of the worklist YYYY-MM-DD (default today)")
    ] = None,
    timepoint: Annotated[
        str | None, typer.Option("--timepoint", help="Only this time point (1m, '1 month')")
    ] = None,
    procedure: Annotated[
        str | None, typer.Option("--procedure", help="Only this record, accession or patient")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Procedure date from YYYY-MM-DD")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Procedure date until YYYY-MM-DD")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue time points")] = False,
    wide: WideOpt = False,
    as_json: JsonOpt = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"Only the first N time points (default: {TABLE_LIMIT} in the table, "
            "all with --json)",
        ),
    ] = None,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip the first N time points (next pages)")
    ] = 0,
) -> None:
    """The worklist: who is due or overdue for which time point, and by how many days.

    Vertebral augmentation records only (what `procedures list` shows), once complete.
    Overdue first (longest first), then due (window closing soonest first).
    """
    schedule = _schedule(ctx)
    try:
        day = _date(as_of, "--as-of") if as_of else dt.date.today()
    except typer.BadParameter as exc:
        fail(exc.message)
    only = _worklist_filter(
        ctx, schedule, timepoint=timepoint, procedure=procedure, since=since, until=until,
        overdue=overdue,
    )  # fmt: skip
    with state(ctx).reader.session() as session:
        if as_json:
            rows = fu.due_items(
                session, as_of=day, schedule=schedule, only=only, offset=offset, limit=limit
            )
            stream_json(row.json(day) for row in rows)
            return
        shown = TABLE_LIMIT if limit is None else limit
        total, page = fu.due_page(
            session, as_of=day, schedule=schedule, only=only, offset=offset, limit=shown
        )
    items = [row.item(day) for row in page]
    if not total:
        print_nothing(f"Nobody is due for follow-up on {day}.")
        return
    title = f"Follow-up due on {day}: {counted(total, 'time point')}"
    show(views.due_table(items, title, wide=wide), wide=wide)
    print_page_footer(len(items), total, offset, order="first")


@app.command("history")
def history(
    ctx: typer.Context,
    entry: Annotated[int, typer.Argument(help="Follow-up entry number")],
    wide: WideOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Every version of an entry, with who changed what and why."""
    try:
        with state(ctx).reader.session() as session:
            versions = fu.entry_history(session, entry)
    except fu.FollowupError as exc:
        fail(str(exc))
    if as_json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    console.print(views.entries_table(versions, f"History of follow-up entry {entry}", wide=wide))
    for v in versions:
        when = v.entered_at.astimezone().strftime("%Y-%m-%d %H:%M")
        why = f": {v.reason}" if v.reason else " (as entered)"
        line = f"  version {v.version}, {when} by {v.entered_by}{why}"
        console.print(literal(line), highlight=False)


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
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"Only the N newest changes (default: {TABLE_LIMIT} in the table, "
            "all with --json)",
        ),
    ] = None,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip the N newest changes first (next pages)")
    ] = 0,
) -> None:
    """The audit log: who changed what, when.

    Oldest first; the table shows the newest 200 unless --limit says otherwise.
    """
    start = _since(since) if since else None
    with state(ctx).reader.session() as session:
        if as_json:
            stream_json(fu.audit_json(session, since=start, limit=limit, offset=offset))
            return
        total = fu.count_audit_events(session, since=start)
        shown = TABLE_LIMIT if limit is None else limit
        events = fu.audit_items(session, since=start, limit=shown, offset=offset)
        title = f"Audit log: {counted(total, 'change')}" + (f" since {since}" if since else "")
        table = views.audit_table(events, title)
    if not total:
        print_nothing("No changes recorded.")
        return
    console.print(table)
    print_page_footer(table.row_count, total, offset, noun=" changes")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx table, one row per entry")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and say what would be written")
    ] = False,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import entries from a table (the columns of `followup template`): all or nothing.

    Every row is checked before anything is written; one problem anywhere writes nothing and
    every problem is listed by row and column. Rows already imported are left as they are, so
    importing the same file again changes nothing.
    """
    schedule = _schedule(ctx)
    who = _who(by)
    try:
        cells = fu.tabular.read_rows(file)
    except fu.tabular.TableError as exc:
        fail(f"nothing written: {exc}")
    rows = [fu.tabular.parse_row(n, c, entered_by=who) for n, c in cells]
    result = fu.import_entries(
        database=state(ctx).database,
        rows=rows,
        source=file.name,
        schedule=schedule,
        dry_run=dry_run,
    )
    if as_json:
        print_json(result.model_dump(mode="json"))
    if result.problems:
        if not as_json:
            for line in result.problems:
                err_console.print(literal(line), highlight=False, soft_wrap=True)
        fail(f"nothing written: {len(result.problems)} problem(s) in {len(rows)} row(s)")
    if as_json:
        return
    if dry_run:
        console.print(
            f"Dry run: {result.would_add} new entr(y/ies), {result.unchanged} already stored; "
            "nothing written.",
            highlight=False,
        )
        return
    console.print(
        f"Imported {len(result.added)} entr(y/ies) from {literal(file.name)}; "
        f"{result.unchanged} row(s) already stored, left as they are.",
        highlight=False,
    )


@app.command("template")
def template(
    file: Annotated[
        Path | None, typer.Argument(help="Write an empty import table (.csv or .xlsx)")
    ] = None,
) -> None:
    """The import table's columns and what each holds (with FILE: an empty table to fill)."""
    if file is not None:
        if file.suffix.lower() not in (".csv", ".xlsx"):
            fail(f"{file}: give a .csv or .xlsx file name")
        if file.exists():
            fail(f"{file} exists (it may hold entries): give the template a new file name")
        fu.tabular.write_template(file)
        console.print(f"Wrote {literal(str(file))}: {len(fu.tabular.COLUMNS)} columns.")
        return
    table = Table(title="Follow-up import columns", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("column", no_wrap=True)
    table.add_column("meaning")
    for column in fu.tabular.COLUMNS:
        table.add_row(column, literal(fu.tabular.MEANINGS[column]))
    console.print(table)

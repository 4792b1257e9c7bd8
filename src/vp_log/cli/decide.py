"""``vp-log procedures decide``: set a record's type, levels, cement or approach by hand, or
exclude it, with a reason; ``--revoke`` brings the extracted value back. The rules live in
:mod:`vp_log.decisions`; this module parses, writes and shows."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from vp_log.cli.common import console, fail, literal, state

if TYPE_CHECKING:
    from vp_log.decisions import DecisionField, DecisionRequest, RecordDecision
    from vp_log.vocabulary import Plausibility


_OPTIONS = "--type, --levels, --cement, --approach, --exclude"


def _revoked(values: list[str]) -> list[DecisionField]:
    """The fields ``--revoke`` names (``all`` is told apart by the caller)."""
    from vp_log.decisions import DecisionError, DecisionField

    fields: list[DecisionField] = []
    allowed = [f.value for f in DecisionField]
    for value in values:
        wanted = value.strip().lower().removeprefix("--")
        if wanted == "all":
            continue
        if wanted not in allowed:
            msg = f"--revoke: {value!r} is not a decision; use {', '.join(allowed)} or all"
            raise DecisionError(msg)
        fields.append(DecisionField(wanted))
    return list(dict.fromkeys(fields))


def _request(
    options: dict[str, str | None],
    revoke: list[str],
    reason: str | None,
    plausibility: Plausibility | None,
) -> DecisionRequest:
    """The parsed request; :class:`DecisionError` (one line, the option named) otherwise."""
    from vp_log import decisions as dc

    given = {name: value for name, value in options.items() if value is not None}
    if revoke and given:
        names = ", ".join(f"--{n}" for n in given)
        raise dc.DecisionError(f"--revoke: give it alone, not with {names} (one change a time)")
    if not revoke and not given:
        msg = f"nothing to decide: give one of {_OPTIONS}, or --revoke FIELD|all"
        raise dc.DecisionError(msg)
    parsers: dict[str, Any] = {
        "type": dc.parse_type,
        "levels": dc.parse_levels,
        "cement": lambda text: dc.parse_cement(text, plausibility),
        "approach": dc.parse_approach,
        "exclude": dc.parse_exclude,
    }
    parsed = {name: parsers[name](value) for name, value in given.items()}
    if reason is None or not reason.strip():
        raise dc.DecisionError("--reason: say why (it is kept with the decision)")
    every = any(value.strip().lower() == "all" for value in revoke)
    return dc.DecisionRequest(
        **parsed, revoke=_revoked(revoke), revoke_all=every, reason=reason.strip()
    )


def _plausibility(ctx: typer.Context, cement: str | None) -> Plausibility | None:
    """The site's plausible cement volumes (read only when ``--cement`` is given)."""
    if cement is None:
        return None
    from vp_log.vocabulary import VocabularyError, load_vocabulary

    try:
        return load_vocabulary(state(ctx).settings.vocabulary_path).plausibility
    except VocabularyError as exc:
        fail(str(exc))


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        fail(f"cannot tell who decides this ({exc}); give --by NAME")


def decide(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Record id, accession number or Study Instance UID")],
    type_: Annotated[
        str | None,
        typer.Option(
            "--type", help="The procedure type: vertebroplasty, kyphoplasty, sacroplasty, other"
        ),
    ] = None,
    levels: Annotated[
        str | None, typer.Option(help='The treated levels, like "L1,L2" or "T11-L1"')
    ] = None,
    cement: Annotated[
        str | None, typer.Option(help='Cement per level in mL, like "L1=4.5,L2=3"')
    ] = None,
    approach: Annotated[
        str | None,
        typer.Option(help="Needle approach of every level: transpedicular, unipedicular..."),
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option(help="Leave the record out (phantom, test, duplicate, other)"),
    ] = None,
    revoke: Annotated[
        list[str] | None,
        typer.Option(
            "--revoke",
            metavar="FIELD",
            help="Bring back what was extracted: type, levels, cement, approach, exclude, all",
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why (required; kept with the decision)")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who decides this (default: the OS user)")
    ] = None,
) -> None:
    """Decide a record's type, levels, cement or approach by hand, or exclude it (with a
    reason; what was extracted is kept, and --revoke brings it back)."""
    from vp_log.db import followup_tables as store
    from vp_log.db import repository as repo
    from vp_log.db.decided import decision_state
    from vp_log.db.tables import record_document
    from vp_log.decisions import DecisionError, apply_request

    options = {
        "type": type_,
        "levels": levels,
        "cement": cement,
        "approach": approach,
        "exclude": exclude,
    }
    try:
        request = _request(options, revoke or [], reason, _plausibility(ctx, cement))
    except DecisionError as exc:
        fail(str(exc))
    who, now = _who(by), datetime.now(UTC)
    with state(ctx).database.session() as session:
        store.begin_write(session=session)
        rows = repo.find_procedures(session=session, key=key)
        if len(rows) != 1:
            fail(not_one(key, rows))
        row = rows[0]
        store.lock_procedure(session=session, procedure_id=row.id)
        try:
            new, changes = apply_request(
                record_document(row), decision_state(row), request, who=who, now=now
            )
        except DecisionError as exc:
            fail(f"record {row.id}: {exc}")
        version = repo.add_decision(
            session=session,
            procedure_id=row.id,
            state=new,
            changes=changes,
            reason=request.reason,
            decided_by=who,
            decided_at=now,
        )
        store.record_audit(
            session=session,
            who=who,
            action="revoke" if request.revoke or request.revoke_all else "decide",
            entity="procedure",
            entity_id=str(row.id),
            details={"version": version, "reason": request.reason, "changes": changes},
            now=now,
        )
        session.refresh(row)
        public = repo.public_record(row, now=now, quiet_period_s=state(ctx).settings.quiet_period_s)
    verb = "Revoked" if request.revoke or request.revoke_all else "Decided"
    console.print(
        f"{verb} for record {row.id} (decision version {version}): "
        + literal("; ".join(f"{k} {change_text(v)}" for k, v in changes.items()))
    )
    console.print(decisions_table(public.decisions, excluded=public.excluded is not None))


def value_text(value: Any) -> str:
    """A decided or extracted value as people read it: ``L1, L2``, ``L1 4.5 mL``, ``-``."""
    if value is None or value in ([], {}):
        return "-"
    if isinstance(value, dict):
        return ", ".join(
            f"{k} {v:g} mL" if isinstance(v, int | float) else f"{k} ?" for k, v in value.items()
        )
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def change_text(change: dict[str, Any]) -> str:
    """``other -> vertebroplasty``; an empty side is ``none``."""
    old, new = (value_text(change.get(k)) for k in ("old", "new"))
    return f"{'none' if old == '-' else old} -> {'none' if new == '-' else new}"


def decisions_table(decisions: list[RecordDecision], *, excluded: bool = False) -> Table | str:
    """The decisions in force: decided value (by whom, when, why) and what was extracted; a
    decision made with the one before it (same person, time and reason) says so."""
    if not decisions:
        return "Decisions: [dim]none[/] (the record is as extracted)"
    table = Table(show_header=False, title="Manual decisions", title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    previous: tuple[str, Any, str] | None = None
    for d in decisions:
        made = (d.decided_by, d.decided_at, d.reason)
        why = (
            "as above"
            if made == previous
            else f"by {d.decided_by} on {d.decided_at:%Y-%m-%d}: {d.reason}"
        )
        previous = made
        lines = [f"decided: {value_text(d.value)} ({why})", f"extracted: {value_text(d.extracted)}"]
        if d.field.value == "exclude" and excluded:
            lines.append("not listed (but with --all), not on the worklist, not in reports")
        table.add_row(d.field.value, "\n".join(literal(line) for line in lines))
    return table


def not_one(key: str, rows: Any) -> str:
    if not rows:
        return f"no procedure record with id, accession number or Study Instance UID {key!r}"
    ids = ", ".join(f"{r.id} ({r.study_date}, {r.patient_id})" for r in rows)
    return f"{key!r} matches several records: {ids}; give the record id"

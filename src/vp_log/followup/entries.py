"""Storing and reading follow-up entries: append-only versions, every write audited.

:func:`add_followup` stores version 1 of a new entry; :func:`correct_followup` a new version of
an existing one with its reason (the old version stays); both place the entry with
:func:`.linking.link_entry` and write the audit record in the same short transaction. A write
that loses a race with another writer (version number taken, database locked) is run again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from vp_log.db import Database
from vp_log.db import followup_tables as store
from vp_log.db.base import utcnow
from vp_log.followup.errors import FollowupError
from vp_log.followup.instruments import INSTRUMENTS, ITEMS
from vp_log.followup.linking import link_entry, procedures_for
from vp_log.followup.models import AuditPublic, FollowupCreate, FollowupPublic, item_values
from vp_log.followup.schedule import Schedule

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts for a write that lost a race (version number taken, database locked).
WRITE_ATTEMPTS = 8

#: Fields a correction may change (``procedure``, a key, or ``procedure_id`` re-link the entry).
CORRECTABLE: tuple[str, ...] = (
    "procedure",
    "procedure_id",
    "date",
    "timepoint",
    *(item.name for item in ITEMS),
    "new_fractures",
    "complications",
    "notes",
)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}


def _retrying(action: str, attempt: Callable[[], T], *, on: tuple[type[Exception], ...]) -> T:
    """Run ``attempt`` (one whole transaction) again when it lost a race to another writer."""
    for n in range(1, WRITE_ATTEMPTS + 1):
        try:
            return attempt()
        except on as exc:
            if n == WRITE_ATTEMPTS:
                raise
            logger.warning("%s lost a race with another writer (%s); retrying", action, exc)
    msg = "unreachable"
    raise RuntimeError(msg)


def add_followup(
    *,
    database: Database,
    procedure_id: int,
    data: FollowupCreate,
    schedule: Schedule,
    today: dt.date | None = None,
) -> FollowupPublic:
    """Store a new entry (version 1) and its audit record in one short transaction."""
    today = today or dt.date.today()

    def attempt() -> FollowupPublic:
        with database.session() as session:
            _, values = link_entry(
                session, data=data, schedule=schedule, today=today, procedure_id=procedure_id
            )
            now = utcnow()
            version = store.insert_entry(
                session=session, values=values, entered_by=data.entered_by, now=now
            )
            store.record_audit(
                session=session,
                who=data.entered_by,
                action="followup.add",
                entity="followup_entry",
                entity_id=str(version.entry_id),
                details={"version": 1, "values": _jsonable(values)},
                now=now,
            )
            return FollowupPublic.from_row(version)

    return _retrying("followup add", attempt, on=(OperationalError,))


def _as_input(previous: FollowupPublic) -> dict[str, Any]:
    """A stored version as entry input again (what a correction starts from)."""
    return {
        "date": previous.date,
        "timepoint": None if previous.timepoint_inferred else previous.timepoint,
        **item_values(previous),
        "new_fractures": [{"level": f.level, "date": f.date} for f in previous.new_fractures],
        "complications": [
            {"type": c.type, "severity": c.severity, "date": c.date} for c in previous.complications
        ],
        "notes": previous.notes,
    }


def merge_correction(previous: FollowupPublic, changes: dict[str, Any]) -> dict[str, Any]:
    """The input of the corrected entry: ``previous`` with ``changes`` (None clears a field)."""
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        msg = f"cannot correct {', '.join(sorted(unknown))}; allowed: {', '.join(CORRECTABLE)}"
        raise FollowupError(msg)
    merged = _as_input(previous)
    merged.update({k: v for k, v in changes.items() if k not in ("procedure", "procedure_id")})
    # A total and the sections it is scored from belong together: a new one replaces the other.
    for inst in INSTRUMENTS:
        if inst.scored is None:
            continue
        sections, total = inst.scored.sections, inst.scored.total
        if sections in changes and total not in changes:
            merged[total] = None
        if total in changes and sections not in changes:
            merged[sections] = None
    for listed in ("new_fractures", "complications"):
        if merged[listed] is None:
            merged[listed] = []
    return merged


def _corrected(
    session: Session,
    *,
    entry_id: int,
    changes: dict[str, Any],
    entered_by: str,
    schedule: Schedule,
    today: dt.date,
) -> tuple[store.FollowupVersion, dict[str, Any], dict[str, dict[str, Any]]]:
    """The latest row of ``entry_id``, the corrected values and the diff; refuses bad ones."""
    previous_row = store.latest_version(session=session, entry_id=entry_id)
    if previous_row is None:
        msg = f"no follow-up entry {entry_id}"
        raise FollowupError(msg)
    previous = FollowupPublic.from_row(previous_row)
    data = FollowupCreate.model_validate(
        {**merge_correction(previous, changes), "entered_by": entered_by}
    )
    _, values = link_entry(
        session,
        data=data,
        schedule=schedule,
        today=today,
        key=changes.get("procedure"),
        procedure_id=int(changes.get("procedure_id") or previous.procedure_id),
        timepoint_hint=previous.timepoint,
    )
    old = {c: getattr(previous_row, c) for c in store.CONTENT_COLUMNS}
    diff = {c: {"from": old[c], "to": values[c]} for c in values if values[c] != old[c]}
    if not diff:
        msg = f"entry {entry_id}: the correction changes nothing"
        raise FollowupError(msg)
    return previous_row, values, diff


def check_correction(
    *,
    database: Database,
    entry_id: int,
    changes: dict[str, Any],
    entered_by: str,
    schedule: Schedule,
    today: dt.date | None = None,
) -> dict[str, dict[str, Any]]:
    """Validate a correction without writing it; return what it changes (``from``/``to``).

    Raises what :func:`correct_followup` would raise, so a refusal comes before the
    confirmation prompt, not after.
    """
    with database.session() as session:
        _, _, diff = _corrected(
            session,
            entry_id=entry_id,
            changes=changes,
            entered_by=entered_by,
            schedule=schedule,
            today=today or dt.date.today(),
        )
        session.rollback()
    return diff


def correct_followup(
    *,
    database: Database,
    entry_id: int,
    changes: dict[str, Any],
    reason: str,
    entered_by: str,
    schedule: Schedule,
    today: dt.date | None = None,
) -> FollowupPublic:
    """Store a new version of ``entry_id`` with ``changes`` applied; the old version stays.

    Raises FollowupError (nothing changed, no such entry, refused value) or ValidationError.
    Two writers correcting one entry at once both succeed, one after the other.
    """
    today = today or dt.date.today()
    if not reason.strip():
        msg = "reason refused: a correction needs a reason"
        raise FollowupError(msg)

    def attempt() -> FollowupPublic:
        with database.session() as session:
            previous_row, values, diff = _corrected(
                session,
                entry_id=entry_id,
                changes=changes,
                entered_by=entered_by,
                schedule=schedule,
                today=today,
            )
            now = utcnow()
            version = store.insert_version(
                session=session,
                previous=previous_row,
                values=values,
                reason=reason.strip(),
                entered_by=entered_by,
                now=now,
            )
            store.record_audit(
                session=session,
                who=entered_by,
                action="followup.correct",
                entity="followup_entry",
                entity_id=str(entry_id),
                details={
                    "version": version.version,
                    "reason": reason.strip(),
                    "changes": {
                        c: {k: _jsonable({"v": v})["v"] for k, v in d.items()}
                        for c, d in diff.items()
                    },
                },
                now=now,
            )
            return FollowupPublic.from_row(version)

    return _retrying("followup correct", attempt, on=(IntegrityError, OperationalError))


# --- reading ---------------------------------------------------------------------------------


def list_followups(session: Session, *, key: str | None = None) -> list[FollowupPublic]:
    """The current version of every entry, or of the entries of the procedures ``key`` names."""
    procedure_ids = None
    if key is not None:
        refs = procedures_for(session, key)
        if not refs:
            msg = (
                "no procedure with record id, accession number, Study Instance UID "
                f"or patient ID {key!r}"
            )
            raise FollowupError(msg)
        procedure_ids = [r.id for r in refs]
    rows = store.current_versions(session=session, procedure_ids=procedure_ids)
    return [FollowupPublic.from_row(r) for r in rows]


def entry_history(session: Session, entry_id: int) -> list[FollowupPublic]:
    """Every version of an entry, oldest first."""
    rows = store.entry_versions(session=session, entry_id=entry_id)
    if not rows:
        msg = f"no follow-up entry {entry_id}"
        raise FollowupError(msg)
    return [FollowupPublic.from_row(r) for r in rows]


def audit_log(session: Session, *, since: dt.datetime | None = None) -> list[AuditPublic]:
    return [
        AuditPublic(
            id=e.id,
            at=e.at,
            who=e.who,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            details=e.details,
        )
        for e in store.audit_events(session=session, since=since)
    ]

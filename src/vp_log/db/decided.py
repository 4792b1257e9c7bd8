"""The manual decisions in force on stored records: of a row, and in SQL for listings.

Apart from :mod:`vp_log.db.repository` so that follow-up (``followup add`` links an entry to
a record, and lists a record's entries) reads decisions without importing the record models
it never uses (issue 15: start-up).
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Subquery, and_, func, select

from vp_log.db.errors import UnreadableRecordError
from vp_log.db.tables import Procedure, ProcedureDecision
from vp_log.decisions import DecisionState


def decision_state(row: Procedure) -> DecisionState | None:
    """The manual decisions in force on a record (its newest version); None: none made."""
    if not row.decisions:
        return None
    newest = row.decisions[-1]
    try:
        return DecisionState.model_validate(newest.state)
    except ValidationError as exc:
        msg = f"the decisions of record {row.id} (version {newest.version}) cannot be read "
        msg += f"({exc.error_count()} problems)"
        raise UnreadableRecordError(msg) from None


def current_decisions() -> Subquery:
    """The newest decision version of each record (``procedure_id``, ``procedure_type``,
    ``excluded``, ``state``): outer-join it to filter on the effective values in SQL."""
    newest = (
        select(ProcedureDecision.procedure_id, func.max(ProcedureDecision.version).label("v"))
        .group_by(ProcedureDecision.procedure_id)
        .subquery()
    )
    return (
        select(
            ProcedureDecision.procedure_id,
            ProcedureDecision.procedure_type,
            ProcedureDecision.excluded,
            ProcedureDecision.state,
        )
        .join(
            newest,
            and_(
                ProcedureDecision.procedure_id == newest.c.procedure_id,
                ProcedureDecision.version == newest.c.v,
            ),
        )
        .subquery("decision")
    )


def effective_type(decision: Subquery) -> ColumnElement[str]:
    """The record's type in SQL: the decided one, else the extracted one."""
    return func.coalesce(decision.c.procedure_type, Procedure.procedure_type)


#: Procedure types that are not vertebral augmentation: "unclassified" (no evidence) and
#: "other" (another procedure, issue 11).
NOT_AUGMENTATION = ("unclassified", "other")

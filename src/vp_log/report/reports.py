"""The reports by name, and a document of the chosen ones over one cohort."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vp_log.followup import Schedule
from vp_log.report.cohort import Cohort, Filters, load_cohort
from vp_log.report.document import Document
from vp_log.report.settings import ReportSettings
from vp_log.report.tables import Section


@dataclass(frozen=True)
class Context:
    """What a report needs besides the cohort."""

    schedule: Schedule
    settings: ReportSettings
    as_of: dt.date


def _outcomes(cohort: Cohort, context: Context) -> Section:
    from vp_log.report.outcomes import build_outcomes

    return build_outcomes(cohort, context.schedule, context.settings)


REPORTS: dict[str, Callable[[Cohort, Context], Section]] = {
    "outcomes": _outcomes,
}


def build_document(
    session: Session, names: Sequence[str], filters: Filters, context: Context
) -> Document:
    """Read the cohort once and build each named report over it."""
    cohort = load_cohort(session, filters)
    return Document.of([REPORTS[name](cohort, context) for name in names], cohort, filters)

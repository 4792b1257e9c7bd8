"""The reports by name, and a document of the chosen ones over one cohort."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from vp_log.alerts import AlertLevels
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
    alert_levels: AlertLevels = field(default_factory=AlertLevels)
    """Dose follow-up levels (the ``dose_alert_*`` settings)."""


def _outcomes(cohort: Cohort, context: Context) -> Section:
    from vp_log.report.outcomes import build_outcomes

    return build_outcomes(cohort, context.schedule, context.settings)


def _fractures(cohort: Cohort, context: Context) -> Section:
    from vp_log.report.fractures import build_fractures

    return build_fractures(cohort, context.schedule)


def _complications(cohort: Cohort, context: Context) -> Section:
    from vp_log.report.complications import build_complications

    return build_complications(cohort, context.settings)


def _dose(cohort: Cohort, context: Context) -> Section:
    from vp_log.report.dose import build_dose

    return build_dose(cohort, context.settings, context.alert_levels)


def _completeness(cohort: Cohort, context: Context) -> Section:
    from vp_log.report.completeness import build_completeness

    return build_completeness(cohort, context.schedule, context.as_of)


REPORTS: dict[str, Callable[[Cohort, Context], Section]] = {
    "outcomes": _outcomes,
    "fractures": _fractures,
    "complications": _complications,
    "dose": _dose,
    "completeness": _completeness,
}


#: Reports that use no follow-up entry (the cohort is read without them).
WITHOUT_FOLLOWUP = frozenset({"dose"})


def build_document(
    session: Session, names: Sequence[str], filters: Filters, context: Context
) -> Document:
    """Read the cohort once and build each named report over it."""
    cohort = load_cohort(
        session,
        filters,
        followup=any(name not in WITHOUT_FOLLOWUP for name in names),
        dose_history="dose" in names,
    )
    return Document.of([REPORTS[name](cohort, context) for name in names], cohort, filters)

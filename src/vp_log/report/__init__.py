"""Cohort reports and exports: statistics, tables, figures, HTML; reads only.

``vp_log.report.cohort`` reads records and follow-up through ``vp_log.db.report_queries`` into
typed facts; one module per report turns a cohort into a :class:`~vp_log.report.tables.Section`;
``document`` writes sections for people (rich), scripts (JSON, CSV) and browsers (HTML);
``plots`` draws the figures; ``export`` writes the data itself, pseudonymised on request.
Heavy libraries (scipy, lifelines, matplotlib) are imported by these modules, which
the CLI imports only inside the report and export commands.
"""

from vp_log.report.cohort import Cohort, Filters, ReportError, load_cohort, parse_filters
from vp_log.report.reports import REPORTS, build_document

__all__ = [
    "REPORTS",
    "Cohort",
    "Filters",
    "ReportError",
    "build_document",
    "load_cohort",
    "parse_filters",
]

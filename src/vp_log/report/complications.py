"""``report complications``: rates by type and SIR grade against the site's thresholds.

Denominators: procedures with at least one follow-up entry (a procedure nobody asked about is
not known to be free of complications), and their treated levels. Per procedure: procedures
with at least one complication of the kind; per level: complications of the kind per treated
level. Minor is SIR A–B, major C–F. A rate above its threshold in the report settings
(``complication_thresholds``, % of procedures) is flagged, as quality-improvement guidelines
do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vp_log.followup import ComplicationType
from vp_log.report import stats
from vp_log.report.cohort import Cohort, ComplicationFacts
from vp_log.report.settings import ReportSettings
from vp_log.report.tables import Column, Section, Table, View, k_of_n, percent, rate_ci, text

MINOR = frozenset("AB")
MAJOR = frozenset("CDEF")
LEAKAGE = (
    ComplicationType.CEMENT_LEAKAGE_DISC,
    ComplicationType.CEMENT_LEAKAGE_PARAVERTEBRAL,
    ComplicationType.CEMENT_LEAKAGE_EPIDURAL,
    ComplicationType.CEMENT_LEAKAGE_VENOUS,
    ComplicationType.PULMONARY_CEMENT_EMBOLISM,
)


@dataclass(frozen=True)
class Kind:
    key: str
    """Threshold key and row name."""
    label: str
    matches: Callable[[ComplicationFacts], bool]


def _of_grade(grade: str) -> Callable[[ComplicationFacts], bool]:
    return lambda c: c.severity == grade


def _of_type(kind: str) -> Callable[[ComplicationFacts], bool]:
    return lambda c: c.type == kind


def kinds() -> list[Kind]:
    grouped = [
        Kind("any", "any complication", lambda c: True),
        Kind("minor", "minor (SIR A–B)", lambda c: c.severity in MINOR),
        Kind("major", "major (SIR C–F)", lambda c: c.severity in MAJOR),
    ]
    grades = [Kind(f"grade-{g}", f"SIR grade {g}", _of_grade(g)) for g in "ABCDEF"]
    types = [Kind(t.value, t.value, _of_type(t.value)) for t in ComplicationType]
    return grouped + grades + types


def _table(name: str, title: str) -> Table:
    return Table(
        name,
        title,
        [
            Column("kind", "Complication"),
            Column("k", "Procedures with one", "int"),
            Column("n", "Procedures assessed", "int"),
            Column("rate", "Rate per procedure", "rate"),
            Column("low", "95 % CI low", "rate"),
            Column("high", "95 % CI high", "rate"),
            Column("events", "Complications", "int"),
            Column("levels", "Treated levels assessed", "int"),
            Column("rate_per_level", "Per treated level", "rate"),
            Column("level_low", "Per level 95 % CI low", "rate"),
            Column("level_high", "Per level 95 % CI high", "rate"),
            Column("threshold", "Threshold", "rate"),
            Column("above_threshold", "Above threshold"),
        ],
        view=[
            View("Complication", text("kind"), numeric=False),
            View("k/n", k_of_n()),
            View("Per proc. [95 % CI]", rate_ci()),
            View("Per level", lambda r: percent(r["rate_per_level"])),
            View(
                "Threshold",
                lambda r: (
                    "–"
                    if r["threshold"] is None
                    else f"{r['threshold'] * 100:g} %" + (" ABOVE" if r["above_threshold"] else "")
                ),
            ),
        ],
    )


def build_complications(cohort: Cohort, settings: ReportSettings) -> Section:
    assessed = [
        p for p in cohort.procedures if any(not e.closed_reason for e in cohort.entries_of(p.id))
    ]
    level_count = sum(p.level_count for p in assessed)
    found: dict[int, list[ComplicationFacts]] = {}
    for p in assessed:
        unique = {
            (c.type, c.severity, c.date): c
            for e in cohort.entries_of(p.id)
            for c in e.complications
        }
        found[p.id] = list(unique.values())
    thresholds = settings.complication_thresholds

    def row(kind: Kind) -> dict[str, object]:
        k = sum(1 for cs in found.values() if any(kind.matches(c) for c in cs))
        events = sum(1 for cs in found.values() for c in cs if kind.matches(c))
        per_procedure = stats.wilson(k, len(assessed))
        per_level = (
            stats.wilson(events, level_count)
            if events <= level_count
            else stats.Proportion(events, level_count, events / level_count, None, None)
        )
        limit = thresholds.get(kind.key)
        above = (
            None
            if limit is None or per_procedure.rate is None
            else per_procedure.rate * 100 > limit
        )
        return {
            "kind": kind.label,
            "k": k,
            "n": len(assessed),
            "rate": per_procedure.rate,
            "low": per_procedure.low,
            "high": per_procedure.high,
            "events": events,
            "levels": level_count,
            "rate_per_level": per_level.rate,
            "level_low": per_level.low,
            "level_high": per_level.high,
            "threshold": None if limit is None else limit / 100,
            "above_threshold": above,
        }

    every = kinds()
    by_grade = _table("complications_by_grade", "Complications by SIR grade (Wilson 95 % CI)")
    by_grade.rows = [
        row(k) for k in every if k.key in {"any", "minor", "major"} or k.key.startswith("grade-")
    ]
    by_type = _table("complications_by_type", "Complications by type (Wilson 95 % CI)")
    by_type.rows = [row(k) for k in every if k.key in {t.value for t in ComplicationType}]
    leakage = _table("complications_cement_leakage", "Cement leakage by type (Wilson 95 % CI)")
    leakage.rows = [row(k) for k in every if k.key in {t.value for t in LEAKAGE}]
    leakage.rows.insert(
        0,
        row(
            Kind(
                "leakage-any", "any cement leakage", lambda c: c.type in {t.value for t in LEAKAGE}
            )
        ),
    )
    flagged = [r["kind"] for t in (by_grade, by_type) for r in t.rows if r["above_threshold"]]
    section = Section(
        "complications",
        "Complications",
        tables=[by_grade, by_type, leakage],
        counts={
            "procedures": len(cohort.procedures),
            "assessed": len(assessed),
            "treated_levels": level_count,
            "complications": sum(len(cs) for cs in found.values()),
        },
    )
    section.notes.append(
        f"Assessed: {len(assessed)} of {len(cohort.procedures)} procedures have a follow-up "
        "entry; the others are not known to be free of complications and are left out."
    )
    section.notes.append(
        "Thresholds (% of procedures) from the report settings (complication_thresholds): "
        + (", ".join(f"{k} {v:g} %" for k, v in thresholds.items()) or "none set")
        + "."
    )
    if flagged:
        section.notes.append("Above threshold: " + ", ".join(str(f) for f in flagged) + ".")
    return section

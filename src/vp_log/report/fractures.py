"""``report fractures``: new vertebral fractures after the procedure.

Each new fracture is placed by its distance from the nearest treated level: in a treated level,
adjacent (one level away), two levels away, further. Rates per procedure (procedures with at
least one such fracture, of those followed after the procedure) and per level (of all new
fractured levels), each with a Wilson interval; Kaplan-Meier of new-fracture-free time,
censored at the last follow-up. Death is a competing risk: a patient who died is censored at
death in the curve and counted separately.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vp_log.followup import Schedule
from vp_log.report import stats
from vp_log.report.cohort import Cohort, ProcedureFacts, spinal_level
from vp_log.report.tables import Column, Plot, Section, Table, View, k_of_n, num, rate_ci, text

CATEGORIES = ("treated level", "adjacent", "two levels away", "further")
UNKNOWN = "treated levels unknown"


def distance(level: str, treated: list[str]) -> int | None:
    """Levels between ``level`` and the nearest treated level (0: a treated level itself)."""
    found = spinal_level(level)
    if found is None:
        return None
    first, last = found.span
    gaps = []
    for name in treated:
        other = spinal_level(name)
        if other is not None:
            low, high = other.span
            gaps.append(max(0, max(first, low) - min(last, high)))
    return min(gaps) if gaps else None


def category(level: str, treated: list[str]) -> str:
    gap = distance(level, treated)
    if gap is None:
        return UNKNOWN
    return CATEGORIES[min(gap, 3)]


@dataclass(frozen=True)
class NewFracture:
    procedure_id: int
    level: str
    date: dt.date
    category: str


def new_fractures(cohort: Cohort, procedure: ProcedureFacts) -> list[NewFracture]:
    """The procedure's new fractures, each level once (earliest date), after the procedure."""
    treated = [t.level for t in procedure.levels]
    earliest: dict[str, dt.date] = {}
    for entry in cohort.entries_of(procedure.id):
        for fracture in entry.new_fractures:
            if procedure.study_date is not None and fracture.date < procedure.study_date:
                continue
            if fracture.level not in earliest or fracture.date < earliest[fracture.level]:
                earliest[fracture.level] = fracture.date
    return [
        NewFracture(procedure.id, level, when, category(level, treated))
        for level, when in sorted(earliest.items(), key=lambda item: item[1])
    ]


def death_date(cohort: Cohort, procedure_id: int) -> dt.date | None:
    deaths = [
        c.date
        for e in cohort.entries_of(procedure_id)
        for c in e.complications
        if c.type == "death"
    ]
    return min(deaths) if deaths else None


def build_fractures(cohort: Cohort, schedule: Schedule) -> Section:
    followed = [
        p
        for p in cohort.procedures
        if p.study_date is not None
        and any(e.days_after > 0 and not e.closed_reason for e in cohort.entries_of(p.id))
    ]
    found = {p.id: new_fractures(cohort, p) for p in followed}
    every = [f for fs in found.values() for f in fs]

    per_procedure = Table(
        "fractures_per_procedure",
        "New fractures per procedure (procedures followed after the procedure; Wilson 95 % CI)",
        [
            Column("category", "Where"),
            Column("k", "Procedures with one", "int"),
            Column("n", "Procedures followed", "int"),
            Column("rate", "Rate", "rate"),
            Column("low", "95 % CI low", "rate"),
            Column("high", "95 % CI high", "rate"),
        ],
        view=[
            View("Where", text("category"), numeric=False),
            View("k/n", k_of_n()),
            View("Rate [95 % CI]", rate_ci()),
        ],
    )
    per_level = Table(
        "fractures_per_level",
        "New fractured levels by distance from the treated levels (Wilson 95 % CI)",
        [
            Column("category", "Where"),
            Column("k", "Fractured levels", "int"),
            Column("n", "All new fractured levels", "int"),
            Column("rate", "Share", "rate"),
            Column("low", "95 % CI low", "rate"),
            Column("high", "95 % CI high", "rate"),
        ],
        view=[
            View("Where", text("category"), numeric=False),
            View("k/n", k_of_n()),
            View("Share [95 % CI]", rate_ci()),
        ],
    )
    shown = list(CATEGORIES) + ([UNKNOWN] if any(f.category == UNKNOWN for f in every) else [])
    for name in ["any new fracture", *shown]:
        k = sum(
            1 for fs in found.values() if any(name in ("any new fracture", f.category) for f in fs)
        )
        p = stats.wilson(k, len(followed))
        per_procedure.rows.append(
            {
                "category": name,
                "k": k,
                "n": len(followed),
                "rate": p.rate,
                "low": p.low,
                "high": p.high,
            }
        )
    for name in shown:
        k = sum(1 for f in every if f.category == name)
        p = stats.wilson(k, len(every))
        per_level.rows.append(
            {
                "category": name,
                "k": k,
                "n": len(every),
                "rate": p.rate,
                "low": p.low,
                "high": p.high,
            }
        )

    durations: list[float] = []
    events: list[bool] = []
    deaths = 0
    for procedure in followed:
        if procedure.study_date is None:  # not followed (see above); for the type checker
            continue
        # the last assessment (a closed time point is no contact with the patient)
        last = max(e.days_after for e in cohort.entries_of(procedure.id) if not e.closed_reason)
        died = death_date(cohort, procedure.id)
        if died is not None:
            deaths += 1
            last = min(last, (died - procedure.study_date).days)
        fs = found[procedure.id]
        if fs:
            durations.append(float((fs[0].date - procedure.study_date).days))
            events.append(True)
        else:
            durations.append(float(max(last, 0)))
            events.append(False)
    km = stats.kaplan_meier(durations, events)
    km_table = Table(
        "fractures_kaplan_meier",
        "Kaplan-Meier: free of a new fracture (days after the procedure)",
        [
            Column("day", "Day", "int"),
            Column("at_risk", "At risk", "int"),
            Column("events", "New fractures", "int"),
            Column("censored", "Censored", "int"),
            Column("survival", "Fracture-free", "rate"),
            Column("ci_low", "95 % CI low", "rate"),
            Column("ci_high", "95 % CI high", "rate"),
        ],
        view=[
            View("Day", lambda r: num(r["day"])),
            View("At risk", text("at_risk")),
            View("Fractures", text("events")),
            View("Censored", text("censored")),
            View("Fracture-free [95 % CI]", rate_ci("survival", "ci_low", "ci_high")),
        ],
        shown_if=lambda r: r["events"] > 0 or r["day"] == 0,
        shown_note="Shown: the days with a new fracture (JSON and CSV hold every step, "
        "censorings included).",
    )
    for step in km.steps:
        km_table.rows.append(
            {
                "day": int(step.time),
                "at_risk": step.at_risk,
                "events": step.events,
                "censored": step.censored,
                "survival": step.survival,
                "ci_low": step.ci_low,
                "ci_high": step.ci_high,
            }
        )
    marks = [0, *sorted({tp.target for tp in schedule.timepoints if tp.target >= 30})]
    at_risk = Table(
        "fractures_at_risk",
        "Number at risk",
        [
            Column("day", "Day", "int"),
            Column("at_risk", "At risk", "int"),
            Column("survival", "Fracture-free", "rate"),
        ],
    )
    for day in marks:
        at_risk.rows.append(
            {
                "day": day,
                "at_risk": km.at_risk_at(day) if km.steps else 0,
                "survival": km.survival_at(day),
            }
        )
    section = Section(
        "fractures",
        "New vertebral fractures",
        tables=[per_procedure, per_level, km_table, at_risk],
        counts={
            "procedures": len(cohort.procedures),
            "followed": len(followed),
            "new_fractures": len(every),
            "deaths": deaths,
        },
    )
    section.notes.append(
        f"Followed: {len(followed)} of {len(cohort.procedures)} procedures have an entry after "
        "the procedure; the others are not in these figures."
    )
    section.notes.append(
        f"Deaths: {deaths}. Death is a competing risk: a patient who died is censored at death "
        "in the curve (which then estimates fracture-free time had no one died) and is counted "
        "here separately."
    )
    section.plots.append(
        Plot(
            "fractures_kaplan_meier",
            "Free of a new vertebral fracture (Kaplan-Meier, 95 % CI)",
            "kaplan_meier",
            {"steps": km_table.rows, "at_risk": at_risk.rows},
        )
    )
    return section

"""Which entry stands for a time point when several hold it (``values_by_timepoint``): the
one in window, nearest the target day, then the latest, per value (an entry without that
value does not count). Held against the rule written out plainly, on random entries."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from vp_log.followup import load_schedule
from vp_log.report.cohort import Cohort, EntryFacts, ProcedureFacts
from vp_log.report.outcomes import values_by_timepoint

KEYS = ("pain", "odi_percent", "analgesic")


def _procedure(pid: int) -> ProcedureFacts:
    return ProcedureFacts(
        id=pid,
        study_instance_uid=f"2.25.{pid}",
        patient_id=None,
        patient_name=None,
        patient_birth_date=None,
        patient_sex=None,
        stated_age_years=None,
        accession_number=None,
        study_date=dt.date(2024, 1, 1),
        procedure_type="vertebroplasty",
        status="complete",
        levels=(),
        operator=None,
        device=None,
        fluoro_time_s=None,
        dap_gy_cm2=None,
        ka_r_mgy=None,
        total_cement_ml=None,
        flags=(),
    )


def _entry(rng: random.Random, entry_id: int, pid: int, timepoint: str | None) -> EntryFacts:
    days = rng.choice((20, 28, 30, 30, 33, 45))
    maybe = rng.random
    return EntryFacts(
        entry_id=entry_id,
        procedure_id=pid,
        date=dt.date(2024, 1, 1) + dt.timedelta(days=days + rng.choice((0, 0, 1))),
        timepoint=timepoint,
        days_after=days,
        out_of_window=rng.random() < 0.3,
        scores={
            "pain": None if maybe() < 0.3 else float(rng.randint(0, 10)),
            "odi_percent": None if maybe() < 0.3 else float(rng.randint(0, 100)),
        },
        analgesic=None if maybe() < 0.3 else rng.choice(("none", "weak-opioid")),
        new_fractures=(),
        complications=(),
    )


def _plainly(cohort: Cohort, target: dict[str, int]) -> dict[tuple[str, str], dict[int, Any]]:
    """The rule as first written: one pass, the best-ranked entry with the value kept."""
    best: dict[tuple[str, str, int], tuple[tuple[bool, int, int], Any]] = {}
    for p in cohort.procedures:
        for e in cohort.entries_of(p.id):
            if e.timepoint not in target:
                continue
            rank = (e.out_of_window, abs(e.days_after - target[e.timepoint]), -e.date.toordinal())
            for key in KEYS:
                value = e.analgesic if key == "analgesic" else e.scores.get(key)
                slot = (key, e.timepoint, p.id)
                if value is not None and (slot not in best or rank < best[slot][0]):
                    best[slot] = (rank, value)
    found: dict[tuple[str, str], dict[int, Any]] = {(k, t): {} for k in KEYS for t in target}
    for (key, tp, pid), (_rank, value) in best.items():
        found[(key, tp)][pid] = value
    return found


def test_the_entry_in_window_nearest_the_target_then_latest_counts() -> None:
    schedule = load_schedule()
    target = {tp.name: tp.target for tp in schedule.timepoints}
    rng = random.Random(3)
    procedures = [_procedure(pid) for pid in range(1, 301)]
    entries: dict[int, list[EntryFacts]] = {}
    entry_id = 0
    for p in procedures:
        for _ in range(rng.randint(0, 5)):
            entry_id += 1
            name = rng.choice(("1m", "1m", "1m", "baseline", None))
            entries.setdefault(p.id, []).append(_entry(rng, entry_id, p.id, name))
    for mine in entries.values():
        mine.sort(key=lambda e: (e.date, e.entry_id))
    cohort = Cohort(procedures=procedures, entries=entries)
    got = values_by_timepoint(cohort, schedule, KEYS)
    expected = _plainly(cohort, target)
    assert got == expected
    assert [list(got[k]) for k in sorted(got)] == [list(expected[k]) for k in sorted(expected)]
    assert sum(len(v) for v in got.values()) > 300  # the cohort has what the rule decides on

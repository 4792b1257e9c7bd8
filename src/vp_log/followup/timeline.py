"""The outcomes of one procedure over time, with the change from baseline."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from vp_log.db import followup_tables as store
from vp_log.followup.instruments import OUTCOMES, eq5d_profile
from vp_log.followup.linking import get_procedure
from vp_log.followup.models import FollowupPublic, item_values
from vp_log.followup.schedule import Schedule, load_schedule


def _change(entry: FollowupPublic, baseline: FollowupPublic | None) -> dict[str, Any] | None:
    """Each outcome minus the baseline's (None where either is unknown); None for the baseline."""
    if baseline is None or entry is baseline:
        return None
    change: dict[str, Any] = {}
    for name in OUTCOMES:
        now, then = getattr(entry, name), getattr(baseline, name)
        change[name] = None if now is None or then is None else round(now - then, 1)
    return change


def _row(
    entry: FollowupPublic, schedule: Schedule, change: dict[str, Any] | None
) -> dict[str, Any]:
    names = {tp.name: tp for tp in schedule.timepoints}
    tp = names.get(entry.timepoint or "")
    values = {
        name: value.value if hasattr(value, "value") else value
        for name, value in item_values(entry).items()
    }
    return {
        "timepoint": entry.timepoint,
        "label": (tp.label or tp.name) if tp else "unscheduled",
        "target_day": tp.target if tp else None,
        "entry_id": entry.entry_id,
        "version": entry.version,
        "date": entry.date.isoformat(),
        "days_after": entry.days_after,
        "out_of_window": entry.out_of_window,
        "closed": entry.closed.value if entry.closed else None,
        **values,
        "new_fractures_assessed": entry.new_fractures is not None,
        "complications_assessed": entry.complications is not None,
        "eq5d_profile": eq5d_profile(values),
        "change_from_baseline": change,
    }


def outcome_timeline(
    session: Session, procedure_id: int, *, schedule: Schedule | None = None
) -> dict[str, Any]:
    """The outcomes of one procedure, JSON-able, for ``vp-log procedures show``.

    ``{"procedure_id", "study_date", "treated_levels", "baseline_entry_id", "timepoints": [{
    "timepoint", "label", "target_day", "entry_id", "version", "date", "days_after",
    "out_of_window", <every instrument item>, "eq5d_profile", "change_from_baseline":
    {<every outcome item>} | None}], "new_fractures": [{"level", "date", "adjacent",
    "at_treated_level", "entry_id"}], "complications": [{"type", "severity", "date",
    "entry_id"}]}`` — one row per entry, by date; a change is the value minus the baseline's,
    None where either is unknown; the baseline row itself has no change.
    """
    schedule = schedule or load_schedule()
    procedure = get_procedure(session, procedure_id)
    entries = [
        FollowupPublic.from_row(r)
        for r in store.current_versions(session=session, procedure_ids=[procedure_id])
    ]
    baselines = [e for e in entries if e.timepoint == schedule.baseline.name]
    baseline = max(baselines, key=lambda e: (e.date, e.entry_id)) if baselines else None
    return {
        "procedure_id": procedure.id,
        "study_date": procedure.study_date.isoformat() if procedure.study_date else None,
        "treated_levels": procedure.levels,
        "baseline_entry_id": baseline.entry_id if baseline else None,
        "timepoints": [_row(e, schedule, _change(e, baseline)) for e in entries],
        "new_fractures": [
            {**f.model_dump(mode="json"), "entry_id": e.entry_id}
            for e in entries
            for f in e.new_fractures or []
        ],
        "complications": [
            {**c.model_dump(mode="json"), "entry_id": e.entry_id}
            for e in entries
            for c in e.complications or []
        ],
    }

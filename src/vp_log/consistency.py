"""Does a dose report agree with itself? Its stated totals against its own events (pure).

Each check compares, per plane, one accumulated total of the report (TID 10002) with what its
irradiation events (TID 10003) add up to; a disagreement is a :class:`Finding` whose ``check``
is the flag put on the record. Nothing is corrected or chosen: the record keeps showing the
report's totals, and the finding says what the events say.

Checks (``<what>`` in fluoro-time, acquisition-time, dap, dap-fluoro, dap-acquisition, ka-r,
ka-r-fluoro, ka-r-acquisition):

- ``<what>-disagrees-with-events``: the total and the events' sum differ by more than the
  tolerance (every event of that kind must give the value; one unknown skips the check);
- ``fluoro-time-zero-with-fluoro-events`` / ``acquisition-time-zero-with-acquisition-events``:
  the report states 0 s while it lists events of that kind (count, whatever their durations);
- ``fluoro-time-without-fluoro-events`` / ``acquisition-time-without-acquisition-events``:
  time stated while the report lists events, none of that kind;
- ``frame-count-disagrees-with-events``: Total Number of Radiographic Frames against the
  pulses of the acquisition events.

Tolerances allow for values rounded by the writer and ignore amounts of no clinical weight:
times 5 % or 1 s, doses 2 % or 0.01 Gy·cm² (1e-6 Gy·m²) / 0.1 mGy, frame counts exact. (The
OpenREM test file Dual-RDSR-RF.dcm states 0.00010 Gy against 0.066 mGy of events: rounding
at the writer's resolution, not a report to act on.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

__all__ = ["EventValues", "Finding", "StatedTotals", "check_report"]


@dataclass(frozen=True)
class EventValues:
    """What the checks need of one event (units as the extraction gives them)."""

    category: str | None  # "fluoroscopy" | "acquisition" | None (type unknown)
    plane: str
    dap_gy_m2: float | None = None
    ka_r_mgy: float | None = None
    duration_s: float | None = None
    pulses: float | None = None


@dataclass(frozen=True)
class StatedTotals:
    """One plane's accumulated totals as a report states them (``None``: not stated)."""

    fluoro_time_s: float | None = None
    acquisition_time_s: float | None = None
    dap_gy_m2: float | None = None
    dap_fluoro_gy_m2: float | None = None
    dap_acquisition_gy_m2: float | None = None
    ka_r_mgy: float | None = None
    ka_r_fluoro_mgy: float | None = None
    ka_r_acquisition_mgy: float | None = None
    radiographic_frames: float | None = None


class Finding(BaseModel):
    """One disagreement between a report's totals and its events."""

    model_config = ConfigDict(frozen=True)

    check: str
    report_uid: str
    plane: str
    stated: float
    from_events: float | None
    unit: str
    events: int


# (check stem, stated field, event value, event category or None for every event, unit,
#  relative tolerance, absolute tolerance)
_SUMS: tuple[tuple[str, str, str, str | None, str, float, float], ...] = (
    ("fluoro-time", "fluoro_time_s", "duration_s", "fluoroscopy", "s", 0.05, 1.0),
    ("acquisition-time", "acquisition_time_s", "duration_s", "acquisition", "s", 0.05, 1.0),
    ("dap", "dap_gy_m2", "dap_gy_m2", None, "Gy.m2", 0.02, 1e-6),
    ("dap-fluoro", "dap_fluoro_gy_m2", "dap_gy_m2", "fluoroscopy", "Gy.m2", 0.02, 1e-6),
    ("dap-acquisition", "dap_acquisition_gy_m2", "dap_gy_m2", "acquisition", "Gy.m2", 0.02, 1e-6),
    ("ka-r", "ka_r_mgy", "ka_r_mgy", None, "mGy", 0.02, 0.1),
    ("ka-r-fluoro", "ka_r_fluoro_mgy", "ka_r_mgy", "fluoroscopy", "mGy", 0.02, 0.1),
    ("ka-r-acquisition", "ka_r_acquisition_mgy", "ka_r_mgy", "acquisition", "mGy", 0.02, 0.1),
)
_TIMES = (
    ("fluoro", "fluoro_time_s", "fluoroscopy"),
    ("acquisition", "acquisition_time_s", "acquisition"),
)


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


def _differs(stated: float, summed: float, rel: float, absolute: float) -> bool:
    return abs(stated - summed) > max(absolute, rel * max(abs(stated), abs(summed)))


def _plane_findings(
    report_uid: str, plane: str, stated: StatedTotals, events: Sequence[EventValues]
) -> list[Finding]:
    found: list[Finding] = []
    types_known = all(e.category is not None for e in events)

    def add(check: str, value: float, summed: float | None, unit: str, count: int) -> None:
        found.append(
            Finding(
                check=check,
                report_uid=report_uid,
                plane=plane,
                stated=_tidy(value),
                from_events=_tidy(summed) if summed is not None else None,
                unit=unit,
                events=count,
            )
        )

    zero_checked: set[str] = set()
    for stem, time_field, kind in _TIMES:
        stated_time = getattr(stated, time_field)
        of_kind = [e for e in events if e.category == kind]
        if stated_time is None:
            continue
        if stated_time == 0 and of_kind:
            add(f"{stem}-time-zero-with-{kind}-events", stated_time, None, "s", len(of_kind))
            zero_checked.add(f"{stem}-time")
        elif stated_time > 0 and events and not of_kind and types_known:
            add(f"{stem}-time-without-{kind}-events", stated_time, None, "s", 0)
            zero_checked.add(f"{stem}-time")
    for stem, field, event_value, category, unit, rel, absolute in _SUMS:
        value = getattr(stated, field)
        if value is None or stem in zero_checked:
            continue
        if category is not None and not types_known:
            continue  # an event of unknown type may belong to either split
        chosen = [e for e in events if category is None or e.category == category]
        values = [getattr(e, event_value) for e in chosen]
        if not chosen or any(v is None for v in values):
            continue
        summed = sum(v for v in values if v is not None)
        if _differs(value, summed, rel, absolute):
            add(f"{stem}-disagrees-with-events", value, summed, unit, len(chosen))
    frames = stated.radiographic_frames
    acquisitions = [e for e in events if e.category == "acquisition"]
    if frames is not None and types_known:
        pulses = [e.pulses for e in acquisitions]
        if not any(p is None for p in pulses):
            summed = sum(p for p in pulses if p is not None)
            if summed != frames:
                add("frame-count-disagrees-with-events", frames, summed, "{frames}", len(pulses))
    return found


def check_report(
    report_uid: str,
    stated: Mapping[str, StatedTotals],
    events: Sequence[EventValues],
) -> list[Finding]:
    """Every disagreement between a report's per-plane totals and its events.

    ``stated`` maps a plane (``A``, ``B``, ``single``...) to its totals. A report that lists
    no events at all (a private summary) has nothing to compare.
    """
    if not events:
        return []
    found: list[Finding] = []
    for plane in sorted(stated):
        in_plane = [e for e in events if e.plane == plane]
        if not in_plane and len(stated) > 1:
            continue
        found.extend(_plane_findings(report_uid, plane, stated[plane], in_plane or events))
    return found

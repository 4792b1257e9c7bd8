"""The irradiation events a record lists, their subtotals, and each report's self-consistency.

Pure. :func:`list_events` takes the dose reports that count (after the re-send/cumulative
merge of :mod:`vp_log.dose`) and lists every event once, in time order; :func:`subtotals`
adds them up by type (fluoroscopy, acquisition, each kind of acquisition, ``other`` for an
event of unknown type) and, with :func:`subtotals_per_plane`, by plane too. A subtotal whose
events do not all give a value has that value unknown (``None``), never the partial sum.
:func:`report_findings` compares each report's stated totals with its own events
(:mod:`vp_log.consistency`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from vp_log.consistency import EventValues, Finding, StatedTotals, check_report
from vp_log.models import DoseReport, IrradiationEvent, Kind, Observation, payload_of
from vp_log.record import EventSubtotal, EventSummary

__all__ = ["list_events", "report_findings", "subtotals", "subtotals_per_plane"]

GY_CM2_PER_GY_M2 = 1e4
UNSPECIFIED_PLANE = "unspecified"


def _tidy(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.12g}")


def _event_uid(event: IrradiationEvent, report_uid: str, index: int) -> str:
    """The key :mod:`vp_log.dose` uses: the event UID, else ``<report>#<index>``."""
    return event.uid or f"{report_uid}#{index}"


def _events_of(observations: Sequence[Observation]) -> list[tuple[Observation, IrradiationEvent]]:
    found = []
    for obs in observations:
        if obs.kind is Kind.IRRADIATION_EVENT:
            found.append((obs, payload_of(obs, IrradiationEvent) or IrradiationEvent()))
    return found


def _order(summary: EventSummary, position: int) -> tuple[datetime, int]:
    start = datetime.max
    if summary.start:
        try:
            start = datetime.fromisoformat(summary.start).replace(tzinfo=None)
        except ValueError:
            start = datetime.max
    return (start, position)


def list_events(
    reports: Sequence[tuple[str, Sequence[Observation]]], counted: Collection[str]
) -> list[EventSummary]:
    """Every counted event once (first report that lists it), earliest first."""
    listed: dict[str, tuple[EventSummary, int]] = {}
    position = 0
    for report_uid, observations in reports:
        for index, (obs, event) in enumerate(_events_of(observations)):
            uid = _event_uid(event, report_uid, index)
            position += 1
            if uid not in counted or uid in listed:
                continue
            dap = event.dap_gy_m2
            listed[uid] = (
                EventSummary(
                    uid=uid,
                    start=event.start,
                    type=event.type,
                    category=event.category,
                    protocol=event.protocol,
                    plane=event.plane,
                    dap_gy_cm2=_tidy(dap * GY_CM2_PER_GY_M2) if dap is not None else None,
                    ka_r_mgy=_tidy(event.ka_r_mgy),
                    duration_s=_tidy(event.duration_s),
                    reference_point=event.reference_point,
                    technique=event.technique,
                    report_uid=report_uid,
                    source=obs.provenance.text(),
                ),
                position,
            )
    ordered = sorted(listed.values(), key=lambda item: _order(*item))
    return [summary for summary, _ in ordered]


def _type_keys(event: EventSummary) -> list[str]:
    if event.category == "fluoroscopy":
        return ["fluoroscopy"]
    if event.category == "acquisition":
        kind = event.type if event.type and event.type != "acquisition" else None
        return ["acquisition", kind] if kind else ["acquisition"]
    return ["other"]


def _sum(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return _tidy(sum(v for v in values if v is not None))


def _subtotal(events: Sequence[EventSummary]) -> EventSubtotal:
    return EventSubtotal(
        events=len(events),
        dap_gy_cm2=_sum([e.dap_gy_cm2 for e in events]),
        ka_r_mgy=_sum([e.ka_r_mgy for e in events]),
        duration_s=_sum([e.duration_s for e in events]),
    )


_ORDER = ("fluoroscopy", "acquisition", "stationary-acquisition", "stepping-acquisition")


def subtotals(events: Sequence[EventSummary]) -> dict[str, EventSubtotal]:
    """Type → subtotal (fluoroscopy, acquisition and each acquisition kind, other)."""
    groups: dict[str, list[EventSummary]] = {}
    for event in events:
        for key in _type_keys(event):
            groups.setdefault(key, []).append(event)

    def rank(key: str) -> tuple[int, str]:
        return (_ORDER.index(key) if key in _ORDER else len(_ORDER), key)

    return {key: _subtotal(groups[key]) for key in sorted(groups, key=rank)}


def subtotals_per_plane(events: Sequence[EventSummary]) -> dict[str, dict[str, EventSubtotal]]:
    """Plane → type → subtotal."""
    planes = sorted({e.plane or UNSPECIFIED_PLANE for e in events})
    return {
        plane: subtotals([e for e in events if (e.plane or UNSPECIFIED_PLANE) == plane])
        for plane in planes
    }


# --- consistency of each report ------------------------------------------------------------

_STATED: dict[Kind, str] = {
    Kind.FLUORO_TIME_S: "fluoro_time_s",
    Kind.ACQUISITION_TIME_S: "acquisition_time_s",
    Kind.DAP_TOTAL_GY_M2: "dap_gy_m2",
    Kind.DAP_FLUORO_GY_M2: "dap_fluoro_gy_m2",
    Kind.DAP_ACQUISITION_GY_M2: "dap_acquisition_gy_m2",
    Kind.KAR_TOTAL_MGY: "ka_r_mgy",
    Kind.KAR_FLUORO_MGY: "ka_r_fluoro_mgy",
    Kind.KAR_ACQUISITION_MGY: "ka_r_acquisition_mgy",
}


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def report_findings(
    report_uid: str, info: DoseReport, observations: Sequence[Observation]
) -> list[Finding]:
    """Where one report's per-plane totals disagree with the events it lists."""
    if info.event_count is None:
        return []  # a private summary lists no events: nothing to compare
    stated: dict[str, dict[str, float | None]] = {}
    for obs in observations:
        name = _STATED.get(obs.kind)
        if name is not None:
            stated.setdefault(obs.plane or UNSPECIFIED_PLANE, {}).setdefault(
                name, _float(obs.value)
            )
    for plane, frames in info.radiographic_frames.items():
        stated.setdefault(plane, {})["radiographic_frames"] = frames
    events = []
    for _, event in _events_of(observations):
        pulses = None
        if event.technique is not None and event.technique.number_of_pulses is not None:
            pulses = event.technique.number_of_pulses.value
        events.append(
            EventValues(
                category=event.category,
                plane=event.plane or UNSPECIFIED_PLANE,
                dap_gy_m2=event.dap_gy_m2,
                ka_r_mgy=event.ka_r_mgy,
                duration_s=event.duration_s,
                pulses=pulses,
            )
        )
    totals: Mapping[str, StatedTotals] = {
        plane: StatedTotals(**values) for plane, values in stated.items()
    }
    return check_report(report_uid, totals, events)

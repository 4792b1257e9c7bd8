"""A study's dose, fluoroscopy time and timing from its observations (pure).

Policy for several dose reports in one study (keyed on Irradiation Event UID):

- a report whose events are a subset of another report's (a re-send, or an earlier cumulative
  report) changes nothing; equal sets are duplicates and only one counts;
- a superset replaces its subsets (cumulative reports), whatever the order of arrival;
- reports that overlap without one containing the other count each event once: their totals
  are added and each event seen twice is taken off once, from its own values;
- reports without events (private summaries) are used only when no report has events.

Two-plane systems: totals are kept per plane (the observations' ``plane`` field, from
:mod:`vp_log.extract.rdsr`) and the procedure total is their sum. Where no dose report gives
a dose-area product, image-header DAP is summed and ``origins`` says so. Unknown is ``None``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vp_log.dicom import NOT_IMAGE_MODALITIES
from vp_log.events import list_events, report_findings, subtotals, subtotals_per_plane
from vp_log.models import (
    DoseDevice,
    DoseReport,
    IrradiationEvent,
    Kind,
    Observation,
    payload_of,
)
from vp_log.record import DeviceInfo, DoseSummary, PlaneDose
from vp_log.technique import Measurement, PatientCharacteristics

logger = logging.getLogger(__name__)

__all__ = [
    "TOTAL_FIELDS",
    "DeviceInfo",
    "DoseSummary",
    "EventRecord",
    "MergedDose",
    "PlaneDose",
    "ReportRecord",
    "gy_m2_to_gy_cm2",
    "merge_events",
    "summarise_dose",
]

GY_CM2_PER_GY_M2 = 1e4
UNSPECIFIED_PLANE = "unspecified"

TOTAL_FIELDS: tuple[str, ...] = (
    Kind.FLUORO_TIME_S.value,
    Kind.ACQUISITION_TIME_S.value,
    Kind.DAP_TOTAL_GY_M2.value,
    Kind.DAP_FLUORO_GY_M2.value,
    Kind.DAP_ACQUISITION_GY_M2.value,
    Kind.KAR_TOTAL_MGY.value,
    Kind.KAR_FLUORO_MGY.value,
    Kind.KAR_ACQUISITION_MGY.value,
)
_TOTAL_KINDS = frozenset(Kind(name) for name in TOTAL_FIELDS)

# Which totals one event's own values add to, by event category.
_EVENT_CONTRIBUTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    # (event value, total field)
    "fluoroscopy": (
        ("dap_gy_m2", Kind.DAP_FLUORO_GY_M2.value),
        ("ka_r_mgy", Kind.KAR_FLUORO_MGY.value),
        ("duration_s", Kind.FLUORO_TIME_S.value),
    ),
    "acquisition": (
        ("dap_gy_m2", Kind.DAP_ACQUISITION_GY_M2.value),
        ("ka_r_mgy", Kind.KAR_ACQUISITION_MGY.value),
        ("duration_s", Kind.ACQUISITION_TIME_S.value),
    ),
}
_SPLIT_FIELDS = tuple(
    total_field for pairs in _EVENT_CONTRIBUTIONS.values() for _, total_field in pairs
)
_ALWAYS_CONTRIBUTES = (
    ("dap_gy_m2", Kind.DAP_TOTAL_GY_M2.value),
    ("ka_r_mgy", Kind.KAR_TOTAL_MGY.value),
)

_NOT_IMAGES = NOT_IMAGE_MODALITIES


def gy_m2_to_gy_cm2(value: float | None) -> float | None:
    """Dose-area product in the unit shown to people (Gy·cm²)."""
    return None if value is None else _tidy(value * GY_CM2_PER_GY_M2)


def _tidy(value: float) -> float:
    """Drop binary noise (``1.5356864017000001`` → ``1.5356864017``)."""
    return float(f"{value:.12g}")


# --- event merge (pure, property-tested) -----------------------------------------------------

TotalKey = tuple[str, str]
"""(total field, plane)."""


@dataclass(frozen=True)
class EventRecord:
    """One irradiation event as the merge needs it."""

    uid: str
    start: str | None = None
    category: str | None = None  # "fluoroscopy" | "acquisition" | None
    plane: str = UNSPECIFIED_PLANE
    dap_gy_m2: float | None = None
    ka_r_mgy: float | None = None
    duration_s: float | None = None
    source: str = ""


@dataclass(frozen=True)
class ReportRecord:
    """One dose report: its events and its accumulated totals per (field, plane)."""

    report_uid: str
    events: tuple[EventRecord, ...] = ()
    totals: Mapping[TotalKey, float | None] = field(default_factory=dict)
    has_events: bool = True  # False for templates that never list events (private summaries)


@dataclass(frozen=True)
class MergedDose:
    """What the study's reports say together."""

    events: dict[str, EventRecord]
    totals: dict[TotalKey, float | None]
    kept: tuple[str, ...]
    dropped: dict[str, str]
    flags: tuple[str, ...]
    counts_events: bool


def _event_value(event: EventRecord, name: str) -> float | None:
    value: float | None = getattr(event, name)
    return value


def _event_contributions(event: EventRecord) -> Iterable[tuple[str, str]]:
    yield from _ALWAYS_CONTRIBUTES
    yield from _EVENT_CONTRIBUTIONS.get(event.category or "", ())


def _combine_totals(
    kept: Sequence[ReportRecord],
) -> tuple[dict[TotalKey, float | None], list[str]]:
    keys = sorted({key for report in kept for key in report.totals})
    totals: dict[TotalKey, float | None] = {}
    flags: list[str] = []
    for key in keys:
        values = [report.totals.get(key) for report in kept]
        known = [v for v in values if v is not None]
        if len(known) == len(values):
            totals[key] = sum(known)
        else:
            totals[key] = None
            if known:
                flags.append(f"partial:{key[0]}:{key[1]}")
    return totals, flags


def _take_off_event(
    event: EventRecord, extra: int, totals: dict[TotalKey, float | None], flags: set[str]
) -> None:
    """Take ``extra`` copies of one event's own values off the totals it adds to."""
    for value_name, total_field in _event_contributions(event):
        key = (total_field, event.plane)
        current = totals.get(key)
        if current is None:
            continue
        value = _event_value(event, value_name)
        if value is None:
            totals[key] = None
            flags.add(f"overlap-unresolved:{total_field}:{event.plane}")
        else:
            totals[key] = current - extra * value
    if event.category not in _EVENT_CONTRIBUTIONS:
        # Unknown type: the fluoro/acquisition split and the times cannot be corrected.
        for total_field in _SPLIT_FIELDS:
            key = (total_field, event.plane)
            if totals.get(key) is not None:
                totals[key] = None
                flags.add(f"overlap-unresolved:{total_field}:{event.plane}")


def _unknown_where_negative(totals: dict[TotalKey, float | None], flags: set[str]) -> None:
    """More taken off than the reports said: they disagree, so the value is unknown."""
    for key, value in totals.items():
        if value is not None and value < 0:
            tolerance = 1e-9 * max(1.0, abs(value))
            totals[key] = 0.0 if value > -tolerance else None
            if totals[key] is None:
                flags.add(f"overlap-inconsistent:{key[0]}:{key[1]}")


def _take_off_duplicates(
    kept: Sequence[ReportRecord], totals: dict[TotalKey, float | None]
) -> list[str]:
    """Events listed by several kept reports: take each extra copy off the added totals."""
    counts = Counter(event.uid for report in kept for event in report.events)
    first: dict[str, EventRecord] = {}
    for report in kept:
        for event in report.events:
            first.setdefault(event.uid, event)
    flags: set[str] = set()
    for uid, count in sorted(counts.items()):
        if count >= 2:
            _take_off_event(first[uid], count - 1, totals, flags)
    _unknown_where_negative(totals, flags)
    return sorted(flags)


def _max_totals(
    reports: Sequence[ReportRecord],
) -> dict[TotalKey, float | None]:
    keys = sorted({key for report in reports for key in report.totals})
    totals: dict[TotalKey, float | None] = {}
    for key in keys:
        known = [v for r in reports if (v := r.totals.get(key)) is not None]
        totals[key] = max(known) if known else None
    return totals


def merge_events(reports: Sequence[ReportRecord]) -> MergedDose:
    """Merge a study's dose reports: subset ignored, superset replaces, overlap counted once.

    The result does not depend on the order of ``reports``.
    """
    with_events = sorted(
        (r for r in reports if r.has_events),
        key=lambda r: (-len({e.uid for e in r.events}), r.report_uid),
    )
    without_events = sorted((r for r in reports if not r.has_events), key=lambda r: r.report_uid)
    kept: list[ReportRecord] = []
    kept_sets: list[frozenset[str]] = []
    dropped: dict[str, str] = {}
    for report in with_events:
        uids = frozenset(e.uid for e in report.events)
        container = next(
            (k for k, s in zip(kept, kept_sets, strict=True) if uids <= s),
            None,
        )
        if container is not None:
            same = uids == frozenset(e.uid for e in container.events)
            reason = "duplicate-of" if same else "subset-of"
            dropped[report.report_uid] = f"{reason}:{container.report_uid}"
            continue
        kept.append(report)
        kept_sets.append(uids)

    flags: list[str] = []
    if kept:
        for report in without_events:
            dropped[report.report_uid] = "no-events:reports-with-events-used"
        totals, partial = _combine_totals(kept)
        flags.extend(partial)
        flags.extend(_take_off_duplicates(kept, totals))
        events: dict[str, EventRecord] = {}
        for report in kept:
            for event in report.events:
                events.setdefault(event.uid, event)
        counts_events = True
    else:
        # Summaries of one examination, each cumulative: the largest value of each is the last.
        kept = list(without_events)
        totals = _max_totals(kept)
        if len(kept) > 1:
            flags.append("several-reports-without-events:largest-value-used")
        events = {}
        counts_events = False
    if len(kept) > 1 and counts_events:
        flags.append("several-dose-reports")
    return MergedDose(
        events=dict(sorted(events.items())),
        totals=totals,
        kept=tuple(r.report_uid for r in kept),
        dropped=dropped,
        flags=tuple(flags),
        counts_events=counts_events,
    )


# --- building the summary --------------------------------------------------------------------


def _where(observation: Observation) -> str:
    return observation.provenance.text()


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class _Report:
    uid: str
    info: DoseReport
    observations: list[Observation]


def _report_record(report: _Report, flags: list[str]) -> ReportRecord:
    totals: dict[TotalKey, float | None] = {}
    events: list[EventRecord] = []
    for obs in report.observations:
        if obs.kind in _TOTAL_KINDS:
            key = (obs.kind.value, obs.plane or UNSPECIFIED_PLANE)
            if key in totals:
                flags.append(f"repeated-total:{key[0]}:{key[1]}@{report.uid}")
                continue
            totals[key] = _as_float(obs.value)
        elif obs.kind is Kind.IRRADIATION_EVENT:
            event = payload_of(obs, IrradiationEvent) or IrradiationEvent()
            uid = event.uid or None
            if uid is None:
                uid = f"{report.uid}#{len(events)}"
                flags.append(f"event-without-uid@{report.uid}")
            events.append(
                EventRecord(
                    uid=uid,
                    start=event.start or None,
                    category=event.category or None,
                    plane=event.plane or UNSPECIFIED_PLANE,
                    dap_gy_m2=event.dap_gy_m2,
                    ka_r_mgy=event.ka_r_mgy,
                    duration_s=event.duration_s,
                    source=_where(obs),
                )
            )
    return ReportRecord(
        report_uid=report.uid,
        events=tuple(events),
        totals=totals,
        has_events=report.info.event_count is not None,
    )


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


_SUMMARY_FIELDS: dict[str, tuple[str, bool]] = {
    # summary field: (total field, is DAP)
    "fluoro_time_s": (Kind.FLUORO_TIME_S.value, False),
    "acquisition_time_s": (Kind.ACQUISITION_TIME_S.value, False),
    "dap_gy_cm2": (Kind.DAP_TOTAL_GY_M2.value, True),
    "dap_fluoro_gy_cm2": (Kind.DAP_FLUORO_GY_M2.value, True),
    "dap_acquisition_gy_cm2": (Kind.DAP_ACQUISITION_GY_M2.value, True),
    "ka_r_mgy": (Kind.KAR_TOTAL_MGY.value, False),
    "ka_r_fluoro_mgy": (Kind.KAR_FLUORO_MGY.value, False),
    "ka_r_acquisition_mgy": (Kind.KAR_ACQUISITION_MGY.value, False),
}
_PARTS = {
    Kind.DAP_TOTAL_GY_M2.value: (Kind.DAP_FLUORO_GY_M2.value, Kind.DAP_ACQUISITION_GY_M2.value),
    Kind.KAR_TOTAL_MGY.value: (Kind.KAR_FLUORO_MGY.value, Kind.KAR_ACQUISITION_MGY.value),
}


def _plane_values(
    totals: Mapping[TotalKey, float | None], plane: str, flags: list[str]
) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for total_field in TOTAL_FIELDS:
        values[total_field] = totals.get((total_field, plane))
    for total_field, (fluoro, acquisition) in _PARTS.items():
        parts = (values[fluoro], values[acquisition])
        if values[total_field] is None and None not in parts:
            values[total_field] = _sum_or_none(parts)
            flags.append(f"total-from-parts:{total_field}:{plane}")
    return values


def _shown(total_field: str, is_dap: bool, value: float | None) -> float | None:
    if value is None:
        return None
    return gy_m2_to_gy_cm2(value) if is_dap else _tidy(value)


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _timing(
    candidates: Sequence[tuple[str, str]], flags: list[str]
) -> tuple[tuple[str, str] | None, tuple[str, str] | None, float | None]:
    """Earliest and latest of (ISO text, source) candidates, and the seconds between."""
    parsed = [(dt, text, src) for text, src in candidates if (dt := _parse_iso(text))]
    if not parsed:
        return None, None, None
    aware = {dt.tzinfo is not None for dt, _, _ in parsed}
    if len(aware) > 1:
        # Some instances give an offset, some do not: compare local wall-clock times.
        flags.append("mixed-timezone-awareness:compared-as-local-time")
        parsed = [(dt.replace(tzinfo=None), text, src) for dt, text, src in parsed]
    parsed.sort(key=lambda item: (item[0], item[1], item[2]))
    first, last = parsed[0], parsed[-1]
    return (first[1], first[2]), (last[1], last[2]), (last[0] - first[0]).total_seconds()


def _image_times(by_instance: Mapping[str, list[Observation]]) -> list[tuple[str, str]]:
    """Per image: acquisition date-time, else content, else series (dose reports left out)."""
    found: list[tuple[str, str]] = []
    for sop in sorted(by_instance):
        observations = by_instance[sop]
        if any(o.kind is Kind.DOSE_REPORT for o in observations):
            continue
        modality = next((o.value for o in observations if o.kind is Kind.MODALITY), None)
        if isinstance(modality, str) and modality.strip().upper() in _NOT_IMAGES:
            continue
        for kind in (Kind.ACQUISITION_DATETIME, Kind.CONTENT_DATETIME, Kind.SERIES_DATETIME):
            chosen = [
                (o.value, _where(o))
                for o in observations
                if o.kind is kind and isinstance(o.value, str) and o.value
            ]
            if chosen:
                found.extend((str(text), src) for text, src in chosen)
                break
    return found


def _image_dap(
    by_instance: Mapping[str, list[Observation]], flags: list[str]
) -> tuple[float | None, list[str]]:
    """Sum of image-header DAP (Gy·m²) over original images, each irradiation event once."""
    values: list[float | None] = []
    sources: list[str] = []
    seen_events: set[str] = set()
    for sop in sorted(by_instance):
        for obs in by_instance[sop]:
            if obs.kind is not Kind.IMAGE_DAP_GY_M2:
                continue
            if "derived-image" in obs.flags:
                flags.append(f"image-dap-derived-skipped@{sop}")
                continue
            if obs.event_uid is not None:
                if obs.event_uid in seen_events:
                    flags.append(f"image-dap-same-event-skipped@{sop}")
                    continue
                seen_events.add(obs.event_uid)
            values.append(_as_float(obs.value))
            sources.append(_where(obs))
            break
    if not values:
        return None, []
    total = _sum_or_none(values)
    if total is None:
        flags.append("image-dap-partial:unknown")
    return total, sources


def _device_of(observation: Observation) -> DeviceInfo:
    data = payload_of(observation, DoseDevice) or DoseDevice()
    return DeviceInfo(
        manufacturer=data.manufacturer or None,
        model=data.model or None,
        serial=data.serial or None,
        uid=data.uid or None,
    )


def _header_device(by_instance: Mapping[str, list[Observation]]) -> DeviceInfo | None:
    for sop in sorted(by_instance):
        found = {o.kind: _as_str(o.value) for o in by_instance[sop]}
        device = DeviceInfo(
            manufacturer=found.get(Kind.MANUFACTURER),
            model=found.get(Kind.MODEL),
            serial=found.get(Kind.DEVICE_SERIAL),
        )
        if device.manufacturer or device.model or device.serial:
            return device
    return None


def _same_device(a: DeviceInfo, b: DeviceInfo) -> bool:
    if a.uid and b.uid:
        return a.uid == b.uid
    return (a.manufacturer, a.model, a.serial) == (b.manufacturer, b.model, b.serial)


# --- the steps of summarise_dose ---------------------------------------------------------------


@dataclass
class _Study:
    """A study's observations grouped by instance, its dose reports, the flags so far."""

    by_instance: dict[str, list[Observation]]
    reports: dict[str, _Report]
    flags: list[str] = field(default_factory=list)


def _group_study(observations: Sequence[Observation]) -> _Study:
    by_instance: dict[str, list[Observation]] = defaultdict(list)
    for obs in observations:
        by_instance[obs.provenance.sop_instance_uid].append(obs)
    reports: dict[str, _Report] = {}
    for sop, instance_obs in by_instance.items():
        info = next((o for o in instance_obs if o.kind is Kind.DOSE_REPORT), None)
        if info is not None:
            payload = payload_of(info, DoseReport) or DoseReport(template="unknown")
            reports[sop] = _Report(uid=sop, info=payload, observations=instance_obs)
    return _Study(by_instance=by_instance, reports=reports)


def _merge_reports(study: _Study) -> tuple[MergedDose, list[_Report]]:
    """The study's dose reports merged by event UID; the reports that count."""
    records = [_report_record(study.reports[sop], study.flags) for sop in sorted(study.reports)]
    merged = merge_events(records)
    study.flags.extend(merged.flags)
    study.flags.extend(f"report-{reason}@{uid}" for uid, reason in sorted(merged.dropped.items()))
    return merged, [study.reports[uid] for uid in merged.kept]


@dataclass
class _Totals:
    values: dict[str, float | None]
    sources: dict[str, list[str]]
    origins: dict[str, str]
    per_plane: dict[str, PlaneDose]
    planes: list[str]
    templates: list[str]


def _procedure_totals(study: _Study, merged: MergedDose, kept: list[_Report]) -> _Totals:
    """Per plane, then the procedure total as the sum of the planes; image DAP as a fallback."""
    planes = sorted({plane for _, plane in merged.totals})
    per_plane_values = {p: _plane_values(merged.totals, p, study.flags) for p in planes}
    templates = sorted({r.info.template for r in kept})
    totals = _Totals({}, {}, {}, {}, planes, templates)
    for name, (total_field, is_dap) in _SUMMARY_FIELDS.items():
        raw = _sum_or_none([per_plane_values[p][total_field] for p in planes])
        totals.values[name] = _shown(total_field, is_dap, raw)
        if raw is not None:
            totals.sources[name] = sorted(
                _where(o) for r in kept for o in r.observations if o.kind.value == total_field
            )
            totals.origins[name] = "+".join(templates)
    if totals.values["dap_gy_cm2"] is None:
        image_dap, image_sources = _image_dap(study.by_instance, study.flags)
        if image_dap is not None:
            totals.values["dap_gy_cm2"] = gy_m2_to_gy_cm2(image_dap)
            totals.sources["dap_gy_cm2"] = image_sources
            totals.origins["dap_gy_cm2"] = "image-header"
    for plane in planes:
        plane_events = [e for e in merged.events.values() if e.plane == plane]
        totals.per_plane[plane] = PlaneDose(
            **{
                name: _shown(total_field, is_dap, per_plane_values[plane][total_field])
                for name, (total_field, is_dap) in _SUMMARY_FIELDS.items()
            },
            irradiation_events=len(plane_events) if merged.counts_events else None,
        )
    return totals


@dataclass
class _Timing:
    start: str | None
    end: str | None
    duration_s: float | None
    first_event_start: str | None
    last_event_start: str | None


def _study_timing(
    study: _Study, merged: MergedDose, kept: list[_Report], sources: dict[str, list[str]]
) -> _Timing:
    """Start and end from events, exam times of the reports and image times."""
    event_starts = [(e.start, e.source) for e in merged.events.values() if e.start]
    first_event, last_event, _ = _timing(event_starts, study.flags)
    exam_times = [
        (text, f"sr:{key}@{r.uid}")
        for r in kept
        for key, text in (("exam_start", r.info.exam_start), ("exam_end", r.info.exam_end))
        if text
    ]
    start, end, duration = _timing(
        [*event_starts, *exam_times, *_image_times(study.by_instance)], study.flags
    )
    if start is not None and end is not None:
        sources["start"] = [start[1]]
        sources["end"] = [end[1]]
    if merged.counts_events:
        sources["irradiation_events"] = sorted(e.source for e in merged.events.values())
    return _Timing(
        start=start[0] if start else None,
        end=end[0] if end else None,
        duration_s=_tidy(duration) if duration is not None else None,
        first_event_start=first_event[0] if first_event else None,
        last_event_start=last_event[0] if last_event else None,
    )


def _study_devices(
    study: _Study, kept: list[_Report]
) -> tuple[DeviceInfo | None, list[DeviceInfo]]:
    """The dose reports' devices (each once); the first, else the image header's."""
    devices: list[DeviceInfo] = []
    for report in kept:
        for obs in report.observations:
            if obs.kind is Kind.DOSE_DEVICE:
                found = _device_of(obs)
                if not any(_same_device(found, d) for d in devices):
                    devices.append(found)
    if len(devices) > 1:
        study.flags.append("several-devices")
    return (devices[0] if devices else _header_device(study.by_instance)), devices


def _study_patient(
    study: _Study, sources: dict[str, list[str]]
) -> tuple[PatientCharacteristics | None, list[str]]:
    """Height, weight, age (dose report first, then the most frequent header value) and the
    software versions of the instances (dose reports first)."""
    found: dict[str, list[tuple[bool, Measurement, str]]] = defaultdict(list)
    sex: list[str] = []
    versions: list[str] = []
    for sop in sorted(study.by_instance, key=lambda s: (s not in study.reports, s)):
        for obs in study.by_instance[sop]:
            if obs.kind is Kind.SOFTWARE_VERSIONS and isinstance(obs.value, list):
                versions.extend(v for v in obs.value if isinstance(v, str) and v not in versions)
            if obs.kind is not Kind.PATIENT_CHARACTERISTICS or not isinstance(obs.value, dict):
                continue
            try:
                patient = PatientCharacteristics.model_validate(obs.value)
            except ValueError:
                continue
            from_report = obs.provenance.path.startswith("sr:")
            for name in ("height", "weight", "age"):
                measured: Measurement | None = getattr(patient, name)
                if measured is not None and measured.value is not None:
                    where = f"{measured.path}@{obs.provenance.sop_instance_uid}"
                    found[name].append((from_report, measured, where))
            if patient.sex:
                sex.append(patient.sex)
    if not found:
        return None, versions
    chosen: dict[str, Measurement] = {}
    for name, candidates in found.items():
        reported = [c for c in candidates if c[0]] or candidates
        counts = Counter(c[1].value for c in reported)
        best = max(dict.fromkeys(c[1].value for c in reported), key=lambda v: counts[v])
        if len(counts) > 1 or len({c[1].value for c in candidates}) > 1:
            study.flags.append(f"conflicting-patient-{name}")
        pick = next(c for c in reported if c[1].value == best)
        chosen[name] = pick[1]
        sources[f"patient.{name}"] = [c[2] for c in reported if c[1].value == best][:3]
    patient = PatientCharacteristics(
        **chosen,
        sex=Counter(sex).most_common(1)[0][0] if sex else None,
        sources={name: sources[f"patient.{name}"][0] for name in chosen},
    )
    return patient, versions


def _sum_known(*values: float | None) -> float | None:
    if any(v is None for v in values):
        return None
    return _tidy(sum(v for v in values if v is not None))


def summarise_dose(observations: Sequence[Observation]) -> DoseSummary:
    """Dose, fluoroscopy time and timing of one study from all its observations."""
    study = _group_study(observations)
    merged, kept = _merge_reports(study)
    totals = _procedure_totals(study, merged, kept)
    timing = _study_timing(study, merged, kept, totals.sources)
    device, devices = _study_devices(study, kept)
    fluoro_flags = [r.info.is_fluoroscopy for r in study.reports.values()]
    events = (
        list_events([(r.uid, r.observations) for r in kept], merged.events.keys())
        if merged.counts_events
        else []
    )
    # Only the reports that count: a superseded (subset) report says nothing of the record.
    findings = [finding for r in kept for finding in report_findings(r.uid, r.info, r.observations)]
    study.flags.extend(f.check for f in findings)
    patient, software_versions = _study_patient(study, totals.sources)
    return DoseSummary(
        **totals.values,
        irradiation_time_s=_sum_known(
            totals.values["fluoro_time_s"], totals.values["acquisition_time_s"]
        ),
        events=events,
        event_subtotals=subtotals(events),
        event_subtotals_per_plane=subtotals_per_plane(events),
        dose_consistency=findings,
        patient=patient,
        software_versions=software_versions,
        irradiation_events=len(merged.events) if merged.counts_events else None,
        planes=[p for p in totals.planes if p != UNSPECIFIED_PLANE],
        per_plane=totals.per_plane,
        start=timing.start,
        end=timing.end,
        duration_s=timing.duration_s,
        first_event_start=timing.first_event_start,
        last_event_start=timing.last_event_start,
        device=device,
        devices=devices,
        is_fluoroscopy=True if True in fluoro_flags else (False if study.reports else None),
        templates=totals.templates,
        dose_reports=list(merged.kept),
        origins=totals.origins,
        sources=totals.sources,
        flags=sorted(set(study.flags)),
    )

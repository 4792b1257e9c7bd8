"""Dose alerts: a procedure, or a patient's procedures over a window, at a follow-up level (pure).

The levels are settings (``dose_alert_*``). Their defaults are the *substantial radiation dose
levels* (SRDL) of NCRP Report No. 168, *Radiation Dose Management for Fluoroscopically-Guided
Interventional Medical Procedures* (2010), at which the patient is followed up for skin
injury: reference point air kerma Ka,r 5 Gy, kerma-area product 500 Gy·cm², fluoroscopy time
60 min (a peak skin dose level of 3 Gy exists too; vp_log does not estimate skin dose).

Cumulative values add a patient's procedures whose date lies within ``window_days`` before
(and on) the procedure's own date; later procedures never count for an earlier one (within a
day, the start time orders them, then the record id). A value
that is unknown in one of them makes the sum a lower bound: it still alerts when that bound
reaches the level, and says ``incomplete``. A level reached counts (``>=``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from vp_log.config import Settings

__all__ = [
    "SRDL_SOURCE",
    "AlertLevels",
    "DoseAlert",
    "DoseEntry",
    "Metric",
    "Scope",
    "alert_levels",
    "alert_text",
    "dose_alerts",
    "entry_of_record",
    "levels_text",
    "shown_alerts",
]

SRDL_SOURCE = (
    "NCRP Report No. 168 (2010), substantial radiation dose levels: "
    "Ka,r 5 Gy, kerma-area product 500 Gy·cm², fluoroscopy time 60 min"
)


class Metric(StrEnum):
    """The record fields an alert level applies to."""

    KA_R = "ka_r"
    DAP = "dap"
    FLUORO_TIME = "fluoro_time"

    @property
    def record_field(self) -> str:
        return {"ka_r": "ka_r_mgy", "dap": "dap_gy_cm2", "fluoro_time": "fluoro_time_s"}[self]

    @property
    def unit(self) -> str:
        return {"ka_r": "mGy", "dap": "Gy·cm²", "fluoro_time": "s"}[self]


class Scope(StrEnum):
    PROCEDURE = "procedure"  # this procedure alone
    CUMULATIVE = "cumulative"  # this patient's procedures within the window, this one included


@dataclass(frozen=True)
class AlertLevels:
    """Follow-up levels (``None``: that metric does not alert) and the cumulation window."""

    ka_r_mgy: float | None = 5000.0
    dap_gy_cm2: float | None = 500.0
    fluoro_time_s: float | None = 3600.0
    window_days: int = 42
    source: str = SRDL_SOURCE

    def level(self, metric: Metric) -> float | None:
        return {
            Metric.KA_R: self.ka_r_mgy,
            Metric.DAP: self.dap_gy_cm2,
            Metric.FLUORO_TIME: self.fluoro_time_s,
        }[metric]


#: The levels vp_log uses when the configuration sets none (NCRP 168, a 42-day window).
DEFAULT_LEVELS = AlertLevels()

_SETTING_OF = {
    "ka_r_mgy": "dose_alert_ka_r_mgy",
    "dap_gy_cm2": "dose_alert_dap_gy_cm2",
    "fluoro_time_s": "dose_alert_fluoro_time_min",
    "window_days": "dose_alert_window_days",
}


def alert_levels(settings: Settings) -> AlertLevels:
    """The levels in force (0 in the configuration turns a level off)."""
    return AlertLevels(
        ka_r_mgy=settings.dose_alert_ka_r_mgy or None,
        dap_gy_cm2=settings.dose_alert_dap_gy_cm2 or None,
        fluoro_time_s=(settings.dose_alert_fluoro_time_min * 60.0) or None,
        window_days=settings.dose_alert_window_days,
    )


def site_settings(levels: AlertLevels) -> list[str]:
    """The settings (``dose_alert_*``) whose value is not vp_log's default."""
    return [
        setting
        for name, setting in _SETTING_OF.items()
        if getattr(levels, name) != getattr(DEFAULT_LEVELS, name)
    ]


def levels_text(levels: AlertLevels) -> str:
    """The levels in force and where they come from: the NCRP 168 defaults, or the site's
    configuration (naming the settings it changed)."""

    def shown(value: float | None, unit: str) -> str:
        return f"{value:g} {unit}" if value else "off"

    fluoro = levels.fluoro_time_s / 60 if levels.fluoro_time_s else None
    text = (
        f"levels: Ka,r {shown(levels.ka_r_mgy, 'mGy')}, DAP {shown(levels.dap_gy_cm2, 'Gy·cm²')},"
        f" fluoroscopy {shown(fluoro, 'min')}, window {levels.window_days} days"
    )
    changed = site_settings(levels)
    if not changed:
        return f"{text} (defaults: {levels.source.split(',')[0]})"
    return f"{text} (the site's levels, from the configuration: {', '.join(changed)})"


@dataclass(frozen=True)
class DoseEntry:
    """What alerting needs of one record."""

    record_id: int
    patient_id: str | None
    day: date | None
    values: Mapping[Metric, float | None]
    start: datetime | None = None  # orders procedures of one day (local wall-clock time)

    def order(self) -> tuple[date, datetime, int]:
        return (self.day or date.min, self.start or datetime.min, self.record_id)


class DoseAlert(BaseModel):
    """One level reached, on one record."""

    model_config = ConfigDict(frozen=True)

    record_id: int
    patient_id: str | None
    study_date: str | None
    scope: Scope
    metric: Metric
    value: float = Field(description="the procedure's value, or the window's sum")
    level: float
    unit: str
    window_days: int | None = None
    records: list[int] = Field(default_factory=list, description="records summed, oldest first")
    incomplete: bool = Field(
        default=False, description="a record in the window has this value unknown"
    )

    @property
    def name(self) -> str:
        """``procedure:dap``, ``cumulative:ka_r``..."""
        return f"{self.scope.value}:{self.metric.value}"


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_FIELDS = tuple((metric, metric.record_field) for metric in Metric)


def entry_of_record(record_id: int, record: Mapping[str, Any]) -> DoseEntry:
    """The dose entry of a stored record (its JSON document)."""
    day: date | None = None
    text = record.get("study_date")
    if isinstance(text, str):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    start: datetime | None = None
    start_text = record.get("start")
    if isinstance(start_text, str):
        try:
            start = datetime.fromisoformat(start_text).replace(tzinfo=None)
        except ValueError:
            start = None
    patient = record.get("patient_id")
    return DoseEntry(
        record_id=record_id,
        patient_id=patient if isinstance(patient, str) and patient else None,
        day=day,
        values={metric: _float(record.get(field)) for metric, field in _FIELDS},
        start=start,
    )


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


def _procedure_alerts(entry: DoseEntry, levels: AlertLevels) -> list[DoseAlert]:
    found: list[DoseAlert] = []
    for metric in Metric:
        level = levels.level(metric)
        value = entry.values.get(metric)
        if level is None or value is None or value < level:
            continue
        found.append(
            DoseAlert(
                record_id=entry.record_id,
                patient_id=entry.patient_id,
                study_date=entry.day.isoformat() if entry.day else None,
                scope=Scope.PROCEDURE,
                metric=metric,
                value=_tidy(value),
                level=level,
                unit=metric.unit,
                records=[entry.record_id],
            )
        )
    return found


def _cumulative_alerts(
    entry: DoseEntry, history: Sequence[DoseEntry], levels: AlertLevels
) -> list[DoseAlert]:
    if entry.day is None or entry.patient_id is None:
        return []
    start = entry.day - timedelta(days=levels.window_days - 1)
    window = sorted(
        (e for e in history if e.day is not None and start <= e.day and e.order() <= entry.order()),
        key=DoseEntry.order,
    )
    found: list[DoseAlert] = []
    for metric in Metric:
        level = levels.level(metric)
        if level is None:
            continue
        known = [v for e in window if (v := e.values.get(metric)) is not None]
        total = sum(known)
        if not known or total < level:
            continue
        found.append(
            DoseAlert(
                record_id=entry.record_id,
                patient_id=entry.patient_id,
                study_date=entry.day.isoformat(),
                scope=Scope.CUMULATIVE,
                metric=metric,
                value=_tidy(total),
                level=level,
                unit=metric.unit,
                window_days=levels.window_days,
                records=[e.record_id for e in window],
                incomplete=len(known) < len(window),
            )
        )
    return found


def dose_alerts(entries: Iterable[DoseEntry], levels: AlertLevels) -> dict[int, list[DoseAlert]]:
    """Record id → the alerts on that record, for every entry given.

    Give every record of the patients concerned that may fall in a window (``entries`` of
    other patients do not mix: cumulation is per Patient ID; a record without one is only
    checked on its own).
    """
    all_entries = list(entries)
    by_patient: dict[str, list[DoseEntry]] = defaultdict(list)
    for entry in all_entries:
        if entry.patient_id is not None:
            by_patient[entry.patient_id].append(entry)
    result: dict[int, list[DoseAlert]] = {}
    for entry in all_entries:
        history = by_patient.get(entry.patient_id or "", [])
        result[entry.record_id] = [
            *_procedure_alerts(entry, levels),
            *_cumulative_alerts(entry, history, levels),
        ]
    return result


# --- for people ----------------------------------------------------------------------------

METRIC_NAMES = {Metric.KA_R: "Ka,r", Metric.DAP: "DAP", Metric.FLUORO_TIME: "fluoro time"}


def _shown_value(metric: Metric, value: float, digits: str) -> str:
    if metric is Metric.FLUORO_TIME:
        return f"{value / 60:{'.1f' if digits == '.4g' else 'g'}} min"
    return f"{value:{digits}} {metric.unit}"


def alert_text(alert: DoseAlert) -> str:
    """One line: ``cumulative Ka,r 5 040 mGy ≥ 5000 mGy (records 3, 7 within 42 days)``."""
    text = (
        f"{alert.scope.value} {METRIC_NAMES[alert.metric]}"
        f" {_shown_value(alert.metric, alert.value, '.4g')}"
        f" ≥ {_shown_value(alert.metric, alert.level, 'g')}"
    )
    if alert.window_days is not None:
        records = ", ".join(str(r) for r in alert.records)
        text += f" (record{'s' if len(alert.records) > 1 else ''} {records}"
        text += f" within {alert.window_days} days)"
    if alert.incomplete:
        text += ", at least: a value is unknown"
    return text


def shown_alerts(alerts: Sequence[DoseAlert]) -> list[DoseAlert]:
    """For people: a cumulative alert that adds up this procedure alone says nothing more."""
    alone = {a.metric for a in alerts if a.scope is Scope.PROCEDURE}
    return [
        a
        for a in alerts
        if not (a.scope is Scope.CUMULATIVE and len(a.records) == 1 and a.metric in alone)
    ]

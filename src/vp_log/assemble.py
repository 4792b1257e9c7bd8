"""All observations of a study → one procedure record (pure).

The record is a JSON document. Header fields are settled here; dose and timing come from
:func:`vp_log.dose.summarise_dose`, procedure type, levels and cement from
:func:`vp_log.treatment.summarise_treatment`. Where instances disagree (two Patient IDs in one
study) the most frequent value is shown, the others are kept in ``conflicts`` and the record
is flagged for review. Re-running assembly on the same observations gives the same record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from vp_log.dose import summarise_dose
from vp_log.models import Kind, Observation
from vp_log.treatment import summarise_treatment


class Status(StrEnum):
    RECEIVING = "receiving"  # instances may still arrive (within the quiet period)
    COMPLETE = "complete"  # quiet period over, nothing to review
    NEEDS_REVIEW = "needs_review"  # quiet period over, conflicts or implausible values


@dataclass(frozen=True)
class InstanceSummary:
    """What assembly needs of each stored instance besides its observations."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    modality: str
    received_at: datetime


class Device(BaseModel):
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None


class Conflict(BaseModel):
    field: str
    values: list[Any]
    sources: list[list[str]] = Field(description="Provenance of each value, in the same order")


class HeaderSummary(BaseModel):
    """The header part of a record (base JSON fields of ``procedures show --json``)."""

    study_instance_uid: str
    accession_number: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    study_date: str | None = None
    study_description: str | None = None
    modalities: list[str] = []
    series_count: int = 0
    instance_count: int = 0
    device: Device = Device()
    operators: list[str] = []
    performing_physicians: list[str] = []
    institution: str | None = None
    sources: dict[str, list[str]] = {}
    flags: list[str] = []
    conflicts: list[Conflict] = []


_SINGLE_VALUED: tuple[tuple[str, Kind], ...] = (
    ("accession_number", Kind.ACCESSION_NUMBER),
    ("patient_id", Kind.PATIENT_ID),
    ("patient_name", Kind.PATIENT_NAME),
    ("study_date", Kind.STUDY_DATE),
    ("study_description", Kind.STUDY_DESCRIPTION),
    ("institution", Kind.INSTITUTION),
)
_IMAGE_MODALITIES = ("XA", "RF", "DX", "CR", "OT")

# Observation flags that say the file itself was odd; the record carries them (once each)
# so that a reader of the record sees what had to be read leniently or could not be read.
DATA_QUALITY_FLAGS = (
    "invalid-",
    "lenient-",
    "unknown-unit:",
    "missing-unit:",
    "empty-value",
    "multi-valued",
    "unreadable-value:",
    "non-finite-value:",
    "negative-value:",
    "implausible-value:",
)


def data_quality_flags(observations: Sequence[Observation]) -> list[str]:
    flags = (f for o in observations for f in o.flags if f.startswith(DATA_QUALITY_FLAGS))
    return sorted(set(flags))


def source_of(obs: Observation) -> str:
    return obs.provenance.text()


def _settle(name: str, observations: Sequence[Observation], summary: HeaderSummary) -> str | None:
    """The most frequent value (first seen wins a tie); disagreement becomes a conflict."""
    if not observations:
        return None
    counts = Counter(str(o.value) for o in observations)
    order = list(dict.fromkeys(str(o.value) for o in observations))
    best = max(order, key=lambda v: counts[v])
    summary.sources[name] = [source_of(o) for o in observations if str(o.value) == best][:3]
    if len(order) > 1:
        summary.conflicts.append(
            Conflict(
                field=name,
                values=order,
                sources=[[source_of(o) for o in observations if str(o.value) == v] for v in order],
            )
        )
        summary.flags.append(f"conflicting-{name.replace('_', '-')}")
    return best


def summarise_header(
    study_instance_uid: str,
    instances: Sequence[InstanceSummary],
    observations: Sequence[Observation],
) -> HeaderSummary:
    by_kind: dict[Kind, list[Observation]] = {}
    for obs in observations:
        by_kind.setdefault(obs.kind, []).append(obs)
    summary = HeaderSummary(
        study_instance_uid=study_instance_uid,
        modalities=sorted({i.modality for i in instances if i.modality}),
        series_count=len({i.series_instance_uid for i in instances}),
        instance_count=len(instances),
    )
    for name, kind in _SINGLE_VALUED:
        setattr(summary, name, _settle(name, by_kind.get(kind, []), summary))

    # Device: the imaging unit (XA/RF images) first; documents (SR, PR) name their author.
    modality_of = {i.sop_instance_uid: i.modality for i in instances}

    def device_value(kind: Kind) -> str | None:
        found = by_kind.get(kind, [])
        preferred = [
            o for o in found if modality_of.get(o.provenance.sop_instance_uid) in _IMAGE_MODALITIES
        ]
        chosen = preferred or found
        if not chosen:
            return None
        counts = Counter(str(o.value) for o in chosen)
        return max(dict.fromkeys(str(o.value) for o in chosen), key=lambda v: counts[v])

    summary.device = Device(
        manufacturer=device_value(Kind.MANUFACTURER),
        model=device_value(Kind.MODEL),
        serial=device_value(Kind.DEVICE_SERIAL),
    )
    summary.operators = list(dict.fromkeys(str(o.value) for o in by_kind.get(Kind.OPERATOR, [])))
    summary.performing_physicians = list(
        dict.fromkeys(str(o.value) for o in by_kind.get(Kind.PERFORMING_PHYSICIAN, []))
    )
    return summary


def study_status(
    *,
    last_received_at: datetime,
    now: datetime,
    quiet_period_s: float,
    needs_review: bool,
    final: bool = False,
) -> Status:
    """``receiving`` within the quiet period (unless ``final``), then complete or needs review."""
    if not final and now - last_received_at < timedelta(seconds=quiet_period_s):
        return Status.RECEIVING
    return Status.NEEDS_REVIEW if needs_review else Status.COMPLETE


def assemble_record(
    study_instance_uid: str,
    instances: Sequence[InstanceSummary],
    observations: Sequence[Observation],
    *,
    last_received_at: datetime,
    now: datetime,
    quiet_period_s: float,
    final: bool = False,
) -> dict[str, Any]:
    """The procedure record of one study as a JSON-able dict (without the database id)."""
    header = summarise_header(study_instance_uid, instances, observations)
    record: dict[str, Any] = header.model_dump(mode="json")
    parts = _domain_parts(observations)
    for part in parts:
        _merge(record, part)
    record["flags"].extend(f for f in data_quality_flags(observations) if f not in record["flags"])
    needs_review = bool(record["conflicts"]) or any(p.get("needs_review") for p in parts)
    record.pop("needs_review", None)
    record["status"] = study_status(
        last_received_at=last_received_at,
        now=now,
        quiet_period_s=quiet_period_s,
        needs_review=needs_review,
        final=final,
    ).value
    record["last_received_at"] = last_received_at.isoformat()
    record.setdefault("procedure_type", "unclassified")
    record.setdefault("start", None)
    record.setdefault("end", None)
    return record


def _domain_parts(observations: Sequence[Observation]) -> list[dict[str, Any]]:
    """Dose/timing and treatment summaries, each as a JSON-able dict."""
    return [
        summarise_dose(observations).model_dump(mode="json"),
        summarise_treatment(observations).to_record(),
    ]


def _merge(record: dict[str, Any], part: dict[str, Any]) -> None:
    """Add a domain summary; ``sources``, ``flags`` and ``conflicts`` are combined."""
    for key, value in part.items():
        if key == "sources":
            record["sources"].update(value)
        elif key == "flags":
            record["flags"].extend(f for f in value if f not in record["flags"])
        elif key == "conflicts":
            record["conflicts"].extend(value)
        elif key == "device":
            for field, v in (value or {}).items():
                shown = record["device"].get(field)
                if shown is None:
                    record["device"][field] = v
                elif v is not None and str(v).strip().casefold() != str(shown).casefold():
                    # Image headers and the dose report's device observer disagree: both kept.
                    record.setdefault("device_differences", []).append(
                        {"field": field, "images": shown, "dose_report": v}
                    )
                    flag = f"device-{field}-differs-in-dose-report"
                    if flag not in record["flags"]:
                        record["flags"].append(flag)
        else:
            record[key] = value

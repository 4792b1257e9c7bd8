"""The procedure record: its shape, the three summaries it is built from, its public form.

Assembly (:mod:`vp_log.assemble`) builds three typed summaries from a study's observations,

- :class:`HeaderSummary` (``assemble.summarise_header``): patient, study, device, people;
- :class:`DoseSummary` (``dose.summarise_dose``): dose, fluoroscopy time, timing, planes;
- :class:`TreatmentSummary` (``treatment.summarise_treatment``): type, levels, cement;

and joins them into one :class:`ProcedureRecord` (:meth:`ProcedureRecord.from_summaries`). Each
summary is its *findings* (the fields it contributes to the record) plus its own notes
(``sources``, ``flags``, ``conflicts``); the record carries every finding as a field of its
own and the notes joined. The record is stored as JSON (``procedures.record``) and printed
through :class:`ProcedurePublic` (``--json``), whose field names are the ones users have seen
since the first release: fields are added, never renamed.

Flags are data-quality notes only (``conflicting-patient-id``, ``implausible-cement-volume``,
``lenient-timezone-offset:UTC-04:00``), never data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from vp_log.consistency import Finding
from vp_log.decisions import ExcludeReason, RecordDecision
from vp_log.models import DeviceInfo
from vp_log.technique import EventTechnique, PatientCharacteristics
from vp_log.vocabulary import ProcedureType

__all__ = [
    "RECORD_VERSION",
    "Conflict",
    "Device",
    "DeviceDifference",
    "DeviceInfo",
    "DoseFindings",
    "DoseSummary",
    "DoseTotals",
    "EventSubtotal",
    "EventSummary",
    "HeaderFindings",
    "HeaderSummary",
    "PlaneDose",
    "ProcedurePublic",
    "ProcedureRecord",
    "Source",
    "Status",
    "TreatedLevel",
    "TreatmentConflict",
    "TreatmentFindings",
    "TreatmentSummary",
    "study_status",
]

RECORD_VERSION = 3
"""The shape of the stored record; a stored record of an older version is rebuilt from its
study's observations (``procedures.record_version``; 0 = made before the record was typed)."""


class Status(StrEnum):
    """Where a study stands. Values are stored in the database."""

    RECEIVING = "receiving"  # instances may still arrive (within the quiet period)
    COMPLETE = "complete"  # quiet period over, nothing to review
    NEEDS_REVIEW = "needs_review"  # quiet period over, conflicts or implausible values


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


class Conflict(BaseModel):
    """Values that disagree, side by side, with the sources of each (same order)."""

    field: str
    level: str | None = None
    side: str | None = None
    values: list[Any]
    sources: list[list[str]] = Field(description="Provenance of each value, in the same order")


TreatmentConflict = Conflict


# --- header ------------------------------------------------------------------------------------


Device = DeviceInfo
"""The imaging unit of a record: image headers first, the dose report where they are silent."""


class HeaderFindings(BaseModel):
    """What the headers say of the study (most frequent value where instances disagree)."""

    study_instance_uid: str
    accession_number: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    patient_birth_date: str | None = Field(
        default=None, description="ISO date YYYY-MM-DD (PatientBirthDate); None: not given"
    )
    patient_sex: str | None = Field(default=None, description="PatientSex as sent: F, M, O")
    study_date: str | None = Field(default=None, description="ISO date YYYY-MM-DD")
    study_description: str | None = None
    modalities: list[str] = []
    series_count: int = 0
    instance_count: int = 0
    operators: list[str] = []
    performing_physicians: list[str] = []
    institution: str | None = None


class HeaderSummary(HeaderFindings):
    """The header part of a record, with its notes."""

    device: Device = Device()
    sources: dict[str, list[str]] = {}
    flags: list[str] = []
    conflicts: list[Conflict] = []


# --- dose --------------------------------------------------------------------------------------


class DoseTotals(BaseModel):
    """Accumulated dose and times in clinical units; ``None`` means unknown."""

    fluoro_time_s: float | None = None
    acquisition_time_s: float | None = None
    dap_gy_cm2: float | None = None
    dap_fluoro_gy_cm2: float | None = None
    dap_acquisition_gy_cm2: float | None = None
    ka_r_mgy: float | None = None
    ka_r_fluoro_mgy: float | None = None
    ka_r_acquisition_mgy: float | None = None
    irradiation_events: int | None = None


class PlaneDose(DoseTotals):
    """Accumulated values of one plane (``A``, ``B``, ``single``)."""

    model_config = ConfigDict(frozen=True)


class EventSummary(BaseModel):
    """One irradiation event as the record lists it (the study's events, each once)."""

    model_config = ConfigDict(frozen=True)

    uid: str
    start: str | None = Field(default=None, description="ISO 8601; offset where the file gave one")
    type: str | None = Field(
        default=None, description="fluoroscopy, stationary-acquisition, rotational-acquisition..."
    )
    category: str | None = Field(default=None, description="fluoroscopy | acquisition | None")
    protocol: str | None = None
    plane: str | None = None
    dap_gy_cm2: float | None = None
    ka_r_mgy: float | None = None
    duration_s: float | None = None
    reference_point: str | None = None
    technique: EventTechnique | None = None
    report_uid: str = Field(description="SOP Instance UID of the dose report it was read from")
    source: str = Field(description="`path@sop_instance_uid` of the event container")


class EventSubtotal(BaseModel):
    """Events of one type (and plane) added up; ``None``: an event has that value unknown."""

    model_config = ConfigDict(frozen=True)

    events: int
    dap_gy_cm2: float | None = None
    ka_r_mgy: float | None = None
    duration_s: float | None = None


class DoseFindings(DoseTotals):
    """Dose and timing of one study: the procedure totals (sum of the planes) and more."""

    planes: list[str] = Field(default_factory=list)
    per_plane: dict[str, PlaneDose] = Field(default_factory=dict)
    start: str | None = Field(default=None, description="ISO 8601; offset where the file gave one")
    end: str | None = None
    duration_s: float | None = None
    first_event_start: str | None = None
    last_event_start: str | None = None
    devices: list[DeviceInfo] = Field(default_factory=list)
    is_fluoroscopy: bool | None = None
    templates: list[str] = Field(default_factory=list)
    dose_reports: list[str] = Field(default_factory=list, description="report UIDs counted")
    irradiation_time_s: float | None = Field(
        default=None, description="fluoroscopy + acquisition time as the reports state them"
    )
    events: list[EventSummary] = Field(
        default_factory=list, description="every irradiation event once, in time order"
    )
    event_subtotals: dict[str, EventSubtotal] = Field(
        default_factory=dict,
        description="by type: fluoroscopy, acquisition and each acquisition kind, other",
    )
    event_subtotals_per_plane: dict[str, dict[str, EventSubtotal]] = Field(
        default_factory=dict, description="plane → type → subtotal"
    )
    dose_consistency: list[Finding] = Field(
        default_factory=list,
        description="where a dose report's totals disagree with its own events",
    )
    patient: PatientCharacteristics | None = Field(
        default=None, description="height, weight, age: dose report first, then image headers"
    )
    software_versions: list[str] = Field(
        default_factory=list, description="SoftwareVersions of the instances, dose report first"
    )
    origins: dict[str, str] = Field(
        default_factory=dict,
        description="field → kind of source: a template id (TID10001, private-...) or "
        "'image-header'",
    )


class DoseSummary(DoseFindings):
    """The dose part of a record, with its notes."""

    model_config = ConfigDict(frozen=True)

    device: DeviceInfo | None = None
    sources: dict[str, list[str]] = Field(
        default_factory=dict, description="field → provenance strings `path@sop_instance_uid`"
    )
    flags: list[str] = Field(default_factory=list)


# --- treatment ---------------------------------------------------------------------------------


class Source(BaseModel):
    """Where a value came from."""

    model_config = ConfigDict(frozen=True)

    sop_instance_uid: str
    path: str
    field: str = Field(description="Which value: level, cement_ml, approach, side, total")

    def line(self) -> str:
        return f"{self.path}@{self.sop_instance_uid}"


class TreatedLevel(BaseModel):
    """One treated level (for a sacroplasty: one side of the sacrum)."""

    level: str
    cement_ml: float | None = None
    approach: str | None = None
    side: str | None = None
    sources: list[Source] = []
    flags: list[str] = []


class TreatmentFindings(BaseModel):
    """Procedure type, treated levels and cement of one study."""

    procedure_type: ProcedureType = ProcedureType.UNCLASSIFIED
    procedure_type_reason: str | None = Field(
        default=None, description="Why this type: the rule, and the code or word and where"
    )
    other_procedure: str | None = Field(
        default=None, description="The other procedure named (`facet-injection`) when `other`"
    )
    levels: list[TreatedLevel] = []
    total_cement_ml: float | None = None
    mentioned_levels: list[str] = Field(
        default=[], description="Levels named without treatment evidence (bare `L1`)"
    )
    unassigned_cement_ml: list[float] = []
    cpt_expected_levels: int | None = Field(
        default=None, description="Primary + add-on vertebral CPT codes (largest instance)"
    )


class TreatmentSummary(TreatmentFindings):
    """The treatment part of a record, with its notes."""

    flags: list[str] = []
    conflicts: list[Conflict] = []
    needs_review: bool = False
    sources: dict[str, list[str]] = Field(
        default={}, description="`procedure_type`, `total_cement_ml`: `<path>@<SOP UID>` lines"
    )


# --- the record --------------------------------------------------------------------------------


class DeviceDifference(BaseModel):
    """A device field the image headers and the dose report give differently (both kept)."""

    field: str
    images: str
    dose_report: str


def _fields(part: BaseModel, findings: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(part, name) for name in findings.model_fields}


def _add_new(target: list[str], items: list[str]) -> None:
    target.extend(item for item in items if item not in target)


class ProcedureRecord(HeaderFindings, DoseFindings, TreatmentFindings):
    """The record of one study: every finding of the three summaries, their notes joined."""

    device: Device = Device()
    device_differences: list[DeviceDifference] = []
    status: Status = Status.RECEIVING
    needs_review: bool = Field(
        default=False, description="Conflicts or implausible values: someone should look"
    )
    last_received_at: datetime | None = Field(
        default=None, description="When the study's last instance was acknowledged"
    )
    flags: list[str] = []
    sources: dict[str, list[str]] = {}
    conflicts: list[Conflict] = []

    @field_serializer("last_received_at")
    def _iso(self, value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    @classmethod
    def from_summaries(
        cls,
        header: HeaderSummary,
        dose: DoseSummary,
        treatment: TreatmentSummary,
        *,
        notes: list[str],
        last_received_at: datetime,
        now: datetime,
        quiet_period_s: float,
        final: bool = False,
    ) -> ProcedureRecord:
        """Join the summaries; ``notes`` are the observations' data-quality flags."""
        device, differences = _settle_device(header.device, dose.device)
        flags = list(header.flags)
        _add_new(flags, [f"device-{d.field}-differs-in-dose-report" for d in differences])
        for more in (dose.flags, treatment.flags, notes):
            _add_new(flags, more)
        conflicts = [*header.conflicts, *treatment.conflicts]
        needs_review = bool(conflicts) or treatment.needs_review
        return cls(
            **_fields(header, HeaderFindings),
            **_fields(dose, DoseFindings),
            **_fields(treatment, TreatmentFindings),
            device=device,
            device_differences=differences,
            status=study_status(
                last_received_at=last_received_at,
                now=now,
                quiet_period_s=quiet_period_s,
                needs_review=needs_review,
                final=final,
            ),
            needs_review=needs_review,
            last_received_at=last_received_at,
            flags=flags,
            sources={**header.sources, **dose.sources, **treatment.sources},
            conflicts=conflicts,
        )

    def status_at(self, now: datetime, quiet_period_s: float) -> Status:
        """The status now: a study stored as ``receiving`` is complete once its quiet period
        is over, whether or not anything has written that down yet."""
        if self.status is not Status.RECEIVING or self.last_received_at is None:
            return self.status
        return study_status(
            last_received_at=self.last_received_at,
            now=now,
            quiet_period_s=quiet_period_s,
            needs_review=self.needs_review,
        )


def _settle_device(
    images: Device, report: DeviceInfo | None
) -> tuple[Device, list[DeviceDifference]]:
    """Image headers first; the dose report fills what they do not say, differences kept."""
    shown = images.model_dump()
    differences: list[DeviceDifference] = []
    for name, value in (report.model_dump() if report is not None else {}).items():
        current = shown.get(name)
        if current is None:
            shown[name] = value
        elif value is not None and str(value).strip().casefold() != str(current).casefold():
            differences.append(
                DeviceDifference(field=name, images=str(current), dose_report=str(value))
            )
    return Device(**shown), differences


class ProcedurePublic(ProcedureRecord):
    """A stored record as ``procedures list|show --json`` print it: the record and its id.

    The values are the *effective* ones: manual decisions (``procedures decide``) over what
    was extracted; ``decisions`` lists those in force and ``extracted`` keeps the treatment
    values as extracted (None when no decision is in force).
    """

    id: int
    excluded: ExcludeReason | None = Field(
        default=None, description="Left out of listings, worklist and reports by a decision"
    )
    decisions: list[RecordDecision] = Field(
        default_factory=list, description="Manual decisions in force, with who, when and why"
    )
    extracted: dict[str, Any] | None = Field(
        default=None, description="Treatment values as extracted, where decisions are in force"
    )

    @classmethod
    def from_stored(
        cls, *, id: int, record: ProcedureRecord, status: Status | None = None
    ) -> ProcedurePublic:
        data = {name: getattr(record, name) for name in ProcedureRecord.model_fields}
        if status is not None:
            data["status"] = status
        return cls(id=id, **data)

    def to_json(self) -> dict[str, Any]:
        """JSON-able, the id first."""
        data = self.model_dump(mode="json")
        return {"id": data.pop("id"), **data}

"""Pydantic models shared by extraction, assembly, storage and the CLI.

An :class:`Observation` is one value read from one DICOM instance, with its provenance.
Extraction modules (``vp_log.extract.*``) are pure functions ``Dataset -> list[Observation]``;
assembly turns all observations of a study into a :class:`vp_log.record.ProcedureRecord`.

What qualifies a value is a field, never a flag: the spinal ``level``, the ``side`` of a
volume, the acquisition ``plane`` of a dose value, the ``event_uid`` an image was taken in.
The four kinds whose value is an object have a typed payload (:class:`IrradiationEvent`,
:class:`DoseReport`, :class:`DoseDevice`, :class:`ProcedureCode`); ``payload_of`` reads it.
``flags`` say only how the value was read (``lenient-timezone-offset:…``, ``empty-value``,
``abbreviation``, ``level-mention-only``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from vp_log.technique import EventTechnique


class Kind(StrEnum):
    """What an observation says. Values are stable: they are stored in the database."""

    # --- header (vp_log.extract.header) --------------------------------------------------
    PATIENT_ID = "patient_id"
    PATIENT_NAME = "patient_name"
    PATIENT_BIRTH_DATE = "patient_birth_date"
    PATIENT_SEX = "patient_sex"
    STUDY_DATE = "study_date"  # ISO date "YYYY-MM-DD"
    STUDY_DESCRIPTION = "study_description"
    ACCESSION_NUMBER = "accession_number"
    SERIES_DESCRIPTION = "series_description"
    MODALITY = "modality"
    MANUFACTURER = "manufacturer"
    MODEL = "model"
    DEVICE_SERIAL = "device_serial"
    STATION_NAME = "station_name"
    INSTITUTION = "institution"
    OPERATOR = "operator"  # OperatorsName
    PERFORMING_PHYSICIAN = "performing_physician"
    # Date-times: ISO 8601 strings; with an offset ("+01:00") only where the file gives one
    # (TimezoneOffsetFromUTC or a DT value with an offset), otherwise naive (local time).
    ACQUISITION_DATETIME = "acquisition_datetime"
    CONTENT_DATETIME = "content_datetime"
    SERIES_DATETIME = "series_datetime"
    STUDY_DATETIME = "study_datetime"
    NUMBER_OF_FRAMES = "number_of_frames"  # int
    FRAME_TIME_MS = "frame_time_ms"  # float, FrameTime (0018,1063)

    # --- dose and timing (vp_log.extract.rdsr, vp_log.extract.image_dose) ----------------
    FLUORO_TIME_S = "fluoro_time_s"
    ACQUISITION_TIME_S = "acquisition_time_s"
    DAP_TOTAL_GY_M2 = "dap_total_gy_m2"
    DAP_FLUORO_GY_M2 = "dap_fluoro_gy_m2"
    DAP_ACQUISITION_GY_M2 = "dap_acquisition_gy_m2"
    KAR_TOTAL_MGY = "ka_r_total_mgy"
    KAR_FLUORO_MGY = "ka_r_fluoro_mgy"
    KAR_ACQUISITION_MGY = "ka_r_acquisition_mgy"
    IRRADIATION_EVENT = "irradiation_event"  # IrradiationEvent
    DOSE_DEVICE = "dose_device"  # DoseDevice
    DOSE_REPORT = "dose_report"  # DoseReport
    IMAGE_DAP_GY_M2 = "image_dap_gy_m2"  # Image and Fluoroscopy Area Dose Product
    # vp_log.technique.PatientCharacteristics as JSON (dose report or image header)
    PATIENT_CHARACTERISTICS = "patient_characteristics"
    SOFTWARE_VERSIONS = "software_versions"  # list[str], SoftwareVersions (0018,1020)

    # --- procedure identity, levels, cement (vp_log.extract.procedure/annotations/sr) ----
    PROCEDURE_CODE = "procedure_code"  # ProcedureCode
    PROCEDURE_HINT = "procedure_hint"  # str: vertebroplasty | kyphoplasty | sacroplasty
    LEVEL = "level"  # str level in `level`; a treated level named without a volume
    CEMENT_VOLUME_ML = "cement_volume_ml"  # float; `level` set where known
    TOTAL_CEMENT_ML = "total_cement_ml"  # float
    APPROACH = "approach"  # str; `level` set where known
    SIDE = "side"  # str left | right | bilateral; `level` set where known

    # --- the instance itself (vp_log.extract, vp_log.pipeline) -----------------------------
    # dict: {"issue": "extractor-failed" | "invalid-uid" | "reused-uid"
    # | "annotation-not-read", ...}; its flags
    # (prefix "invalid-") reach the record, so a reader sees what could not be read.
    INSTANCE_ISSUE = "instance_issue"


class Provenance(BaseModel):
    """Where a value came from: the instance, the place inside it, the raw text."""

    model_config = ConfigDict(frozen=True)

    sop_instance_uid: str
    path: str = Field(
        description=(
            "Attribute keyword (`ImageComments`), nested path "
            "(`GraphicAnnotationSequence[0].TextObjectSequence[1].UnformattedTextValue`) "
            "or SR content path (`sr:(DCM,113701)/(DCM,113730)`)"
        )
    )
    raw: str | None = None

    def text(self) -> str:
        """One line for records and logs: ``<path>@<SOP Instance UID>``."""
        return f"{self.path}@{self.sop_instance_uid}"


class Observation(BaseModel):
    """One value from one instance. ``value`` is JSON-able; ``None`` means unknown."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    value: JsonValue
    provenance: Provenance
    level: str | None = None
    side: str | None = Field(default=None, description="Side of a volume: left, right or bilateral")
    plane: str | None = Field(
        default=None,
        description="Acquisition plane of a dose value or event: A, B, single, unknown "
        "(None: the value covers the whole procedure)",
    )
    event_uid: str | None = Field(
        default=None, description="Irradiation Event UID an image header value belongs to"
    )
    flags: tuple[str, ...] = Field(
        default=(), description="How the value was read (data-quality notes), never data"
    )

    def to_row(self) -> dict[str, Any]:
        """Flatten for storage (see ``vp_log.db``); NUL characters, which PostgreSQL text and
        JSON cannot hold, are dropped."""
        return {
            "kind": self.kind.value,
            "value": _without_nul(self.value),
            "path": _without_nul(self.provenance.path),
            "raw": _without_nul(self.provenance.raw),
            "level": self.level,
            "side": self.side,
            "plane": self.plane,
            "event_uid": _without_nul(self.event_uid),
            "flags": [_without_nul(f) for f in self.flags],
        }


# --- typed payloads of the kinds whose value is an object ---------------------------------


class _Payload(BaseModel):
    """An observation value that is an object; unknown keys are kept (stored data is old)."""

    model_config = ConfigDict(frozen=True, extra="allow")


class IrradiationEvent(_Payload):
    """One irradiation event of a dose report (TID 10003)."""

    uid: str | None = None
    start: str | None = Field(default=None, description="ISO 8601 date-time")
    type: str | None = Field(default=None, description="Event type as the report names it")
    category: str | None = Field(default=None, description="fluoroscopy | acquisition | None")
    protocol: str | None = None
    plane: str | None = None
    dap_gy_m2: float | None = None
    ka_r_mgy: float | None = None
    duration_s: float | None = None
    reference_point: str | None = Field(
        default=None, description="Reference Point Definition, as the report words it"
    )
    technique: EventTechnique | None = Field(
        default=None, description="X-ray source and mechanical rows (TID 10003A/B)"
    )


class CodeValue(_Payload):
    code: str
    scheme: str
    meaning: str | None = None


class DoseReport(_Payload):
    """What a dose report says of itself (TID 10001 or a private summary)."""

    template: str
    report_uid: str | None = None
    sop_class_uid: str | None = None
    study_instance_uid: str | None = None
    is_fluoroscopy: bool | None = None
    planes: list[str] = []
    event_count: int | None = Field(
        default=None, description="None: a template that never lists events"
    )
    radiographic_frames: dict[str, float] = Field(
        default={}, description="plane → Total Number of Radiographic Frames stated"
    )
    procedure_reported: CodeValue | None = None
    scope: CodeValue | None = None
    exam_start: str | None = None
    exam_end: str | None = None


class DeviceInfo(BaseModel):
    """An imaging or irradiating device: as image headers or a dose report name it."""

    model_config = ConfigDict(frozen=True)

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    uid: str | None = Field(default=None, description="Device (Observer) UID")


class DoseDevice(DeviceInfo, _Payload):
    """The irradiating device a dose report names (observer context or device role)."""

    name: str | None = None
    sources: dict[str, str] = {}


class ProcedureCode(_Payload):
    """A code of a procedure code sequence, with what the vocabulary makes of it."""

    code: str
    scheme: str
    meaning: str | None = None
    procedure_type: str | None = None
    add_on: bool = False
    laterality: str | None = None
    sequence: str | None = Field(default=None, description="The code sequence it was found in")


PayloadT = TypeVar("PayloadT", bound=_Payload)

PAYLOADS: dict[Kind, type[_Payload]] = {
    Kind.IRRADIATION_EVENT: IrradiationEvent,
    Kind.DOSE_REPORT: DoseReport,
    Kind.DOSE_DEVICE: DoseDevice,
    Kind.PROCEDURE_CODE: ProcedureCode,
}


def payload_of(observation: Observation, model: type[PayloadT]) -> PayloadT | None:
    """The observation's value as ``model``; ``None`` when it is not one (wrong kind, bad data)."""
    if PAYLOADS.get(observation.kind) is not model or not isinstance(observation.value, dict):
        return None
    try:
        return model.model_validate(observation.value)
    except ValidationError:
        return None


def payload_value(payload: _Payload) -> JsonValue:
    """A payload as an observation value (JSON; unset fields left out as before)."""
    value: JsonValue = payload.model_dump(mode="json", exclude_unset=True)
    return value


def _without_nul(value: Any) -> Any:
    """``value`` without NUL characters; itself (not a copy) when it has none."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict | list) and "\\x00" not in repr(value):
        return value  # repr shows every NUL of every string in it as \x00
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value

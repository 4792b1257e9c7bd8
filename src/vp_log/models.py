"""Pydantic models shared by extraction, assembly, storage and the CLI.

An :class:`Observation` is one value read from one DICOM instance, with its provenance.
Extraction modules (``vp_log.extract.*``) are pure functions ``Dataset -> list[Observation]``;
assembly turns all observations of a study into a :class:`ProcedureRecord`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue


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
    IRRADIATION_EVENT = "irradiation_event"  # dict: uid, start, type, protocol, plane, ...
    DOSE_DEVICE = "dose_device"  # dict: manufacturer, model, serial, uid
    DOSE_REPORT = "dose_report"  # dict: template, is_fluoroscopy, planes, ...
    IMAGE_DAP_GY_M2 = "image_dap_gy_m2"  # Image and Fluoroscopy Area Dose Product
    # vp_log.technique.PatientCharacteristics as JSON (dose report or image header)
    PATIENT_CHARACTERISTICS = "patient_characteristics"
    SOFTWARE_VERSIONS = "software_versions"  # list[str], SoftwareVersions (0018,1020)

    # --- procedure identity, levels, cement (vp_log.extract.procedure/annotations/sr) ----
    PROCEDURE_CODE = "procedure_code"  # dict: code, scheme, meaning, procedure_type
    PROCEDURE_HINT = "procedure_hint"  # str: vertebroplasty | kyphoplasty | sacroplasty
    LEVEL = "level"  # str level in `level`; a treated level named without a volume
    CEMENT_VOLUME_ML = "cement_volume_ml"  # float; `level` set where known
    TOTAL_CEMENT_ML = "total_cement_ml"  # float
    APPROACH = "approach"  # str; `level` set where known
    SIDE = "side"  # str left | right | bilateral; `level` set where known


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
    flags: tuple[str, ...] = ()

    def to_row(self) -> dict[str, Any]:
        """Flatten for storage (see ``vp_log.db``); NUL characters, which PostgreSQL text and
        JSON cannot hold, are dropped."""
        return {
            "kind": self.kind.value,
            "value": _without_nul(self.value),
            "path": _without_nul(self.provenance.path),
            "raw": _without_nul(self.provenance.raw),
            "level": self.level,
            "flags": [_without_nul(f) for f in self.flags],
        }


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value

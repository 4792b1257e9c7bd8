"""What a generated case holds and what the procedure record built from it must say."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class CaseName(StrEnum):
    """The generated cases. Values are what the CLI and :func:`write_case` accept."""

    VP_TWO_LEVEL = "vp-two-level"
    """Two-level bipedicular vertebroplasty, T12 and L1 (XA, single-plane angiography unit)."""
    KP_ONE_LEVEL = "kp-one-level"
    """One-level balloon kyphoplasty, L2 (RF, mobile C-arm; fluoroscopy only)."""
    SACROPLASTY_BILATERAL = "sacroplasty-bilateral"
    """Bilateral short-axis sacroplasty, sacrum left and right (XA)."""
    NON_AUGMENTATION = "non-augmentation"
    """Lumbar facet joint injection L4-L5 left (RF): a spine study that is not augmentation."""


class Size(StrEnum):
    """Pixel sizes: ``small`` for tests, ``realistic`` for benchmarks."""

    SMALL = "small"
    """64 x 64 pixels, cine runs of 4 frames."""
    REALISTIC = "realistic"
    """512 x 512 pixels, cine runs of 60 frames."""


class Role(StrEnum):
    """What a generated instance is in its study."""

    CINE = "cine"
    SPOT = "spot"
    PRESENTATION_STATE = "gsps"
    VOLUME_SR = "sr"
    DOSE_SR = "rdsr"


class Device(BaseModel):
    model_config = ConfigDict(frozen=True)

    manufacturer: str
    model: str
    serial: str
    station_name: str
    device_observer_uid: str


class LevelExpectation(BaseModel):
    """One treated level as the record must show it.

    ``side`` is what the sources state: ``None`` for vertebral levels, whose annotations name
    an approach (``bipedicular``) but no side; ``left``/``right`` for the two sacral sides,
    whose level is ``sacrum``.
    """

    model_config = ConfigDict(frozen=True)

    level: str
    cement_ml: float
    approach: str | None
    side: str | None


class InstanceFile(BaseModel):
    """One written file."""

    model_config = ConfigDict(frozen=True)

    path: Path
    role: Role
    modality: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    series_number: int
    instance_number: int
    number_of_frames: int = 0
    rows: int = 0
    columns: int = 0
    irradiation_event_uid: str | None = None
    acquisition_datetime: datetime | None = None
    size_bytes: int = 0


class CaseManifest(BaseModel):
    """A generated study and the procedure record it must become.

    Dose values are the RDSR totals, in the record's units: fluoroscopy and acquisition time
    in seconds, dose-area product in Gy·cm² (the RDSR says Gy.m2), reference point air kerma
    in mGy (the RDSR says Gy). ``start`` is the earliest irradiation event start; ``end`` the
    latest of the event starts and the image acquisition date-times (a spot image is stored at
    the end of its fluoroscopy event); both carry the study's timezone offset.
    ``total_cement_ml`` is ``None`` (unknown) for a study that is not augmentation.
    """

    model_config = ConfigDict(frozen=True)

    case: CaseName
    seed: int
    size: Size
    out_dir: Path
    study_instance_uid: str
    accession_number: str
    patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    study_date: str
    study_description: str
    timezone_offset: str
    procedure_type: str
    procedure_codes: tuple[str, ...]
    levels: tuple[LevelExpectation, ...]
    total_cement_ml: float | None
    annotations: tuple[str, ...]
    fluoro_time_s: float
    acquisition_time_s: float
    dap_gy_cm2: float
    dap_fluoro_gy_cm2: float
    dap_acquisition_gy_cm2: float
    ka_r_mgy: float
    ka_r_fluoro_mgy: float
    ka_r_acquisition_mgy: float
    irradiation_events: int
    irradiation_event_uids: tuple[str, ...]
    planes: int
    start: datetime
    end: datetime
    duration_s: float
    device: Device
    operators: tuple[str, ...]
    performing_physician: str
    modalities: tuple[str, ...]
    series_count: int
    instance_count: int
    files: tuple[InstanceFile, ...]

    def paths(self) -> list[Path]:
        """The written files, in the order they were written."""
        return [f.path for f in self.files]

    def files_with_role(self, role: Role | str) -> list[InstanceFile]:
        wanted = Role(role)
        return [f for f in self.files if f.role is wanted]

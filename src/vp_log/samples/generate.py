"""Write a generated case (a complete fluoroscopy study) and say what its record must be."""

from __future__ import annotations

import random
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from vp_log.samples import _codes as c
from vp_log.samples._dicom import (
    COMPREHENSIVE_SR,
    GSPS,
    IMAGE_SOP_CLASS,
    XRAY_DOSE_SR,
    code_item,
    code_value,
    container,
    datetime_item,
    image_ref,
    make_uid,
    num,
    pname,
    scaled,
    text,
    uidref,
    with_children,
    write_dataset,
)
from vp_log.samples._pixels import pixel_bytes
from vp_log.samples.cases import CASES, CaseSpec, EventSpec
from vp_log.samples.manifest import (
    CaseManifest,
    CaseName,
    Device,
    InstanceFile,
    LevelExpectation,
    Role,
    Size,
)

SIZES: dict[Size, tuple[int, int, int]] = {
    Size.SMALL: (64, 64, 4),
    Size.REALISTIC: (512, 512, 60),
}
"""Rows, columns and cine frames for each size."""

TIMEZONE_OFFSET = "+0100"
_TZ = timezone(timedelta(hours=1))
_SURNAMES = ("MULLER", "BIANCHI", "JANSSEN", "GARCIA", "NOVAK", "SMITH", "LEFEVRE", "COSTA")
_GIVEN_F = ("MARIA", "ANNA", "ELENA", "INGRID", "SOFIA", "HELEN")
_GIVEN_M = ("HANS", "PIERRE", "JOHN", "LUIS", "KAREL", "PIETRO")

SPOT_SERIES_NUMBER = 1
PR_SERIES_NUMBER = 900
SR_SERIES_NUMBER = 901
RDSR_SERIES_NUMBER = 999


def _dt(value: datetime) -> str:
    """A DICOM DT without offset (the offset is in TimezoneOffsetFromUTC)."""
    text_value = value.strftime("%Y%m%d%H%M%S")
    return text_value + (f".{value.microsecond:06d}" if value.microsecond else "")


def _da(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _tm(value: datetime) -> str:
    return _dt(value)[8:]


@dataclass
class _Image:
    event_index: int
    event: EventSpec
    role: Role
    uid: str
    series_uid: str
    series_number: int
    instance_number: int
    acquired: datetime
    event_uid: str
    frames: int


@dataclass
class _Plan:
    spec: CaseSpec
    seed: int
    size: Size
    out_dir: Path
    rows: int
    cols: int
    cine_frames: int
    start: datetime
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    accession: str
    study_uid: str
    event_uids: list[str]
    images: list[_Image] = field(default_factory=list)

    def uid(self, *parts: str) -> str:
        return make_uid(self.spec.name.value, self.size.value, str(self.seed), *parts)

    @property
    def end(self) -> datetime:
        times = [self.event_time(i) for i in range(len(self.spec.events))]
        times += [im.acquired for im in self.images]
        return max(times)

    def event_time(self, index: int) -> datetime:
        return self.start + timedelta(seconds=self.spec.events[index].offset_s)

    @property
    def device_uid(self) -> str:
        return make_uid("device", self.spec.device.serial)


def _plan(
    spec: CaseSpec,
    seed: int,
    size: Size,
    out_dir: Path,
    *,
    patient_id: str | None = None,
    start: datetime | None = None,
) -> _Plan:
    rng = random.Random(f"vp_log.samples:{spec.name.value}:{seed}")
    day = date(2024, 1, 8) + timedelta(days=rng.randrange(0, 300))
    minute = 8 * 60 + rng.randrange(0, 7 * 60)
    drawn = datetime.combine(day, time(minute // 60, minute % 60, rng.randrange(60)), _TZ)
    start = drawn if start is None else start.replace(tzinfo=_TZ)
    sex = rng.choice("FM")
    given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
    birth = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 30 * 365))
    rows, cols, cine_frames = SIZES[size]
    plan = _Plan(
        spec=spec,
        seed=seed,
        size=size,
        out_dir=out_dir,
        rows=rows,
        cols=cols,
        cine_frames=cine_frames,
        start=start,
        patient_id=_drawn_or(f"{rng.randrange(10**7):08d}", patient_id),
        patient_name=f"{rng.choice(_SURNAMES)}^{given}",
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
        accession=f"{rng.randrange(10**9):010d}",
        study_uid="",
        event_uids=[],
    )
    plan.study_uid = plan.uid("study")
    plan.event_uids = [plan.uid("event", str(i)) for i in range(len(spec.events))]
    spot_series = plan.uid("series", "spots")
    spot_number = 0
    cine_series_number = SPOT_SERIES_NUMBER
    for index, event in enumerate(spec.events):
        if event.image is None:
            continue
        begin = plan.event_time(index)
        if event.image == "spot":
            spot_number += 1
            series_uid, series_number, instance_number = (
                spot_series,
                SPOT_SERIES_NUMBER,
                spot_number,
            )
            acquired = begin + timedelta(seconds=event.duration_ds / 10)
            role, frames = Role.SPOT, 1
        else:
            cine_series_number += 1
            series_uid = plan.uid("series", f"run{index}")
            series_number, instance_number = cine_series_number, 1
            acquired, role, frames = begin, Role.CINE, cine_frames
        plan.images.append(
            _Image(
                event_index=index,
                event=event,
                role=role,
                uid=plan.uid("instance", f"image{index}"),
                series_uid=series_uid,
                series_number=series_number,
                instance_number=instance_number,
                acquired=acquired,
                event_uid=plan.event_uids[index],
                frames=frames,
            )
        )
    return plan


# --- modules shared by every instance ---------------------------------------------------------


def _drawn_or(drawn: str, given: str | None) -> str:
    """The given value, the random one drawn all the same (the other draws stay as they were)."""
    return drawn if given is None else given


def _procedure_codes(codes: Seq[str], scheme: str) -> Sequence:
    return Sequence([code_item(c.Code(v, scheme, c.CPT_MEANINGS[v])) for v in codes])


def _base(
    plan: _Plan,
    *,
    sop_class: str,
    sop_uid: str,
    modality: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    series_time: datetime,
    instance_number: int,
    content_time: datetime,
) -> Dataset:
    spec, dev = plan.spec, plan.spec.device
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = _da(content_time)
    ds.InstanceCreationTime = _tm(content_time)
    ds.TimezoneOffsetFromUTC = TIMEZONE_OFFSET
    # Patient
    ds.PatientName = plan.patient_name
    ds.PatientID = plan.patient_id
    ds.IssuerOfPatientID = "EXAMPLE-GH"
    ds.PatientBirthDate = plan.birth_date
    ds.PatientSex = plan.sex
    # General Study
    ds.StudyInstanceUID = plan.study_uid
    ds.StudyDate = _da(plan.start)
    ds.StudyTime = _tm(plan.start)
    ds.ReferringPhysicianName = spec.referring_physician
    ds.StudyID = plan.accession[-6:]
    ds.AccessionNumber = plan.accession
    ds.StudyDescription = spec.study_description
    ds.ProcedureCodeSequence = _procedure_codes(spec.procedure_codes, "C4")
    # General Series
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDate = _da(series_time)
    ds.SeriesTime = _tm(series_time)
    ds.SeriesDescription = series_description
    ds.PerformingPhysicianName = spec.performing_physician
    ds.OperatorsName = list(spec.operators)
    ds.PerformedProcedureStepID = plan.accession[-6:]
    ds.PerformedProcedureStepStartDate = _da(plan.start)
    ds.PerformedProcedureStepStartTime = _tm(plan.start)
    ds.PerformedProcedureStepDescription = spec.study_description
    request = Dataset()
    request.AccessionNumber = plan.accession
    request.RequestedProcedureID = plan.accession[-6:]
    request.RequestedProcedureDescription = spec.requested_procedure_description
    request.RequestedProcedureCodeSequence = _procedure_codes(spec.procedure_codes[:1], "CPT4")
    request.ScheduledProcedureStepID = plan.accession[-6:]
    request.ScheduledProcedureStepDescription = spec.requested_procedure_description
    ds.RequestAttributesSequence = Sequence([request])
    # General Equipment (and Enhanced General Equipment: all type 1 here)
    ds.Manufacturer = dev.manufacturer
    ds.InstitutionName = dev.institution
    ds.StationName = dev.station_name
    ds.ManufacturerModelName = dev.model
    ds.DeviceSerialNumber = dev.serial
    ds.SoftwareVersions = dev.software_versions
    # Instance
    ds.InstanceNumber = instance_number
    ds.ContentDate = _da(content_time)
    ds.ContentTime = _tm(content_time)
    return ds


# --- images ------------------------------------------------------------------------------------


def _image_dataset(plan: _Plan, image: _Image) -> Dataset:
    spec, event = plan.spec, image.event
    modality = spec.modality
    description = "Fluoro spots" if image.role is Role.SPOT else event.label
    ds = _base(
        plan,
        sop_class=IMAGE_SOP_CLASS[modality],
        sop_uid=image.uid,
        modality=modality,
        series_uid=image.series_uid,
        series_number=image.series_number,
        series_description=description,
        series_time=image.acquired
        if image.role is Role.CINE
        else next(im.acquired for im in plan.images if im.role is Role.SPOT),
        instance_number=image.instance_number,
        content_time=image.acquired,
    )
    ds.AcquisitionDateTime = _dt(image.acquired)
    ds.AcquisitionDate = _da(image.acquired)
    ds.AcquisitionTime = _tm(image.acquired)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.PatientOrientation = ""
    ds.IrradiationEventUID = image.event_uid
    ds.PixelIntensityRelationship = "LIN"
    ds.LossyImageCompression = "00"
    if event.image_comments:
        ds.ImageComments = event.image_comments
    # X-Ray Acquisition
    ds.KVP = str(event.kvp)
    ds.RadiationSetting = "GR" if event.kind == "acquisition" else "SC"
    ds.XRayTubeCurrent = event.tube_current_ma
    ds.ExposureTime = event.duration_ds * 100
    ds.DistanceSourceToDetector = "1200"
    ds.DistanceSourceToPatient = "785"
    ds.PositionerPrimaryAngle = str(event.primary_angle)
    ds.PositionerSecondaryAngle = str(event.secondary_angle)
    ds.ProtocolName = event.protocol
    if event.image == "spot" and event.label:
        ds.ViewPosition = event.label if event.label in ("AP", "LAT") else ""
    # Image Pixel
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = plan.rows
    ds.Columns = plan.cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.WindowCenter = "128"
    ds.WindowWidth = "256"
    if image.role is Role.CINE:
        # Multi-frame and Cine modules
        if event.kind == "acquisition":
            frame_ms = event.duration_ds * 100 / image.frames
        else:
            frame_ms = 1000 / event.pulse_rate
        ds.NumberOfFrames = image.frames
        ds.FrameIncrementPointer = Tag("FrameTime")
        ds.FrameTime = f"{frame_ms:.4g}"
        ds.CineRate = round(1000 / frame_ms)
        ds.RecommendedDisplayFrameRate = round(1000 / frame_ms)
        ds.PreferredPlaybackSequencing = 0
        if modality == "XA":
            ds.PositionerMotion = "STATIC"
    key = f"{spec.name.value}:{plan.size.value}:{plan.seed}:{image.event_index}"
    ds.add_new(0x7FE00010, "OB", pixel_bytes(plan.rows, plan.cols, image.frames, key))
    return ds


# --- presentation state ------------------------------------------------------------------------


def _gsps_dataset(plan: _Plan, sop_uid: str, created: datetime) -> Dataset:
    spec = plan.spec
    ds = _base(
        plan,
        sop_class=GSPS,
        sop_uid=sop_uid,
        modality="PR",
        series_uid=plan.uid("series", "pr"),
        series_number=PR_SERIES_NUMBER,
        series_description="Annotations",
        series_time=created,
        instance_number=1,
        content_time=created,
    )
    sop_class = IMAGE_SOP_CLASS[spec.modality]
    ds.ContentLabel = "ANNOTATIONS"
    ds.ContentDescription = "Procedure annotations"
    ds.ContentCreatorName = spec.performing_physician
    ds.PresentationCreationDate = _da(created)
    ds.PresentationCreationTime = _tm(created)
    series: dict[str, list[_Image]] = {}
    for image in plan.images:
        series.setdefault(image.series_uid, []).append(image)
    refs = []
    for series_uid, images in series.items():
        ref = Dataset()
        ref.SeriesInstanceUID = series_uid
        ref.ReferencedImageSequence = Sequence([_sop_ref(sop_class, im.uid) for im in images])
        refs.append(ref)
    ds.ReferencedSeriesSequence = Sequence(refs)
    area = Dataset()
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [plan.cols, plan.rows]
    area.PresentationSizeMode = "SCALE TO FIT"
    area.PresentationPixelAspectRatio = [1, 1]
    ds.DisplayedAreaSelectionSequence = Sequence([area])
    layer = Dataset()
    layer.GraphicLayer = "TEXT"
    layer.GraphicLayerOrder = 1
    layer.GraphicLayerDescription = "Staff annotations"
    ds.GraphicLayerSequence = Sequence([layer])
    annotations = []
    for number, annotation in enumerate(spec.annotations):
        target = _image_for_event(plan, annotation.event_index)
        item = Dataset()
        item.ReferencedImageSequence = Sequence([_sop_ref(sop_class, target.uid)])
        item.GraphicLayer = "TEXT"
        text_object = Dataset()
        text_object.BoundingBoxAnnotationUnits = "PIXEL"
        text_object.UnformattedTextValue = annotation.text
        top = 4.0 + 10.0 * number
        text_object.BoundingBoxTopLeftHandCorner = [4.0, top]
        text_object.BoundingBoxBottomRightHandCorner = [float(plan.cols - 4), top + 8.0]
        text_object.BoundingBoxTextHorizontalJustification = "LEFT"
        item.TextObjectSequence = Sequence([text_object])
        annotations.append(item)
    ds.GraphicAnnotationSequence = Sequence(annotations)
    ds.PresentationLUTShape = "IDENTITY"
    # A presentation state has no General Image module: no Content Date/Time that a reader
    # could mistake for an image time.
    del ds.ContentDate
    del ds.ContentTime
    return ds


def _sop_ref(sop_class: str, sop_uid: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = sop_uid
    return ref


def _image_for_event(plan: _Plan, event_index: int) -> _Image:
    for image in plan.images:
        if image.event_index == event_index:
            return image
    raise ValueError(f"Case {plan.spec.name.value!r}: event {event_index} stores no image.")


# --- structured reports ------------------------------------------------------------------------


def _sr_document(
    plan: _Plan,
    *,
    sop_class: str,
    sop_uid: str,
    series_key: str,
    series_number: int,
    series_description: str,
    created: datetime,
    root: Dataset,
    template: str,
) -> Dataset:
    ds = _base(
        plan,
        sop_class=sop_class,
        sop_uid=sop_uid,
        modality="SR",
        series_uid=plan.uid("series", series_key),
        series_number=series_number,
        series_description=series_description,
        series_time=created,
        instance_number=1,
        content_time=created,
    )
    ds.ReferencedPerformedProcedureStepSequence = Sequence([])
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = _procedure_codes(plan.spec.procedure_codes, "C4")
    for keyword in ("ValueType", "ConceptNameCodeSequence", "ContinuityOfContent"):
        setattr(ds, keyword, root[keyword].value)
    template_item = Dataset()
    template_item.MappingResource = "DCMR"
    template_item.TemplateIdentifier = template
    ds.ContentTemplateSequence = Sequence([template_item])
    ds.ContentSequence = root.ContentSequence
    return ds


def _volume_sr(plan: _Plan, sop_uid: str, created: datetime) -> Dataset:
    spec = plan.spec
    sop_class = IMAGE_SOP_CLASS[spec.modality]
    cited = [_image_for_event(plan, a.event_index) for a in spec.annotations]
    groups = []
    for level in spec.levels:
        site = c.SACRUM if level.sr_site == "sacrum" else c.VERTEBRA_CODES[level.sr_site]
        site_item = code_value("HAS CONCEPT MOD", c.FINDING_SITE, site)
        if level.side is not None:
            with_children(
                site_item,
                [code_value("HAS CONCEPT MOD", c.LATERALITY, c.SIDE_CODES[level.side])],
            )
        label = f"{level.level} {level.side} cement" if level.side else f"{level.level} cement"
        groups.append(
            container(
                "CONTAINS",
                c.MEASUREMENT_GROUP,
                [
                    text("HAS OBS CONTEXT", c.TRACKING_IDENTIFIER, label),
                    uidref(
                        "HAS OBS CONTEXT",
                        c.TRACKING_UID,
                        plan.uid("tracking", level.level, level.side or ""),
                    ),
                    site_item,
                    num("CONTAINS", c.VOLUME, level.cement_ml, c.UNIT_ML),
                ],
            )
        )
    root = container(
        None,
        c.IMAGING_MEASUREMENT_REPORT,
        [
            code_value("HAS CONCEPT MOD", c.LANGUAGE, c.ENGLISH_US),
            code_value("HAS OBS CONTEXT", c.OBSERVER_TYPE, c.PERSON),
            pname("HAS OBS CONTEXT", c.PERSON_OBSERVER_NAME, spec.performing_physician),
            *[
                code_value(
                    "HAS CONCEPT MOD",
                    c.PROCEDURE_REPORTED,
                    c.Code(v, "C4", c.CPT_MEANINGS[v]),
                )
                for v in spec.procedure_codes
            ],
            container(
                "CONTAINS",
                c.IMAGE_LIBRARY,
                [
                    container(
                        "CONTAINS",
                        c.IMAGE_LIBRARY_GROUP,
                        [image_ref("CONTAINS", None, sop_class, im.uid) for im in cited],
                    )
                ],
            ),
            container("CONTAINS", c.IMAGING_MEASUREMENTS, groups),
        ],
    )
    ds = _sr_document(
        plan,
        sop_class=COMPREHENSIVE_SR,
        sop_uid=sop_uid,
        series_key="sr",
        series_number=SR_SERIES_NUMBER,
        series_description="Cement volumes",
        created=created,
        root=root,
        template="1500",
    )
    evidence = Dataset()
    evidence.StudyInstanceUID = plan.study_uid
    series_refs = []
    for series_uid in dict.fromkeys(im.series_uid for im in cited):
        ref = Dataset()
        ref.SeriesInstanceUID = series_uid
        ref.ReferencedSOPSequence = Sequence(
            [_sop_ref(sop_class, im.uid) for im in cited if im.series_uid == series_uid]
        )
        series_refs.append(ref)
    evidence.ReferencedSeriesSequence = Sequence(series_refs)
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    return ds


@dataclass(frozen=True)
class _DoseTotals:
    fluoro_ds: int
    acquisition_ds: int
    dap_fluoro: int
    dap_acquisition: int
    dose_fluoro: int
    dose_acquisition: int


def _totals(spec: CaseSpec) -> _DoseTotals:
    fluoro = [e for e in spec.events if e.kind == "fluoro"]
    acquisition = [e for e in spec.events if e.kind == "acquisition"]
    return _DoseTotals(
        fluoro_ds=sum(e.duration_ds for e in fluoro),
        acquisition_ds=sum(e.duration_ds for e in acquisition),
        dap_fluoro=sum(e.dap for e in fluoro),
        dap_acquisition=sum(e.dap for e in acquisition),
        dose_fluoro=sum(e.dose_rp for e in fluoro),
        dose_acquisition=sum(e.dose_rp for e in acquisition),
    )


def _target_region(spec: CaseSpec) -> c.Code:
    if spec.target_region == "sacrum":
        return c.SACRUM
    if spec.target_region == "lumbar":
        return c.LUMBAR_SPINE
    return c.VERTEBRA_CODES[spec.target_region]


def _event_container(plan: _Plan, index: int, event: EventSpec) -> Dataset:
    is_fluoro = event.kind == "fluoro"
    items = [
        code_value("HAS CONCEPT MOD", c.ACQUISITION_PLANE, c.SINGLE_PLANE),
        datetime_item("CONTAINS", c.DATETIME_STARTED, _dt(plan.event_time(index))),
        code_value(
            "CONTAINS",
            c.IRRADIATION_EVENT_TYPE,
            c.FLUOROSCOPY if is_fluoro else c.STATIONARY_ACQUISITION,
        ),
        text("CONTAINS", c.ACQUISITION_PROTOCOL, event.protocol),
        code_value("CONTAINS", c.TARGET_REGION, _target_region(plan.spec)),
        uidref("CONTAINS", c.IRRADIATION_EVENT_UID, plan.event_uids[index]),
        num("CONTAINS", c.DAP, scaled(event.dap, 7), c.UNIT_GY_M2),
        num("CONTAINS", c.DOSE_RP, scaled(event.dose_rp, 6), c.UNIT_GY),
        num("CONTAINS", c.POSITIONER_PRIMARY_ANGLE, str(event.primary_angle), c.UNIT_DEG),
        num("CONTAINS", c.POSITIONER_SECONDARY_ANGLE, str(event.secondary_angle), c.UNIT_DEG),
    ]
    if is_fluoro:
        items.append(code_value("CONTAINS", c.FLUORO_MODE, c.PULSED))
    pulses = round(event.duration_ds * event.pulse_rate / 10)
    items += [
        num("CONTAINS", c.PULSE_RATE, f"{event.pulse_rate:g}", c.UNIT_PULSE_RATE),
        num("CONTAINS", c.NUMBER_OF_PULSES, str(pulses), c.UNIT_NONE),
        num("CONTAINS", c.KVP, str(event.kvp), c.UNIT_KV),
        num("CONTAINS", c.TUBE_CURRENT, str(event.tube_current_ma), c.UNIT_MA),
        num("CONTAINS", c.IRRADIATION_DURATION, scaled(event.duration_ds, 1), c.UNIT_S),
        code_value("CONTAINS", c.REFERENCE_POINT_DEFINITION, c.RP_15CM_FROM_ISOCENTER),
    ]
    return container("CONTAINS", c.IRRADIATION_EVENT, items)


def _dose_sr(plan: _Plan, sop_uid: str, created: datetime) -> Dataset:
    spec, dev = plan.spec, plan.spec.device
    t = _totals(spec)
    accumulated = container(
        "CONTAINS",
        c.ACCUMULATED_XRAY_DOSE,
        [
            code_value("HAS CONCEPT MOD", c.ACQUISITION_PLANE, c.SINGLE_PLANE),
            num("CONTAINS", c.DAP_TOTAL, scaled(t.dap_fluoro + t.dap_acquisition, 7), c.UNIT_GY_M2),
            num(
                "CONTAINS",
                c.DOSE_RP_TOTAL,
                scaled(t.dose_fluoro + t.dose_acquisition, 6),
                c.UNIT_GY,
            ),
            num("CONTAINS", c.FLUORO_DAP_TOTAL, scaled(t.dap_fluoro, 7), c.UNIT_GY_M2),
            num("CONTAINS", c.FLUORO_DOSE_RP_TOTAL, scaled(t.dose_fluoro, 6), c.UNIT_GY),
            num("CONTAINS", c.TOTAL_FLUORO_TIME, scaled(t.fluoro_ds, 1), c.UNIT_S),
            num("CONTAINS", c.ACQUISITION_DAP_TOTAL, scaled(t.dap_acquisition, 7), c.UNIT_GY_M2),
            num("CONTAINS", c.ACQUISITION_DOSE_RP_TOTAL, scaled(t.dose_acquisition, 6), c.UNIT_GY),
            num("CONTAINS", c.TOTAL_ACQUISITION_TIME, scaled(t.acquisition_ds, 1), c.UNIT_S),
            code_value("CONTAINS", c.REFERENCE_POINT_DEFINITION, c.RP_15CM_FROM_ISOCENTER),
        ],
    )
    procedure = with_children(
        code_value("HAS CONCEPT MOD", c.PROCEDURE_REPORTED, c.PROJECTION_XRAY),
        [code_value("HAS CONCEPT MOD", c.HAS_INTENT, c.THERAPEUTIC_INTENT)],
    )
    scope = with_children(
        code_value("HAS OBS CONTEXT", c.SCOPE_OF_ACCUMULATION, c.STUDY),
        [uidref("HAS PROPERTIES", c.STUDY_INSTANCE_UID, plan.study_uid)],
    )
    root = container(
        None,
        c.XRAY_DOSE_REPORT,
        [
            procedure,
            code_value("HAS OBS CONTEXT", c.OBSERVER_TYPE, c.DEVICE),
            uidref("HAS OBS CONTEXT", c.DEVICE_OBSERVER_UID, plan.device_uid),
            text("HAS OBS CONTEXT", c.DEVICE_OBSERVER_NAME, dev.station_name),
            text("HAS OBS CONTEXT", c.DEVICE_OBSERVER_MANUFACTURER, dev.manufacturer),
            text("HAS OBS CONTEXT", c.DEVICE_OBSERVER_MODEL, dev.model),
            text("HAS OBS CONTEXT", c.DEVICE_OBSERVER_SERIAL, dev.serial),
            scope,
            accumulated,
            *[_event_container(plan, i, e) for i, e in enumerate(spec.events)],
            code_value("CONTAINS", c.SOURCE_OF_DOSE_INFORMATION, c.AUTOMATED_DATA_COLLECTION),
        ],
    )
    return _sr_document(
        plan,
        sop_class=XRAY_DOSE_SR,
        sop_uid=sop_uid,
        series_key="rdsr",
        series_number=RDSR_SERIES_NUMBER,
        series_description="Radiation Dose Report",
        created=created,
        root=root,
        template="10001",
    )


# --- public API --------------------------------------------------------------------------------


def write_case(
    case: CaseName | str,
    out_dir: Path | str,
    *,
    seed: int = 0,
    size: Size | str = Size.SMALL,
    patient_id: str | None = None,
    start: datetime | None = None,
) -> CaseManifest:
    """Write one complete study of ``case`` into ``out_dir`` and return its manifest.

    Files are named ``NNN_<modality>_<role>.dcm`` in the order written (images in
    acquisition order, then the presentation state, the volume SR, the dose SR). The same
    ``case``, ``seed`` and ``size`` give byte-identical files; ``seed`` changes patient,
    dates, times, UIDs and pixels, never the clinical or dose content. ``patient_id`` and
    ``start`` (local wall-clock time of the first event) fix those two instead: one patient's
    procedures on chosen days.
    """
    plan = _plan(_spec(case), seed, _size(size), Path(out_dir), patient_id=patient_id, start=start)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    files: list[InstanceFile] = []

    def emit(ds: Dataset, role: Role, image: _Image | None = None) -> None:
        path = plan.out_dir / f"{len(files) + 1:03d}_{ds.Modality}_{role.value}.dcm"
        size_bytes = write_dataset(ds, path)
        files.append(
            InstanceFile(
                path=path,
                role=role,
                modality=str(ds.Modality),
                sop_class_uid=str(ds.SOPClassUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                series_instance_uid=str(ds.SeriesInstanceUID),
                series_number=int(ds.SeriesNumber),
                instance_number=int(ds.InstanceNumber),
                number_of_frames=image.frames if image else 0,
                rows=plan.rows if image else 0,
                columns=plan.cols if image else 0,
                irradiation_event_uid=image.event_uid if image else None,
                acquisition_datetime=image.acquired if image else None,
                size_bytes=size_bytes,
            )
        )

    for image in sorted(plan.images, key=lambda im: im.acquired):
        emit(_image_dataset(plan, image), image.role, image)
    end = plan.end
    emit(
        _gsps_dataset(plan, plan.uid("instance", "pr"), end + timedelta(seconds=120)),
        Role.PRESENTATION_STATE,
    )
    if plan.spec.levels:
        emit(
            _volume_sr(plan, plan.uid("instance", "sr"), end + timedelta(seconds=150)),
            Role.VOLUME_SR,
        )
    emit(_dose_sr(plan, plan.uid("instance", "rdsr"), end + timedelta(seconds=180)), Role.DOSE_SR)
    return _manifest(plan, tuple(files))


def case_manifest(
    case: CaseName | str,
    out_dir: Path | str,
    *,
    seed: int = 0,
    size: Size | str = Size.SMALL,
    patient_id: str | None = None,
    start: datetime | None = None,
) -> CaseManifest:
    """The manifest :func:`write_case` would return, without writing (``size_bytes`` are 0)."""
    plan = _plan(_spec(case), seed, _size(size), Path(out_dir))
    files: list[InstanceFile] = []
    sop_class = IMAGE_SOP_CLASS[plan.spec.modality]
    modality = plan.spec.modality
    for image in sorted(plan.images, key=lambda im: im.acquired):
        files.append(
            InstanceFile(
                path=plan.out_dir / f"{len(files) + 1:03d}_{modality}_{image.role.value}.dcm",
                role=image.role,
                modality=modality,
                sop_class_uid=sop_class,
                sop_instance_uid=image.uid,
                series_instance_uid=image.series_uid,
                series_number=image.series_number,
                instance_number=image.instance_number,
                number_of_frames=image.frames,
                rows=plan.rows,
                columns=plan.cols,
                irradiation_event_uid=image.event_uid,
                acquisition_datetime=image.acquired,
            )
        )
    documents = [("PR", Role.PRESENTATION_STATE, GSPS, "pr", PR_SERIES_NUMBER)]
    if plan.spec.levels:
        documents.append(("SR", Role.VOLUME_SR, COMPREHENSIVE_SR, "sr", SR_SERIES_NUMBER))
    documents.append(("SR", Role.DOSE_SR, XRAY_DOSE_SR, "rdsr", RDSR_SERIES_NUMBER))
    for doc_modality, role, doc_class, key, series_number in documents:
        files.append(
            InstanceFile(
                path=plan.out_dir / f"{len(files) + 1:03d}_{doc_modality}_{role.value}.dcm",
                role=role,
                modality=doc_modality,
                sop_class_uid=doc_class,
                sop_instance_uid=plan.uid("instance", key),
                series_instance_uid=plan.uid("series", key),
                series_number=series_number,
                instance_number=1,
            )
        )
    return _manifest(plan, tuple(files))


def _spec(case: CaseName | str) -> CaseSpec:
    try:
        return CASES[CaseName(case)]
    except ValueError:
        names = ", ".join(n.value for n in CaseName)
        raise ValueError(f'Argument "case" must be one of {names}; got {case!r}.') from None


def _size(size: Size | str) -> Size:
    try:
        return Size(size)
    except ValueError:
        names = ", ".join(s.value for s in Size)
        raise ValueError(f'Argument "size" must be one of {names}; got {size!r}.') from None


def _manifest(plan: _Plan, files: tuple[InstanceFile, ...]) -> CaseManifest:
    spec, dev = plan.spec, plan.spec.device
    t = _totals(spec)
    levels = tuple(
        LevelExpectation(
            level=lv.level, cement_ml=float(lv.cement_ml), approach=lv.approach, side=lv.side
        )
        for lv in spec.levels
    )
    end = plan.end
    return CaseManifest(
        case=spec.name,
        seed=plan.seed,
        size=plan.size,
        out_dir=plan.out_dir,
        study_instance_uid=plan.study_uid,
        accession_number=plan.accession,
        patient_id=plan.patient_id,
        patient_name=plan.patient_name,
        patient_birth_date=plan.birth_date,
        patient_sex=plan.sex,
        study_date=plan.start.date().isoformat(),
        study_description=spec.study_description,
        timezone_offset=TIMEZONE_OFFSET,
        procedure_type=spec.procedure_type,
        procedure_codes=spec.procedure_codes,
        levels=levels,
        total_cement_ml=round(sum(lv.cement_ml for lv in levels), 3) if levels else None,
        annotations=tuple(a.text for a in spec.annotations),
        fluoro_time_s=t.fluoro_ds / 10,
        acquisition_time_s=t.acquisition_ds / 10,
        dap_gy_cm2=(t.dap_fluoro + t.dap_acquisition) / 1000,
        dap_fluoro_gy_cm2=t.dap_fluoro / 1000,
        dap_acquisition_gy_cm2=t.dap_acquisition / 1000,
        ka_r_mgy=(t.dose_fluoro + t.dose_acquisition) / 1000,
        ka_r_fluoro_mgy=t.dose_fluoro / 1000,
        ka_r_acquisition_mgy=t.dose_acquisition / 1000,
        irradiation_events=len(spec.events),
        irradiation_event_uids=tuple(plan.event_uids),
        planes=1,
        start=plan.start,
        end=end,
        duration_s=(end - plan.start).total_seconds(),
        device=Device(
            manufacturer=dev.manufacturer,
            model=dev.model,
            serial=dev.serial,
            station_name=dev.station_name,
            device_observer_uid=plan.device_uid,
        ),
        operators=spec.operators,
        performing_physician=spec.performing_physician,
        modalities=tuple(sorted({f.modality for f in files})),
        series_count=len({f.series_instance_uid for f in files}),
        instance_count=len(files),
        files=files,
    )

"""Small helpers to build datasets and SR content items, and to write them deterministically."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from vp_log.samples._codes import Code

XA_IMAGE = "1.2.840.10008.5.1.4.1.1.12.1"
RF_IMAGE = "1.2.840.10008.5.1.4.1.1.12.2"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"

IMAGE_SOP_CLASS = {"XA": XA_IMAGE, "RF": RF_IMAGE}


def make_uid(*parts: str) -> str:
    """A UID derived only from ``parts`` (pydicom's root, SHA-512 of the parts)."""
    return str(generate_uid(entropy_srcs=["vp_log.samples", *parts]))


def scaled(value: int, exponent: int) -> str:
    """``value * 10**-exponent`` as a plain decimal string (a DS), e.g. (540, 7) -> 0.0000540."""
    return format(Decimal(value).scaleb(-exponent), "f")


def code_item(code: Code) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


def code_seq(*codes: Code) -> Sequence:
    return Sequence([code_item(c) for c in codes])


def _item(relationship: str | None, value_type: str, concept: Code | None) -> Dataset:
    item = Dataset()
    if relationship is not None:
        item.RelationshipType = relationship
    item.ValueType = value_type
    if concept is not None:
        item.ConceptNameCodeSequence = code_seq(concept)
    return item


def container(
    relationship: str | None,
    concept: Code,
    children: Iterable[Dataset],
    *,
    continuity: str = "SEPARATE",
) -> Dataset:
    item = _item(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = continuity
    item.ContentSequence = Sequence(list(children))
    return item


def with_children(item: Dataset, children: Iterable[Dataset]) -> Dataset:
    item.ContentSequence = Sequence(list(children))
    return item


def code_value(relationship: str, concept: Code, value: Code) -> Dataset:
    item = _item(relationship, "CODE", concept)
    item.ConceptCodeSequence = code_seq(value)
    return item


def text(relationship: str, concept: Code, value: str) -> Dataset:
    item = _item(relationship, "TEXT", concept)
    item.TextValue = value
    return item


def pname(relationship: str, concept: Code, value: str) -> Dataset:
    item = _item(relationship, "PNAME", concept)
    item.PersonName = value
    return item


def uidref(relationship: str, concept: Code, value: str) -> Dataset:
    item = _item(relationship, "UIDREF", concept)
    item.UID = value
    return item


def datetime_item(relationship: str, concept: Code, value: str) -> Dataset:
    item = _item(relationship, "DATETIME", concept)
    item.DateTime = value
    return item


def num(relationship: str, concept: Code, value: str, unit: Code) -> Dataset:
    item = _item(relationship, "NUM", concept)
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = code_seq(unit)
    item.MeasuredValueSequence = Sequence([measured])
    return item


def image_ref(
    relationship: str, concept: Code | None, sop_class: str, sop_instance: str
) -> Dataset:
    item = _item(relationship, "IMAGE", concept)
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = sop_instance
    item.ReferencedSOPSequence = Sequence([ref])
    return item


def write_dataset(ds: Dataset, path: Path) -> int:
    """Write ``ds`` as a DICOM Part 10 file, Explicit VR Little Endian; return its size."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path.stat().st_size

"""Cement volumes from structured reports: volume concept, mL, vertebral finding site."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from vp_log.extract.sr import extract_sr_volumes, find_content_items, numeric_value
from vp_log.models import Kind
from vp_log.vocabulary import load_vocabulary

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
VOCABULARY = load_vocabulary()
VOLUME = ("118565006", "SCT")
FINDING_SITE = ("363698007", "SCT")


def _code(value: str, scheme: str, meaning: str = "") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _num(concept: tuple[str, str], value: str, unit: str = "ml", *children: Dataset) -> Dataset:
    item = Dataset()
    item.ValueType = "NUM"
    item.RelationshipType = "CONTAINS"
    item.ConceptNameCodeSequence = DicomSequence([_code(*concept)])
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = DicomSequence([_code(unit, "UCUM")])
    item.MeasuredValueSequence = DicomSequence([measured])
    if children:
        item.ContentSequence = DicomSequence(list(children))
    return item


def _coded(concept: tuple[str, str], value: tuple[str, str]) -> Dataset:
    item = Dataset()
    item.ValueType = "CODE"
    item.RelationshipType = "HAS CONCEPT MOD"
    item.ConceptNameCodeSequence = DicomSequence([_code(*concept)])
    item.ConceptCodeSequence = DicomSequence([_code(*value)])
    return item


def _text(concept: tuple[str, str], text: str) -> Dataset:
    item = Dataset()
    item.ValueType = "TEXT"
    item.RelationshipType = "HAS CONCEPT MOD"
    item.ConceptNameCodeSequence = DicomSequence([_code(*concept)])
    item.TextValue = text
    return item


def _group(*items: Dataset) -> Dataset:
    group = Dataset()
    group.ValueType = "CONTAINER"
    group.ConceptNameCodeSequence = DicomSequence([_code("125007", "DCM", "Measurement Group")])
    group.ContentSequence = DicomSequence(list(items))
    return group


def _report(*groups: Dataset) -> Dataset:
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.840.99"
    measurements = Dataset()
    measurements.ValueType = "CONTAINER"
    measurements.ConceptNameCodeSequence = DicomSequence([_code("126010", "DCM")])
    measurements.ContentSequence = DicomSequence(list(groups))
    ds.ContentSequence = DicomSequence([measurements])
    return ds


def test_tid1501_group_with_coded_vertebra() -> None:
    ds = _report(
        _group(_coded(FINDING_SITE, ("66794005", "SCT")), _num(VOLUME, "4.5")),
        _group(_coded(FINDING_SITE, ("23215003", "SCT")), _num(VOLUME, "3,0".replace(",", "."))),
    )
    obs = extract_sr_volumes(ds, VOCABULARY)
    assert [(o.kind, o.value, o.level) for o in obs] == [
        (Kind.CEMENT_VOLUME_ML, 4.5, "L1"),
        (Kind.CEMENT_VOLUME_ML, 3.0, "T12"),
    ]
    assert obs[0].provenance.path == "sr:(DCM,126010)/(DCM,125007)/(SCT,118565006)"
    assert obs[0].provenance.sop_instance_uid == "1.2.840.99"
    assert "generic-volume" in obs[0].flags
    assert "SCT:66794005" in (obs[0].provenance.raw or "")


def test_legacy_snomed_rt_codes_and_units() -> None:
    ds = _report(
        _group(_coded(("G-C0E3", "SRT"), ("T-11910", "SRT")), _num(("G-D705", "SRT"), "2", "cm3")),
        _group(_coded(FINDING_SITE, ("14293000", "SCT")), _num(VOLUME, "3", "mL")),
    )
    assert [(o.value, o.level) for o in extract_sr_volumes(ds, VOCABULARY)] == [
        (2.0, "L1"),
        (3.0, "L2"),
    ]


def test_finding_site_as_child_or_text() -> None:
    own = _num(VOLUME, "4", "ml", _text(FINDING_SITE, "LWK 3"))
    ds = _report(_group(own))
    (obs,) = extract_sr_volumes(ds, VOCABULARY)
    assert (obs.value, obs.level) == (4.0, "L3")


def test_sacrum_with_laterality() -> None:
    laterality = _coded(("272741003", "SCT"), ("7771000", "SCT"))
    ds = _report(_group(_coded(FINDING_SITE, ("54735007", "SCT")), laterality, _num(VOLUME, "3")))
    (obs,) = extract_sr_volumes(ds, VOCABULARY)
    assert (obs.level, obs.side, obs.flags) == ("sacrum", "left", ("generic-volume",))


@pytest.mark.parametrize(
    "group",
    [
        _group(_coded(FINDING_SITE, ("10200004", "SCT")), _num(VOLUME, "4")),  # liver
        _group(_num(VOLUME, "4")),  # no site
        _group(_coded(FINDING_SITE, ("66794005", "SCT")), _num(VOLUME, "4", "g")),
        _group(_coded(FINDING_SITE, ("66794005", "SCT")), _num(("410668003", "SCT"), "4", "mm")),
        _group(_coded(FINDING_SITE, ("66794005", "SCT")), _num(VOLUME, "")),  # unknown value
        _group(_text(FINDING_SITE, "spine"), _num(VOLUME, "4")),
    ],
    ids=["liver", "no-site", "not-a-volume-unit", "length", "empty-value", "text-not-a-level"],
)
def test_not_cement(group: Dataset) -> None:
    assert extract_sr_volumes(_report(group), VOCABULARY) == []


@pytest.mark.parametrize(
    ("value", "unit", "expected_ml", "flag"),
    [
        ("4", "ml", 4.0, None),
        ("4", "mL", 4.0, None),
        ("4", "ML", 4.0, None),
        ("4", "cm3", 4.0, None),
        ("4", "cm[3]", 4.0, None),
        ("4", "cc", 4.0, None),
        ("3500", "mm3", 3.5, "converted-from:mm3"),
        ("3500", "mm[3]", 3.5, "converted-from:mm[3]"),
        ("4500", "uL", 4.5, "converted-from:uL"),
        ("4500", "µL", 4.5, "converted-from:µL"),
        ("4500", "ul", 4.5, "converted-from:ul"),
        ("0.004", "L", 4.0, "converted-from:L"),
        ("0.004", "l", 4.0, "converted-from:l"),
        ("0.04", "dL", 4.0, "converted-from:dL"),
    ],
)
def test_volume_units_are_converted_by_ucum(
    value: str, unit: str, expected_ml: float, flag: str | None
) -> None:
    group = _group(_coded(FINDING_SITE, ("66794005", "SCT")), _num(VOLUME, value, unit))
    (obs,) = extract_sr_volumes(_report(group), VOCABULARY)
    assert obs.value == pytest.approx(expected_ml) and obs.level == "L1"
    assert obs.provenance.raw is not None and unit in obs.provenance.raw
    if flag is None:
        assert not [f for f in obs.flags if f.startswith("converted-from:")]
    else:
        assert flag in obs.flags


def test_local_cement_concept_needs_no_site(tmp_path: Path) -> None:
    site = tmp_path / "v.toml"
    site.write_text(
        "[sr]\nvolume_concepts = [\n"
        '  { value = "118565006", scheme = "SCT" },\n'
        '  { value = "CEM01", scheme = "99LOCAL", meaning = "Cement volume", cement = true },\n'
        "]\n"
    )
    vocabulary = load_vocabulary(site)
    ds = _report(_group(_num(("CEM01", "99LOCAL"), "5.5")))
    (obs,) = extract_sr_volumes(ds, vocabulary)
    assert (obs.value, obs.level, obs.flags) == (5.5, None, ())


def test_type_errors() -> None:
    with pytest.raises(TypeError, match='Argument "ds"'):
        extract_sr_volumes(None, VOCABULARY)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='Argument "vocabulary"'):
        extract_sr_volumes(Dataset(), None)  # type: ignore[arg-type]


def _samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() == ".dcm")


@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_samples_have_no_cement_volumes(path: Path) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert extract_sr_volumes(ds, VOCABULARY) == []


@pytest.mark.parametrize(
    "name", ["highdicom/sr_document.dcm", "pydicom/test-SR.dcm", "dwv/sr-ruler.dcm"]
)
def test_measurement_srs_have_numbers_that_are_not_cement(name: str) -> None:
    ds = pydicom.dcmread(SAMPLES / name, stop_before_pixels=True)
    numbers = [numeric_value(ci.item)[0] for ci in find_content_items(ds, value_type="NUM")]
    assert numbers and all(n is not None for n in numbers)
    assert extract_sr_volumes(ds, VOCABULARY) == []


def test_laterality_as_modifier_of_the_finding_site() -> None:
    site = _coded(FINDING_SITE, ("54735007", "SCT"))
    site.ContentSequence = DicomSequence([_coded(("272741003", "SCT"), ("24028007", "SCT"))])
    (obs,) = extract_sr_volumes(_report(_group(site, _num(VOLUME, "2.5"))), VOCABULARY)
    assert (obs.level, obs.value, obs.side, obs.flags) == (
        "sacrum",
        2.5,
        "right",
        ("generic-volume",),
    )

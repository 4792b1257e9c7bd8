"""Procedure identity: codes (CPT, local RIS) and words in descriptions."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from vp_log.extract.procedure import extract_procedure, procedure_hints
from vp_log.models import Kind
from vp_log.vocabulary import ProcedureType, load_vocabulary

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
VOCABULARY = load_vocabulary()


def _code(value: str, scheme: str, meaning: str = "") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _dataset(**sequences: list[Dataset]) -> Dataset:
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3"
    for keyword, items in sequences.items():
        setattr(ds, keyword, DicomSequence(items))
    return ds


@pytest.mark.parametrize(
    ("code", "ptype", "add_on", "laterality"),
    [
        ("22510", "vertebroplasty", False, None),
        ("22511", "vertebroplasty", False, None),
        ("22512", "vertebroplasty", True, None),
        ("22513", "kyphoplasty", False, None),
        ("22514", "kyphoplasty", False, None),
        ("22515", "kyphoplasty", True, None),
        ("0200T", "sacroplasty", False, "unilateral"),
        ("0201T", "sacroplasty", False, "bilateral"),
    ],
)
def test_cpt_codes(code: str, ptype: str, add_on: bool, laterality: str | None) -> None:
    ds = _dataset(ProcedureCodeSequence=[_code(code, "C4")])
    (obs,) = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_CODE]
    assert isinstance(obs.value, dict)
    assert obs.value["procedure_type"] == ptype
    assert obs.value["add_on"] is add_on
    assert obs.value["laterality"] == laterality
    assert obs.provenance.path == "ProcedureCodeSequence[0]"
    assert obs.provenance.raw == f"C4:{code}"


def test_every_code_sequence_and_add_on_count() -> None:
    ds = _dataset(
        RequestedProcedureCodeSequence=[_code("22511", "CPT")],
        PerformedProtocolCodeSequence=[
            _code("22511", "C4"),
            _code("22512", "C4"),
            _code("22512", "C4"),
        ],
    )
    codes = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_CODE]
    assert [o.provenance.path for o in codes] == [
        "RequestedProcedureCodeSequence[0]",
        "PerformedProtocolCodeSequence[0]",
        "PerformedProtocolCodeSequence[1]",
        "PerformedProtocolCodeSequence[2]",
    ]
    add_ons = [o for o in codes if isinstance(o.value, dict) and o.value["add_on"]]
    assert len(add_ons) == 2


def test_cpt_value_in_a_local_scheme_is_not_cpt() -> None:
    ds = _dataset(ProcedureCodeSequence=[_code("22511", "99LOCAL", "Something else")])
    (obs,) = extract_procedure(ds, VOCABULARY)
    assert isinstance(obs.value, dict) and obs.value["procedure_type"] is None


def test_unknown_codes_are_kept() -> None:
    ds = _dataset(ProcedureCodeSequence=[_code("MRHEART", "QDOC", "MRI heart")])
    (obs,) = extract_procedure(ds, VOCABULARY)
    assert obs.kind is Kind.PROCEDURE_CODE
    assert isinstance(obs.value, dict) and obs.value["code"] == "MRHEART"


def test_local_ris_codes(tmp_path: Path) -> None:
    site = tmp_path / "vocabulary.toml"
    site.write_text(
        '[[ris_codes]]\nscheme = "99MYRIS"\ncode = "IR-KP"\nprocedure_type = "kyphoplasty"\n'
    )
    vocabulary = load_vocabulary(site)
    ds = _dataset(RequestedProcedureCodeSequence=[_code("IR-KP", "99myris")])
    (obs,) = extract_procedure(ds, vocabulary)
    assert isinstance(obs.value, dict) and obs.value["procedure_type"] == "kyphoplasty"


def test_code_meaning_is_read_as_text() -> None:
    ds = _dataset(ProcedureCodeSequence=[_code("X1", "99RIS", "Vertebroplastie lombaire")])
    hints = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_HINT]
    assert [(h.value, h.provenance.path) for h in hints] == [
        ("vertebroplasty", "ProcedureCodeSequence[0].CodeMeaning")
    ]


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("RequestedProcedureDescription", "Vertebroplasty L1", ["vertebroplasty"]),
        ("PerformedProcedureStepDescription", "Kyphoplastie LWK 2", ["kyphoplasty"]),
        ("ProtocolName", "cifoplastica", ["kyphoplasty"]),
        ("StudyDescription", "Sacroplastie bilatérale", ["sacroplasty"]),
        ("SeriesDescription", "vertebroplastiek", ["vertebroplasty"]),
        ("StudyDescription", "VP L1", ["vertebroplasty"]),
        ("StudyDescription", "BKP LWS", ["kyphoplasty"]),
        ("StudyDescription", "VP", []),
        ("StudyDescription", "VP shunt L1", []),
        ("StudyDescription", "KP clinic", []),
        ("StudyDescription", "cementoplasty", []),
        ("StudyDescription", "cementoplasty L2", ["vertebroplasty"]),
        ("StudyDescription", "liuotushoidon raajojen", []),
        ("StudyDescription", "Cardiac pacemaker temporary", []),
    ],
)
def test_description_hints(keyword: str, text: str, expected: list[str]) -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "7"
    setattr(ds, keyword, text)
    hints = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_HINT]
    assert [h.value for h in hints] == expected
    for hint in hints:
        assert hint.provenance.path == keyword and hint.provenance.raw == text


def test_abbreviation_flag() -> None:
    (hit,) = procedure_hints("VP L1", VOCABULARY)
    assert (hit.procedure_type, hit.abbreviation, hit.rank) == (
        ProcedureType.VERTEBROPLASTY,
        True,
        35,
    )
    (hit,) = procedure_hints("Vertebroplasty (VP) L1", VOCABULARY)
    assert (hit.procedure_type, hit.abbreviation, hit.rank) == (
        ProcedureType.VERTEBROPLASTY,
        False,
        40,
    )


def test_hint_says_why_in_its_flags() -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "7"
    ds.StudyDescription = "Facettengelenksinfiltration L4/5 bds."
    (hint,) = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_HINT]
    assert hint.value == "other"
    assert hint.flags == ("kind:facet-injection", "rank:37", "word:Facett")


# Study, series and requested procedure descriptions as RIS and C-arms write them.
DESCRIPTIONS: list[tuple[str, list[str]]] = [
    ("VERTEBROPLASTIE LWK 1", ["vertebroplasty"]),
    ("Vertébroplastie L2", ["vertebroplasty"]),
    ("VERTEBROPLASTIA D12", ["vertebroplasty"]),
    ("Vertebroplastiek Th12", ["vertebroplasty"]),
    ("Vertebroplastik L1", ["vertebroplasty"]),
    ("Wertebroplastyka przezskórna L1", ["vertebroplasty"]),
    ("IR KYPHO LWS", ["kyphoplasty"]),
    ("KYPHO TH12", ["kyphoplasty"]),
    ("Kyfoplastik", ["kyphoplasty"]),
    ("Kyfoplastyka balonowa Th12", ["kyphoplasty"]),
    ("Cifoplastia L1", ["kyphoplasty"]),
    ("Cyphoplastie L1", ["kyphoplasty"]),
    ("SACRO BILAT", ["sacroplasty"]),
    ("Sakroplastik", ["sacroplasty"]),
    ("Sakroplastyka obustronna", ["sacroplasty"]),
    ("VERTEBRO L2", ["vertebroplasty"]),
    ("PVP L1", ["vertebroplasty"]),
    ("Vertebral augmentation T12", ["vertebroplasty"]),
    ("Vertebral augmentation with cavity creation T12", ["vertebroplasty", "kyphoplasty"]),
    # other procedures
    ("Facet joint injection L4/5", ["other"]),
    ("Facettengelenksinfiltration LWS bds.", ["other"]),
    ("PRT L5 rechts", ["other"]),
    ("Periradikuläre Therapie L5", ["other"]),
    ("Infiltration foraminale L5", ["other"]),
    ("Lumbar puncture", ["other"]),
    ("Lumbalpunktion", ["other"]),
    ("Ponction lombaire", ["other"]),
    ("Rachicentesi", ["other"]),
    ("Punción lumbar", ["other"]),
    ("Lumbaalpunctie", ["other"]),
    ("Lumbalpunktion under genomlysning", ["other"]),
    ("Punkcja lędźwiowa", ["other"]),
    ("Myelographie lumbal", ["other"]),
    ("Discography L3-S1", ["other"]),
    ("Epidural steroid injection L4-5", ["other"]),
    ("Biopsie LWK 2", ["other"]),
    ("Spondylodese L4-S1", ["other"]),
    ("Vertebroplastie LWK 2 und Biopsie", ["vertebroplasty", "other"]),
    # nothing
    ("RX SACRO COCCIGE", []),
    ("Vertebro-basilar angiography", []),
    ("Coronary angiography", []),
    ("Infusion", []),
    ("KP clinic", []),
]


@pytest.mark.parametrize(("text", "expected"), DESCRIPTIONS, ids=[t for t, _ in DESCRIPTIONS])
def test_description_table(text: str, expected: list[str]) -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "7"
    ds.StudyDescription = text
    hints = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_HINT]
    assert list(dict.fromkeys(h.value for h in hints)) == expected


@pytest.mark.parametrize(
    ("code", "ptype"), [("64493", "other"), ("62270", "other"), ("20225", "other")]
)
def test_other_procedure_codes(code: str, ptype: str) -> None:
    ds = _dataset(ProcedureCodeSequence=[_code(code, "C4")])
    (obs,) = [o for o in extract_procedure(ds, VOCABULARY) if o.kind is Kind.PROCEDURE_CODE]
    assert isinstance(obs.value, dict) and obs.value["procedure_type"] == ptype


def test_request_attributes_sequence() -> None:
    request = Dataset()
    request.RequestedProcedureDescription = "Kyphoplasty T12"
    request.RequestedProcedureCodeSequence = DicomSequence([_code("22513", "C4")])
    ds = _dataset(RequestAttributesSequence=[request])
    obs = extract_procedure(ds, VOCABULARY)
    assert {o.provenance.path for o in obs} == {
        "RequestAttributesSequence[0].RequestedProcedureCodeSequence[0]",
        "RequestAttributesSequence[0].RequestedProcedureDescription",
    }


def test_dose_report_acquisition_protocol() -> None:
    name = _code("125203", "DCM", "Acquisition Protocol")
    item = Dataset()
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = DicomSequence([name])
    item.TextValue = "Vertebroplasty 7.5 fps"
    event = Dataset()
    event.ValueType = "CONTAINER"
    event.ConceptNameCodeSequence = DicomSequence([_code("113706", "DCM")])
    event.ContentSequence = DicomSequence([item])
    ds = _dataset(ContentSequence=[event])
    (obs,) = extract_procedure(ds, VOCABULARY)
    assert (obs.kind, obs.value) == (Kind.PROCEDURE_HINT, "vertebroplasty")
    assert obs.provenance.path == "sr:(DCM,113706)/(DCM,125203)"


def test_type_errors() -> None:
    with pytest.raises(TypeError, match='Argument "ds"'):
        extract_procedure({}, VOCABULARY)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='Argument "vocabulary"'):
        extract_procedure(Dataset(), None)  # type: ignore[arg-type]


def _samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() == ".dcm")


@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_samples_go_through_and_none_is_an_augmentation(path: Path) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    obs = extract_procedure(ds, VOCABULARY)
    assert not [o for o in obs if o.kind is Kind.PROCEDURE_HINT]
    for o in obs:
        assert isinstance(o.value, dict) and o.value["procedure_type"] is None


def test_sr_procedure_reported() -> None:
    item = Dataset()
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = DicomSequence([_code("121058", "DCM", "Procedure reported")])
    item.ConceptCodeSequence = DicomSequence([_code("0201T", "C4")])
    (obs,) = extract_procedure(_dataset(ContentSequence=[item]), VOCABULARY)
    assert isinstance(obs.value, dict) and obs.value["laterality"] == "bilateral"
    assert obs.provenance.path == "sr:(DCM,121058)[0]"

"""Whole studies (issue 11): what a study's own words make of it, read end to end.

Each row is a study as the tests build it from DICOM attributes: a Study Description, the
texts of a presentation state (one text object each), and procedure codes. It goes through the
extractors and :func:`vp_log.treatment.summarise_treatment`; the row gives the type, the
treated levels with their cement, the total and whether the record must be reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from vp_log.extract.annotations import extract_annotations
from vp_log.extract.procedure import extract_procedure
from vp_log.models import Observation
from vp_log.treatment import summarise_treatment
from vp_log.vocabulary import load_vocabulary

VOCABULARY = load_vocabulary()


@dataclass(frozen=True)
class Study:
    description: str = ""
    texts: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    comments: str = ""


def _observations(study: Study) -> list[Observation]:
    header = Dataset()
    header.SOPInstanceUID = "1.2.3.1"
    header.SOPClassUID = "1.2.840.10008.5.1.4.1.1.12.2"
    if study.description:
        header.StudyDescription = study.description
    if study.comments:
        header.ImageComments = study.comments
    if study.codes:
        items = []
        for value in study.codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "C4"
            item.CodeMeaning = ""
            items.append(item)
        header.ProcedureCodeSequence = DicomSequence(items)
    gsps = Dataset()
    gsps.SOPInstanceUID = "1.2.3.2"
    gsps.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"
    annotation = Dataset()
    objects = []
    for text in study.texts:
        item = Dataset()
        item.UnformattedTextValue = text
        objects.append(item)
    annotation.TextObjectSequence = DicomSequence(objects)
    gsps.GraphicAnnotationSequence = DicomSequence([annotation])
    out: list[Observation] = []
    for ds in (header, gsps):
        out += extract_procedure(ds, VOCABULARY)
        out += extract_annotations(ds, VOCABULARY)
    return out


@dataclass(frozen=True)
class Expect:
    type: str
    levels: dict[str, float | None] = field(default_factory=dict)
    total: float | None = None
    review: bool = False
    approach: str | None = None


ROWS: list[tuple[str, Study, Expect]] = [
    # --- augmentation, several languages ------------------------------------------------------
    (
        "vp-de",
        Study("Vertebroplastie LWK 1", ("LWK 1 4,5 ml",)),
        Expect("vertebroplasty", {"L1": 4.5}, 4.5),
    ),
    ("kp-en", Study("Kyphoplasty", ("T12 3.5 ml",)), Expect("kyphoplasty", {"T12": 3.5}, 3.5)),
    ("kp-fr", Study("Cyphoplastie", ("L1 ciment 4 cc",)), Expect("kyphoplasty", {"L1": 4.0}, 4.0)),
    (
        "vp-it",
        Study("Vertebroplastica", ("D12 3 cc", "L1 4 cc")),
        Expect("vertebroplasty", {"T12": 3.0, "L1": 4.0}, 7.0),
    ),
    (
        "vp-es",
        Study("Vertebroplastia lumbar", ("L2 3 ml",)),
        Expect("vertebroplasty", {"L2": 3.0}, 3.0),
    ),
    (
        "vp-nl",
        Study("Vertebroplastiek", ("Th12 3 ml",)),
        Expect("vertebroplasty", {"T12": 3.0}, 3.0),
    ),
    (
        "vp-sv",
        Study("Vertebroplastik", ("L1 bencement 4 ml",)),
        Expect("vertebroplasty", {"L1": 4.0}, 4.0),
    ),
    (
        "kp-pl",
        Study("Kyfoplastyka balonowa", ("Th12 4 ml",)),
        Expect("kyphoplasty", {"T12": 4.0}, 4.0),
    ),
    (
        "spaced",
        Study("Vertebroplasty", ("T 12 3 ml",)),
        Expect("vertebroplasty", {"T12": 3.0}, 3.0),
    ),
    ("ris-kypho", Study("KYPHO TH12", ("TH 12 4 ml",)), Expect("kyphoplasty", {"T12": 4.0}, 4.0)),
    (
        "ris-sacro",
        Study("SACRO BILAT", ("sacrum li 2 ml", "sacrum re 2,5 ml")),
        Expect("sacroplasty", {"sacrum": None}, 4.5),
    ),
    # --- each, per side, sums, next line, one level and a total --------------------------------
    (
        "each",
        Study("Vertebroplastie", ("LWK 1 und 2 je 3 ml",)),
        Expect("vertebroplasty", {"L1": 3.0, "L2": 3.0}, 6.0),
    ),
    (
        "each-fr",
        Study("Vertébroplastie", ("L1, L2 : 4 ml chacune",)),
        Expect("vertebroplasty", {"L1": 4.0, "L2": 4.0}, 8.0),
    ),
    (
        "per-side",
        Study("Kyphoplastie", ("LWK 2 bds. 2 ml",)),
        Expect("kyphoplasty", {"L2": 4.0}, 4.0),
    ),
    (
        "sum",
        Study("Kyphoplasty", ("L1 bipedicular 2+2 ml",)),
        Expect("kyphoplasty", {"L1": 4.0}, 4.0, approach="bipedicular"),
    ),
    (
        "next-line",
        Study("Vertebroplasty", ("L1\n4,5 ml",)),
        Expect("vertebroplasty", {"L1": 4.5}, 4.5),
    ),
    (
        "only-total",
        Study("Kyphoplasty", ("L1", "total cement 4 ml")),
        Expect("kyphoplasty", {"L1": 4.0}, 4.0),
    ),
    (
        "approach-in-description",
        Study("Vertébroplastie bipédiculaire", ("L3 3 ml",)),
        Expect("vertebroplasty", {"L3": 3.0}, 3.0, approach="bipedicular"),
    ),
    # --- balloon evidence -----------------------------------------------------------------
    (
        "balloon",
        Study("Vertebral augmentation", ("T12 balloon 3 ml contrast", "T12 cement 4 ml")),
        Expect("kyphoplasty", {"T12": 4.0}, 4.0),
    ),
    (
        "balloon-generic",
        Study("Cementoplasty L1", ("L1 Ballon", "L1 Zement 3 ml")),
        Expect("kyphoplasty", {"L1": 3.0}, 3.0),
    ),
    # --- other procedures, whatever numbers they carry --------------------------------------
    ("facet", Study("Facet joint injection L4/5", ("L4 2 ml",)), Expect("other")),
    (
        "facet-code",
        Study("Lumbar injection", ("L4-L5 facet left", "2 ml lidocaine 1%"), codes=("64493",)),
        Expect("other"),
    ),
    ("nerve-root", Study("PRT L5 rechts", ("L5 1 ml",)), Expect("other")),
    ("lp", Study("Lumbalpunktion", ("L3 10 ml",)), Expect("other")),
    ("myelo", Study("Myelography", ("L1-S1 10 ml",)), Expect("other")),
    ("disco", Study("Discography", ("L4-5 disc 3 ml",)), Expect("other")),
    ("epidural", Study("Epidural steroid injection", ("L4 4 ml",)), Expect("other")),
    ("fusion", Study("Dorsale Spondylodese L3-L5", ("L4 Zement 2 ml",)), Expect("other")),
    ("biopsy", Study("Biopsie LWK 2"), Expect("other")),
    (
        "biopsy-with-vp",
        Study("Biopsie und Vertebroplastie LWK 2", ("LWK 2 3 ml",)),
        Expect("vertebroplasty", {"L2": 3.0}, 3.0, review=True),
    ),
    # --- needs review ----------------------------------------------------------------------
    ("inferred", Study("", ("L1 4 ml",)), Expect("vertebroplasty", {"L1": 4.0}, 4.0, review=True)),
    ("no-level", Study("Kyphoplasty"), Expect("kyphoplasty", review=True)),
    (
        "implausible",
        Study("Vertebroplasty", ("L1 25 ml",)),
        Expect("vertebroplasty", {"L1": 25.0}, 25.0, review=True),
    ),
    # --- nothing -----------------------------------------------------------------------------
    ("nothing", Study("Cardiac pacemaker"), Expect("unclassified")),
    ("bare-level", Study("", comments="L1"), Expect("unclassified")),
]


@pytest.mark.parametrize(("name", "study", "expect"), ROWS, ids=[r[0] for r in ROWS])
def test_study_classification(name: str, study: Study, expect: Expect) -> None:
    summary = summarise_treatment(_observations(study))
    assert summary.procedure_type.value == expect.type, summary.procedure_type_reason
    levels = {lv.level: lv.cement_ml for lv in summary.levels}
    if expect.type == "sacroplasty":
        assert set(levels) == set(expect.levels)
    else:
        assert levels == expect.levels
    assert summary.total_cement_ml == expect.total
    assert summary.needs_review is expect.review, summary.flags
    if expect.approach is not None:
        assert {lv.approach for lv in summary.levels} == {expect.approach}
    assert summary.procedure_type_reason


def test_reason_names_the_word_and_where() -> None:
    summary = summarise_treatment(_observations(Study("Facet joint injection L4/5", ("L4 2 ml",))))
    assert "facet-injection" in summary.procedure_type_reason
    assert "StudyDescription" in summary.procedure_type_reason

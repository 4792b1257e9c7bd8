"""Free-text annotations: the table of real-world strings, the sources in DICOM, the samples."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from vp_log.extract.annotations import (
    FLAG_LEVEL_MENTION_ONLY,
    AnnotationParse,
    annotation_texts,
    extract_annotations,
    parse_annotation,
)
from vp_log.models import Kind
from vp_log.vocabulary import Vocabulary, load_vocabulary

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
VOCABULARY = load_vocabulary()


def tokens(parse: AnnotationParse) -> list[str]:
    """A compact reading: ``L1=4.5/bipedicular:left``, ``L1?`` (mention only), ``total=9``."""
    out = []
    for item in parse.levels:
        text = str(item.level)
        if item.cement_ml is not None:
            text += f"={item.cement_ml:g}"
        if item.approach is not None:
            text += f"/{item.approach.value}"
        if item.side is not None:
            text += f":{item.side.value}"
        if item.mention_only:
            text += "?"
        elif not item.treated:
            text += "~"  # a volume or level with no procedure or cement word in this text
        out.append(text)
    out += [f"total={v:g}" for v in parse.total_cement_ml]
    out += [f"cement={v:g}" for v in parse.unassigned_cement_ml]
    out += [
        f"hint={h.procedure_type.value}"
        if h.kind == h.procedure_type.value
        else f"hint={h.procedure_type.value}:{h.kind}"
        for h in parse.procedure_hints
    ]
    if parse.approach is not None:
        out.append(f"approach={parse.approach.value}")
    if parse.side is not None:
        out.append(f"side={parse.side.value}")
    return out


CASES: list[tuple[str, list[str]]] = [
    # --- the examples of the issue -----------------------------------------------------
    ("L1 4.5 ml", ["L1=4.5~"]),
    ("T12: 3,5 ml", ["T12=3.5~"]),
    ("Th12 3.5cc", ["T12=3.5~"]),
    ("D12 3 cc", ["T12=3~"]),
    ("BWK 12 3ml", ["T12=3~"]),
    ("LWK 1 4ml", ["L1=4~"]),
    ("L2 cement 4cc bipedicular", ["L2=4/bipedicular"]),
    ("VP T11-L1", ["T11", "T12", "L1", "hint=vertebroplasty"]),
    ("L1 4.5ml + L2 3ml", ["L1=4.5~", "L2=3~"]),
    ("S1 sacroplasty 2 ml left", ["S1=2:left", "hint=sacroplasty"]),
    (
        "kyphoplasty L3 balloon, cement 4.0 mL",
        ["L3=4", "hint=kyphoplasty", "hint=kyphoplasty:balloon"],
    ),
    ("total cement 9 ml", ["total=9"]),
    # --- variations: notation, units, decimal comma, spacing, case -----------------------
    ("l1 4.5 ML", ["L1=4.5~"]),
    ("L1: 4,5ml", ["L1=4.5~"]),
    ("L1 4,5 cm3", ["L1=4.5~"]),
    ("L1 4,5 cm³", ["L1=4.5~"]),
    ("L1 4.5 cm^3", ["L1?"]),
    ("T12 - 3 ccm", ["T12=3~"]),
    ("TH12 3.5 CC", ["T12=3.5~"]),
    ("Th.12 2,5 ml", ["T12=2.5~"]),
    ("D7 2 cc", ["T7=2~"]),
    ("D 12 3 cc", ["T12=3~"]),
    ("HWK 3 1 ml", ["C3=1~"]),
    ("LWK1 4 ml", ["L1=4~"]),
    ("L1 .5 ml", ["L1=0.5~"]),
    ("L 1 4 ml", ["L1=4~"]),
    ("T12 3.5 mL (PMMA)", ["T12=3.5"]),
    ("L4 cemento 3 ml", ["L4=3"]),
    ("LWK 2 Zement 3,5 ml", ["L2=3.5"]),
    ("Th12 ciment 3 cc", ["T12=3"]),
    # --- several levels ----------------------------------------------------------------
    ("T12 3 ml, L1 4 ml", ["T12=3~", "L1=4~"]),
    ("T12 3ml; L1 4ml; total 7 ml", ["T12=3~", "L1=4~", "total=7"]),
    ("T12 3ml\nL1 4ml", ["T12=3~", "L1=4~"]),
    ("L1 4.5ml + L2 3ml = 7.5ml", ["L1=4.5~", "L2=3~", "total=7.5"]),
    ("L1 und L2 je 3 ml", ["L1=3~", "L2=3~"]),
    ("T11-L1 9 ml", ["T11~", "T12~", "L1~", "total=9"]),
    ("VP T11–L1", ["T11", "T12", "L1", "hint=vertebroplasty"]),
    ("VP T11 to L1", ["T11", "T12", "L1", "hint=vertebroplasty"]),
    ("Vertebroplasty L1-3", ["L1", "L2", "L3", "hint=vertebroplasty"]),
    ("BKP L2, L3", ["L2", "L3", "hint=kyphoplasty"]),
    ("PVP L1/L2", ["L1", "L2", "hint=vertebroplasty"]),
    # --- approach and side -------------------------------------------------------------
    ("L1 unipedicular left 3 ml", ["L1=3/unipedicular:left~"]),
    ("L1 3 ml unipedicular right", ["L1=3/unipedicular:right~"]),
    ("L3 transpedicular 4 ml", ["L3=4/transpedicular~"]),
    ("L3 parapedicular 4 ml", ["L3=4/parapedicular~"]),
    ("T8 extrapedicular 2 ml", ["T8=2/extrapedicular~"]),
    ("L2 bipediculaire 5 ml", ["L2=5/bipedicular~"]),
    ("LWK 2 bipedikulär 4 ml", ["L2=4/bipedicular~"]),
    (
        "Vertebroplastie LWK 2 li 2 ml re 2,5 ml",
        ["L2=2:left", "L2=2.5:right", "hint=vertebroplasty"],
    ),
    (
        "sacroplasty left 4 ml, right 3.5 ml",
        ["sacrum=4:left", "sacrum=3.5:right", "hint=sacroplasty"],
    ),
    (
        "sacroplasty short-axis bilateral 6 ml",
        ["sacrum=6/short-axis:bilateral", "hint=sacroplasty"],
    ),
    ("Sacroplastie S1 droite 3 ml", ["S1=3:right", "hint=sacroplasty"]),
    ("sacroplasty S2 long axis 4 ml left", ["S2=4/long-axis:left", "hint=sacroplasty"]),
    ("sacroplasty transiliac", ["hint=sacroplasty", "approach=transiliac"]),
    # --- languages ---------------------------------------------------------------------
    ("Vertebroplastie L1 4 ml", ["L1=4", "hint=vertebroplasty"]),
    ("vertebroplastiek Th12 3 ml", ["T12=3", "hint=vertebroplasty"]),
    ("vertebroplastica D12 3 cc", ["T12=3", "hint=vertebroplasty"]),
    ("cifoplastica L1 4 ml", ["L1=4", "hint=kyphoplasty"]),
    ("Kyphoplastie LWK 1 4 ml", ["L1=4", "hint=kyphoplasty"]),
    ("kyfoplastiek L2 3,5 ml", ["L2=3.5", "hint=kyphoplasty"]),
    ("Ballonkyphoplastie BWK 12", ["T12", "hint=kyphoplasty"]),
    ("cementoplasty L1 3 ml", ["L1=3", "hint=vertebroplasty:augmentation"]),
    ("cementoplasty sacrum 5 ml", ["sacrum=5", "hint=sacroplasty:augmentation"]),
    ("cementoplasty 5 ml", ["cement=5"]),
    # --- no cement volume --------------------------------------------------------------
    ("L1 pedicle screw", ["L1?", "hint=other:fusion"]),
    ("12 ml contrast", []),
    ("S/P L1 fracture", ["L1?"]),
    ("20 ml lidocaine", []),
    ("contrast 12 ml", []),
    ("Omnipaque 300 10 ml", []),
    ("lidocaine 1% 10 ml", []),
    ("Xylocain 5 ml L4", ["L4?"]),
    ("L1 4 ml, contrast 2 ml", ["L1=4~"]),
    ("L1, 12 ml contrast", ["L1?"]),
    ("balloon 3 ml", []),
    ("L2 balloon 3 ml", ["L2", "hint=kyphoplasty:balloon"]),
    ("4 ml", []),
    ("L1", ["L1?"]),
    ("T12", ["T12?"]),
    ("L1 fracture", ["L1?"]),
    ("old fracture T8", ["T8?"]),
    ("VP shunt", []),
    ("VP shunt check L1", ["L1?"]),
    ("Area: 119.58 cm² (W: 12.68 cm H:12.01 cm)", []),
    ("Mean: 2651.41  SD: 344.29", []),
    ("[DX 17-04-04]CHEST PA", []),
    ("98%", []),
    ("L6 4 ml", []),
    ("T13", []),
    ("Unbekannt", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_annotation_table(text: str, expected: list[str]) -> None:
    assert tokens(parse_annotation(text, VOCABULARY)) == expected


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    "text",
    ["L1 pedicle screw", "12 ml contrast", "S/P L1 fracture", "20 ml lidocaine", "balloon 3 ml"],
)
def test_no_cement_volume(text: str) -> None:
    parse = parse_annotation(text, VOCABULARY)
    assert parse.cement_by_level == {}
    assert parse.unassigned_cement_ml == ()
    assert parse.total_cement_ml == ()


def test_ignored_volumes_say_why() -> None:
    parse = parse_annotation("12 ml contrast", VOCABULARY)
    assert [(v.value_ml, v.reason) for v in parse.ignored_volumes] == [(12.0, "negative:contrast")]
    assert parse_annotation("4 ml", VOCABULARY).ignored_volumes[0].reason == "no-context"


def test_bare_level_is_a_mention_only() -> None:
    parse = parse_annotation("L1", VOCABULARY)
    (item,) = parse.levels
    assert item.mention_only and item.cement_ml is None
    assert FLAG_LEVEL_MENTION_ONLY in item.flags
    assert parse.treated_levels == []
    assert parse.procedure_hints == ()


def test_site_words_extend_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[volume]\ncement_words = ["Palacos"]\n[levels]\nthoracic = ["T", "Dors"]\n')
    site = load_vocabulary(path)
    assert tokens(parse_annotation("Dors 12 Palacos 3 ml", site)) == ["T12=3"]
    assert tokens(parse_annotation("Palacos 3 ml", site)) == ["cement=3"]
    assert tokens(parse_annotation("Palacos 3 ml", VOCABULARY)) == []


def test_type_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match='Argument "text"'):
        parse_annotation(None, VOCABULARY)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='Argument "vocabulary"'):
        parse_annotation("L1", {})  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_annotation_never_raises(text: str) -> None:
    parse = parse_annotation(text, VOCABULARY)
    assert isinstance(parse, AnnotationParse)


_ALPHABET = st.sampled_from(
    [
        "L1",
        "T12",
        "Th",
        "BWK",
        " ",
        "-",
        "–",
        ",",
        ".",
        "ml",
        "cc",
        "3",
        "4,5",
        "+",
        ";",
        "\n",
        "left",
        "VP",
        "contrast",
        "total",
        "sacroplasty",
        "S1",
        "cement",
        "bipedicular",
        "/",
        "to",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=20).map("".join))
def test_parse_annotation_never_raises_on_near_miss_text(text: str) -> None:
    parse = parse_annotation(text, VOCABULARY)
    for item in parse.levels:
        assert item.cement_ml is None or item.cement_ml >= 0


# --- DICOM sources ---------------------------------------------------------------------


def _gsps(*texts: str) -> Dataset:
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"
    annotation = Dataset()
    objects = []
    for text in texts:
        item = Dataset()
        item.UnformattedTextValue = text
        objects.append(item)
    annotation.TextObjectSequence = DicomSequence(objects)
    ds.GraphicAnnotationSequence = DicomSequence([annotation])
    return ds


def test_gsps_text_objects_with_provenance() -> None:
    ds = _gsps("kyphoplasty", "L1 4.5 ml bipedicular")
    obs = extract_annotations(ds, VOCABULARY)
    volume = next(o for o in obs if o.kind is Kind.CEMENT_VOLUME_ML)
    assert volume.value == 4.5 and volume.level == "L1"
    assert volume.provenance.sop_instance_uid == "1.2.3.4"
    assert (
        volume.provenance.path
        == "GraphicAnnotationSequence[0].TextObjectSequence[1].UnformattedTextValue"
    )
    assert volume.provenance.raw == "L1 4.5 ml bipedicular"
    approach = next(o for o in obs if o.kind is Kind.APPROACH)
    assert (approach.value, approach.level) == ("bipedicular", "L1")
    hint = next(o for o in obs if o.kind is Kind.PROCEDURE_HINT)
    assert hint.value == "kyphoplasty"
    assert hint.provenance.path.endswith("TextObjectSequence[0].UnformattedTextValue")


def test_side_travels_in_flags() -> None:
    obs = extract_annotations(_gsps("S1 sacroplasty 2 ml left"), VOCABULARY)
    volume = next(o for o in obs if o.kind is Kind.CEMENT_VOLUME_ML)
    assert volume.side == "left"
    side = next(o for o in obs if o.kind is Kind.SIDE)
    assert (side.value, side.level) == ("left", "S1")


def test_header_sources_and_descriptions_without_hints() -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "9"
    ds.ImageComments = "L2 3 ml"
    ds.FrameOfInterestDescription = ["L1", "L2"]
    ds.StudyDescription = "Vertebroplasty L2"
    ds.SeriesDescription = "Kyphoplasty"
    obs = extract_annotations(ds, VOCABULARY)
    paths = {o.provenance.path for o in obs}
    assert {"ImageComments", "FrameOfInterestDescription[0]", "StudyDescription"} <= paths
    # Procedure words in descriptions are extract_procedure's: not counted twice.
    assert not [o for o in obs if o.kind is Kind.PROCEDURE_HINT]
    level = next(o for o in obs if o.provenance.path == "StudyDescription")
    assert level.kind is Kind.LEVEL and level.flags == ()


def test_key_object_text_items() -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "5"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.59"
    text = Dataset()
    text.ValueType = "TEXT"
    text.RelationshipType = "CONTAINS"
    name = Dataset()
    name.CodeValue = "113012"
    name.CodingSchemeDesignator = "DCM"
    name.CodeMeaning = "Key Object Description"
    text.ConceptNameCodeSequence = DicomSequence([name])
    text.TextValue = "VP L1 4 ml"
    ds.ContentSequence = DicomSequence([text])
    obs = extract_annotations(ds, VOCABULARY)
    volume = next(o for o in obs if o.kind is Kind.CEMENT_VOLUME_ML)
    assert (volume.value, volume.level, volume.provenance.path) == (4.0, "L1", "sr:(DCM,113012)")


def test_dataset_type_error() -> None:
    with pytest.raises(TypeError, match='Argument "ds"'):
        extract_annotations("x", VOCABULARY)  # type: ignore[arg-type]


# --- the public samples ----------------------------------------------------------------


def _samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() == ".dcm")


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    if not SAMPLES.is_dir():
        pytest.fail(f"public sample files not found at {SAMPLES}")
    return VOCABULARY


@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_goes_through(path: Path, vocabulary: Vocabulary) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    for obs in extract_annotations(ds, vocabulary):
        assert obs.provenance.sop_instance_uid == str(ds.SOPInstanceUID)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("orthanc-tests/PR000000.dcm", 1),
        ("orthanc-tests/Issue168.dcm", 4),
        ("clearcanvas/real01.pr.dcm", 1),
    ],
)
def test_presentation_state_text_objects_are_read(name: str, count: int) -> None:
    ds = pydicom.dcmread(SAMPLES / name, stop_before_pixels=True)
    texts = [t for t in annotation_texts(ds) if t[0].startswith("GraphicAnnotationSequence")]
    assert len(texts) == count
    assert texts[0][0] == "GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue"
    # Measurement overlays ("Area: 119.58 cm²", "98%") are not cement and not levels.
    obs = extract_annotations(ds, VOCABULARY)
    assert not [
        o for o in obs if o.kind in (Kind.CEMENT_VOLUME_ML, Kind.TOTAL_CEMENT_ML, Kind.LEVEL)
    ]


def test_dbdicom_bare_l1_is_a_mention() -> None:
    ds = pydicom.dcmread(SAMPLES / "dbdicom" / "0015.DCM", stop_before_pixels=True)
    obs = extract_annotations(ds, VOCABULARY)
    assert {o.provenance.path for o in obs} == {"ImageComments", "FrameOfInterestDescription"}
    for o in obs:
        assert o.kind is Kind.LEVEL and o.level == "L1"
        assert FLAG_LEVEL_MENTION_ONLY in o.flags


def test_karsten_hilbert_unbekannt_yields_nothing() -> None:
    ds = pydicom.dcmread(
        SAMPLES / "orthanc-tests" / "KarstenHilbertRF.dcm", stop_before_pixels=True
    )
    assert extract_annotations(ds, VOCABULARY) == []


def test_thousands_of_levels_and_volumes_are_read_in_bounded_time() -> None:
    """A 70 KB comment of "L1 3 ml" 8 750 times took 20 s (pairwise checks): now under 1 s."""
    import time

    text = "L1 3 ml " * 8_750
    started = time.process_time()
    parse = parse_annotation(text, VOCABULARY)
    assert time.process_time() - started < 5  # ~0.7 CPU s; quadratic was over a minute
    assert parse.levels and parse.levels[0].level.name == "L1"
    # Reading in steps of bisection changes nothing for a short text.
    assert tokens(parse_annotation("L1 3 ml, L2 2,5 ml", VOCABULARY)) == tokens(
        parse_annotation("L1 3 ml, L2 2,5 ml ", VOCABULARY)
    )


def test_free_text_over_the_annotation_limit_is_flagged_not_read() -> None:
    from vp_log.extract.annotations import MAX_ANNOTATION_CHARS

    ds = Dataset()
    ds.SOPInstanceUID = "9"
    ds.ImageComments = "L1 3 ml " * (MAX_ANNOTATION_CHARS // 8 + 1)
    ds.StudyDescription = "Vertebroplasty L2"
    obs = extract_annotations(ds, VOCABULARY)
    (issue,) = [o for o in obs if o.kind is Kind.INSTANCE_ISSUE]
    assert issue.flags == ("invalid-extraction:annotation-too-long",)
    assert issue.value["at"] == "ImageComments"  # type: ignore[index]
    assert issue.value["limit"] == MAX_ANNOTATION_CHARS  # type: ignore[index]
    # The other sources are still read.
    assert any(o.kind is Kind.LEVEL and o.provenance.path == "StudyDescription" for o in obs)

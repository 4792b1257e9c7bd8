"""Treatment summary: type, levels, repeats, conflicts, plausibility, CPT cross-check."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from vp_log.extract.annotations import extract_annotations
from vp_log.extract.procedure import extract_procedure
from vp_log.extract.sr import extract_sr_volumes
from vp_log.models import Kind, Observation, Provenance
from vp_log.treatment import TreatmentSummary, summarise_treatment
from vp_log.vocabulary import Plausibility, ProcedureType, load_vocabulary

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
VOCABULARY = load_vocabulary()


def obs(
    kind: Kind,
    value: object,
    level: str | None = None,
    *,
    uid: str = "1.1",
    path: str = "ImageComments",
    flags: tuple[str, ...] = (),
    side: str | None = None,
) -> Observation:
    return Observation(
        kind=kind,
        value=value,
        level=level,
        side=side,
        flags=flags,
        provenance=Provenance(sop_instance_uid=uid, path=path),
    )


def code(
    value: str,
    ptype: str | None,
    *,
    add_on: bool = False,
    index: int = 0,
    uid: str = "1.1",
    laterality: str | None = None,
) -> Observation:
    return obs(
        Kind.PROCEDURE_CODE,
        {
            "code": value,
            "scheme": "C4",
            "procedure_type": ptype,
            "add_on": add_on,
            "laterality": laterality,
        },
        uid=uid,
        path=f"ProcedureCodeSequence[{index}]",
    )


def by_level(summary: TreatmentSummary) -> dict[str, float | None]:
    return {lv.level: lv.cement_ml for lv in summary.levels}


def test_conflict_is_kept_side_by_side() -> None:
    summary = summarise_treatment(
        [
            code("22511", "vertebroplasty"),
            obs(Kind.CEMENT_VOLUME_ML, 4.5, "L1", uid="2", path="GraphicAnnotationSequence[0]"),
            obs(Kind.CEMENT_VOLUME_ML, 5.0, "L1", uid="3", path="sr:(SCT,118565006)"),
        ]
    )
    assert summary.needs_review
    (level,) = summary.levels
    assert level.cement_ml is None and "conflicting-cement-volume" in level.flags
    (conflict,) = summary.conflicts
    assert (conflict.field, conflict.level, conflict.values) == ("cement_ml", "L1", [4.5, 5.0])
    assert conflict.sources == [["GraphicAnnotationSequence[0]@2"], ["sr:(SCT,118565006)@3"]]
    assert summary.total_cement_ml is None


def test_repeated_value_is_one_value_with_both_sources() -> None:
    summary = summarise_treatment(
        [
            code("22511", "vertebroplasty"),
            obs(Kind.CEMENT_VOLUME_ML, 4.5, "L1", uid="2", path="ImageComments"),
            obs(Kind.CEMENT_VOLUME_ML, 4.50, "L1", uid="3", path="sr:(SCT,118565006)"),
            obs(Kind.APPROACH, "bipedicular", "L1", uid="2"),
        ]
    )
    assert not summary.needs_review and summary.conflicts == []
    (level,) = summary.levels
    assert (level.level, level.cement_ml, level.approach) == ("L1", 4.5, "bipedicular")
    assert {(s.sop_instance_uid, s.field) for s in level.sources} == {
        ("2", "cement_ml"),
        ("3", "cement_ml"),
        ("2", "approach"),
    }
    assert summary.total_cement_ml == 4.5
    assert summary.procedure_type is ProcedureType.VERTEBROPLASTY


@pytest.mark.parametrize(
    ("level", "value", "side", "implausible"),
    [
        ("L1", 12.0, None, False),
        ("L1", 12.5, None, True),
        ("L1", 0.0, None, True),
        ("L1", -1.0, None, True),
        ("S1", 10.0, "left", False),
        ("sacrum", 11.0, "left", True),
        ("sacrum", 15.0, "bilateral", False),
        ("sacrum", 21.0, "bilateral", True),
    ],
)
def test_implausible_volume_is_kept_and_flagged(
    level: str, value: float, side: str | None, implausible: bool
) -> None:
    summary = summarise_treatment([obs(Kind.CEMENT_VOLUME_ML, value, level, side=side)])
    (entry,) = summary.levels
    assert entry.cement_ml == value
    assert ("implausible-cement-volume" in entry.flags) is implausible
    assert summary.needs_review  # implausible, or the type was only inferred


def test_limits_are_configurable() -> None:
    summary = summarise_treatment(
        [code("22511", "vertebroplasty"), obs(Kind.CEMENT_VOLUME_ML, 9.0, "L1")],
        limits=Plausibility(vertebral_max_ml=8.0),
    )
    assert "implausible-cement-volume" in summary.flags


def test_add_on_count_matches_levels() -> None:
    codes = [code("22511", "vertebroplasty"), code("22512", "vertebroplasty", add_on=True, index=1)]
    two = [obs(Kind.CEMENT_VOLUME_ML, 3.0, "T12"), obs(Kind.CEMENT_VOLUME_ML, 4.0, "L1")]
    ok = summarise_treatment(codes + two)
    assert ok.cpt_expected_levels == 2 and "cpt-level-count-mismatch" not in ok.flags
    assert ok.total_cement_ml == 7.0 and not ok.needs_review
    assert [lv.level for lv in ok.levels] == ["T12", "L1"]


def test_add_on_mismatch_is_flagged() -> None:
    codes = [
        code("22514", "kyphoplasty"),
        code("22515", "kyphoplasty", add_on=True, index=1),
        code("22515", "kyphoplasty", add_on=True, index=2),
    ]
    summary = summarise_treatment([*codes, obs(Kind.CEMENT_VOLUME_ML, 4.0, "L2")])
    assert summary.cpt_expected_levels == 3
    assert "cpt-level-count-mismatch" in summary.flags and summary.needs_review


def test_codes_repeated_in_every_instance_count_once() -> None:
    codes = [code("22511", "vertebroplasty", uid=uid) for uid in ("a", "b", "c")] + [
        code("22512", "vertebroplasty", add_on=True, index=1, uid=uid) for uid in ("a", "b", "c")
    ]
    levels = [obs(Kind.CEMENT_VOLUME_ML, 3.0, "L1"), obs(Kind.CEMENT_VOLUME_ML, 3.0, "L2")]
    summary = summarise_treatment(codes + levels)
    assert summary.cpt_expected_levels == 2 and "cpt-level-count-mismatch" not in summary.flags


def test_sacroplasty_laterality_check() -> None:
    bilateral = code("0201T", "sacroplasty", laterality="bilateral")
    one_side = [obs(Kind.CEMENT_VOLUME_ML, 4.0, "sacrum", side="left")]
    summary = summarise_treatment([bilateral, *one_side])
    assert summary.procedure_type is ProcedureType.SACROPLASTY
    assert "cpt-laterality-mismatch" in summary.flags
    both = [*one_side, obs(Kind.CEMENT_VOLUME_ML, 3.5, "sacrum", side="right")]
    summary = summarise_treatment([bilateral, *both])
    assert "cpt-laterality-mismatch" not in summary.flags
    assert [(lv.level, lv.side, lv.cement_ml) for lv in summary.levels] == [
        ("sacrum", "left", 4.0),
        ("sacrum", "right", 3.5),
    ]
    assert summary.total_cement_ml == 7.5


def test_unclassified_without_evidence() -> None:
    summary = summarise_treatment([obs(Kind.MODALITY, "RF"), obs(Kind.PATIENT_ID, "1")])
    assert summary.procedure_type is ProcedureType.UNCLASSIFIED
    assert summary.levels == [] and summary.total_cement_ml is None
    assert not summary.needs_review


def test_bare_level_does_not_make_a_vertebroplasty() -> None:
    mention = obs(Kind.LEVEL, "L1", "L1", flags=("level-mention-only",))
    summary = summarise_treatment([mention])
    assert summary.procedure_type is ProcedureType.UNCLASSIFIED
    assert summary.levels == [] and summary.mentioned_levels == ["L1"]
    # With a code that classifies the study and nothing better, the mention is listed, flagged.
    summary = summarise_treatment([mention, code("22511", "vertebroplasty")])
    (level,) = summary.levels
    assert (level.level, level.cement_ml) == ("L1", None)
    assert level.flags == ["level-mention-only"]
    # A negative-context mention is never listed as treated.
    negative = obs(Kind.LEVEL, "L3", "L3", flags=("level-mention-only", "negative-context"))
    summary = summarise_treatment([negative, code("22511", "vertebroplasty")])
    assert summary.levels == [] and "no-treated-levels-found" in summary.flags


def test_type_from_words_and_abbreviations() -> None:
    hint = obs(Kind.PROCEDURE_HINT, "kyphoplasty", path="StudyDescription")
    abbreviation = obs(Kind.PROCEDURE_HINT, "vertebroplasty", flags=("abbreviation",))
    summary = summarise_treatment([hint, abbreviation])
    assert summary.procedure_type is ProcedureType.KYPHOPLASTY
    assert summary.sources["procedure_type"] == ["StudyDescription@1.1"]


def test_code_and_word_disagree() -> None:
    summary = summarise_treatment(
        [code("22511", "vertebroplasty"), obs(Kind.PROCEDURE_HINT, "kyphoplasty")]
    )
    assert summary.procedure_type is ProcedureType.VERTEBROPLASTY
    assert "conflicting-procedure-type" in summary.flags and summary.needs_review


def test_type_inferred_from_cement_alone() -> None:
    summary = summarise_treatment([obs(Kind.CEMENT_VOLUME_ML, 4.0, "L1")])
    assert summary.procedure_type is ProcedureType.VERTEBROPLASTY
    assert "procedure-type-inferred" in summary.flags and summary.needs_review


def test_totals() -> None:
    levels = [
        code("22511", "vertebroplasty"),
        code("22512", "vertebroplasty", add_on=True, index=1),
        obs(Kind.CEMENT_VOLUME_ML, 4.5, "L1"),
        obs(Kind.CEMENT_VOLUME_ML, 3.0, "L2"),
    ]
    stated = obs(Kind.TOTAL_CEMENT_ML, 7.5, path="GraphicAnnotationSequence[0]")
    summary = summarise_treatment([*levels, stated])
    assert summary.total_cement_ml == 7.5 and not summary.needs_review
    wrong = obs(Kind.TOTAL_CEMENT_ML, 9.0)
    summary = summarise_treatment([*levels, wrong])
    assert summary.total_cement_ml == 9.0
    assert "total-does-not-match-levels" in summary.flags and summary.needs_review
    summary = summarise_treatment([*levels, stated, obs(Kind.TOTAL_CEMENT_ML, 9.0, uid="x")])
    assert summary.total_cement_ml is None and "conflicting-total-cement" in summary.flags


def test_unknown_volume_makes_total_unknown() -> None:
    summary = summarise_treatment(
        [
            code("22511", "vertebroplasty"),
            obs(Kind.CEMENT_VOLUME_ML, 4.0, "L1"),
            obs(Kind.LEVEL, "L2", "L2"),
        ]
    )
    assert by_level(summary) == {"L1": 4.0, "L2": None}
    assert summary.total_cement_ml is None


def test_unassigned_volume_goes_to_the_only_level() -> None:
    summary = summarise_treatment(
        [
            code("22514", "kyphoplasty"),
            obs(Kind.LEVEL, "L3", "L3"),
            obs(Kind.CEMENT_VOLUME_ML, 4.0, None, flags=("no-level",)),
        ]
    )
    (level,) = summary.levels
    assert (level.cement_ml, level.flags) == (4.0, ["level-inferred"])
    summary = summarise_treatment(
        [
            code("22514", "kyphoplasty"),
            obs(Kind.LEVEL, "L3", "L3"),
            obs(Kind.LEVEL, "L4", "L4"),
            obs(Kind.CEMENT_VOLUME_ML, 4.0, None),
        ]
    )
    assert summary.unassigned_cement_ml == [4.0] and "unassigned-cement-volume" in summary.flags


def test_record_fields() -> None:
    record = summarise_treatment([code("22511", "vertebroplasty")]).model_dump(mode="json")
    for key in (
        "procedure_type",
        "levels",
        "total_cement_ml",
        "flags",
        "conflicts",
        "needs_review",
    ):
        assert key in record
    assert record["procedure_type"] == "vertebroplasty"


def test_type_error() -> None:
    with pytest.raises(TypeError, match='Argument "observations"'):
        summarise_treatment(obs(Kind.LEVEL, "L1", "L1"))  # type: ignore[arg-type]


def test_annotations_end_to_end() -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    def gsps(uid: str, *texts: str) -> Dataset:
        ds = Dataset()
        ds.SOPInstanceUID = uid
        annotation = Dataset()
        items = []
        for text in texts:
            item = Dataset()
            item.UnformattedTextValue = text
            items.append(item)
        annotation.TextObjectSequence = DicomSequence(items)
        ds.GraphicAnnotationSequence = DicomSequence([annotation])
        return ds

    observations = extract_annotations(
        gsps("1.2.1", "VP T12 3 ml bipedicular", "L1 4.5 ml bipedicular"), VOCABULARY
    ) + extract_annotations(gsps("1.2.2", "L1 4.5ml", "total cement 7,5 ml"), VOCABULARY)
    summary = summarise_treatment(observations)
    assert summary.procedure_type is ProcedureType.VERTEBROPLASTY
    assert [(lv.level, lv.cement_ml, lv.approach) for lv in summary.levels] == [
        ("T12", 3.0, "bipedicular"),
        ("L1", 4.5, "bipedicular"),
    ]
    assert summary.total_cement_ml == 7.5 and not summary.needs_review


def _samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() == ".dcm")


@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_public_sample_is_an_augmentation(path: Path) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    observations = (
        extract_procedure(ds, VOCABULARY)
        + extract_annotations(ds, VOCABULARY)
        + extract_sr_volumes(ds, VOCABULARY)
    )
    summary = summarise_treatment(observations)
    assert summary.procedure_type is ProcedureType.UNCLASSIFIED
    assert summary.levels == [] and summary.total_cement_ml is None


def test_dbdicom_0015_record() -> None:
    ds = pydicom.dcmread(SAMPLES / "dbdicom" / "0015.DCM", stop_before_pixels=True)
    summary = summarise_treatment(
        extract_procedure(ds, VOCABULARY) + extract_annotations(ds, VOCABULARY)
    )
    assert summary.procedure_type is ProcedureType.UNCLASSIFIED
    assert summary.mentioned_levels == ["L1"] and summary.levels == []

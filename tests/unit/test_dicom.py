"""The shared DICOM vocabulary: named UIDs, codes from pydicom, one date-time parser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydicom.sr.codedict import codes
from pydicom.uid import UID

from vp_log import dicom


def test_storage_classes_are_pydicoms_named_uids() -> None:
    assert len(dicom.STORAGE_SOP_CLASSES) == 17
    for uid, name in dicom.STORAGE_SOP_CLASSES.items():
        assert UID(uid).is_valid and UID(uid).name == f"{name} Storage"
    assert dicom.STORAGE_SOP_CLASSES[dicom.RDSR_SOP_CLASS] == "X-Ray Radiation Dose SR"
    assert dicom.VERIFICATION_SOP_CLASS == "1.2.840.10008.1.1"
    assert dicom.MEDIA_STORAGE_DIRECTORY == "1.2.840.10008.1.3.10"
    assert "1.2.840.10008.1.2.1" in dicom.ALL_TRANSFER_SYNTAXES  # explicit VR little endian


def test_concepts_come_from_pydicoms_code_dictionary() -> None:
    assert dicom.DOC_XRAY_DOSE_REPORT == ("113701", "DCM")
    assert dicom.EVENT_UID == ("113769", "DCM")
    assert dicom.concept(codes.DCM.TotalFluoroTime) == dicom.TOTAL_FLUORO_TIME == ("113730", "DCM")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("T-11BF0", "SRT"), ("T-11BF0", "SCT"), True),
        (("54735007", "sct"), ("54735007", "SNM3"), True),
        (("113701", "DCM"), ("113701", "99SDM"), False),
        (("1", "DCM"), ("2", "DCM"), False),
    ],
)
def test_snomed_schemes_fold(a: dicom.Code, b: dicom.Code, same: bool) -> None:
    assert dicom.same_code(a, b) is same
    assert dicom.same_code(None, b) is False


@pytest.mark.parametrize(
    ("text", "offset", "flags"),
    [
        ("-0400", timedelta(hours=-4), ()),
        ("+0530", timedelta(hours=5, minutes=30), ()),
        ("UTC-04:00", timedelta(hours=-4), ("lenient-timezone-offset:UTC-04:00",)),
        ("+2500", None, ("invalid-timezone-offset:+2500",)),
        ("", None, ()),
    ],
)
def test_timezone_offset(text: str, offset: timedelta | None, flags: tuple[str, ...]) -> None:
    tz, found = dicom.parse_timezone_offset(text)
    assert (tz.utcoffset(None) if tz else None) == offset
    assert found == flags


def test_one_datetime_parser_for_dt_and_date_plus_time() -> None:
    plus_one = timezone(timedelta(hours=1))
    value, flags = dicom.parse_dicom_datetime("20240821131824.5+0100")
    assert value == datetime(2024, 8, 21, 13, 18, 24, 500000, tzinfo=plus_one) and flags == ()
    assert dicom.parse_dicom_datetime("2024082113", plus_one)[0] == datetime(
        2024, 8, 21, 13, tzinfo=plus_one
    )
    assert dicom.parse_dicom_datetime("20241341")[1] == ("invalid-datetime:20241341",)
    assert dicom.parse_dicom_datetime("  ") == (None, ())
    # The file's own offset wins over Timezone Offset From UTC.
    assert dicom.dicom_datetime("20240821131824-0500", tz=plus_one) == datetime(
        2024, 8, 21, 13, 18, 24, tzinfo=timezone(timedelta(hours=-5))
    )
    assert dicom.dicom_datetime("", "20240821", "131824", plus_one) == datetime(
        2024, 8, 21, 13, 18, 24, tzinfo=plus_one
    )
    assert dicom.dicom_datetime("", "20240821", "") is None  # a date alone is not a moment

"""Image-header dose (0018,115E) on the real samples and on edge-case headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from vp_log.extract.image_dose import extract_image_dose
from vp_log.models import Kind

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"


def all_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")


@pytest.mark.parametrize("path", all_samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_goes_through(path: Path) -> None:
    # None of the public samples carries 0018,115E: nothing is invented for them.
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert extract_image_dose(ds) == []


def image(**attributes: Any) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"
    ds.SOPInstanceUID = "1.2.826.0.1.1"
    ds.Modality = "XA"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_dap_in_dgy_cm2_is_stored_in_gy_m2() -> None:
    [obs] = extract_image_dose(image(ImageAndFluoroscopyAreaDoseProduct="12.5"))
    assert obs.kind is Kind.IMAGE_DAP_GY_M2
    assert obs.value == pytest.approx(12.5e-5)
    assert obs.provenance.path == "ImageAndFluoroscopyAreaDoseProduct"
    assert obs.provenance.raw == "12.5 dGy.cm2"
    assert obs.flags == ()


@pytest.mark.parametrize("modality", ["RF", "DX", "XA", "CR"])
def test_modalities(modality: str) -> None:
    assert extract_image_dose(image(Modality=modality, ImageAndFluoroscopyAreaDoseProduct="1"))


def test_absent_or_empty_gives_nothing_never_zero() -> None:
    assert extract_image_dose(image()) == []
    assert extract_image_dose(image(ImageAndFluoroscopyAreaDoseProduct="")) == []


@pytest.mark.parametrize(
    ("value", "flag"),
    [(["1", "2"], "multi-valued"), ("-3", "implausible-value:-3")],
)
def test_unreadable_values_are_unknown(value: Any, flag: str) -> None:
    [obs] = extract_image_dose(image(ImageAndFluoroscopyAreaDoseProduct=value))
    assert obs.value is None
    assert flag in obs.flags


def test_derived_images_and_event_uid_are_flagged() -> None:
    [obs] = extract_image_dose(
        image(
            ImageAndFluoroscopyAreaDoseProduct="4",
            ImageType=["DERIVED", "SECONDARY"],
            IrradiationEventUID="1.2.3.9",
        )
    )
    assert "derived-image" in obs.flags
    assert obs.event_uid == "1.2.3.9"
    assert not any("1.2.3.9" in flag for flag in obs.flags), "data is a field, not a flag"


def test_structured_reports_are_not_images() -> None:
    assert extract_image_dose(image(Modality="SR", ImageAndFluoroscopyAreaDoseProduct="4")) == []


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_scale_is_one_e_minus_five(value: float) -> None:
    [obs] = extract_image_dose(image(ImageAndFluoroscopyAreaDoseProduct=f"{value:.6g}"))
    assert obs.value == pytest.approx(float(f"{value:.6g}") * 1e-5)

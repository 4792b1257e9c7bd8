"""Dose from image headers (XA, RF, DX and their enhanced forms) → observations (pure).

Image and Fluoroscopy Area Dose Product (0018,115E) is in dGy·cm² by the standard and is
stored in Gy·m² (1 dGy·cm² = 1e-5 Gy·m²). Absent or empty gives no observation; a value that
cannot be read gives ``None`` with a flag, never zero.
"""

from __future__ import annotations

import logging
import math

from pydicom.multival import MultiValue

from vp_log.dicom import NOT_IMAGE_MODALITIES
from vp_log.extract.rdsr import normalise_dap
from vp_log.models import Kind, Observation, Provenance
from vp_log.tree import DatasetLike

logger = logging.getLogger(__name__)

__all__ = ["extract_image_dose"]

# The unit PS3.3 C.8.7.8 / C.8.19.x fixes for ImageAndFluoroscopyAreaDoseProduct.
IMAGE_DAP_UNIT = "dGy.cm2"

_NOT_IMAGES = NOT_IMAGE_MODALITIES


def _is_derived(ds: DatasetLike) -> bool:
    image_type = ds.get("ImageType")
    if not image_type:
        return False
    first = image_type[0] if isinstance(image_type, MultiValue | list | tuple) else image_type
    return str(first).strip().upper() == "DERIVED"


def _read_dap(element: object) -> tuple[float | None, str, tuple[str, ...]]:
    """(Gy·m², raw text, flags) of a 115E value that is present and not empty."""
    if isinstance(element, MultiValue | list | tuple):
        raw = "\\".join(str(v) for v in element)
        return None, raw, ("multi-valued",)
    raw = str(element).strip()
    try:
        value = float(raw)
    except ValueError:
        return None, raw, (f"unreadable-value:{raw}",)
    if not math.isfinite(value) or value < 0:
        return None, raw, (f"implausible-value:{raw}",)
    return normalise_dap(value, IMAGE_DAP_UNIT), raw, ()


def extract_image_dose(ds: DatasetLike) -> list[Observation]:
    """IMAGE_DAP_GY_M2 from an image header; ``[]`` when the header has none."""
    if str(ds.get("Modality", "")).strip().upper() in _NOT_IMAGES:
        return []
    element = ds.get("ImageAndFluoroscopyAreaDoseProduct")
    if element is None or element == "":
        return []
    value, raw, flags = _read_dap(element)
    extra: list[str] = []
    if _is_derived(ds):
        # A derived image repeats its source's dose: summing it would count it twice.
        extra.append("derived-image")
    event_uid = str(ds.get("IrradiationEventUID", "") or "").strip() or None
    if flags:
        logger.warning("ImageAndFluoroscopyAreaDoseProduct %r not used: %s", raw, flags[0])
    return [
        Observation(
            kind=Kind.IMAGE_DAP_GY_M2,
            value=value,
            provenance=Provenance(
                sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
                path="ImageAndFluoroscopyAreaDoseProduct",
                raw=f"{raw} {IMAGE_DAP_UNIT}",
            ),
            event_uid=event_uid,
            flags=(*flags, *extra),
        )
    ]

"""Pure extraction: a pydicom Dataset (read without pixel data) → observations.

One module per source; :func:`extract_all` runs them all. Nothing here touches a file,
the network or the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from vp_log.config import Settings
from vp_log.extract.header import extract_header
from vp_log.extract.image_dose import extract_image_dose
from vp_log.extract.rdsr import extract_dose_report
from vp_log.models import Observation


@dataclass(frozen=True)
class ExtractionContext:
    """What the extractors need besides the dataset (site vocabulary)."""


def load_extraction_context(settings: Settings) -> ExtractionContext:
    return ExtractionContext()


def extract_all(ds: Dataset, context: ExtractionContext) -> list[Observation]:
    """Every observation the extractors find in ``ds``."""
    return [*extract_header(ds), *extract_dose_report(ds), *extract_image_dose(ds)]

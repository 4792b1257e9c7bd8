"""Pure extraction: a pydicom Dataset (read without pixel data) → observations.

One module per source; :func:`extract_all` runs them all. Nothing here touches a file,
the network, the database or the settings: what the site sets comes in an
:class:`ExtractionContext`, loaded by :func:`vp_log.pipeline.load_contexts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from vp_log.extract.annotations import extract_annotations
from vp_log.extract.header import extract_header
from vp_log.extract.image_dose import extract_image_dose
from vp_log.extract.procedure import extract_procedure
from vp_log.extract.rdsr import extract_dose_report
from vp_log.extract.sr import extract_sr_volumes
from vp_log.models import Observation
from vp_log.vocabulary import Vocabulary


@dataclass(frozen=True)
class ExtractionContext:
    """What the extractors need besides the dataset: the site's vocabulary."""

    vocabulary: Vocabulary


def extract_all(ds: Dataset, context: ExtractionContext) -> list[Observation]:
    """Every observation the extractors find in ``ds``."""
    vocabulary = context.vocabulary
    return [
        *extract_header(ds),
        *extract_dose_report(ds),
        *extract_image_dose(ds),
        *extract_procedure(ds, vocabulary),
        *extract_annotations(ds, vocabulary),
        *extract_sr_volumes(ds, vocabulary),
    ]

"""Pure extraction: a pydicom Dataset (read without pixel data) → observations.

One module per source; :func:`extract_all` runs them all. Nothing here touches a file,
the network, the database or the settings: what the site sets comes in an
:class:`ExtractionContext`, loaded by :func:`vp_log.pipeline.load_contexts`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vp_log.extract.annotations import extract_annotations
from vp_log.extract.header import extract_header
from vp_log.extract.image_dose import extract_image_dose
from vp_log.extract.procedure import extract_procedure
from vp_log.extract.rdsr import extract_dose_report
from vp_log.extract.sr import extract_sr_volumes
from vp_log.limits import LimitExceeded
from vp_log.models import Kind, Observation, Provenance
from vp_log.tree import DatasetLike, as_node
from vp_log.vocabulary import Vocabulary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionContext:
    """What the extractors need besides the dataset: the site's vocabulary."""

    vocabulary: Vocabulary


def extract_all(ds: DatasetLike, context: ExtractionContext) -> list[Observation]:
    """Every observation the extractors find in ``ds``.

    Each extractor runs on its own: one that raises (a rule that meets a value it did not
    expect) leaves the observations of the others in place and adds an
    :attr:`~vp_log.models.Kind.INSTANCE_ISSUE` naming it, flagged
    ``invalid-extraction:<extractor>`` (``vp-log reextract`` reads the file again once the
    rule is fixed). A limit exceeded, memory exhausted or nesting too deep for the
    interpreter is about the whole file and is raised.
    """
    ds = as_node(ds)  # every extractor reads the same tree, parsed once
    vocabulary = context.vocabulary
    extractors: tuple[tuple[str, Callable[[], list[Observation]]], ...] = (
        ("header", lambda: extract_header(ds)),
        ("rdsr", lambda: extract_dose_report(ds)),
        ("image_dose", lambda: extract_image_dose(ds)),
        ("procedure", lambda: extract_procedure(ds, vocabulary)),
        ("annotations", lambda: extract_annotations(ds, vocabulary)),
        ("sr", lambda: extract_sr_volumes(ds, vocabulary)),
    )
    out: list[Observation] = []
    for name, extractor in extractors:
        try:
            out.extend(extractor())
        except (LimitExceeded, MemoryError, RecursionError):
            raise
        except Exception as exc:
            out.append(extraction_failure(ds, name, exc))
    return out


def extraction_failure(ds: DatasetLike, extractor: str, exc: Exception) -> Observation:
    """The observation that says ``extractor`` failed on ``ds`` (with the error's last frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    error = f"{type(exc).__name__}: {exc}"[:500]
    logger.warning("extractor %s failed on an instance: %s (%s)", extractor, error, where)
    try:
        uid = str(ds.get("SOPInstanceUID", "") or "")
    except Exception:  # the UID element itself may be what is broken
        uid = ""
    return Observation(
        kind=Kind.INSTANCE_ISSUE,
        value={"issue": "extractor-failed", "extractor": extractor, "error": error, "at": where},
        provenance=Provenance(sop_instance_uid=uid[:128], path=f"extractor:{extractor}", raw=error),
        flags=(f"invalid-extraction:{extractor}",),
    )

"""Procedure identity: codes and descriptions that say what a study is (pure).

Codes: Procedure Code Sequence, Requested Procedure Code Sequence (top level and inside Request
Attributes Sequence), Performed Protocol Code Sequence and an SR's Procedure Reported
(DCM 121058, path ``sr:(DCM,121058)[0]``). Every code becomes a
``PROCEDURE_CODE`` observation whose value is a dict::

    {"code": "22512", "scheme": "C4", "meaning": "...", "procedure_type": "vertebroplasty",
     "add_on": true, "laterality": null, "sequence": "ProcedureCodeSequence"}

``procedure_type`` is ``None`` for codes the vocabulary does not know (kept: nothing is lost).
CPT codes are read only in a CPT coding scheme (``[cpt] schemes``); local RIS codes through
``[[ris_codes]]``. A code's meaning is also read as text.

Text: Requested Procedure Description, Performed Procedure Step Description, Scheduled
Procedure Step Description, Protocol Name, Study and Series Description, code meanings and the
dose report's Acquisition Protocol (DCM 125203, TID 10003) become ``PROCEDURE_HINT``
observations (``vertebroplasty``, ``kyphoplasty``, ``sacroplasty``, or ``other`` for another
procedure: facet injection, lumbar puncture, fusion...), read through the classification table
of the vocabulary (``[procedures.kinds]``). Each hint says why in its flags: ``kind:<row>``,
``rank:<n>``, ``word:<the words matched>`` and ``abbreviation`` when only an abbreviation named
it. Abbreviations (VP, PVP, BKP, KP, KYPHO) count only when the same text names a spinal level or
a spine word and no blocker (``VP shunt``). A generic word (cementoplasty, vertebral
augmentation) counts only with a level that says where; a balloon only with a vertebra.
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom.dataset import Dataset

from vp_log.extract.sr import code_of, find_content_items
from vp_log.levels import find_levels
from vp_log.models import Kind, Observation, ProcedureCode, Provenance
from vp_log.tree import DatasetLike, Node, as_node
from vp_log.vocabulary import ProcedureHit, ProcedureType, Vocabulary, normalise_text

logger = logging.getLogger(__name__)

__all__ = [
    "ACQUISITION_PROTOCOL",
    "CODE_SEQUENCES",
    "extract_procedure",
    "hint_flags",
    "procedure_hints",
]

CODE_SEQUENCES = (
    "ProcedureCodeSequence",
    "RequestedProcedureCodeSequence",
    "PerformedProtocolCodeSequence",
)
"""Top-level code sequences read, in this order."""

TEXT_ATTRIBUTES = (
    "RequestedProcedureDescription",
    "PerformedProcedureStepDescription",
    "ScheduledProcedureStepDescription",
    "ProtocolName",
    "StudyDescription",
    "SeriesDescription",
)

ACQUISITION_PROTOCOL = ("125203", "DCM")
"""Concept name of the dose report's Acquisition Protocol (TEXT)."""

PROCEDURE_REPORTED = ("121058", "DCM")
"""Concept name of an SR's Procedure Reported (CODE), e.g. CPT 0201T in a TID 1500 report."""

FLAG_ABBREVIATION = "abbreviation"


def procedure_hints(text: str, vocabulary: Vocabulary) -> list[ProcedureHit]:
    """The strongest hit of each classification row a text names, in order of the text."""
    return list(
        vocabulary.reading("procedure_hints", text, lambda: _procedure_hints(text, vocabulary))
    )


def _procedure_hints(text: str, vocabulary: Vocabulary) -> tuple[ProcedureHit, ...]:
    normalised = normalise_text(text)
    levels = find_levels(
        normalised,
        notations=vocabulary.notations(),
        sacrum_words=vocabulary.levels.sacrum,
        coccyx_words=vocabulary.levels.coccyx,
    )
    best: dict[tuple[ProcedureType, str], ProcedureHit] = {}
    for hit in vocabulary.find_procedures(normalised, levels=levels):
        key = (hit.procedure_type, hit.kind)
        if key not in best or hit.rank > best[key].rank:
            best[key] = hit
    return tuple(sorted(best.values(), key=lambda h: h.start))


def hint_flags(hit: ProcedureHit) -> tuple[str, ...]:
    """The flags of a ``PROCEDURE_HINT``: row, rank, words matched, abbreviation."""
    flags = (f"kind:{hit.kind}", f"rank:{hit.rank}", f"word:{hit.text}")
    return (*flags, FLAG_ABBREVIATION) if hit.abbreviation else flags


def _hint_observations(text: str, path: str, uid: str, vocabulary: Vocabulary) -> list[Observation]:
    return [
        Observation(
            kind=Kind.PROCEDURE_HINT,
            value=hit.procedure_type.value,
            provenance=Provenance(sop_instance_uid=uid, path=path, raw=text),
            flags=hint_flags(hit),
        )
        for hit in procedure_hints(text, vocabulary)
    ]


def _code_observations(
    sequence: Any, keyword: str, uid: str, vocabulary: Vocabulary
) -> list[Observation]:
    out: list[Observation] = []
    for index, item in enumerate(sequence or []):
        path = f"{keyword}[{index}]"
        code = code_of(item)
        meaning = str(item.get("CodeMeaning", "") or "")
        if code is None:
            if meaning.strip():
                out.extend(_hint_observations(meaning, f"{path}.CodeMeaning", uid, vocabulary))
            continue
        value, scheme = code
        entry = vocabulary.code_entry(value, scheme)
        payload = ProcedureCode(
            code=value,
            scheme=scheme,
            meaning=meaning,
            procedure_type=entry.procedure_type.value if entry else None,
            add_on=entry.add_on if entry else False,
            laterality=entry.laterality if entry else None,
            sequence=keyword.rsplit(".", 1)[-1].split("[", 1)[0],
        )
        out.append(
            Observation(
                kind=Kind.PROCEDURE_CODE,
                value=payload.model_dump(mode="json"),
                provenance=Provenance(sop_instance_uid=uid, path=path, raw=f"{scheme}:{value}"),
            )
        )
        if meaning.strip():
            out.extend(_hint_observations(meaning, f"{path}.CodeMeaning", uid, vocabulary))
    return out


def extract_procedure(ds: DatasetLike, vocabulary: Vocabulary) -> list[Observation]:
    """Procedure codes and procedure words of one instance, with provenance."""
    if not isinstance(ds, Dataset | Node):
        raise TypeError('Argument "ds" must have type "pydicom.dataset.Dataset".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    ds = as_node(ds)
    uid = str(ds.get("SOPInstanceUID", "") or "")
    observations: list[Observation] = []
    for keyword in CODE_SEQUENCES:
        observations.extend(_code_observations(ds.get(keyword), keyword, uid, vocabulary))
    for i, request in enumerate(ds.get("RequestAttributesSequence") or []):
        prefix = f"RequestAttributesSequence[{i}]"
        observations.extend(
            _code_observations(
                request.get("RequestedProcedureCodeSequence"),
                f"{prefix}.RequestedProcedureCodeSequence",
                uid,
                vocabulary,
            )
        )
        for keyword in ("RequestedProcedureDescription", "ScheduledProcedureStepDescription"):
            text = str(request.get(keyword, "") or "")
            if text.strip():
                observations.extend(
                    _hint_observations(text, f"{prefix}.{keyword}", uid, vocabulary)
                )
    for keyword in TEXT_ATTRIBUTES:
        text = str(ds.get(keyword, "") or "")
        if text.strip():
            observations.extend(_hint_observations(text, keyword, uid, vocabulary))
    if "ContentSequence" in ds:
        for item in find_content_items(ds, name=PROCEDURE_REPORTED, value_type="CODE"):
            observations.extend(
                _code_observations(
                    item.item.get("ConceptCodeSequence"), item.path_text(), uid, vocabulary
                )
            )
        for item in find_content_items(ds, name=ACQUISITION_PROTOCOL, value_type="TEXT"):
            text = str(item.item.get("TextValue", "") or "")
            if text.strip():
                observations.extend(_hint_observations(text, item.path_text(), uid, vocabulary))
    return observations

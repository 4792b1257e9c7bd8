"""Generic search of a structured report's content tree, by concept code (pure).

Concepts are matched by (code value, coding scheme designator), never by their printed
meaning: vendors change the wording, not the code. One small tree walk serves every template.

:func:`extract_sr_volumes` reads cement volumes (a volume concept in millilitres at a vertebral
finding site) with that same generic walk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from vp_log.dicom import Code, fold_code, same_code
from vp_log.levels import find_levels, level_from_code
from vp_log.models import Kind, Observation, Provenance
from vp_log.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

"""A concept as (CodeValue, CodingSchemeDesignator), e.g. ``("113730", "DCM")``."""


@dataclass(frozen=True)
class ContentItem:
    """A content item found in the tree, with the path of concept codes that leads to it."""

    item: Dataset
    path: tuple[Code, ...]

    @property
    def value_type(self) -> str:
        return str(self.item.get("ValueType", ""))

    @property
    def concept(self) -> Code | None:
        return concept_name(self.item)

    def path_text(self) -> str:
        """Provenance path, e.g. ``sr:(DCM,113701)/(DCM,113730)``."""
        return "sr:" + "/".join(f"({scheme},{value})" for value, scheme in self.path)


def code_of(seq_item: Dataset) -> Code | None:
    """The (value, scheme) of a code sequence item; long/URN code values are accepted."""
    value = (
        seq_item.get("CodeValue")
        or seq_item.get("LongCodeValue")
        or seq_item.get("URNCodeValue")
        or ""
    )
    scheme = seq_item.get("CodingSchemeDesignator") or ""
    if not value:
        return None
    return (str(value).strip(), str(scheme).strip())


def _first_code(item: Dataset, keyword: str) -> Code | None:
    seq = item.get(keyword)
    if not seq:
        return None
    return code_of(seq[0])


def concept_name(item: Dataset) -> Code | None:
    """The concept name code of a content item."""
    return _first_code(item, "ConceptNameCodeSequence")


def concept_code_value(item: Dataset) -> Code | None:
    """The coded value of a CODE content item."""
    return _first_code(item, "ConceptCodeSequence")


def code_meaning(item: Dataset, keyword: str = "ConceptNameCodeSequence") -> str:
    seq = item.get(keyword)
    if not seq:
        return ""
    return str(seq[0].get("CodeMeaning", ""))


def iter_content_items(
    dataset: Dataset, *, recursive: bool = True, _path: tuple[Code, ...] = ()
) -> Iterator[ContentItem]:
    """Every content item below ``dataset`` (depth first, in document order)."""
    for item in dataset.get("ContentSequence") or []:
        concept = concept_name(item)
        path = (*_path, concept) if concept else _path
        yield ContentItem(item=item, path=path)
        if recursive:
            yield from iter_content_items(item, recursive=True, _path=path)


def find_content_items(
    dataset: Dataset,
    *,
    name: Code | None = None,
    value_type: str | None = None,
    recursive: bool = True,
) -> list[ContentItem]:
    """Content items whose concept name is ``name`` and/or whose value type is ``value_type``.

    Matching is by code value and coding scheme; scheme aliases (``SRT``/``SCT``) are equal.
    """
    wanted = _normalise(name) if name else None
    found: list[ContentItem] = []
    for ci in iter_content_items(dataset, recursive=recursive):
        if value_type is not None and ci.value_type != value_type:
            continue
        if wanted is not None:
            concept = ci.concept
            if concept is None or _normalise(concept) != wanted:
                continue
        found.append(ci)
    return found


_normalise = fold_code


def numeric_value(item: Dataset) -> tuple[float | None, Code | None, str]:
    """A NUM item's value, its unit code and the raw text of the value.

    An empty MeasuredValueSequence, an empty NumericValue or a multi-valued NumericValue
    gives ``None`` for the value (unknown, not zero); the raw text says what was there.
    """
    mvs = item.get("MeasuredValueSequence")
    if not mvs:
        return None, None, ""
    mv = mvs[0]
    unit = _first_code(mv, "MeasurementUnitsCodeSequence")
    elem = mv.get("NumericValue")
    if elem is None or elem == "":
        return None, unit, ""
    if isinstance(elem, MultiValue | list | tuple):
        # Multi-valued NumericValue (seen in real files): not one number, so unknown.
        return None, unit, "\\".join(str(v) for v in elem)
    raw = str(elem)
    try:
        return float(elem), unit, raw
    except (TypeError, ValueError):
        return None, unit, raw


# --- cement volumes ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """A finding site seen in the tree: the level it names (``None``: not a vertebra)."""

    level: str | None
    raw: str


def _site_of(item: Dataset, vocabulary: Vocabulary) -> _Site | None:
    """The level named by a Finding Site item (CODE or TEXT), or ``None`` if not a site."""
    concept = concept_name(item)
    if concept is None or not any(
        same_code(concept, c.code) for c in vocabulary.sr.finding_site_concepts
    ):
        return None
    value_type = str(item.get("ValueType", ""))
    if value_type == "CODE":
        code = concept_code_value(item)
        meaning = code_meaning(item, "ConceptCodeSequence")
        level = level_from_code(code[0], code[1]) if code else None
        label = f"{code[1]}:{code[0]}" if code else ""
        return _Site(str(level) if level else None, f"{label} {meaning}".strip())
    if value_type == "TEXT":
        text = str(item.get("TextValue", "") or "")
        levels = find_levels(
            text,
            notations=vocabulary.notations(),
            sacrum_words=vocabulary.levels.sacrum,
            coccyx_words=vocabulary.levels.coccyx,
        )
        return _Site(str(levels[0]) if len(levels) == 1 else None, text)
    return None


def _side_of(item: Dataset, vocabulary: Vocabulary) -> str | None:
    concept = concept_name(item)
    if concept is None or not any(
        same_code(concept, c.code) for c in vocabulary.sr.laterality_concepts
    ):
        return None
    code = concept_code_value(item)
    if code is None:
        return None
    side = vocabulary.sr.laterality_codes.get(code[0])
    return side.value if side is not None else None


def _context(items: Sequence[Dataset], vocabulary: Vocabulary) -> tuple[_Site | None, str | None]:
    site: _Site | None = None
    side: str | None = None
    for item in items:
        found = _site_of(item, vocabulary)
        if found is not None and site is None:
            site = found
            # TID 1501: Laterality is a concept modifier of the Finding Site.
            for modifier in item.get("ContentSequence") or []:
                side = side or _side_of(modifier, vocabulary)
        side = side or _side_of(item, vocabulary)
    return site, side


def extract_sr_volumes(ds: Dataset, vocabulary: Vocabulary) -> list[Observation]:
    """Cement volumes from a structured report's numeric content items (pure).

    A NUM item counts when its concept is a volume concept of the vocabulary
    (``[sr] volume_concepts``: SNOMED 118565006 *Volume*, or a local cement-volume concept),
    its unit is a volume unit (UCUM ``mL``, ``cm3``, ``mm3``, ``uL``, ``L``...: ``[sr.units]``,
    converted to millilitres, flagged ``converted-from:<unit>``) and a Finding Site names a
    vertebra or the sacrum (SNOMED CT/RT code, or text such as ``L1``). The finding site and
    the laterality are looked for among the item's own children first, then among its
    siblings, then up the tree, so TID 1501 measurement groups and flat templates both work.
    A generic volume whose site is not a vertebra (or that has no site) is not a cement volume;
    a concept marked ``cement = true`` counts without a site (level unknown).
    Flags: ``generic-volume`` for 118565006; ``side`` is set when laterality is coded.
    """
    if not isinstance(ds, Dataset):
        raise TypeError('Argument "ds" must have type "pydicom.dataset.Dataset".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    uid = str(ds.get("SOPInstanceUID", "") or "")
    out: list[Observation] = []

    def visit(
        container: Dataset,
        path: tuple[Code, ...],
        site: _Site | None,
        side: str | None,
    ) -> None:
        items = list(container.get("ContentSequence") or [])
        here_site, here_side = _context(items, vocabulary)
        site = here_site or site
        side = here_side or side
        for item in items:
            concept = concept_name(item)
            item_path = (*path, concept) if concept else path
            if str(item.get("ValueType", "")) == "NUM" and concept is not None:
                volume = next(
                    (c for c in vocabulary.sr.volume_concepts if same_code(concept, c.code)),
                    None,
                )
                if volume is not None:
                    own_site, own_side = _context(
                        list(item.get("ContentSequence") or []), vocabulary
                    )
                    observation = _volume_observation(
                        item,
                        ContentItem(item=item, path=item_path).path_text(),
                        uid,
                        cement_concept=volume.cement,
                        site=own_site or site,
                        side=own_side or side,
                        vocabulary=vocabulary,
                    )
                    if observation is not None:
                        out.append(observation)
            visit(item, item_path, site, side)

    visit(ds, (), None, None)
    return out


def _unit_factor(unit: str, vocabulary: Vocabulary) -> float | None:
    """Factor to millilitres of a UCUM unit (``[sr.units]``); a case variant that is not
    listed counts when every listed unit of that spelling has the same factor."""
    units = vocabulary.sr.units
    if unit in units:
        return units[unit]
    factors = {f for u, f in units.items() if u.casefold() == unit.strip().casefold()}
    return factors.pop() if len(factors) == 1 else None


def _volume_observation(
    item: Dataset,
    path: str,
    uid: str,
    *,
    cement_concept: bool,
    site: _Site | None,
    side: str | None,
    vocabulary: Vocabulary,
) -> Observation | None:
    value, unit, raw = numeric_value(item)
    if site is not None and site.level is None:
        logger.debug("%s %s: volume at a non-vertebral site %r, not cement", uid, path, site.raw)
        return None
    if site is None and not cement_concept:
        logger.debug("%s %s: volume without a finding site, not cement", uid, path)
        return None
    factor = _unit_factor(unit[0], vocabulary) if unit is not None else None
    if factor is None:
        logger.debug("%s %s: volume in unit %r, not millilitres", uid, path, unit)
        return None
    if value is None:
        logger.debug("%s %s: volume without a value (%r), unknown", uid, path, raw)
        return None
    flags: tuple[str, ...] = () if cement_concept else ("generic-volume",)
    if unit is not None and factor != 1.0:
        flags += (f"converted-from:{unit[0]}",)
    return Observation(
        kind=Kind.CEMENT_VOLUME_ML,
        value=value * factor,
        provenance=Provenance(
            sop_instance_uid=uid,
            path=path,
            raw=f"{raw} {unit[0] if unit else ''}; site {site.raw if site else 'none'}".strip(),
        ),
        level=site.level if site is not None else None,
        side=side,
        flags=flags,
    )

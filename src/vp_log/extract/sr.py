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

from vp_log.dicom import Code, fold_code
from vp_log.levels import find_levels, level_from_code
from vp_log.models import Kind, Observation, Provenance
from vp_log.tree import ContentItem, DatasetLike, Node, as_node
from vp_log.vocabulary import Vocabulary

__all__ = [
    "ContentItem",
    "code_meaning",
    "code_of",
    "concept_code_value",
    "concept_name",
    "extract_sr_volumes",
    "find_content_items",
    "iter_content_items",
    "numeric_value",
]

logger = logging.getLogger(__name__)

"""A concept as (CodeValue, CodingSchemeDesignator), e.g. ``("113730", "DCM")``."""


def code_of(seq_item: DatasetLike) -> Code | None:
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


def _first_code(item: DatasetLike, keyword: str) -> Code | None:
    seq = item.get(keyword)
    if not seq:
        return None
    return code_of(seq[0])


def concept_name(item: DatasetLike) -> Code | None:
    """The concept name code of a content item."""
    if isinstance(item, Node):
        return item.concept
    return _first_code(item, "ConceptNameCodeSequence")


def concept_code_value(item: DatasetLike) -> Code | None:
    """The coded value of a CODE content item."""
    return _first_code(item, "ConceptCodeSequence")


def code_meaning(item: DatasetLike, keyword: str = "ConceptNameCodeSequence") -> str:
    seq = item.get(keyword)
    if not seq:
        return ""
    return str(seq[0].get("CodeMeaning", ""))


def iter_content_items(
    dataset: DatasetLike, *, recursive: bool = True, _path: tuple[Code, ...] = ()
) -> Iterator[ContentItem]:
    """Every content item below ``dataset`` (depth first, in document order).

    The tree is read once (:mod:`vp_log.tree`); later walks reuse what the first one found.
    """
    node = as_node(dataset)
    if not recursive:
        yield from node.children(_path)
    elif not _path:
        yield from node.below()
    else:
        for found in node.below():
            yield ContentItem(found.item, (*_path, *found.path))


def find_content_items(
    dataset: DatasetLike,
    *,
    name: Code | None = None,
    value_type: str | None = None,
    recursive: bool = True,
) -> list[ContentItem]:
    """Content items whose concept name is ``name`` and/or whose value type is ``value_type``.

    Matching is by code value and coding scheme; scheme aliases (``SRT``/``SCT``) are equal.
    """
    node = as_node(dataset)
    wanted = _normalise(name) if name else None
    if recursive:
        found = node.below() if wanted is None else node.below_with_key(wanted)
    else:
        found = node.children()
        if wanted is not None:
            found = [ci for ci in found if ci.item.key == wanted]
    if value_type is not None:
        found = [ci for ci in found if ci.item.value_type == value_type]
    return list(found)


_normalise = fold_code


def numeric_value(item: DatasetLike) -> tuple[float | None, Code | None, str]:
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


@dataclass(frozen=True)
class _Concepts:
    """The vocabulary's SR concepts as folded keys, for matching each item once."""

    sites: frozenset[Code]
    sides: frozenset[Code]
    volumes: dict[Code, bool]  # key -> cement concept

    @classmethod
    def of(cls, vocabulary: Vocabulary) -> _Concepts:
        volumes: dict[Code, bool] = {}
        for c in vocabulary.sr.volume_concepts:
            volumes.setdefault(fold_code(c.code), c.cement)  # the first listed wins
        return cls(
            frozenset(fold_code(c.code) for c in vocabulary.sr.finding_site_concepts),
            frozenset(fold_code(c.code) for c in vocabulary.sr.laterality_concepts),
            volumes,
        )


def _site_of(item: Node, vocabulary: Vocabulary, concepts: _Concepts) -> _Site | None:
    """The level named by a Finding Site item (CODE or TEXT), or ``None`` if not a site."""
    if item.key is None or item.key not in concepts.sites:
        return None
    value_type = item.value_type
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


def _side_of(item: Node, vocabulary: Vocabulary, concepts: _Concepts) -> str | None:
    if item.key is None or item.key not in concepts.sides:
        return None
    code = concept_code_value(item)
    if code is None:
        return None
    side = vocabulary.sr.laterality_codes.get(code[0])
    return side.value if side is not None else None


def _context(
    items: Sequence[ContentItem], vocabulary: Vocabulary, concepts: _Concepts
) -> tuple[_Site | None, str | None]:
    site: _Site | None = None
    side: str | None = None
    for child in items:
        item = child.item
        found = _site_of(item, vocabulary, concepts)
        if found is not None and site is None:
            site = found
            # TID 1501: Laterality is a concept modifier of the Finding Site.
            for modifier in item.children():
                side = side or _side_of(modifier.item, vocabulary, concepts)
        side = side or _side_of(item, vocabulary, concepts)
    return site, side


def extract_sr_volumes(ds: DatasetLike, vocabulary: Vocabulary) -> list[Observation]:
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
    if not isinstance(ds, Dataset | Node):
        raise TypeError('Argument "ds" must have type "pydicom.dataset.Dataset".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    root = as_node(ds)
    uid = str(root.get("SOPInstanceUID", "") or "")
    concepts = _Concepts.of(vocabulary)
    out: list[Observation] = []

    def visit(
        container: Node, path: tuple[Code, ...], site: _Site | None, side: str | None
    ) -> None:
        items = container.children()
        here_site, here_side = _context(items, vocabulary, concepts)
        site = here_site or site
        side = here_side or side
        for child in items:
            item = child.item
            concept = item.concept
            item_path = (*path, concept) if concept else path
            if concept is not None and item.value_type == "NUM":
                cement = concepts.volumes.get(item.key)  # type: ignore[arg-type]
                if cement is not None:
                    own_site, own_side = _context(item.children(), vocabulary, concepts)
                    observation = _volume_observation(
                        item,
                        ContentItem(item=item, path=item_path).path_text(),
                        uid,
                        cement_concept=cement,
                        site=own_site or site,
                        side=own_side or side,
                        vocabulary=vocabulary,
                    )
                    if observation is not None:
                        out.append(observation)
            visit(item, item_path, site, side)

    visit(root, (), None, None)
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
    item: Node,
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

"""Generic search of a structured report's content tree, by concept code (pure).

Concepts are matched by (code value, coding scheme designator), never by their printed
meaning: vendors change the wording, not the code. One small tree walk serves every template.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

Code = tuple[str, str]
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


_SCHEME_ALIASES = {"SRT": "SCT", "SNM3": "SCT", "99SDM": "SCT"}


def _normalise(code: Code) -> Code:
    value, scheme = code
    scheme = scheme.upper()
    return (value, _SCHEME_ALIASES.get(scheme, scheme))


def same_code(a: Code | None, b: Code) -> bool:
    """True when two codes name the same concept (scheme aliases folded)."""
    return a is not None and _normalise(a) == _normalise(b)


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

"""A dataset's sequences read once, from their bytes, into plain items the extractors walk.

pydicom turns every element of a nested sequence into a ``DataElement`` the first time it is
asked for (about 10 µs each): a dose report of a few hundred content items cost ~30 ms that
way, and each extractor that searched the content tree again paid for its lookups again.
:func:`read_tree` parses each top-level sequence of a dataset read from a file once, from the
raw bytes pydicom kept, into :class:`Item` objects holding the raw value of each element; a
value is converted by pydicom's own converter when it is first asked for (remembered by its
bytes, so the same code meaning in a thousand items is converted once), so what an extractor
reads is what pydicom would have given it. While parsing, it checks the bounds of
:mod:`vp_log.limits` (sequence depth and items, element and text lengths).

Whatever this reader is not sure of (big-endian data, a sequence sent as UN, an undefined
length it does not expect, a character set inside an item, lengths that do not add up, a
bound exceeded) raises :class:`Doubt`; :func:`vp_log.limits.check_dataset` then judges the
dataset with pydicom as before and :func:`dataset_tree` serves pydicom's own datasets.

Items answer ``get(keyword, default)`` and ``keyword in item`` as a pydicom ``Dataset``
does, and keep what the structured-report readers ask of every content item (its concept,
value type, children and the index of its descendants by concept) once computed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from vp_log.dicom import fold_code

Code = tuple[str, str]

TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT"})
_VRS = _LONG_VRS | TEXT_VRS | {"AT", "FD", "FL", "SL", "SS", "UL", "US", "UV"}
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_CHARACTER_SET = 0x00080005
_MAX_NESTING = 300  # deeper than this is judged by pydicom (no recursion limit near)
_HHI = struct.Struct("<HHI").unpack_from
_HH2sH = struct.Struct("<HH2sH").unpack_from
_I = struct.Struct("<I").unpack_from

_SEQ, _RAW, _VAL = 0, 1, 2


class Doubt(Exception):
    """The bytes are not something this reader is sure of: let pydicom judge them."""


@dataclass(frozen=True)
class Bounds:
    """The limits checked while parsing (see :class:`vp_log.limits.Limits`); 0: unbounded."""

    max_element_bytes: int = 0
    max_text_bytes: int = 0
    max_sequence_depth: int = 0
    max_sequence_items: int = 0


_tags: dict[str, int | None] = {}


def _tag(keyword: str) -> int | None:
    try:
        return _tags[keyword]
    except KeyError:
        tag = tag_for_keyword(keyword)
        _tags[keyword] = tag
        return tag


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


_converted: dict[tuple[Any, ...], Any] = {}
_MEMO_VALUE_BYTES = 256
_MEMO_ENTRIES = 20_000


def _convert(tag: int, vr: str, data: bytes, encoding: tuple[str, ...]) -> Any:
    """The value pydicom gives the raw element (remembered for short values)."""
    key = (tag if vr == "UN" else 0, vr, data, encoding)
    try:
        return _converted[key]
    except KeyError:
        pass
    raw = RawDataElement(BaseTag(tag), vr, len(data), data, 0, False, True)
    value = convert_raw_data_element(raw, encoding=list(encoding), ds=None).value
    if len(data) <= _MEMO_VALUE_BYTES:
        if len(_converted) >= _MEMO_ENTRIES:
            _converted.clear()
        _converted[key] = value
    return value


@dataclass(frozen=True, slots=True)
class ContentItem:
    """A content item found in the tree, with the path of concept codes that leads to it."""

    item: Node
    path: tuple[Code, ...]

    @property
    def value_type(self) -> str:
        return self.item.value_type

    @property
    def concept(self) -> Code | None:
        return self.item.concept

    def path_text(self) -> str:
        """Provenance path, e.g. ``sr:(DCM,113701)/(DCM,113730)``."""
        return "sr:" + "/".join(f"({scheme},{value})" for value, scheme in self.path)


class Node:
    """What the structured-report readers ask of an item, computed once per item."""

    __slots__ = ("_below", "_by_key", "_children", "_concept", "_key", "_value_type")

    def __init__(self) -> None:
        self._concept: Code | bool | None = False  # False: not computed yet
        self._key: Code | bool | None = False
        self._value_type: str | None = None
        self._children: list[ContentItem] | None = None
        self._below: list[ContentItem] | None = None
        self._by_key: dict[Code, list[ContentItem]] | None = None

    def get(self, keyword: str, default: Any = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __contains__(self, keyword: object) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def concept(self) -> Code | None:
        """(CodeValue, CodingSchemeDesignator) of the item's concept name, as written."""
        if self._concept is False:
            self._concept = _code_of_first(self.get("ConceptNameCodeSequence"))
        return self._concept  # type: ignore[return-value]

    @property
    def key(self) -> Code | None:
        """:attr:`concept` with the scheme folded (``vp_log.dicom.fold_code``), for matching."""
        if self._key is False:
            concept = self.concept
            self._key = fold_code(concept) if concept is not None else None
        return self._key  # type: ignore[return-value]

    @property
    def value_type(self) -> str:
        if self._value_type is None:
            self._value_type = str(self.get("ValueType", ""))
        return self._value_type

    def children(self, path: tuple[Code, ...] = ()) -> list[ContentItem]:
        """The items of its Content Sequence, their paths starting at ``path``."""
        if path:
            return [ContentItem(c.item, (*path, *c.path)) for c in self.children()]
        if self._children is None:
            found = []
            for item in self.get("ContentSequence") or []:
                concept = item.concept
                found.append(ContentItem(item, (concept,) if concept else ()))
            self._children = found
        return self._children

    def below(self) -> list[ContentItem]:
        """Every content item below, depth first in document order, paths from here."""
        if self._below is None:
            found: list[ContentItem] = []
            stack: list[tuple[Iterator[ContentItem], tuple[Code, ...]]] = [
                (iter(self.children()), ())
            ]
            while stack:
                items, path = stack[-1]
                child = next(items, None)
                if child is None:
                    stack.pop()
                    continue
                here = (*path, *child.path)
                found.append(child if not path else ContentItem(child.item, here))
                stack.append((iter(child.item.children()), here))
            self._below = found
        return self._below

    def below_with_key(self, key: Code) -> list[ContentItem]:
        """:meth:`below` whose concept's :attr:`key` is ``key``."""
        if self._by_key is None:
            index: dict[Code, list[ContentItem]] = {}
            for found in self.below():
                item_key = found.item.key
                if item_key is not None:
                    index.setdefault(item_key, []).append(found)
            self._by_key = index
        return self._by_key.get(key, [])


def _code_of_first(seq: Any) -> Code | None:
    if not seq:
        return None
    item = seq[0]
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
    scheme = item.get("CodingSchemeDesignator") or ""
    if not value:
        return None
    return (str(value).strip(), str(scheme).strip())


class Item(Node):
    """An item of a sequence parsed from its bytes: raw values, converted when asked for."""

    __slots__ = ("_elems", "_encoding")

    def __init__(self, elems: dict[int, tuple[int, Any, Any]], encoding: tuple[str, ...]):
        super().__init__()
        self._elems = elems
        self._encoding = encoding

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = _tag(keyword)
        entry = self._elems.get(tag) if tag is not None else None
        if entry is None:
            return default
        kind, first, second = entry
        if kind == _RAW:
            return _convert(tag, first, second, self._encoding)  # type: ignore[arg-type]
        return first

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and _tag(keyword) in self._elems


class DatasetItem(Node):
    """A pydicom dataset seen as an item: its sequences as items, its other values its own.

    With ``encoding`` (a dataset :func:`read_tree` read), a value not yet converted is
    converted as :class:`Item` does, remembered by its bytes and never written back, so the
    dataset stays as it was read; otherwise pydicom's ``Dataset.get`` answers.
    """

    __slots__ = ("_ds", "_encoding", "_sequences")

    def __init__(
        self,
        ds: Dataset,
        sequences: dict[int, list[Node]] | None = None,
        encoding: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self._ds = ds
        self._sequences = sequences  # None: pydicom's own sequences, wrapped when asked for
        self._encoding = encoding

    @property
    def dataset(self) -> Dataset:
        return self._ds

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = _tag(keyword)
        if tag is None:
            return self._ds.get(keyword, default)
        if self._sequences is not None and tag in self._sequences:
            return self._sequences[tag]
        if self._encoding is not None:
            elem: Any = self._ds.get_item(tag, keep_deferred=True)
            if elem is None:
                return default
            vr = _plain_vr(tag, elem) if isinstance(elem, RawDataElement) else None
            if vr is not None:
                return _convert(tag, vr, elem.value, self._encoding)
        value = self._ds.get(keyword, default)
        if isinstance(value, Sequence):
            wrapped: list[Node] = [DatasetItem(item) for item in value]
            if self._sequences is None:
                self._sequences = {}
            self._sequences[tag] = wrapped
            return wrapped
        return value

    def __contains__(self, keyword: object) -> bool:
        ds: Any = self._ds
        return keyword in ds


def _plain_vr(tag: int, elem: Any) -> str | None:
    """The VR of a raw top-level element :func:`_convert` converts as pydicom would; None
    for what pydicom treats on its own (deferred, big endian, ambiguous or UN, sequences,
    the character set itself)."""
    if elem.value is None or not elem.is_little_endian or tag == _CHARACTER_SET:
        return None
    vr = str(elem.VR or "")
    if vr in ("", "None"):
        vr = _dictionary_vr(tag)
    if vr in ("SQ", "UN") or " or " in vr or not isinstance(elem.value, bytes):
        return None
    return vr


DatasetLike = Dataset | Node
"""What the extractors read: a pydicom dataset, or an item of its tree."""


def as_node(ds: DatasetLike) -> Node:
    """``ds`` as an item: a dataset is read with :func:`read_tree` (or pydicom's, in doubt)."""
    if isinstance(ds, Node):
        return ds
    if not isinstance(ds, Dataset):
        msg = 'Argument "ds" must have type "pydicom.dataset.Dataset".'
        raise TypeError(msg)
    try:
        return read_tree(ds, Bounds())
    except Doubt:
        return dataset_tree(ds)


def dataset_tree(ds: Dataset) -> DatasetItem:
    """``ds`` as an item whose sequences pydicom decodes (the reading before this module)."""
    return DatasetItem(ds)


# --- reading ---------------------------------------------------------------------------------


class _Count:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items = 0


def read_tree(ds: Dataset, bounds: Bounds) -> DatasetItem:
    """``ds`` with each top-level sequence parsed from its bytes; :class:`Doubt` if unsure.

    Checks ``bounds`` on the way: any bound exceeded is a :class:`Doubt` too (the caller lets
    pydicom find and name it).
    """
    encoding = _encoding(ds)
    count = _Count()
    sequences: dict[int, list[Node]] = {}
    for tag in list(ds.keys()):
        elem: Any = ds.get_item(tag, keep_deferred=True)
        raw = isinstance(elem, RawDataElement)
        vr = str(elem.VR or "")
        if vr in ("", "None") or (vr == "UN" and not (tag >> 16) % 2):
            vr = _dictionary_vr(tag)  # implicit VR: the dictionary says what the value is
        if raw and elem.length != _UNDEFINED:
            _check_length(tag, vr, elem.length, bounds)
        if vr != "SQ":
            if not raw and vr in TEXT_VRS:
                _check_text(elem.value, bounds)
            continue
        if not raw:
            if isinstance(elem.value, Sequence):
                sequences[tag] = _from_datasets(elem.value, 1, bounds, count, encoding)
            continue
        if elem.value is None or not elem.is_little_endian or elem.length == _UNDEFINED:
            raise Doubt
        if str(elem.VR or "") not in ("SQ", "", "None"):
            raise Doubt  # a sequence sent as UN: pydicom re-reads it
        value = bytes(elem.value)
        if len(value) != elem.length:
            raise Doubt
        parser = _Parser(value, bool(elem.is_implicit_VR), bounds, count, encoding)
        sequences[tag] = parser.items(0, len(value), 1)[0]
    return DatasetItem(ds, sequences, encoding)


def _encoding(ds: Dataset) -> tuple[str, ...]:
    charset: Any = getattr(ds, "original_character_set", None) or ds._character_set
    return (charset,) if isinstance(charset, str) else tuple(charset)


def _check_length(tag: int, vr: str, length: int, bounds: Bounds) -> None:
    if bounds.max_element_bytes and length > bounds.max_element_bytes:
        raise Doubt
    if bounds.max_text_bytes and vr in TEXT_VRS and length > bounds.max_text_bytes:
        raise Doubt


def _check_text(value: Any, bounds: Bounds) -> None:
    if not bounds.max_text_bytes:
        return
    values = value if isinstance(value, list | tuple) else [value]
    if sum(len(str(v)) for v in values if v is not None) > bounds.max_text_bytes:
        raise Doubt


def _enter(depth: int, bounds: Bounds) -> None:
    if depth > _MAX_NESTING or (bounds.max_sequence_depth and depth > bounds.max_sequence_depth):
        raise Doubt


def _counted(count: _Count, n: int, bounds: Bounds) -> None:
    count.items += n
    if bounds.max_sequence_items and count.items > bounds.max_sequence_items:
        raise Doubt


def _from_datasets(
    items: Sequence, depth: int, bounds: Bounds, count: _Count, encoding: tuple[str, ...]
) -> list[Node]:
    """Items of a sequence pydicom already decoded (undefined length, or built in code)."""
    _enter(depth, bounds)
    _counted(count, len(items), bounds)
    out: list[Node] = []
    for item in items:
        if not isinstance(item, Dataset):
            raise Doubt
        elems = {
            int(tag): _from_element(item, tag, depth, bounds, count, encoding)
            for tag in list(item.keys())
        }
        out.append(Item(elems, encoding))
    return out


def _from_element(
    item: Dataset, tag: int, depth: int, bounds: Bounds, count: _Count, encoding: tuple[str, ...]
) -> tuple[int, Any, Any]:
    """One element of an item pydicom decoded, as an entry of :class:`Item`."""
    if tag == _CHARACTER_SET:
        raise Doubt
    elem: Any = item.get_item(tag, keep_deferred=True)
    sent = str(elem.VR or "")
    vr = sent
    if vr in ("", "None") or (vr == "UN" and not (tag >> 16) % 2):
        vr = _dictionary_vr(tag)
    if not isinstance(elem, RawDataElement):
        if vr == "SQ" and isinstance(elem.value, Sequence):
            return (_SEQ, _from_datasets(elem.value, depth + 1, bounds, count, encoding), None)
        if vr in TEXT_VRS:
            _check_text(elem.value, bounds)
        return (_VAL, elem.value, None)
    if elem.value is None or elem.length == _UNDEFINED or not elem.is_little_endian:
        raise Doubt
    if " or " in vr or (vr == "UN" and sent in ("", "None")):
        raise Doubt  # ambiguous, or private in implicit VR: pydicom's lookups decide
    value = bytes(elem.value)
    _check_length(tag, vr, len(value), bounds)
    if vr != "SQ":
        return (_RAW, vr, value)
    if sent not in ("SQ", "", "None"):
        raise Doubt  # a sequence sent as UN: pydicom re-reads it
    parser = _Parser(value, bool(elem.is_implicit_VR), bounds, count, encoding)
    return (_SEQ, parser.items(0, len(value), depth + 1)[0], None)


class _Parser:
    """Sequence items from the bytes of a sequence value (little endian)."""

    def __init__(
        self,
        buf: bytes,
        implicit: bool,
        bounds: Bounds,
        count: _Count,
        encoding: tuple[str, ...],
    ) -> None:
        self.buf = buf
        self.implicit = implicit
        self.bounds = bounds
        self.count = count
        self.encoding = encoding

    def items(self, pos: int, end: int | None, depth: int) -> tuple[list[Node], int]:
        """The items from ``pos`` to ``end`` (None: to the sequence delimiter)."""
        _enter(depth, self.bounds)
        buf = self.buf
        limit = len(buf) if end is None else end
        items: list[Node] = []
        while end is None or pos < end:
            if pos + 8 > limit:
                raise Doubt
            group, element, length = _HHI(buf, pos)
            pos += 8
            tag = group << 16 | element
            if tag == _SEQUENCE_END and end is None:
                return items, pos
            if tag != _ITEM:
                raise Doubt
            _counted(self.count, 1, self.bounds)
            if length == _UNDEFINED:
                item, pos = self.item(pos, None, limit, depth)
            else:
                if pos + length > limit:
                    raise Doubt
                item, pos = self.item(pos, pos + length, pos + length, depth)
            items.append(item)
        if pos != end:
            raise Doubt
        return items, pos

    def header(self, pos: int, limit: int) -> tuple[int, str, int, int]:
        """(tag, VR, length, position of the value) of the element at ``pos``.

        The VR is ``""`` for an item delimiter.
        """
        if pos + 8 > limit:
            raise Doubt
        if self.implicit:
            group, element, length = _HHI(self.buf, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                return tag, "", 0, pos + 8
            vr = _dictionary_vr(tag)
            if " or " in vr:
                raise Doubt
            return tag, vr, length, pos + 8
        group, element, vr_bytes, length = _HH2sH(self.buf, pos)
        tag = group << 16 | element
        if tag == _ITEM_END:
            return tag, "", 0, pos + 8
        vr = vr_bytes.decode("latin-1")
        if vr not in _VRS:
            raise Doubt
        if vr in _LONG_VRS:
            if pos + 12 > limit:
                raise Doubt
            length = _I(self.buf, pos + 8)[0]
            pos += 4
        if vr == "UN" and not group % 2:
            vr = _dictionary_vr(tag)
            if vr in ("SQ", "UN") or " or " in vr:
                raise Doubt
        return tag, vr, length, pos + 8

    def item(self, pos: int, end: int | None, limit: int, depth: int) -> tuple[Item, int]:
        """One item's elements from ``pos`` to ``end`` (None: to its delimiter)."""
        elems: dict[int, tuple[int, Any, Any]] = {}
        while end is None or pos < end:
            tag, vr, length, pos = self.header(pos, limit)
            if not vr:  # the item delimiter
                if end is not None:
                    raise Doubt
                return Item(elems, self.encoding), pos
            if tag >> 16 == 0xFFFE or tag in elems or tag == _CHARACTER_SET:
                raise Doubt
            if vr == "SQ" and length == _UNDEFINED:
                seq, pos = self.items(pos, None, depth + 1)
                elems[tag] = (_SEQ, seq, None)
                continue
            if length == _UNDEFINED or pos + length > limit:
                raise Doubt
            _check_length(tag, vr, length, self.bounds)
            if vr == "SQ":
                elems[tag] = (_SEQ, self.items(pos, pos + length, depth + 1)[0], None)
            else:
                elems[tag] = (_RAW, vr, self.buf[pos : pos + length])
            pos += length
        if pos != end:
            raise Doubt
        return Item(elems, self.encoding), pos

"""Spinal levels: one parser for every notation, an order, adjacency (pure).

A :class:`SpinalLevel` is one vertebra (``C1``–``C7``, ``T1``–``T12``, ``L1``–``L5``), one sacral
segment (``S1``–``S5``), the sacrum as a whole (``sacrum``: what a sacroplasty note or an SR
finding site usually names) or the coccyx (``Co``). Its value and its ``str`` are the canonical
form (``T12``); levels compare in craniocaudal order.

Notations read (case-insensitive): ``T12``, ``Th12``, ``D12`` (dorsal, Italy and France),
``BWK 12`` / ``LWK 1`` / ``HWK 3`` (German *Brust-/Lenden-/Halswirbelkörper*), ``LV1``, ``BW 8``,
``Th.12``, a space or a dot after one letter (``T 12``, ``L. 1``; then the number must not be a
volume: ``L 1,5 ml`` is none), ranges ``L1-L2``, ``T11–L1`` (hyphen, en or em dash, ``to``,
``bis``, ``a``, ``à``, ``tot``, ``through``), short ranges ``L1-3``, lists ``L1, L2 and L3`` and
``LWK 1 und 2``. ``L4/5`` (a slash and the next number) is a *joint* (disc or facet level,
:attr:`LevelMention.joint`), not two vertebrae. Sites may add prefixes through
``[levels]`` in the vocabulary (:mod:`vp_log.vocabulary`); every function here takes them as
the optional ``notations`` argument.

Adjacency is about touching segments: ``T12``–``L1`` and ``L5``–``S1`` are adjacent, and so are
``L5`` and the sacrum; the sacrum and ``S1`` overlap, so they are not adjacent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import lru_cache

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_NOTATIONS",
    "SNOMED_LEVEL_CODES",
    "LevelMention",
    "Region",
    "SpinalLevel",
    "expand_range",
    "find_level_mentions",
    "find_levels",
    "is_adjacent",
    "level_from_code",
    "parse_level",
    "parse_levels",
]


class Region(StrEnum):
    """Region of the spine; values are the canonical prefixes."""

    CERVICAL = "C"
    """Cervical vertebrae C1–C7."""
    THORACIC = "T"
    """Thoracic (dorsal) vertebrae T1–T12."""
    LUMBAR = "L"
    """Lumbar vertebrae L1–L5."""
    SACRAL = "S"
    """Sacral segments S1–S5 and the sacrum as a whole."""
    COCCYGEAL = "Co"
    """The coccyx."""


_REGION_SIZE = {Region.CERVICAL: 7, Region.THORACIC: 12, Region.LUMBAR: 5, Region.SACRAL: 5}


class SpinalLevel(Enum):
    """A spinal level; the value is its canonical text, members compare craniocaudally.

    ``SpinalLevel("Th12")`` parses any known notation (see :func:`parse_level`).
    """

    C1 = "C1"
    C2 = "C2"
    C3 = "C3"
    C4 = "C4"
    C5 = "C5"
    C6 = "C6"
    C7 = "C7"
    T1 = "T1"
    T2 = "T2"
    T3 = "T3"
    T4 = "T4"
    T5 = "T5"
    T6 = "T6"
    T7 = "T7"
    T8 = "T8"
    T9 = "T9"
    T10 = "T10"
    T11 = "T11"
    T12 = "T12"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L4 = "L4"
    L5 = "L5"
    SACRUM = "sacrum"
    """The sacrum as a whole (spans S1–S5)."""
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"
    S4 = "S4"
    S5 = "S5"
    COCCYX = "Co"
    """The coccyx."""

    @classmethod
    def _missing_(cls, value: object) -> SpinalLevel | None:
        if isinstance(value, str):
            try:
                return parse_level(value)
            except ValueError:
                return None
        return None

    def __str__(self) -> str:
        return self.value

    # --- order -------------------------------------------------------------------------
    @property
    def ordinal(self) -> int:
        """Position in craniocaudal order (C1 is 0; the sacrum sorts just before S1)."""
        return _ORDINAL[self]

    @property
    def span(self) -> tuple[int, int]:
        """First and last segment (0 = C1 … 29 = coccyx) this level covers."""
        return _SPAN[self]

    @property
    def region(self) -> Region:
        if self is SpinalLevel.SACRUM:
            return Region.SACRAL
        if self is SpinalLevel.COCCYX:
            return Region.COCCYGEAL
        return Region(self.value[0])

    @property
    def number(self) -> int | None:
        """Number within the region (12 for T12); ``None`` for the sacrum and the coccyx."""
        if self in (SpinalLevel.SACRUM, SpinalLevel.COCCYX):
            return None
        return int(self.value[1:])

    @property
    def is_sacral(self) -> bool:
        """True for S1–S5 and the sacrum (sacroplasty territory)."""
        return self.region is Region.SACRAL

    @property
    def is_vertebral(self) -> bool:
        """True for C1–L5 (vertebroplasty / kyphoplasty territory)."""
        return self.region in (Region.CERVICAL, Region.THORACIC, Region.LUMBAR)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SpinalLevel):
            return NotImplemented
        return self.ordinal < other.ordinal

    def __le__(self, other: object) -> bool:
        if not isinstance(other, SpinalLevel):
            return NotImplemented
        return self.ordinal <= other.ordinal

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, SpinalLevel):
            return NotImplemented
        return self.ordinal > other.ordinal

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, SpinalLevel):
            return NotImplemented
        return self.ordinal >= other.ordinal

    @classmethod
    def segments(cls) -> list[SpinalLevel]:
        """Every single segment in order (C1 … S5, coccyx), without the whole sacrum."""
        return list(_SEGMENTS)


_ORDINAL: dict[SpinalLevel, int] = {level: i for i, level in enumerate(SpinalLevel)}
_SEGMENTS: tuple[SpinalLevel, ...] = tuple(lv for lv in SpinalLevel if lv is not SpinalLevel.SACRUM)
_SPAN: dict[SpinalLevel, tuple[int, int]] = {lv: (i, i) for i, lv in enumerate(_SEGMENTS)}
_SPAN[SpinalLevel.SACRUM] = (_SPAN[SpinalLevel.S1][0], _SPAN[SpinalLevel.S5][0])


def _as_level(value: SpinalLevel | str, argument: str) -> SpinalLevel:
    if isinstance(value, SpinalLevel):
        return value
    if isinstance(value, str):
        return parse_level(value)
    raise TypeError(f'Argument "{argument}" must have type "SpinalLevel" or "str".')


def is_adjacent(a: SpinalLevel | str, b: SpinalLevel | str) -> bool:
    """True when the two levels touch without overlapping (T12–L1, L5–S1, L5–sacrum).

    Symmetric; a level is not adjacent to itself.
    """
    first, second = _as_level(a, "a"), _as_level(b, "b")
    (a0, a1), (b0, b1) = first.span, second.span
    return a1 + 1 == b0 or b1 + 1 == a0


def expand_range(a: SpinalLevel | str, b: SpinalLevel | str) -> list[SpinalLevel]:
    """Every segment from ``a`` to ``b`` inclusive, in craniocaudal order.

    The ends may come in either order (``L1``–``T11`` gives T11, T12, L1). A range cannot
    end at the sacrum as a whole: name a segment (S1–S5).
    """
    first, last = _as_level(a, "a"), _as_level(b, "b")
    for name, level in (("a", first), ("b", last)):
        if level is SpinalLevel.SACRUM:
            raise ValueError(
                f'Argument "{name}" must be a single segment for a range, not the whole sacrum.'
            )
    lo, hi = sorted((first, last))
    return [lv for lv in _SEGMENTS if lo <= lv <= hi]


# --- notations -------------------------------------------------------------------------

DEFAULT_NOTATIONS: Mapping[Region, tuple[str, ...]] = {
    Region.CERVICAL: ("C", "HWK", "HW", "CV"),
    Region.THORACIC: ("T", "Th", "D", "BWK", "TWK", "BW", "ThWK"),
    Region.LUMBAR: ("L", "LWK", "LW", "LV"),
    Region.SACRAL: ("S", "SWK", "SW"),
}
"""Prefixes followed by a number, per region (matched case-insensitively)."""

DEFAULT_SACRUM_WORDS: tuple[str, ...] = (
    "sacrum",
    "sacral",
    "sacrale",
    "sacré",
    "sacro",
    "sacra",
    "sakrum",
    "sakral",
    "kreuzbein",
    "heiligbeen",
    "os sacrum",
)
"""Words for the sacrum as a whole (whole words, case-insensitive)."""

DEFAULT_COCCYX_WORDS: tuple[str, ...] = (
    "coccyx",
    "coccygeal",
    "coccyge",
    "coccige",
    "cóccix",
    "steißbein",
    "steissbein",
    "stuitbeen",
    "co1",
)
"""Words for the coccyx (whole words, case-insensitive)."""

_RANGE_WORDS = r"(?:-|–|—|‐|‑|to|bis|à|a|al|tot|through|thru|->|→)"
_LIST_SPLIT = re.compile(
    r"\s*(?:[,;/+&]|\band\b|\bund\b|\bu\.|\bet\b|\be\b|\by\b|\ben\b)\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class _Notations:
    pattern: re.Pattern[str]
    prefixes: dict[str, Region]  # lower-cased prefix -> region
    sacrum: frozenset[str]
    coccyx: frozenset[str]


def _normalise_notations(
    notations: Mapping[Region | str, Sequence[str]] | None,
    sacrum_words: Iterable[str] | None,
    coccyx_words: Iterable[str] | None,
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], tuple[str, ...]]:
    prefixes: dict[str, str] = {}
    source: Mapping[Region | str, Sequence[str]] = (
        notations if notations is not None else {k: v for k, v in DEFAULT_NOTATIONS.items()}
    )
    for region_key, words in source.items():
        region = _as_region(region_key)
        for word in words:
            if not word.strip():
                raise ValueError(
                    f'Notation prefixes for region "{region.value}" must not be empty.'
                )
            prefixes[word.strip().lower()] = region.value
    sacrum = tuple(sorted({w.lower() for w in (sacrum_words or DEFAULT_SACRUM_WORDS)}))
    coccyx = tuple(sorted({w.lower() for w in (coccyx_words or DEFAULT_COCCYX_WORDS)}))
    return tuple(sorted(prefixes.items())), sacrum, coccyx


_REGION_NAMES = {
    "cervical": Region.CERVICAL,
    "thoracic": Region.THORACIC,
    "dorsal": Region.THORACIC,
    "lumbar": Region.LUMBAR,
    "sacral": Region.SACRAL,
}


def _as_region(value: Region | str) -> Region:
    if isinstance(value, Region):
        return value
    key = value.strip()
    if key.lower() in _REGION_NAMES:
        return _REGION_NAMES[key.lower()]
    try:
        return Region(key.upper() if len(key) == 1 else key)
    except ValueError:
        raise ValueError(
            f'Region "{value}" must be one of C, T, L, S or cervical, thoracic, lumbar, sacral.'
        ) from None


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


@lru_cache(maxsize=16)
def _compile(
    prefixes: tuple[tuple[str, str], ...], sacrum: tuple[str, ...], coccyx: tuple[str, ...]
) -> _Notations:
    short = [p for p, _ in prefixes if len(p) == 1]
    long = [p for p, _ in prefixes if len(p) > 1]
    prefix_alts = []
    # A number that is not a volume or a decimal ("L 1,5 ml" and "T 2 ml" are no levels).
    whole_number = r"(?=\d{1,2}(?!\d)(?![.,]\d)(?!\s*(?:ml|cc|cm|ccm|mm|mg|%|x)(?![a-z])))"
    if long:
        # Multi-letter prefixes may be followed by a space or a dot: "BWK 12", "Th.12".
        prefix_alts.append(rf"(?:{_alternatives(long)})\.?\s?")
    if short:
        # One letter, then a dot or a space before a whole number: "T 12", "L. 1".
        prefix_alts.append(rf"(?:{_alternatives(short)})(?:\.\s?|\s){whole_number}")
        prefix_alts.append(rf"(?:{_alternatives(short)})")
    prefix = "|".join(prefix_alts)

    def seg(group: str) -> str:
        return rf"(?P<{group}p>{prefix})(?P<{group}n>\d{{1,2}})(?!\d)"

    word = rf"(?P<w>{_alternatives((*sacrum, *coccyx))})"
    # A bare number ends a short range ("L1-3") unless it starts a volume ("L1-2 ml", "L1-2.5").
    short_end = r"(?P<sn>\d{1,2})(?![\d.,]\d|\s*(?:ml|cc|cm|ccm)(?![a-z]))"
    boundary = "A-Za-z0-9À-ÿ"
    # "L4/5", "LWK 4/5": a slash and a bare number name the joint (disc, facets) between two.
    joint_end = r"(?P<jn>\d{1,2})(?![\d.,]\d|\s*(?:ml|cc|cm|ccm)(?![a-z]))"
    # "LWK 1 und 2", "L1, 2 and 3": bare numbers listed after one prefix.
    bare = r"\d{1,2}(?![\d.,]\d|\s*(?:ml|cc|cm|ccm|mm|mg|%)(?![a-z]))(?!\s*[/-])"
    list_word = r"(?:,|&|\+|\band\b|\bund\b|\bu\.|\bet\b|\be\b|\by\b|\ben\b|\boch\b|\bi\b)"
    list_end = rf"(?P<ln>(?:\s*{list_word}\s*{bare})+)"
    text = (
        rf"(?<![{boundary}])(?:{seg('a')}(?:\s*{_RANGE_WORDS}\s*(?:{seg('b')}|{short_end})"
        rf"|\s*/\s*{joint_end}|{list_end})?"
        rf"|{word})(?![{boundary}])"
    )
    return _Notations(
        pattern=re.compile(text, re.IGNORECASE),
        prefixes={p: Region(r) for p, r in prefixes},
        sacrum=frozenset(sacrum),
        coccyx=frozenset(coccyx),
    )


def _notations(
    notations: Mapping[Region | str, Sequence[str]] | None,
    sacrum_words: Iterable[str] | None = None,
    coccyx_words: Iterable[str] | None = None,
) -> _Notations:
    return _compile(*_normalise_notations(notations, sacrum_words, coccyx_words))


def _segment(compiled: _Notations, prefix: str, number: str) -> SpinalLevel | None:
    key = prefix.rstrip(". \t").lower()
    region = compiled.prefixes.get(key)
    if region is None:
        return None
    n = int(number)
    if not 1 <= n <= _REGION_SIZE[region]:
        return None
    return SpinalLevel(f"{region.value}{n}")


@dataclass(frozen=True)
class LevelMention:
    """A level or range found in free text: where it is and which levels it names."""

    start: int
    end: int
    text: str
    levels: tuple[SpinalLevel, ...]
    is_range: bool
    joint: bool = False
    """A joint between two neighbouring vertebrae (``L4/5``): a disc or facet level, not two
    vertebrae."""


def _first_only(match: re.Match[str], first: SpinalLevel) -> LevelMention:
    """The first level alone (what followed it was no valid range, list or joint end)."""
    end = match.start() + len(match.group("ap")) + len(match.group("an"))
    return LevelMention(match.start(), end, match.string[match.start() : end], (first,), False)


def _listed(match: re.Match[str], first: SpinalLevel) -> LevelMention:
    """``LWK 1 und 2``: bare numbers after one prefix, each higher than the last."""
    listed = [first]
    for number in (int(n) for n in re.findall(r"\d{1,2}", match.group("ln"))):
        previous = listed[-1].number or 0
        if previous < number <= _REGION_SIZE[first.region]:
            listed.append(SpinalLevel(f"{first.region.value}{number}"))
    if len(listed) == 1:
        return _first_only(match, first)
    return LevelMention(match.start(), match.end(), match.group(0), tuple(listed), False)


def _joint_of(match: re.Match[str], first: SpinalLevel) -> LevelMention:
    """``L4/5``: the joint between a vertebra and the next one."""
    number = int(match.group("jn"))
    if first.number is None or number != first.number + 1 or number > _REGION_SIZE[first.region]:
        return _first_only(match, first)
    second = SpinalLevel(f"{first.region.value}{number}")
    return LevelMention(match.start(), match.end(), match.group(0), (first, second), False, True)


def _range_end(
    compiled: _Notations, match: re.Match[str], first: SpinalLevel
) -> SpinalLevel | None:
    if match.group("bp"):
        return _segment(compiled, match.group("bp"), match.group("bn"))
    if match.group("sn"):
        number = int(match.group("sn"))
        if first.number is not None and first.number < number <= _REGION_SIZE[first.region]:
            return SpinalLevel(f"{first.region.value}{number}")
    return None


def _mention(compiled: _Notations, match: re.Match[str]) -> LevelMention | None:
    if match.group("w"):
        word = match.group("w").lower()
        level = SpinalLevel.SACRUM if word in compiled.sacrum else SpinalLevel.COCCYX
        return LevelMention(match.start(), match.end(), match.group(0), (level,), False)
    first = _segment(compiled, match.group("ap"), match.group("an"))
    if first is None:
        return None
    if match.group("ln"):
        return _listed(match, first)
    if match.group("jn"):
        return _joint_of(match, first)
    last = _range_end(compiled, match, first)
    if last is None:
        return _first_only(match, first)
    return LevelMention(
        match.start(), match.end(), match.group(0), tuple(expand_range(first, last)), first != last
    )


def find_level_mentions(
    text: str,
    *,
    notations: Mapping[Region | str, Sequence[str]] | None = None,
    sacrum_words: Iterable[str] | None = None,
    coccyx_words: Iterable[str] | None = None,
) -> list[LevelMention]:
    """Every level or range named in free text, in order of appearance, with its span.

    Unknown numbers (``L6``, ``T13``) are not levels and are skipped.
    """
    if not isinstance(text, str):
        raise TypeError('Argument "text" must have type "str".')
    compiled = _notations(notations, sacrum_words, coccyx_words)
    mentions = []
    for match in compiled.pattern.finditer(text):
        mention = _mention(compiled, match)
        if mention is not None:
            mentions.append(mention)
    return mentions


def find_levels(
    text: str,
    *,
    notations: Mapping[Region | str, Sequence[str]] | None = None,
    sacrum_words: Iterable[str] | None = None,
    coccyx_words: Iterable[str] | None = None,
) -> list[SpinalLevel]:
    """The levels named anywhere in free text, ranges expanded, each once, in order of mention."""
    seen: dict[SpinalLevel, None] = {}
    for mention in find_level_mentions(
        text, notations=notations, sacrum_words=sacrum_words, coccyx_words=coccyx_words
    ):
        for level in mention.levels:
            seen.setdefault(level, None)
    return list(seen)


def parse_level(
    text: str | SpinalLevel,
    *,
    notations: Mapping[Region | str, Sequence[str]] | None = None,
) -> SpinalLevel:
    """One level from text that is exactly a level (``T12``, ``th 12``, ``BWK 12``, ``sacrum``).

    Raises:
        ValueError: the text is not exactly one level; the message names the text.
    """
    if isinstance(text, SpinalLevel):
        return text
    if not isinstance(text, str):
        raise TypeError('Argument "text" must have type "str" or "SpinalLevel".')
    stripped = text.strip()
    if stripped.lower() == "co":  # the canonical form of the coccyx, too short for free text
        return SpinalLevel.COCCYX
    compiled = _notations(notations)
    match = compiled.pattern.fullmatch(stripped)
    if match is not None:
        mention = _mention(compiled, match)
        if mention is not None and len(mention.levels) == 1 and mention.end == len(stripped):
            return mention.levels[0]
    raise ValueError(
        f'Argument "text" must name one spinal level (C1–C7, T1–T12, L1–L5, S1–S5, sacrum, '
        f"coccyx), got {text!r}."
    )


def parse_levels(
    text: str,
    *,
    notations: Mapping[Region | str, Sequence[str]] | None = None,
) -> list[SpinalLevel]:
    """Levels from text that is only levels, ranges and list separators.

    ``"T11–L1"`` gives T11, T12, L1; ``"L1, L3"`` gives L1, L3; ``"L1-3"`` gives L1, L2, L3.
    Ranges expand in craniocaudal order; list items keep their written order; repeats are
    dropped.

    Raises:
        ValueError: some part of the text is not a level; the message names the text.
    """
    if not isinstance(text, str):
        raise TypeError('Argument "text" must have type "str".')
    compiled = _notations(notations)
    result: dict[SpinalLevel, None] = {}
    parts = [p for p in _LIST_SPLIT.split(text.strip()) if p.strip()]
    if not parts:
        raise ValueError(f'Argument "text" must name at least one spinal level, got {text!r}.')
    for part in parts:
        match = compiled.pattern.fullmatch(part.strip())
        mention = _mention(compiled, match) if match is not None else None
        if mention is None or mention.end != len(part.strip()):
            raise ValueError(
                f'Argument "text" must be spinal levels, ranges and separators; {part.strip()!r} '
                f"in {text!r} is not a level."
            )
        for level in mention.levels:
            result.setdefault(level, None)
    return list(result)


# --- coded anatomy ---------------------------------------------------------------------

SNOMED_LEVEL_CODES: Mapping[str, SpinalLevel] = {
    # SNOMED CT concept ids (DICOM CID 7603 "Vertebra"), with the legacy SNOMED RT ids (SRT).
    "14806007": SpinalLevel.C1,
    "T-11610": SpinalLevel.C1,
    "39976000": SpinalLevel.C2,
    "T-11620": SpinalLevel.C2,
    "113205007": SpinalLevel.C3,
    "T-11630": SpinalLevel.C3,
    "5329002": SpinalLevel.C4,
    "T-11640": SpinalLevel.C4,
    "36978003": SpinalLevel.C5,
    "T-11650": SpinalLevel.C5,
    "36054005": SpinalLevel.C6,
    "T-11660": SpinalLevel.C6,
    "87391001": SpinalLevel.C7,
    "T-11670": SpinalLevel.C7,
    "64864005": SpinalLevel.T1,
    "T-11710": SpinalLevel.T1,
    "53733008": SpinalLevel.T2,
    "T-11720": SpinalLevel.T2,
    "1626008": SpinalLevel.T3,
    "T-11730": SpinalLevel.T3,
    "73071006": SpinalLevel.T4,
    "T-11740": SpinalLevel.T4,
    "56401006": SpinalLevel.T5,
    "T-11750": SpinalLevel.T5,
    "45296009": SpinalLevel.T6,
    "T-11760": SpinalLevel.T6,
    "62487009": SpinalLevel.T7,
    "T-11770": SpinalLevel.T7,
    "11068009": SpinalLevel.T8,
    "T-11780": SpinalLevel.T8,
    "82687006": SpinalLevel.T9,
    "T-11790": SpinalLevel.T9,
    "7610001": SpinalLevel.T10,
    "T-117A0": SpinalLevel.T10,
    "12989004": SpinalLevel.T11,
    "T-117B0": SpinalLevel.T11,
    "23215003": SpinalLevel.T12,
    "T-117C0": SpinalLevel.T12,
    "66794005": SpinalLevel.L1,
    "T-11910": SpinalLevel.L1,
    "14293000": SpinalLevel.L2,
    "T-11920": SpinalLevel.L2,
    "36470004": SpinalLevel.L3,
    "T-11930": SpinalLevel.L3,
    "11994002": SpinalLevel.L4,
    "T-11940": SpinalLevel.L4,
    "49668003": SpinalLevel.L5,
    "T-11950": SpinalLevel.L5,
    "54735007": SpinalLevel.SACRUM,
    "T-11AD0": SpinalLevel.SACRUM,
    "64688005": SpinalLevel.COCCYX,
    "T-11BF0": SpinalLevel.COCCYX,
}
"""Coded anatomy → level: SNOMED CT (scheme ``SCT``) and SNOMED RT (``SRT``) ids."""

_SNOMED_SCHEMES = frozenset({"SCT", "SRT", "SNM3", "99SDM", "SNOMED", "SNOMED-CT", "SNOMEDCT"})


def level_from_code(value: str, scheme: str) -> SpinalLevel | None:
    """The level a coded anatomic concept names (SNOMED CT or RT), or ``None``."""
    if scheme.strip().upper() not in _SNOMED_SCHEMES:
        return None
    return SNOMED_LEVEL_CODES.get(value.strip())

"""The words and codes vp_log reads: one validated model, loaded from TOML.

The packaged default is ``vp_log/defaults/vocabulary.toml`` (a documented copy for sites to
edit is ``config/vocabulary.toml``). :func:`load_vocabulary` reads a site file over the
default: tables are merged key by key, a list given by the site replaces the default list
(so a site can also remove a word). Unknown keys and values of the wrong type are refused with
a message naming the key.

Besides the data, a :class:`Vocabulary` offers the matching every extractor shares
(:meth:`Vocabulary.find_words`, :meth:`Vocabulary.find_procedures`,
:meth:`Vocabulary.find_volumes`), compiled once per vocabulary.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PrivateAttr, ValidationError

from vp_log.levels import Region, SpinalLevel

logger = logging.getLogger(__name__)

__all__ = [
    "Approach",
    "ConceptRef",
    "CptCode",
    "Hit",
    "ProcedureHit",
    "ProcedureType",
    "RisCode",
    "Side",
    "Vocabulary",
    "VocabularyError",
    "VolumeHit",
    "fold_text",
    "load_vocabulary",
    "normalise_text",
]


class ProcedureType(StrEnum):
    """What a study is; values are stored in records."""

    VERTEBROPLASTY = "vertebroplasty"
    """Percutaneous vertebroplasty (cement injected into a vertebral body)."""
    KYPHOPLASTY = "kyphoplasty"
    """Vertebral augmentation with cavity creation (balloon kyphoplasty and kin)."""
    SACROPLASTY = "sacroplasty"
    """Percutaneous sacral augmentation."""
    OTHER = "other"
    """Another procedure named by the study's own words or codes (facet or nerve-root
    injection, lumbar puncture, fusion, biopsy alone...): not a vertebral augmentation."""
    UNCLASSIFIED = "unclassified"
    """A study with no evidence either way (listed, never dropped)."""

    @property
    def is_augmentation(self) -> bool:
        """True for vertebroplasty, kyphoplasty and sacroplasty."""
        return self in _AUGMENTATION


_AUGMENTATION = frozenset(
    {ProcedureType.VERTEBROPLASTY, ProcedureType.KYPHOPLASTY, ProcedureType.SACROPLASTY}
)

KindType = Literal["vertebroplasty", "kyphoplasty", "sacroplasty", "augmentation", "other"]
"""What a row of the classification table names; ``augmentation`` is resolved by the level."""

Need = Literal["nothing", "spine", "level", "treatment"]
"""What else a text must name for a classification row to count (see the vocabulary file)."""


class Approach(StrEnum):
    """Needle approach; values are the canonical words."""

    UNIPEDICULAR = "unipedicular"
    BIPEDICULAR = "bipedicular"
    TRANSPEDICULAR = "transpedicular"
    PARAPEDICULAR = "parapedicular"
    EXTRAPEDICULAR = "extrapedicular"
    SHORT_AXIS = "short-axis"
    """Sacroplasty: posterior short-axis approach."""
    LONG_AXIS = "long-axis"
    """Sacroplasty: long-axis approach along the sacral ala."""
    TRANSILIAC = "transiliac"
    """Sacroplasty: transiliac approach."""


class Side(StrEnum):
    """Side of an injection."""

    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"


_T = TypeVar("_T")
_READING_TEXT_CHARS = 1024
_READINGS = 4_000


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    # schema built at first use, not at import: the commands that only read records import
    # this module for its enums (issue 15: start-up)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class LevelWords(_Strict):
    """Level notations per region (prefixes followed by a number) and words for the sacrum."""

    cervical: list[str]
    thoracic: list[str]
    lumbar: list[str]
    sacral: list[str]
    sacrum: list[str]
    coccyx: list[str]
    joint_words: list[str] = Field(default_factory=list)

    def notations(self) -> dict[Region | str, list[str]]:
        return {
            Region.CERVICAL: self.cervical,
            Region.THORACIC: self.thoracic,
            Region.LUMBAR: self.lumbar,
            Region.SACRAL: self.sacral,
        }


class VolumeWords(_Strict):
    units: list[str] = Field(min_length=1)
    decimal_comma: bool = True
    cement_words: list[str]
    total_words: list[str]
    negative_words: list[str]
    each_words: list[str] = Field(default_factory=list)
    per_side_words: list[str] = Field(default_factory=list)


class AbbreviationContext(_Strict):
    words: list[str]
    blockers: list[str]


class ProcedureKind(_Strict):
    """One row of the classification table: the words that name one kind of procedure."""

    type: KindType
    rank: int = Field(ge=0, le=99)
    words: list[str] = Field(default_factory=list)
    """Matched inside words."""
    whole_words: list[str] = Field(default_factory=list)
    abbreviations: list[str] = Field(default_factory=list)
    """Whole words; exact case when shorter than 4 letters."""
    need: Need = "nothing"
    abbreviations_need: Need = "spine"


class ProcedureWords(_Strict):
    history_words: list[str] = Field(default_factory=list)
    abbreviation_context: AbbreviationContext
    kinds: dict[str, ProcedureKind] = Field(min_length=1)


class CptCode(_Strict):
    """What a procedure code says."""

    procedure_type: ProcedureType
    add_on: bool = False
    laterality: Literal["unilateral", "bilateral"] | None = None
    meaning: str = ""


class RisCode(CptCode):
    """A local RIS code: scheme and value as sent, and what it says."""

    scheme: str = Field(min_length=1)
    code: str = Field(min_length=1)


class CptTable(_Strict):
    schemes: list[str]
    codes: dict[str, CptCode]


class ConceptRef(_Strict):
    """A coded concept: value and scheme (SCT/SRT aliases are folded when matching)."""

    value: str = Field(min_length=1)
    scheme: str = Field(min_length=1)
    meaning: str = ""
    cement: bool = False

    @property
    def code(self) -> tuple[str, str]:
        return (self.value, self.scheme)


class SrVocabulary(_Strict):
    volume_concepts: list[ConceptRef]
    finding_site_concepts: list[ConceptRef]
    laterality_concepts: list[ConceptRef]
    units: dict[str, PositiveFloat]
    laterality_codes: dict[str, Side]


class Plausibility(_Strict):
    vertebral_max_ml: PositiveFloat = 12.0
    sacral_max_ml_per_side: PositiveFloat = 10.0


@dataclass(frozen=True)
class Hit:
    """A vocabulary word found in text: its label (e.g. ``left``), span and matched text."""

    label: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ProcedureHit:
    """A word of the classification table found in text, with the row it belongs to.

    ``procedure_type`` is resolved: an ``augmentation`` row becomes a vertebroplasty at a
    vertebra, a sacroplasty at the sacrum; ``rank`` is the row's (5 less for an abbreviation).
    """

    kind: str
    kind_type: KindType
    procedure_type: ProcedureType
    rank: int
    start: int
    end: int
    text: str
    abbreviation: bool = False

    @property
    def is_augmentation(self) -> bool:
        return self.procedure_type.is_augmentation

    def reason(self) -> str:
        """Why this hit says what it says, in words (for records and ``procedures show``)."""
        how = "abbreviation" if self.abbreviation else "word"
        resolved = (
            f" (at the level named: {self.procedure_type.value})"
            if self.kind_type == "augmentation"
            else ""
        )
        return f"{how} {self.text!r}: {self.kind}{resolved}, rank {self.rank}"


@dataclass(frozen=True)
class VolumeHit:
    """A number with a volume unit, in millilitres."""

    value_ml: float
    start: int
    end: int
    text: str
    parts: tuple[float, ...] = ()
    """The terms of a sum (``2+2 ml``); empty for one number."""


def _best_of_overlaps(hits: list[ProcedureHit], text: str) -> list[ProcedureHit]:
    """One hit per run of overlapping words, or of an augmentation word touching another
    procedure's ("pedicle screw augmentation"): the highest rank, then the longest word."""
    kept: list[ProcedureHit] = []
    cluster: list[ProcedureHit] = []
    cluster_end = -1
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        # An augmentation word glued to another procedure's word is about that procedure.
        glued = bool(cluster) and any(h.is_augmentation != hit.is_augmentation for h in cluster)
        touching = hit.start < cluster_end or (
            glued and not text[cluster_end : hit.start].strip(" -")
        )
        if cluster and not touching:
            kept.append(max(cluster, key=lambda h: (h.rank, h.end - h.start)))
            cluster = []
        cluster.append(hit)
        cluster_end = max(cluster_end, hit.end) if len(cluster) > 1 else hit.end
    if cluster:
        kept.append(max(cluster, key=lambda h: (h.rank, h.end - h.start)))
    return kept


def _resolve(kind_type: KindType, levels: Sequence[SpinalLevel]) -> ProcedureType | None:
    if kind_type != "augmentation":
        return ProcedureType(kind_type)
    if any(lv.is_vertebral for lv in levels):
        return ProcedureType.VERTEBROPLASTY
    if any(lv.is_sacral for lv in levels):
        return ProcedureType.SACROPLASTY
    return None


class _WordMatcher:
    """Case- and accent-insensitive matching of labelled word lists; a space in a word matches
    any run of spaces or hyphens ("short axis" reads "short-axis")."""

    def __init__(self, table: Mapping[str, Iterable[str]], *, whole_words: bool = True) -> None:
        self._labels: list[str] = []
        groups = []
        for label, words in table.items():
            keys = {fold_text(normalise_text(w)).strip().lower() for w in words} - {""}
            if not keys:
                continue
            alts = "|".join(
                re.escape(w).replace(r"\ ", r"[\s\-]+") for w in sorted(keys, key=len, reverse=True)
            )
            groups.append(f"(?P<g{len(self._labels)}>{alts})")
            self._labels.append(label)
        self._pattern: re.Pattern[str] | None = None
        if groups:
            body = "|".join(groups)
            text = rf"(?<!\w)(?:{body})(?!\w)" if whole_words else rf"(?:{body})"
            self._pattern = re.compile(text, re.IGNORECASE)

    def finditer(self, text: str) -> Iterator[Hit]:
        if self._pattern is None:
            return
        for match in self._pattern.finditer(fold_text(text)):
            index = int(str(match.lastgroup)[1:])
            yield Hit(
                self._labels[index], match.start(), match.end(), text[match.start() : match.end()]
            )


def normalise_text(text: str) -> str:
    """NFKC (``cm³`` → ``cm3``, full-width digits → ASCII); line breaks kept."""
    return unicodedata.normalize("NFKC", text)


_FOLD_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ı": "i"})


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    folded = base.translate(_FOLD_EXTRA) if base else char
    return folded if len(folded) == 1 else char


def fold_text(text: str) -> str:
    """Accents removed character by character (``bipédiculaire`` → ``bipediculaire``,
    ``bipedikulär`` → ``bipedikular``, ``ł`` → ``l``), same length as ``text`` so that spans
    found in the folded text are spans of ``text``."""
    if text.isascii():
        return text
    return "".join(_fold_char(c) for c in text)


class Vocabulary(_Strict):
    """Every word and code vp_log reads; see ``defaults/vocabulary.toml`` for the meaning."""

    version: int = 1
    levels: LevelWords
    volume: VolumeWords
    procedures: ProcedureWords
    approaches: dict[Approach, list[str]]
    sides: dict[Side, list[str]]
    cpt: CptTable
    ris_codes: list[RisCode] = Field(default_factory=list)
    sr: SrVocabulary
    plausibility: Plausibility = Field(default_factory=Plausibility)

    _matchers: dict[str, _WordMatcher] = PrivateAttr(default_factory=dict)
    _kind_matchers: list[tuple[_WordMatcher, bool]] = PrivateAttr(default_factory=list)
    _abbreviations: dict[str, str] = PrivateAttr(default_factory=dict)
    _abbreviation_re: re.Pattern[str] | None = PrivateAttr(default=None)
    _volume_re: re.Pattern[str] | None = PrivateAttr(default=None)

    @cached_property
    def _readings(self) -> dict[tuple[str, str], Any]:
        """What :meth:`reading` keeps: an attribute of the instance once made (a pydantic
        private attribute costs ~1.5 us a read, and a header's texts are read hundreds of
        times)."""
        return {}

    def reading(self, what: str, text: str, read: Callable[[], _T]) -> _T:
        """``read()``, the reading ``what`` of ``text`` under this vocabulary, kept for the
        next time the same text comes (a department writes the same descriptions on every
        instance). ``read`` must depend on the text and the vocabulary alone, and give an
        immutable value."""
        if len(text) > _READING_TEXT_CHARS:
            return read()
        key = (what, text)
        readings = self._readings
        try:
            found: _T = readings[key]
            return found
        except KeyError:
            pass
        value = read()
        if len(readings) >= _READINGS:
            readings.clear()
        readings[key] = value
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._matchers = {
            "approach": _WordMatcher({a.value: w for a, w in self.approaches.items()}),
            "side": _WordMatcher({s.value: w for s, w in self.sides.items()}),
            "cement": _WordMatcher({"cement": self.volume.cement_words}),
            "total": _WordMatcher({"total": self.volume.total_words}),
            "negative": _WordMatcher({"negative": self.volume.negative_words}),
            "each": _WordMatcher({"each": self.volume.each_words}),
            "per_side": _WordMatcher({"per_side": self.volume.per_side_words}),
            "joint": _WordMatcher({"joint": self.levels.joint_words}),
            "history": _WordMatcher({"history": self.procedures.history_words}),
            "abbreviation_context": _WordMatcher(
                {"context": self.procedures.abbreviation_context.words}
            ),
            "abbreviation_blocker": _WordMatcher(
                {"blocker": self.procedures.abbreviation_context.blockers}, whole_words=False
            ),
        }
        kinds = self.procedures.kinds
        self._kind_matchers = [
            (_WordMatcher({n: k.words for n, k in kinds.items()}, whole_words=False), False),
            (_WordMatcher({n: k.whole_words for n, k in kinds.items()}), True),
        ]
        self._abbreviations = {}
        for name, kind in kinds.items():
            for abbreviation in kind.abbreviations:
                key = abbreviation if len(abbreviation) < 4 else fold_text(abbreviation).lower()
                other = self._abbreviations.setdefault(key, name)
                if other != name:
                    raise ValueError(
                        f'Abbreviation "{abbreviation}" is listed for both "{other}" and "{name}".'
                    )
        if self._abbreviations:
            short = [a for a in self._abbreviations if len(a) < 4]
            long = [a for a in self._abbreviations if len(a) >= 4]
            alts = (
                [f"(?-i:{'|'.join(re.escape(a) for a in sorted(short, key=len, reverse=True))})"]
                if short
                else []
            )
            if long:
                alts.append("|".join(re.escape(a) for a in sorted(long, key=len, reverse=True)))
            self._abbreviation_re = re.compile(
                rf"(?<![\w/])(?:{'|'.join(alts)})(?![\w/])", re.IGNORECASE
            )
        units = "|".join(
            re.escape(normalise_text(u)) for u in sorted(self.volume.units, key=len, reverse=True)
        )
        decimal = r"[.,]" if self.volume.decimal_comma else r"\."
        number = rf"(?:\d+(?:{decimal}\d+)?|{decimal}\d+)"
        # "4.5 ml", and a sum of numbers joined by "+" with the unit once or on each term
        # ("2+2 ml", "2 ml + 1,5 ml"): the sum of a bipedicular injection.
        self._volume_re = re.compile(
            rf"(?<![\w.,])(?P<sum>(?:{number}\s*(?:{units})?\s*\+\s*)*)"
            rf"(?P<n>{number})\s*(?P<u>{units})(?!\w)",
            re.IGNORECASE,
        )

    # --- matching ----------------------------------------------------------------------
    def find_words(self, kind: str, text: str) -> list[Hit]:
        """Whole words of one list in ``text``.

        ``kind`` is one of ``approach``, ``side``, ``cement``, ``total``, ``negative``,
        ``each``, ``per_side``, ``joint``, ``history``, ``abbreviation_context``,
        ``abbreviation_blocker``; a hit's label is the approach or side value, or the kind.
        """
        matcher = self._matchers.get(kind)
        if matcher is None:
            raise ValueError(
                f'Argument "kind" must be one of {", ".join(sorted(self._matchers))}, got {kind!r}.'
            )
        return list(matcher.finditer(text))

    def _raw_procedure_hits(self, text: str) -> list[tuple[str, int, int, str, bool]]:
        found: list[tuple[str, int, int, str, bool]] = []
        for matcher, _ in self._kind_matchers:
            found += [(h.label, h.start, h.end, h.text, False) for h in matcher.finditer(text)]
        if self._abbreviation_re is not None:
            for match in self._abbreviation_re.finditer(fold_text(text)):
                word = match.group(0)
                name = self._abbreviations.get(word) or self._abbreviations.get(word.lower())
                if name is not None:
                    found.append(
                        (name, match.start(), match.end(), text[match.start() : match.end()], True)
                    )
        return found

    def _needs(self, text: str, levels: Sequence[SpinalLevel], names: bool) -> dict[str, bool]:
        blocked = bool(self.find_words("abbreviation_blocker", text))
        spine = bool(levels) or bool(self.find_words("abbreviation_context", text))
        treatment = any(
            self.find_words(kind, text) for kind in ("cement", "approach", "side")
        ) or bool(self.find_volumes(text))
        return {
            "nothing": True,
            "spine": spine and not blocked,
            "level": any(lv.is_vertebral for lv in levels) or names,
            "treatment": treatment and not blocked,
        }

    def _after_history(self, text: str, start: int) -> bool:
        for hit in self.find_words("history", text):
            gap = text[hit.end : start]
            if hit.end <= start and len(gap) <= 30 and not re.search(r"[;,\n\r|]", gap):
                return True
        return False

    def find_procedures(
        self, text: str, *, levels: Sequence[SpinalLevel] = ()
    ) -> list[ProcedureHit]:
        """The words of the classification table in ``text`` that count, in order.

        ``levels`` are the levels the same text names: they say what an ``augmentation`` word
        is (vertebroplasty at a vertebra, sacroplasty at the sacrum; neither: not counted) and
        they are context for abbreviations and for rows with ``need = "level"``. A word of an
        ``other`` row right after a history word ("Z.n. Spondylodese") is not counted.
        """
        kinds = self.procedures.kinds
        raw = self._raw_procedure_hits(text)
        names = any(
            kinds[name].type != "other" and kinds[name].need == "nothing" and not abbreviation
            for name, *_, abbreviation in raw
        )
        needs = self._needs(text, levels, names)
        counted: list[ProcedureHit] = []
        for name, start, end, word, abbreviation in raw:
            kind = kinds[name]
            if not needs[kind.abbreviations_need if abbreviation else kind.need]:
                continue
            if kind.type == "other" and self._after_history(text, start):
                continue
            ptype = _resolve(kind.type, levels)
            if ptype is None:
                continue
            counted.append(
                ProcedureHit(
                    kind=name,
                    kind_type=kind.type,
                    procedure_type=ptype,
                    rank=kind.rank - 5 if abbreviation else kind.rank,
                    start=start,
                    end=end,
                    text=word,
                    abbreviation=abbreviation,
                )
            )
        return _best_of_overlaps(counted, text)

    def augmentation_words(self, text: str) -> list[Hit]:
        """Words of the augmentation rows (not abbreviations, whatever the context): the
        words that make a text speak of a treatment even where they cannot say which one
        ("cementoplasty 5 ml")."""
        kinds = self.procedures.kinds
        return [
            Hit(name, start, end, word)
            for name, start, end, word, abbreviation in self._raw_procedure_hits(text)
            if not abbreviation and kinds[name].type != "other"
        ]

    def abbreviation_context(self, text: str, *, has_level: bool) -> bool:
        """True when abbreviations (VP, KP...) may be read in ``text``."""
        if self.find_words("abbreviation_blocker", text):
            return False
        return has_level or bool(self.find_words("abbreviation_context", text))

    def find_volumes(self, text: str) -> list[VolumeHit]:
        """Numbers with a volume unit (``4.5 ml``, ``3,5 cc``, ``2cm3``), in millilitres.

        A sum (``2+2 ml``, ``2 ml + 1,5 ml``) is one volume, the sum of its parts.
        """
        if self._volume_re is None:
            return []
        hits = []
        for match in self._volume_re.finditer(text):
            parts = re.findall(r"\d*[.,]?\d+", match.group("sum")) if match.group("sum") else []
            values = [float(p.replace(",", ".")) for p in (*parts, match.group("n"))]
            hits.append(
                VolumeHit(
                    round(sum(values), 3),
                    match.start(),
                    match.end(),
                    match.group(0),
                    parts=tuple(values) if len(values) > 1 else (),
                )
            )
        return hits

    def notations(self) -> dict[Region | str, list[str]]:
        """Level prefixes per region, for :mod:`vp_log.levels`."""
        return self.levels.notations()

    def code_entry(self, value: str, scheme: str) -> CptCode | None:
        """What a procedure code says: CPT (in a CPT scheme) or a local RIS code."""
        value, scheme = value.strip(), scheme.strip()
        for ris in self.ris_codes:
            if ris.code == value and ris.scheme.upper() == scheme.upper():
                return ris
        if scheme.upper() in {s.upper() for s in self.cpt.schemes}:
            return self.cpt.codes.get(value.upper()) or self.cpt.codes.get(value)
        return None


# --- loading ---------------------------------------------------------------------------

_DEFAULT_RESOURCE = ("defaults", "vocabulary.toml")


def _default_text() -> str:
    return resources.files("vp_log").joinpath(*_DEFAULT_RESOURCE).read_text(encoding="utf-8")


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f'key "{key}": {err["msg"]}')
    return "; ".join(parts)


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """The packaged vocabulary, with the site file at ``path`` read over it.

    Raises:
        VocabularyError: the file cannot be read, is not TOML, or a key is unknown or has a
            value of the wrong type (the message names the file and the key).
    """
    try:
        data: dict[str, Any] = tomllib.loads(_default_text())
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - packaged file is tested
        raise VocabularyError(f"The packaged vocabulary is not valid TOML: {exc}") from exc
    origin = "the packaged vocabulary"
    if path is not None:
        if not isinstance(path, Path):
            raise TypeError('Argument "path" must have type "Path" or be None.')
        origin = f'vocabulary file "{path}"'
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise VocabularyError(f"Cannot read {origin}: {exc.strerror or exc}") from exc
        try:
            site = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise VocabularyError(
                f"{origin[0].upper()}{origin[1:]} is not valid TOML: {exc}"
            ) from exc
        data = _merge(data, site)
    try:
        vocabulary = Vocabulary.model_validate(data)
    except ValidationError as exc:
        raise VocabularyError(f"Invalid {origin}: {_describe(exc)}") from exc
    logger.debug("Loaded %s", origin)
    return vocabulary

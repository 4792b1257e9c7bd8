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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PrivateAttr, ValidationError

from vp_log.levels import Region

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
    UNCLASSIFIED = "unclassified"
    """A study with no evidence either way (listed, never dropped)."""


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


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelWords(_Strict):
    """Level notations per region (prefixes followed by a number) and words for the sacrum."""

    cervical: list[str]
    thoracic: list[str]
    lumbar: list[str]
    sacral: list[str]
    sacrum: list[str]
    coccyx: list[str]

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


class AbbreviationContext(_Strict):
    words: list[str]
    blockers: list[str]


class ProcedureWords(_Strict):
    vertebroplasty: list[str]
    kyphoplasty: list[str]
    sacroplasty: list[str]
    generic: list[str]
    abbreviations: dict[str, ProcedureType]
    abbreviation_context: AbbreviationContext


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
    """A procedure word; ``procedure_type`` is ``None`` for a generic word (cementoplasty)."""

    procedure_type: ProcedureType | None
    start: int
    end: int
    text: str
    abbreviation: bool = False


@dataclass(frozen=True)
class VolumeHit:
    """A number with a volume unit, in millilitres."""

    value_ml: float
    start: int
    end: int
    text: str


class _WordMatcher:
    """Case-insensitive matching of labelled word lists; a space in a word matches any run of
    spaces or hyphens ("short axis" reads "short-axis")."""

    def __init__(self, table: Mapping[str, Iterable[str]], *, whole_words: bool = True) -> None:
        self._labels: list[str] = []
        groups = []
        for label, words in table.items():
            keys = {normalise_text(w).strip().lower() for w in words} - {""}
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
        for match in self._pattern.finditer(text):
            index = int(str(match.lastgroup)[1:])
            yield Hit(self._labels[index], match.start(), match.end(), match.group(0))


def normalise_text(text: str) -> str:
    """NFKC (``cm³`` → ``cm3``, full-width digits → ASCII); line breaks kept."""
    return unicodedata.normalize("NFKC", text)


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
    plausibility: Plausibility = Plausibility()

    _matchers: dict[str, _WordMatcher] = PrivateAttr(default_factory=dict)
    _procedure_matcher: _WordMatcher | None = PrivateAttr(default=None)
    _abbreviation_re: re.Pattern[str] | None = PrivateAttr(default=None)
    _volume_re: re.Pattern[str] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        self._matchers = {
            "approach": _WordMatcher({a.value: w for a, w in self.approaches.items()}),
            "side": _WordMatcher({s.value: w for s, w in self.sides.items()}),
            "cement": _WordMatcher({"cement": self.volume.cement_words}),
            "total": _WordMatcher({"total": self.volume.total_words}),
            "negative": _WordMatcher({"negative": self.volume.negative_words}),
            "abbreviation_context": _WordMatcher(
                {"context": self.procedures.abbreviation_context.words}
            ),
            "abbreviation_blocker": _WordMatcher(
                {"blocker": self.procedures.abbreviation_context.blockers}, whole_words=False
            ),
        }
        self._procedure_matcher = _WordMatcher(
            {
                ProcedureType.VERTEBROPLASTY.value: self.procedures.vertebroplasty,
                ProcedureType.KYPHOPLASTY.value: self.procedures.kyphoplasty,
                ProcedureType.SACROPLASTY.value: self.procedures.sacroplasty,
                "generic": self.procedures.generic,
            },
            whole_words=False,
        )
        if self.procedures.abbreviations:
            alts = "|".join(
                re.escape(a) for a in sorted(self.procedures.abbreviations, key=len, reverse=True)
            )
            self._abbreviation_re = re.compile(rf"(?<![\w/])(?:{alts})(?![\w/])")
        units = "|".join(
            re.escape(normalise_text(u)) for u in sorted(self.volume.units, key=len, reverse=True)
        )
        decimal = r"[.,]" if self.volume.decimal_comma else r"\."
        self._volume_re = re.compile(
            rf"(?<![\w.,])(?P<n>\d+(?:{decimal}\d+)?|{decimal}\d+)\s*(?P<u>{units})(?!\w)",
            re.IGNORECASE,
        )

    # --- matching ----------------------------------------------------------------------
    def find_words(self, kind: str, text: str) -> list[Hit]:
        """Whole words of one list in ``text``.

        ``kind`` is one of ``approach``, ``side``, ``cement``, ``total``, ``negative``,
        ``abbreviation_context``, ``abbreviation_blocker``; a hit's label is the approach or
        side value, or the kind.
        """
        matcher = self._matchers.get(kind)
        if matcher is None:
            raise ValueError(
                f'Argument "kind" must be one of {", ".join(sorted(self._matchers))}, got {kind!r}.'
            )
        return list(matcher.finditer(text))

    def find_procedures(self, text: str, *, abbreviations_allowed: bool) -> list[ProcedureHit]:
        """Procedure words in ``text``; abbreviations only when ``abbreviations_allowed``.

        The caller decides whether the context allows abbreviations
        (:meth:`abbreviation_context`): a spinal level, a spine word, no blocker.
        """
        hits: list[ProcedureHit] = []
        if self._procedure_matcher is not None:
            for hit in self._procedure_matcher.finditer(text):
                ptype = None if hit.label == "generic" else ProcedureType(hit.label)
                hits.append(ProcedureHit(ptype, hit.start, hit.end, hit.text))
        if abbreviations_allowed and self._abbreviation_re is not None:
            for match in self._abbreviation_re.finditer(text):
                ptype = self.procedures.abbreviations[match.group(0)]
                hits.append(
                    ProcedureHit(
                        ptype, match.start(), match.end(), match.group(0), abbreviation=True
                    )
                )
        return sorted(hits, key=lambda h: h.start)

    def abbreviation_context(self, text: str, *, has_level: bool) -> bool:
        """True when abbreviations (VP, KP...) may be read in ``text``."""
        if self.find_words("abbreviation_blocker", text):
            return False
        return has_level or bool(self.find_words("abbreviation_context", text))

    def find_volumes(self, text: str) -> list[VolumeHit]:
        """Numbers with a volume unit (``4.5 ml``, ``3,5 cc``, ``2cm3``), in millilitres."""
        if self._volume_re is None:
            return []
        hits = []
        for match in self._volume_re.finditer(text):
            number = match.group("n").replace(",", ".")
            hits.append(VolumeHit(float(number), match.start(), match.end(), match.group(0)))
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

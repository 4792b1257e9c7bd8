"""Treated levels, cement volumes, approach and side from free text (pure).

Sources, each with its provenance path:

- Grayscale Softcopy Presentation State text objects
  (``GraphicAnnotationSequence[0].TextObjectSequence[1].UnformattedTextValue``);
- ``ImageComments``, ``FrameOfInterestDescription`` (each value), ``SeriesDescription``,
  ``StudyDescription``;
- TEXT content items of Key Object Selection documents and of non-dose structured reports
  (``sr:(DCM,113012)``).

:func:`parse_annotation` reads one string and is table-tested; :func:`extract_annotations`
applies it to every source of one dataset and returns observations.

How a string is read
--------------------
The text is cut into clauses at line breaks, ``;`` and ``|``. In a clause, each level mention
(``L1``, ``Th12``, ``BWK 12``, a range ``T11-L1``) owns the text up to the next mention; text
before the first mention belongs to the first. A volume (``4.5 ml``, ``3,5 cc``, ``2 cm³``) is
judged inside its sub-clause (cut at commas that are not decimal commas, ``+``, ``&``, ``and``,
and at each level mention) by the nearest keyword: a negative word (contrast, lidocaine,
screw, balloon, fracture, ``S/P``…) makes it not cement; a total word (``total``, ``gesamt``)
makes it the study's total; otherwise it is the cement volume of the level that owns it.
A volume that no level owns counts as cement only when the text has a cement or procedure word
(``cement 4 ml``); with a sacroplasty word and no level it belongs to the sacrum. One volume
owned by a range (``T11-L1 9 ml``) is a total for those levels, flagged ``shared-by-levels``.

Bare levels (the decision)
--------------------------
A level named with no volume, no procedure word, no cement word and no approach word in the
same text (``L1`` in the Image Comments of ``dbdicom/0015.DCM``) is only a *mention*: staff
also write the level they are looking at, a fracture they see, or a spinal region on any
fluoroscopy (myelography, pain injections). It becomes a ``LEVEL`` observation flagged
``level-mention-only``. It never says by itself that a study is a vertebral augmentation and
never carries cement; :func:`vp_log.treatment.summarise_treatment` lists such levels as treated
only when other evidence (a CPT code, a procedure word) classifies the study and nothing
names the treated levels more directly. A level whose part of the text carries a negative word
and no cement (``L1 pedicle screw``, ``S/P L1 fracture``) is flagged ``level-mention-only`` and
``negative-context``.

Procedure words in Study and Series Description are reported by
:mod:`vp_log.extract.procedure`; here they only give context, so they are not counted twice.

The side of a volume is the observation's ``side`` field; a ``SIDE`` observation carries it
as well.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from vp_log.extract.sr import iter_content_items
from vp_log.levels import LevelMention, SpinalLevel, find_level_mentions
from vp_log.models import Kind, Observation, Provenance
from vp_log.vocabulary import (
    Approach,
    Hit,
    ProcedureHit,
    ProcedureType,
    Side,
    Vocabulary,
    VolumeHit,
    normalise_text,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FLAG_LEVEL_MENTION_ONLY",
    "FLAG_NEGATIVE_CONTEXT",
    "FLAG_SHARED_BY_LEVELS",
    "AnnotationParse",
    "IgnoredVolume",
    "LevelAnnotation",
    "annotation_texts",
    "extract_annotations",
    "observations_from_parse",
    "parse_annotation",
]

FLAG_LEVEL_MENTION_ONLY = "level-mention-only"
FLAG_NEGATIVE_CONTEXT = "negative-context"
FLAG_SHARED_BY_LEVELS = "shared-by-levels"
FLAG_NO_LEVEL = "no-level"

_KO_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
_RDSR_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.73",  # Patient Radiation Dose SR
    }
)

_CLAUSE_SPLIT = re.compile(r"\r\n|\r|\n|;|\|")
_SUBCLAUSE_SPLIT = re.compile(r",(?!\d)|\+|&|=|\b(?:and|und|et|e|y|en|plus)\b|\bu\.", re.IGNORECASE)


class LevelAnnotation(BaseModel):
    """One level read from a string, with what the text says about it."""

    model_config = ConfigDict(frozen=True)

    level: SpinalLevel
    cement_ml: float | None = None
    approach: Approach | None = None
    side: Side | None = None
    mention_only: bool = False
    raw_volume: str | None = None
    flags: tuple[str, ...] = ()


class IgnoredVolume(BaseModel):
    """A volume in the text that is not cement, and why (``negative:contrast``, ``no-context``)."""

    model_config = ConfigDict(frozen=True)

    value_ml: float
    raw: str
    reason: str


class AnnotationParse(BaseModel):
    """What one string says."""

    model_config = ConfigDict(frozen=True)

    text: str
    levels: tuple[LevelAnnotation, ...] = ()
    unassigned_cement_ml: tuple[float, ...] = ()
    """Cement volumes that no level owns (``cement 4 ml``)."""
    total_cement_ml: tuple[float, ...] = ()
    """Totals (``total cement 9 ml``; one volume for a range is here too, see flags)."""
    shared_totals: tuple[tuple[float, tuple[SpinalLevel, ...]], ...] = ()
    """Volumes given once for several levels (``T11-L1 9 ml``): value and levels."""
    procedure_hints: tuple[ProcedureType, ...] = ()
    approach: Approach | None = None
    """Approach named without a level."""
    side: Side | None = None
    """Side named without a level."""
    ignored_volumes: tuple[IgnoredVolume, ...] = ()

    @property
    def treated_levels(self) -> list[SpinalLevel]:
        """Levels that are not mere mentions, each once, in order."""
        seen: dict[SpinalLevel, None] = {}
        for item in self.levels:
            if not item.mention_only:
                seen.setdefault(item.level, None)
        return list(seen)

    @property
    def cement_by_level(self) -> dict[SpinalLevel, list[float]]:
        result: dict[SpinalLevel, list[float]] = {}
        for item in self.levels:
            if item.cement_ml is not None:
                result.setdefault(item.level, []).append(item.cement_ml)
        return result


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keywords:
    positive: list[tuple[int, int, str]]  # cement and procedure words
    negative: list[Hit]
    total: list[Hit]
    approach: list[Hit]
    side: list[Hit]
    procedures: list[ProcedureHit]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    if _overlaps(a, b):
        return 0
    return b[0] - a[1] if a[1] <= b[0] else a[0] - b[1]


def _clauses(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for match in _CLAUSE_SPLIT.finditer(text):
        yield start, text[start : match.start()]
        start = match.end()
    yield start, text[start:]


def _keywords(vocabulary: Vocabulary, clause: str, *, abbreviations: bool) -> _Keywords:
    procedures = vocabulary.find_procedures(clause, abbreviations_allowed=abbreviations)
    cement = vocabulary.find_words("cement", clause)
    positive = [(h.start, h.end, "procedure") for h in procedures]
    positive += [(h.start, h.end, "cement") for h in cement]
    negative = [
        h
        for h in vocabulary.find_words("negative", clause)
        if not any(_overlaps((h.start, h.end), (p[0], p[1])) for p in positive)
    ]
    return _Keywords(
        positive=positive,
        negative=negative,
        total=vocabulary.find_words("total", clause),
        approach=vocabulary.find_words("approach", clause),
        side=vocabulary.find_words("side", clause),
        procedures=procedures,
    )


def _subclause(clause: str, mentions: Sequence[LevelMention], pos: int) -> tuple[int, int]:
    cuts = {0, len(clause)}
    for match in _SUBCLAUSE_SPLIT.finditer(clause):
        cuts.add(match.start())
        cuts.add(match.end())
    for mention in mentions:
        cuts.add(mention.start)
    ordered = sorted(cuts)
    lo = max(c for c in ordered if c <= pos)
    hi = min(c for c in ordered if c > pos) if any(c > pos for c in ordered) else len(clause)
    return lo, hi


def _inside(span: tuple[int, int], window: tuple[int, int]) -> bool:
    return window[0] <= span[0] and span[1] <= window[1]


def _nearest(hits: Sequence[Hit], span: tuple[int, int], window: tuple[int, int]) -> Hit | None:
    inside = [h for h in hits if _inside((h.start, h.end), window)]
    if not inside:
        return None
    return min(inside, key=lambda h: _gap(span, (h.start, h.end)))


def _owner(mentions: Sequence[LevelMention], pos: int) -> int | None:
    """Index of the level mention whose part of the clause holds ``pos``."""
    if not mentions:
        return None
    owner = 0
    for i, mention in enumerate(mentions):
        if mention.start <= pos:
            owner = i
    return owner


def _segment(mentions: Sequence[LevelMention], index: int, length: int) -> tuple[int, int]:
    start = 0 if index == 0 else mentions[index].start
    end = mentions[index + 1].start if index + 1 < len(mentions) else length
    return start, end


def _classify_volume(
    clause: str, volume: VolumeHit, window: tuple[int, int], keywords: _Keywords
) -> tuple[str, str]:
    """``("negative", word)``, ``("total", word)`` or ``("cement", "")``."""
    span = (volume.start, volume.end)
    negatives = [(h.start, h.end, h.text) for h in keywords.negative]
    positives = [(p[0], p[1], p[2]) for p in keywords.positive]
    best: tuple[int, int, str] | None = None  # (gap, polarity 0=neg 1=pos, word)
    for polarity, items in ((0, negatives), (1, positives)):
        for start, end, word in items:
            if not _inside((start, end), window):
                continue
            candidate = (_gap(span, (start, end)), polarity, word)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    if best is not None and best[1] == 0:
        return "negative", best[2].lower()
    total = _nearest(keywords.total, span, window)
    if total is not None:
        return "total", total.text
    if window[0] > 0 and clause[: window[0]].rstrip().endswith("="):
        return "total", "="  # "L1 4.5ml + L2 3ml = 7.5ml"
    return "cement", ""


def _resolve_hints(
    hits: Sequence[ProcedureHit], levels: Sequence[SpinalLevel]
) -> tuple[ProcedureType, ...]:
    found: dict[ProcedureType, None] = {}
    for hit in hits:
        if hit.procedure_type is not None:
            found.setdefault(hit.procedure_type, None)
        elif any(lv.is_vertebral for lv in levels):
            found.setdefault(ProcedureType.VERTEBROPLASTY, None)
        elif any(lv.is_sacral for lv in levels):
            found.setdefault(ProcedureType.SACROPLASTY, None)
    return tuple(found)


def parse_annotation(text: str, vocabulary: Vocabulary) -> AnnotationParse:
    """Read levels with cement volume, approach and side, totals and procedure words.

    Never raises on any string; a ``TypeError`` only for a non-string argument.
    """
    if not isinstance(text, str):
        raise TypeError('Argument "text" must have type "str".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    normalised = normalise_text(text)
    levels_cfg = vocabulary.levels
    all_mentions = find_level_mentions(
        normalised,
        notations=vocabulary.notations(),
        sacrum_words=levels_cfg.sacrum,
        coccyx_words=levels_cfg.coccyx,
    )
    all_levels = [lv for m in all_mentions for lv in m.levels]
    abbreviations = vocabulary.abbreviation_context(normalised, has_level=bool(all_mentions))
    whole = _keywords(vocabulary, normalised, abbreviations=abbreviations)
    hints = _resolve_hints(whole.procedures, all_levels)
    treatment_context = bool(whole.positive or whole.approach)

    annotations: list[LevelAnnotation] = []
    unassigned: list[float] = []
    totals: list[float] = []
    shared: list[tuple[float, tuple[SpinalLevel, ...]]] = []
    ignored: list[IgnoredVolume] = []
    free_approach: Approach | None = None
    free_side: Side | None = None

    for offset, clause in _clauses(normalised):
        mentions = [m for m in all_mentions if offset <= m.start and m.end <= offset + len(clause)]
        mentions = [
            LevelMention(m.start - offset, m.end - offset, m.text, m.levels, m.is_range)
            for m in mentions
        ]
        keywords = _keywords(vocabulary, clause, abbreviations=abbreviations)
        level_spans = [(m.start, m.end) for m in mentions]
        volumes = [
            v
            for v in vocabulary.find_volumes(clause)
            if not any(_overlaps((v.start, v.end), s) for s in level_spans)
        ]
        sides = [
            h for h in keywords.side if not any(_overlaps((h.start, h.end), s) for s in level_spans)
        ]
        by_owner: dict[int | None, list[tuple[VolumeHit, tuple[int, int]]]] = {}
        for volume in volumes:
            window = _subclause(clause, mentions, volume.start)
            verdict, word = _classify_volume(clause, volume, window, keywords)
            if verdict == "negative":
                ignored.append(
                    IgnoredVolume(
                        value_ml=volume.value_ml, raw=volume.text, reason=f"negative:{word}"
                    )
                )
                continue
            if verdict == "total":
                totals.append(volume.value_ml)
                continue
            by_owner.setdefault(_owner(mentions, volume.start), []).append((volume, window))

        sacroplasty_only = hints == (ProcedureType.SACROPLASTY,)
        placed_on_sacrum = False
        for volume, _window in by_owner.pop(None, []):
            if sacroplasty_only:
                placed_on_sacrum = True
                side = _side_near(sides, volume, _window) or _single_side(sides, (0, len(clause)))
                annotations.append(
                    LevelAnnotation(
                        level=SpinalLevel.SACRUM,
                        cement_ml=volume.value_ml,
                        side=side,
                        raw_volume=volume.text,
                        approach=_single_approach(keywords.approach, (0, len(clause))),
                        flags=(FLAG_NO_LEVEL,),
                    )
                )
            elif treatment_context:
                unassigned.append(volume.value_ml)
            else:
                ignored.append(
                    IgnoredVolume(value_ml=volume.value_ml, raw=volume.text, reason="no-context")
                )

        if not mentions:
            # Without a level, a side or approach word counts only beside a procedure or cement
            # word ("DX" in "CHEST PA DX" is the modality, not "destra").
            if treatment_context and not placed_on_sacrum:
                window = (0, len(clause))
                free_approach = free_approach or _single_approach(keywords.approach, window)
                free_side = free_side or _single_side(sides, window)
            continue

        for index, mention in enumerate(mentions):
            segment = _segment(mentions, index, len(clause))
            owned = by_owner.get(index, [])
            approach = _single_approach(keywords.approach, segment)
            if approach is None and len(mentions) == 1:
                approach = _single_approach(keywords.approach, (0, len(clause)))
            segment_side = _single_side(sides, segment)
            negative_here = any(_inside((h.start, h.end), segment) for h in keywords.negative)
            if len(mention.levels) > 1 and len(owned) == 1:
                volume = owned[0][0]
                totals.append(volume.value_ml)
                shared.append((volume.value_ml, mention.levels))
                owned = []
            for level in mention.levels:
                if owned and len(mention.levels) == 1:
                    for volume, window in owned:
                        side = _side_near(sides, volume, window) or segment_side
                        annotations.append(
                            LevelAnnotation(
                                level=level,
                                cement_ml=volume.value_ml,
                                approach=approach,
                                side=side,
                                raw_volume=volume.text,
                            )
                        )
                    continue
                if owned:  # several volumes for a range: keep each, not per level
                    for volume, _ in owned:
                        unassigned.append(volume.value_ml)
                    owned = []
                mention_only = negative_here or not treatment_context
                flags: tuple[str, ...] = ()
                if mention_only:
                    flags = (FLAG_LEVEL_MENTION_ONLY,)
                    if negative_here:
                        flags += (FLAG_NEGATIVE_CONTEXT,)
                annotations.append(
                    LevelAnnotation(
                        level=level,
                        approach=None if mention_only else approach,
                        side=None if mention_only else segment_side,
                        mention_only=mention_only,
                        flags=flags,
                    )
                )

    if not treatment_context and (totals or unassigned or any(a.cement_ml for a in annotations)):
        # A cement volume anywhere in the text makes its other levels treated too
        # ("T11-L1 9 ml", "L1 4 ml, L2"), unless their own part says otherwise.
        annotations = [
            a.model_copy(update={"mention_only": False, "flags": ()})
            if a.mention_only and FLAG_NEGATIVE_CONTEXT not in a.flags
            else a
            for a in annotations
        ]

    return AnnotationParse(
        text=text,
        levels=tuple(annotations),
        unassigned_cement_ml=tuple(unassigned),
        total_cement_ml=tuple(totals),
        shared_totals=tuple(shared),
        procedure_hints=hints,
        approach=free_approach,
        side=free_side,
        ignored_volumes=tuple(ignored),
    )


def _single_approach(hits: Sequence[Hit], window: tuple[int, int]) -> Approach | None:
    found = {h.label for h in hits if _inside((h.start, h.end), window)}
    if len(found) == 1:
        return Approach(found.pop())
    # "unipedicular transpedicular": the more specific word wins.
    specific = found - {Approach.TRANSPEDICULAR.value}
    if len(specific) == 1:
        return Approach(specific.pop())
    return None


def _single_side(hits: Sequence[Hit], window: tuple[int, int]) -> Side | None:
    found = {h.label for h in hits if _inside((h.start, h.end), window)}
    return Side(found.pop()) if len(found) == 1 else None


def _side_near(hits: Sequence[Hit], volume: VolumeHit, window: tuple[int, int]) -> Side | None:
    nearest = _nearest(hits, (volume.start, volume.end), window)
    return Side(nearest.label) if nearest is not None else None


# --- observations ----------------------------------------------------------------------


def observations_from_parse(
    parse: AnnotationParse, provenance: Provenance, *, hints: bool = True
) -> list[Observation]:
    """Observations for one parsed string; ``hints=False`` leaves out procedure hints."""
    out: list[Observation] = []

    def add(
        kind: Kind,
        value: str | float,
        level: SpinalLevel | None,
        flags: tuple[str, ...] = (),
        side: Side | None = None,
    ) -> None:
        out.append(
            Observation(
                kind=kind,
                value=value,
                provenance=provenance,
                level=str(level) if level is not None else None,
                side=side.value if side is not None else None,
                flags=flags,
            )
        )

    for item in parse.levels:
        if item.cement_ml is not None:
            add(Kind.CEMENT_VOLUME_ML, item.cement_ml, item.level, item.flags, item.side)
        else:
            add(Kind.LEVEL, str(item.level), item.level, item.flags)
        if item.approach is not None:
            add(Kind.APPROACH, item.approach.value, item.level)
        if item.side is not None:
            add(Kind.SIDE, item.side.value, item.level)
    for value in parse.unassigned_cement_ml:
        add(Kind.CEMENT_VOLUME_ML, value, None, (FLAG_NO_LEVEL,))
    shared = {value: levels for value, levels in parse.shared_totals}
    for value in parse.total_cement_ml:
        if value in shared:
            names = "+".join(str(lv) for lv in shared[value])
            add(Kind.TOTAL_CEMENT_ML, value, None, (FLAG_SHARED_BY_LEVELS, f"levels:{names}"))
        else:
            add(Kind.TOTAL_CEMENT_ML, value, None)
    if parse.approach is not None:
        add(Kind.APPROACH, parse.approach.value, None)
    if parse.side is not None:
        add(Kind.SIDE, parse.side.value, None)
    if hints:
        for hint in parse.procedure_hints:
            add(Kind.PROCEDURE_HINT, hint.value, None)
    return out


def _text_values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if str(v).strip()]
    text = str(value)
    return [text] if text.strip() else []


def annotation_texts(ds: Dataset) -> list[tuple[str, str, bool]]:
    """Every free-text source of ``ds``: (provenance path, text, report procedure hints)."""
    found: list[tuple[str, str, bool]] = []
    for i, annotation in enumerate(ds.get("GraphicAnnotationSequence") or []):
        for j, text_object in enumerate(annotation.get("TextObjectSequence") or []):
            for text in _text_values(text_object.get("UnformattedTextValue")):
                path = (
                    f"GraphicAnnotationSequence[{i}].TextObjectSequence[{j}].UnformattedTextValue"
                )
                found.append((path, text, True))
    for keyword, hints in (
        ("ImageComments", True),
        ("FrameOfInterestDescription", True),
        ("SeriesDescription", False),
        ("StudyDescription", False),
    ):
        values = _text_values(ds.get(keyword))
        for k, text in enumerate(values):
            path = keyword if len(values) == 1 else f"{keyword}[{k}]"
            found.append((path, text, hints))
    sop_class = str(ds.get("SOPClassUID", ""))
    if "ContentSequence" in ds and sop_class not in _RDSR_SOP_CLASSES:
        for item in iter_content_items(ds):
            if item.value_type != "TEXT":
                continue
            for text in _text_values(item.item.get("TextValue")):
                found.append((item.path_text(), text, True))
    if sop_class == _KO_SOP_CLASS:
        logger.debug(
            "Key Object Selection %s: %d text sources", ds.get("SOPInstanceUID"), len(found)
        )
    return found


def extract_annotations(ds: Dataset, vocabulary: Vocabulary) -> list[Observation]:
    """Levels, cement volumes, approach, side and totals from every free-text source of ``ds``."""
    if not isinstance(ds, Dataset):
        raise TypeError('Argument "ds" must have type "pydicom.dataset.Dataset".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    uid = str(ds.get("SOPInstanceUID", "") or "")
    observations: list[Observation] = []
    for path, text, hints in annotation_texts(ds):
        parse = parse_annotation(text, vocabulary)
        for ignored in parse.ignored_volumes:
            logger.debug(
                "%s %s: volume %r is not cement (%s)", uid, path, ignored.raw, ignored.reason
            )
        provenance = Provenance(sop_instance_uid=uid, path=path, raw=text)
        observations.extend(observations_from_parse(parse, provenance, hints=hints))
    return observations

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

How a string is read (each step is one function below)
------------------------------------------------------
1. **Scan** (:func:`_scan`): levels (``L1``, ``Th 12``, ``LWK 1``, ranges ``T11-L1``), joints
   (``L4/5``; ``L4-5`` or ``L4/L5`` next to a disc or facet word), volumes (``4,5 ml``; a sum
   ``2+2 ml`` is one volume), the words of the classification table
   (:meth:`~vp_log.vocabulary.Vocabulary.find_procedures`) and of the word lists (cement,
   negative, total, each, per side, approach, side). Clauses end at line breaks, ``;`` and
   ``|``; sub-clauses at commas that are not decimal commas, ``+`` between volumes, ``&``,
   ``=``, ``and``-words and each level.
2. **Judge each volume** (:func:`_judge`) by the nearest keyword in its sub-clause: a negative
   word (contrast, lidocaine, screw, balloon, ``S/P``...) or another procedure's word makes it
   not cement; a total word (or ``=`` before it) makes it the study's total; otherwise cement.
   In a text with no augmentation word and no cement word, another procedure's word anywhere
   makes every volume not cement, and a volume that no level owns is nothing.
3. **Place each cement volume** (:func:`_place`): each level mention owns the text up to the
   next mention (text before the first belongs to the first). An *each* word ("je", "each",
   "chacune", "ciascuno", "cada uno", "elk", "vardera", "każdy"...) gives the volume to every
   level of the run of bare levels it ends (or starts); a *per-side* word ("per side", "bds.",
   "beidseits", "por lado"...) or *each* at a single level with both sides or a bipedicular
   approach doubles it (both sides). One volume for a range (``T11-L1 9 ml``) is a total shared
   by those levels. A clause with a volume and no level gives it to the bare level of the
   line before ("L1" / "4,5 ml"). A volume owned by a joint is not cement.
4. **Describe the levels** (:func:`_describe`): approach and side from the level's part of the
   text. A level is *treated* when the text names an augmentation word (procedure, abbreviation
   in context, a balloon at a vertebra) or a cement word. A level with a volume but no such word
   is flagged ``no-procedure-word``: the study's other texts say what it is
   (:mod:`vp_log.treatment`). A bare level is a *mention* (below).

Bare levels (the decision)
--------------------------
A level named with no volume, no procedure word and no cement word in the same text (``L1`` in
the Image Comments of ``dbdicom/0015.DCM``) is only a *mention*: staff also write the level they
are looking at, a fracture they see, or a spinal region on any fluoroscopy (myelography, pain
injections). It becomes a ``LEVEL`` observation flagged ``level-mention-only``. It never says by
itself that a study is a vertebral augmentation and never carries cement;
:func:`vp_log.treatment.summarise_treatment` lists such levels as treated only when other
evidence (a CPT code, a procedure word) classifies the study and nothing names the treated
levels more directly. A level whose part of the text carries a negative word or another
procedure's word and no cement (``L1 pedicle screw``, ``S/P L1 fracture``) is flagged
``level-mention-only`` and ``negative-context``.

Procedure words in Study and Series Description are reported by
:mod:`vp_log.extract.procedure`; here they only give context, so they are not counted twice.

Every value keeps its text: a level annotation keeps the volume as written (``raw_volume``) and
flags that say how it was placed (``each``, ``per-side``, ``sum:2+2``, ``next-line``); an
ignored volume says why (``negative:contrast``, ``other:facet-injection``, ``joint:L4/L5``,
``no-context``). The side of a volume is the observation's ``side`` field; a ``SIDE``
observation carries it as well.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import BaseModel, ConfigDict
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from vp_log.extract.procedure import hint_flags
from vp_log.extract.sr import iter_content_items
from vp_log.levels import LevelMention, SpinalLevel, find_level_mentions, is_adjacent
from vp_log.models import Kind, Observation, Provenance
from vp_log.tree import DatasetLike, Node, as_node
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
    "FLAG_EACH",
    "FLAG_LEVEL_MENTION_ONLY",
    "FLAG_NEGATIVE_CONTEXT",
    "FLAG_NEXT_LINE",
    "FLAG_NO_PROCEDURE_WORD",
    "FLAG_PER_SIDE",
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
FLAG_NO_PROCEDURE_WORD = "no-procedure-word"
FLAG_EACH = "each"
FLAG_PER_SIDE = "per-side"
FLAG_NEXT_LINE = "next-line"

_KO_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
_RDSR_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.73",  # Patient Radiation Dose SR
    }
)

_CLAUSE_SPLIT = re.compile(r"\r\n|\r|\n|;|\|")
_SUBCLAUSE_SPLIT = re.compile(
    r",(?!\d)|\+|&|=|\b(?:and|und|et|e|y|en|plus|och|oraz|i|ed|og)\b|\bu\.", re.IGNORECASE
)
_PAIR_GAP = re.compile(r"\s*/\s*")


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

    @property
    def treated(self) -> bool:
        """Named as treated by this text alone (an augmentation or cement word)."""
        return not self.mention_only and FLAG_NO_PROCEDURE_WORD not in self.flags


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
    procedure_hints: tuple[ProcedureHit, ...] = ()
    """The strongest word of each classification row named (augmentation or other)."""
    approach: Approach | None = None
    """Approach named without a level."""
    side: Side | None = None
    """Side named without a level."""
    ignored_volumes: tuple[IgnoredVolume, ...] = ()
    joints: tuple[str, ...] = ()
    """Joints named (``L4/L5``): disc or facet levels, never treated vertebrae."""

    @property
    def treated_levels(self) -> list[SpinalLevel]:
        """Levels this text names as treated (see :attr:`LevelAnnotation.treated`), in order."""
        seen: dict[SpinalLevel, None] = {}
        for item in self.levels:
            if item.treated:
                seen.setdefault(item.level, None)
        return list(seen)

    @property
    def cement_by_level(self) -> dict[SpinalLevel, list[float]]:
        result: dict[SpinalLevel, list[float]] = {}
        for item in self.levels:
            if item.cement_ml is not None:
                result.setdefault(item.level, []).append(item.cement_ml)
        return result

    @property
    def hint_types(self) -> tuple[ProcedureType, ...]:
        """The procedure types named, each once, in order."""
        return tuple(dict.fromkeys(h.procedure_type for h in self.procedure_hints))


# --- step 1: scan ----------------------------------------------------------------------

Span = tuple[int, int]


@dataclass(frozen=True)
class _Scan:
    """Everything found in one normalised text, with spans in that text."""

    text: str
    clauses: list[Span]
    mentions: list[LevelMention]
    volumes: list[VolumeHit]
    hits: list[ProcedureHit]
    words: dict[str, list[Hit]]
    cuts: list[int]
    negative: set[int] = field(default_factory=set)
    """Mentions in a negative context (see :func:`_negative_mentions`)."""

    # Each question below is a bisection over sorted positions, not a walk over the text's
    # clauses, mentions or cuts: a text with thousands of levels made those walks quadratic.
    @cached_property
    def _clause_starts(self) -> list[int]:
        return [start for start, _ in self.clauses]

    def clause_of(self, pos: int) -> int:
        """The first clause with ``start <= pos <= end`` (the last clause if none)."""
        index = bisect_right(self._clause_starts, pos) - 1
        while index > 0 and self.clauses[index - 1][1] >= pos:  # empty or touching clauses
            index -= 1
        if index >= 0 and self.clauses[index][0] <= pos <= self.clauses[index][1]:
            return index
        return len(self.clauses) - 1

    @cached_property
    def _by_clause(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, m in enumerate(self.mentions):
            out.setdefault(self.clause_of(m.start), []).append(i)
        return out

    def in_clause(self, index: int) -> list[int]:
        """Indices of the mentions inside clause ``index`` (do not change the list)."""
        return self._by_clause.get(index, [])

    @cached_property
    def _position(self) -> dict[int, int]:
        return {i: n for ix in self._by_clause.values() for n, i in enumerate(ix)}

    def position_in_clause(self, index: int) -> int:
        """Where mention ``index`` is in :meth:`in_clause` of its clause."""
        return self._position[index]

    @cached_property
    def _starts_by_clause(self) -> dict[int, list[int]]:
        return {c: [self.mentions[i].start for i in ix] for c, ix in self._by_clause.items()}

    def owner(self, pos: int) -> int | None:
        """The mention whose part of the clause holds ``pos`` (text before the first: the first)."""
        clause = self.clause_of(pos)
        indices = self._by_clause.get(clause)
        if not indices:
            return None
        starts = self._starts_by_clause[clause]  # in text order: mentions are found so
        return indices[max(0, bisect_right(starts, pos) - 1)]

    def subclause(self, pos: int) -> Span:
        cuts = self.cuts  # sorted
        after = bisect_right(cuts, pos)
        lo = cuts[after - 1] if after > 0 else 0
        hi = cuts[after] if after < len(cuts) else len(self.text)
        return lo, hi

    @property
    def augmentation(self) -> list[ProcedureHit]:
        return [h for h in self.hits if h.is_augmentation]

    @property
    def others(self) -> list[ProcedureHit]:
        return [h for h in self.hits if not h.is_augmentation]

    @property
    def treatment(self) -> bool:
        """The text names an augmentation word or a cement word."""
        return bool(self.augmentation or self.words["cement"] or self.words["augmentation"])


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class _Spans:
    """Spans that can be asked "does any of you overlap this one?" in O(log n).

    A text of thousands of levels and volumes ("L1 3 ml " 9 000 times in a 70 KB comment) made
    the pairwise checks of :func:`_scan` quadratic: 20 s for one file, the time limit.
    """

    def __init__(self, spans: Sequence[Span]) -> None:
        ordered = sorted(spans)
        self._starts = [start for start, _ in ordered]
        self._max_end: list[int] = []  # the furthest end among the spans up to each index
        furthest = -1
        for _, end in ordered:
            furthest = max(furthest, end)
            self._max_end.append(furthest)

    def overlap(self, span: Span) -> bool:
        """Some span overlaps ``span`` (as :func:`_overlaps`)."""
        before = bisect_left(self._starts, span[1])  # the spans that start before it ends
        return before > 0 and self._max_end[before - 1] > span[0]

    def strictly_contain(self, pos: int) -> bool:
        """Some span has ``start < pos < end``."""
        before = bisect_left(self._starts, pos)
        return before > 0 and self._max_end[before - 1] > pos


def _inside(span: Span, window: Span) -> bool:
    return window[0] <= span[0] and span[1] <= window[1]


def _gap(a: Span, b: Span) -> int:
    if _overlaps(a, b):
        return 0
    return b[0] - a[1] if a[1] <= b[0] else a[0] - b[1]


def _clauses(text: str) -> list[Span]:
    spans, start = [], 0
    for match in _CLAUSE_SPLIT.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _joint(first: LevelMention, second: LevelMention | None, text: str) -> LevelMention:
    end = second.end if second is not None else first.end
    levels = first.levels if second is None else (first.levels[0], second.levels[0])
    return LevelMention(first.start, end, text[first.start : end], levels, False, True)


def _mark_joints(
    mentions: list[LevelMention], text: str, clauses: list[Span], joint_words: list[Hit]
) -> list[LevelMention]:
    """``L4-5`` or ``L4/L5`` in a clause with a disc or facet word is a joint."""

    def has_word(pos: int) -> bool:
        clause = next((c for c in clauses if c[0] <= pos <= c[1]), (0, len(text)))
        return any(_inside((h.start, h.end), clause) for h in joint_words)

    out: list[LevelMention] = []
    index = 0
    while index < len(mentions):
        mention = mentions[index]
        nxt = mentions[index + 1] if index + 1 < len(mentions) else None
        pair = (
            nxt is not None
            and len(mention.levels) == 1
            and len(nxt.levels) == 1
            and _PAIR_GAP.fullmatch(text[mention.end : nxt.start]) is not None
            and is_adjacent(mention.levels[0], nxt.levels[0])
        )
        if pair and nxt is not None and has_word(mention.start):
            out.append(_joint(mention, nxt, text))
            index += 2
            continue
        two = len(mention.levels) == 2 and is_adjacent(*mention.levels)
        if mention.is_range and two and has_word(mention.start):
            out.append(_joint(mention, None, text))
        else:
            out.append(mention)
        index += 1
    return out


def _scan(text: str, vocabulary: Vocabulary) -> _Scan:
    clauses = _clauses(text)
    words = {
        kind: vocabulary.find_words(kind, text)
        for kind in (
            "cement",
            "negative",
            "total",
            "approach",
            "side",
            "each",
            "per_side",
            "joint",
        )
    }
    levels_cfg = vocabulary.levels
    found = find_level_mentions(
        text,
        notations=vocabulary.notations(),
        sacrum_words=levels_cfg.sacrum,
        coccyx_words=levels_cfg.coccyx,
    )
    mentions = _mark_joints(found, text, clauses, words["joint"])
    words["augmentation"] = [h for h in vocabulary.augmentation_words(text) if h.label != "balloon"]
    spans = _Spans([(m.start, m.end) for m in mentions])
    volumes = [v for v in vocabulary.find_volumes(text) if not spans.overlap((v.start, v.end))]
    levels = [lv for m in mentions for lv in m.levels]
    hits = vocabulary.find_procedures(text, levels=levels)
    # A level word inside a procedure word ("SACRO" as the RIS abbreviation) is no level.
    hit_spans = _Spans([(h.start, h.end) for h in hits])
    mentions = [m for m in mentions if not hit_spans.overlap((m.start, m.end))]
    spans = _Spans([(m.start, m.end) for m in mentions])
    words["history"] = vocabulary.find_words("history", text)
    positive = _Spans(
        [(h.start, h.end) for h in hits if h.is_augmentation]
        + [(h.start, h.end) for h in words["cement"]]
    )
    words["negative"] = [h for h in words["negative"] if not positive.overlap((h.start, h.end))]
    words["side"] = [h for h in words["side"] if not spans.overlap((h.start, h.end))]
    cuts = {0, len(text)}
    for start, end in clauses:
        cuts.update((start, end))
    for match in _SUBCLAUSE_SPLIT.finditer(text):
        cuts.update((match.start(), match.end()))
    cuts.update(m.start for m in mentions)
    volume_spans = _Spans([(v.start, v.end) for v in volumes])
    kept = sorted(c for c in cuts if not volume_spans.strictly_contain(c))
    scan = _Scan(text, clauses, mentions, volumes, hits, words, kept)
    scan.negative.update(_negative_mentions(scan))
    return scan


def _negative_mentions(scan: _Scan) -> set[int]:
    """Mentions that a negative word (or, in a text without augmentation or cement word,
    another procedure's word) is about: a history word ("S/P", "previous") is about the level
    after it; any other word is about the nearest level of its clause."""
    markers = [(h.start, h.end) for h in scan.words["negative"]]
    if not scan.treatment:
        markers += [(h.start, h.end) for h in scan.others]
    history = [(h.start, h.end) for h in scan.words["history"]]
    found: set[int] = set()
    for span in markers:
        clause = scan.in_clause(scan.clause_of(span[0]))
        indices = [i for i in clause if not scan.mentions[i].joint]
        if not indices:
            continue
        after = [i for i in indices if scan.mentions[i].start >= span[1]]
        if after and any(_overlaps(span, h) for h in history):
            found.add(after[0])
            continue
        found.add(
            min(indices, key=lambda i: _gap(span, (scan.mentions[i].start, scan.mentions[i].end)))
        )
    return found


# --- step 2: judge each volume ---------------------------------------------------------


@dataclass
class _Volume:
    hit: VolumeHit
    window: Span
    verdict: str  # "cement", "total" or "ignored"
    reason: str = ""
    owner: int | None = None  # index into _Scan.mentions
    flags: list[str] = field(default_factory=list)


def _nearest_keyword(scan: _Scan, span: Span, window: Span) -> tuple[bool, str] | None:
    """(is it negative, its name) of the nearest deciding keyword in the window."""
    candidates: list[tuple[int, int, str]] = []  # gap, polarity (0 negative), name
    for hit in scan.words["negative"]:
        candidates.append((_gap(span, (hit.start, hit.end)), 0, f"negative:{hit.text.lower()}"))
    for phit in scan.hits:
        if phit.kind_type == "other" or phit.kind == "balloon":
            name = f"other:{phit.kind}" if phit.kind_type == "other" else "negative:balloon"
            candidates.append((_gap(span, (phit.start, phit.end)), 0, name))
        else:
            candidates.append((_gap(span, (phit.start, phit.end)), 1, "procedure"))
    for hit in scan.words["cement"]:
        candidates.append((_gap(span, (hit.start, hit.end)), 1, "cement"))
    inside = [
        c for c, h in zip(candidates, _candidate_spans(scan), strict=True) if _inside(h, window)
    ]
    if not inside:
        return None
    best = min(inside, key=lambda c: (c[0], c[1]))
    return best[1] == 0, best[2]


def _candidate_spans(scan: _Scan) -> list[Span]:
    spans = [(h.start, h.end) for h in scan.words["negative"]]
    spans += [(h.start, h.end) for h in scan.hits]
    spans += [(h.start, h.end) for h in scan.words["cement"]]
    return spans


def _owner(scan: _Scan, pos: int) -> int | None:
    """The mention whose part of the clause holds ``pos`` (text before the first: the first)."""
    return scan.owner(pos)


def _judge(scan: _Scan) -> list[_Volume]:
    judged = []
    for hit in scan.volumes:
        span = (hit.start, hit.end)
        window = scan.subclause(hit.start)
        volume = _Volume(hit=hit, window=window, verdict="cement", owner=_owner(scan, hit.start))
        keyword = _nearest_keyword(scan, span, window)
        before = scan.text[: window[0]].rstrip()
        owner = scan.mentions[volume.owner] if volume.owner is not None else None
        if keyword is not None and keyword[0]:
            volume.verdict, volume.reason = "ignored", keyword[1]
        elif any(_inside((h.start, h.end), window) for h in scan.words["total"]):
            volume.verdict, volume.reason = "total", "total"
        elif before.endswith("="):
            volume.verdict, volume.reason = "total", "="  # "L1 4.5ml + L2 3ml = 7.5ml"
        elif owner is not None and owner.joint:
            volume.verdict = "ignored"
            volume.reason = "joint:" + "/".join(str(lv) for lv in owner.levels)
        elif not scan.treatment and scan.others:
            volume.verdict, volume.reason = "ignored", f"other:{scan.others[0].kind}"
        if hit.parts:
            volume.flags.append("sum:" + "+".join(f"{p:g}" for p in hit.parts))
        judged.append(volume)
    return judged


# --- step 3: place each cement volume ---------------------------------------------------


@dataclass
class _Placed:
    """What step 3 decided: volumes per mention and level, and what no level owns."""

    by_level: dict[tuple[int, SpinalLevel], list[tuple[float, _Volume]]] = field(
        default_factory=dict
    )
    unassigned: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    shared: list[tuple[float, tuple[SpinalLevel, ...]]] = field(default_factory=list)
    ignored: list[IgnoredVolume] = field(default_factory=list)
    sacrum: list[_Volume] = field(default_factory=list)

    def give(self, mention: int, level: SpinalLevel, value: float, volume: _Volume) -> None:
        self.by_level.setdefault((mention, level), []).append((value, volume))

    def owns(self, mention: int) -> bool:
        return any(key[0] == mention for key in self.by_level)


def _has(scan: _Scan, kind: str, window: Span) -> bool:
    return any(_inside((h.start, h.end), window) for h in scan.words[kind])


def _segment(scan: _Scan, index: int) -> Span:
    """The part of its clause that mention ``index`` owns."""
    indices = scan.in_clause(scan.clause_of(scan.mentions[index].start))
    clause = scan.clauses[scan.clause_of(scan.mentions[index].start)]
    position = scan.position_in_clause(index)
    start = clause[0] if position == 0 else scan.mentions[index].start
    end = scan.mentions[indices[position + 1]].start if position + 1 < len(indices) else clause[1]
    return start, end


def _bare(scan: _Scan, index: int, owners: set[int]) -> bool:
    mention = scan.mentions[index]
    return not mention.joint and index not in owners and index not in scan.negative


def _run(scan: _Scan, volume: _Volume, owners: set[int]) -> list[int]:
    """The owner and the bare mentions next to it that one *each* volume is for."""
    assert volume.owner is not None
    indices = scan.in_clause(scan.clause_of(volume.hit.start))
    position = indices.index(volume.owner)
    run = [volume.owner]
    if volume.hit.start < scan.mentions[volume.owner].start:  # "3 ml each: T12, L1, L2"
        for index in indices[position + 1 :]:
            if not _bare(scan, index, owners):
                break
            run.append(index)
    else:
        for index in reversed(indices[:position]):
            if not _bare(scan, index, owners):
                break
            run.insert(0, index)
    return run


def _both_sides(scan: _Scan, window: Span) -> bool:
    bilateral = any(
        h.label == Side.BILATERAL.value and _inside((h.start, h.end), window)
        for h in scan.words["side"]
    )
    bipedicular = any(
        h.label == Approach.BIPEDICULAR.value and _inside((h.start, h.end), window)
        for h in scan.words["approach"]
    )
    return bilateral or bipedicular


def _distribute(scan: _Scan, volume: _Volume, run: list[int], placed: _Placed) -> None:
    """Give one volume to the levels of ``run`` (mention indices)."""
    value = volume.hit.value_ml
    levels = [(i, lv) for i in run for lv in scan.mentions[i].levels]
    each = _has(scan, "each", volume.window)
    per_side = _has(scan, "per_side", volume.window)
    if each and len(levels) == 1 and _both_sides(scan, _segment(scan, run[0])):
        per_side = True  # "L1 bipedikulär je 2 ml": each side
    if per_side:
        value *= 2
        volume.flags.append(FLAG_PER_SIDE)
    if each and len(levels) > 1:
        volume.flags.append(FLAG_EACH)
    if len(levels) == 1 or each:
        for index, level in levels:
            placed.give(index, level, value, volume)
        return
    placed.totals.append(value)
    placed.shared.append((value, tuple(lv for _, lv in levels)))


def _ignore(placed: _Placed, volume: _Volume, reason: str) -> None:
    placed.ignored.append(
        IgnoredVolume(value_ml=volume.hit.value_ml, raw=volume.hit.text, reason=reason)
    )


def _place(scan: _Scan, volumes: list[_Volume]) -> _Placed:
    placed = _Placed()
    for volume in volumes:
        if volume.verdict == "ignored":
            _ignore(placed, volume, volume.reason)
        elif volume.verdict == "total":
            placed.totals.append(volume.hit.value_ml)
    cement = [v for v in volumes if v.verdict == "cement"]
    owners = {v.owner for v in cement if v.owner is not None}
    # Grouped once (in text order), not searched again for every mention and clause.
    by_owner: dict[int | None, list[_Volume]] = {}
    by_clause: dict[int, list[_Volume]] = {}
    for volume in cement:
        by_owner.setdefault(volume.owner, []).append(volume)
        by_clause.setdefault(scan.clause_of(volume.hit.start), []).append(volume)
    pending: list[int] = []
    for clause in range(len(scan.clauses)):
        indices = scan.in_clause(clause)
        if indices:
            for index in indices:
                _place_owned(scan, by_owner.get(index, []), index, owners, placed)
            pending = _trailing_bare(scan, indices, owners)
            continue
        for volume in by_clause.get(clause, []):
            pending = _place_loose(scan, volume, pending, placed)
    return placed


def _place_loose(scan: _Scan, volume: _Volume, pending: list[int], placed: _Placed) -> list[int]:
    """A cement volume in a clause without a level: to the bare levels of the line before,
    to the sacrum in a sacroplasty text, unassigned beside an augmentation or cement word,
    else nothing. Returns the levels still waiting for a volume."""
    augmentation = scan.augmentation
    if pending:
        volume.owner = pending[-1]
        volume.flags.append(FLAG_NEXT_LINE)
        _distribute(scan, volume, pending, placed)
        return pending if len(pending) == 1 else []
    if augmentation and all(h.procedure_type is ProcedureType.SACROPLASTY for h in augmentation):
        placed.sacrum.append(volume)
    elif scan.treatment:
        placed.unassigned.append(volume.hit.value_ml)
    else:
        _ignore(placed, volume, "no-context")
    return pending


def _trailing_bare(scan: _Scan, indices: list[int], owners: set[int]) -> list[int]:
    run: list[int] = []
    for index in reversed(indices):
        if not _bare(scan, index, owners):
            break
        run.insert(0, index)
    return run


def _place_owned(
    scan: _Scan, owned: list[_Volume], index: int, owners: set[int], placed: _Placed
) -> None:
    mention = scan.mentions[index]
    if len(owned) > 1 and len(mention.levels) > 1:
        placed.unassigned.extend(v.hit.value_ml for v in owned)  # several volumes for a range
        return
    for volume in owned:
        each = _has(scan, "each", volume.window)
        run = _run(scan, volume, owners) if each else [index]
        _distribute(scan, volume, run, placed)


# --- step 4: describe the levels --------------------------------------------------------


def _single_approach(hits: Sequence[Hit], window: Span) -> Approach | None:
    found = {h.label for h in hits if _inside((h.start, h.end), window)}
    if len(found) == 1:
        return Approach(found.pop())
    # "unipedicular transpedicular": the more specific word wins.
    specific = found - {Approach.TRANSPEDICULAR.value}
    if len(specific) == 1:
        return Approach(specific.pop())
    return None


def _single_side(hits: Sequence[Hit], window: Span) -> Side | None:
    found = {h.label for h in hits if _inside((h.start, h.end), window)}
    return Side(found.pop()) if len(found) == 1 else None


def _side_near(hits: Sequence[Hit], volume: _Volume) -> Side | None:
    span = (volume.hit.start, volume.hit.end)
    inside = [h for h in hits if _inside((h.start, h.end), volume.window)]
    if not inside:
        return None
    return Side(min(inside, key=lambda h: _gap(span, (h.start, h.end))).label)


def _level_approach(scan: _Scan, index: int) -> Approach | None:
    approach = _single_approach(scan.words["approach"], _segment(scan, index))
    clause = scan.clause_of(scan.mentions[index].start)
    if approach is None and len(scan.in_clause(clause)) == 1:
        approach = _single_approach(scan.words["approach"], scan.clauses[clause])
    return approach


def _describe(scan: _Scan, placed: _Placed) -> list[LevelAnnotation]:
    volume_only = not scan.treatment
    annotations: list[LevelAnnotation] = []
    for index, mention in enumerate(scan.mentions):
        if mention.joint:
            continue
        segment = _segment(scan, index)
        approach = _level_approach(scan, index)
        segment_side = _single_side(scan.words["side"], segment)
        for level in mention.levels:
            given = placed.by_level.get((index, level), [])
            for value, volume in given:
                side = _side_near(scan.words["side"], volume) or segment_side
                if FLAG_PER_SIDE in volume.flags:
                    side = Side.BILATERAL
                flags = tuple(volume.flags) + ((FLAG_NO_PROCEDURE_WORD,) if volume_only else ())
                annotations.append(
                    LevelAnnotation(
                        level=level,
                        cement_ml=value,
                        approach=approach,
                        side=side,
                        raw_volume=volume.hit.text,
                        flags=flags,
                    )
                )
            if not given:
                annotations.append(
                    _bare_level(scan, placed, level, index in scan.negative, approach, segment_side)
                )
    for volume in placed.sacrum:
        side = _side_near(scan.words["side"], volume)
        clause = scan.clauses[scan.clause_of(volume.hit.start)]
        per_side = _has(scan, "per_side", volume.window)
        if per_side:
            side = Side.BILATERAL
            volume.flags.append(FLAG_PER_SIDE)
        annotations.append(
            LevelAnnotation(
                level=SpinalLevel.SACRUM,
                cement_ml=volume.hit.value_ml * (2 if per_side else 1),
                side=side or _single_side(scan.words["side"], clause),
                raw_volume=volume.hit.text,
                approach=_single_approach(scan.words["approach"], clause),
                flags=(FLAG_NO_LEVEL, *volume.flags),
            )
        )
    return annotations


def _bare_level(
    scan: _Scan,
    placed: _Placed,
    level: SpinalLevel,
    negative: bool,
    approach: Approach | None,
    side: Side | None,
) -> LevelAnnotation:
    has_volumes = bool(placed.by_level or placed.shared)
    if not negative and scan.treatment:
        return LevelAnnotation(level=level, approach=approach, side=side)
    if not negative and has_volumes:  # "L1 4 ml, L2": a level beside a volume
        return LevelAnnotation(
            level=level, approach=approach, side=side, flags=(FLAG_NO_PROCEDURE_WORD,)
        )
    flags = (
        (FLAG_LEVEL_MENTION_ONLY, FLAG_NEGATIVE_CONTEXT) if negative else (FLAG_LEVEL_MENTION_ONLY,)
    )
    return LevelAnnotation(level=level, mention_only=True, flags=flags)


def _free_approach_side(scan: _Scan, placed: _Placed) -> tuple[Approach | None, Side | None]:
    """Approach and side named in clauses without a level, beside an augmentation word
    ("DX" in "CHEST PA DX" is the modality, not "destra")."""
    if not scan.treatment or placed.sacrum:
        return None, None
    approach: Approach | None = None
    side: Side | None = None
    for clause, span in enumerate(scan.clauses):
        if scan.in_clause(clause):
            continue
        approach = approach or _single_approach(scan.words["approach"], span)
        side = side or _single_side(scan.words["side"], span)
    return approach, side


def _best_hints(hits: Sequence[ProcedureHit]) -> tuple[ProcedureHit, ...]:
    best: dict[tuple[ProcedureType, str], ProcedureHit] = {}
    for hit in hits:
        key = (hit.procedure_type, hit.kind)
        if key not in best or hit.rank > best[key].rank:
            best[key] = hit
    return tuple(sorted(best.values(), key=lambda h: h.start))


def parse_annotation(text: str, vocabulary: Vocabulary) -> AnnotationParse:
    """Read levels with cement volume, approach and side, totals and procedure words.

    Never raises on any string; a ``TypeError`` only for a non-string argument.
    """
    if not isinstance(text, str):
        raise TypeError('Argument "text" must have type "str".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    return vocabulary.reading("annotation", text, lambda: _parse_annotation(text, vocabulary))


def _parse_annotation(text: str, vocabulary: Vocabulary) -> AnnotationParse:
    scan = _scan(normalise_text(text), vocabulary)
    placed = _place(scan, _judge(scan))
    levels = _describe(scan, placed)
    approach, side = _free_approach_side(scan, placed)
    return AnnotationParse(
        text=text,
        levels=tuple(levels),
        unassigned_cement_ml=tuple(placed.unassigned),
        total_cement_ml=tuple(placed.totals),
        shared_totals=tuple(placed.shared),
        procedure_hints=_best_hints(scan.hits),
        approach=approach,
        side=side,
        ignored_volumes=tuple(placed.ignored),
        joints=tuple("/".join(str(lv) for lv in m.levels) for m in scan.mentions if m.joint),
    )


# --- observations ----------------------------------------------------------------------


def _observation(
    kind: Kind,
    value: str | float,
    provenance: Provenance,
    level: SpinalLevel | None = None,
    flags: tuple[str, ...] = (),
    side: Side | None = None,
) -> Observation:
    return Observation(
        kind=kind,
        value=value,
        provenance=provenance,
        level=str(level) if level is not None else None,
        side=side.value if side is not None else None,
        flags=flags,
    )


def _level_observations(item: LevelAnnotation, provenance: Provenance) -> list[Observation]:
    out = [
        _observation(
            Kind.CEMENT_VOLUME_ML, item.cement_ml, provenance, item.level, item.flags, item.side
        )
        if item.cement_ml is not None
        else _observation(Kind.LEVEL, str(item.level), provenance, item.level, item.flags)
    ]
    if item.approach is not None:
        out.append(_observation(Kind.APPROACH, item.approach.value, provenance, item.level))
    if item.side is not None:
        out.append(_observation(Kind.SIDE, item.side.value, provenance, item.level))
    return out


def observations_from_parse(
    parse: AnnotationParse, provenance: Provenance, *, hints: bool = True
) -> list[Observation]:
    """Observations for one parsed string; ``hints=False`` leaves out procedure hints."""
    out = [obs for item in parse.levels for obs in _level_observations(item, provenance)]
    out += [
        _observation(Kind.CEMENT_VOLUME_ML, value, provenance, flags=(FLAG_NO_LEVEL,))
        for value in parse.unassigned_cement_ml
    ]
    shared = {value: levels for value, levels in parse.shared_totals}
    for value in parse.total_cement_ml:
        names = "+".join(str(lv) for lv in shared.get(value, ()))
        flags = (FLAG_SHARED_BY_LEVELS, f"levels:{names}") if names else ()
        out.append(_observation(Kind.TOTAL_CEMENT_ML, value, provenance, flags=flags))
    if parse.approach is not None:
        out.append(_observation(Kind.APPROACH, parse.approach.value, provenance))
    if parse.side is not None:
        out.append(_observation(Kind.SIDE, parse.side.value, provenance))
    if hints:
        out += [
            _observation(
                Kind.PROCEDURE_HINT, h.procedure_type.value, provenance, flags=hint_flags(h)
            )
            for h in parse.procedure_hints
        ]
    return out


def _text_values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if str(v).strip()]
    text = str(value)
    return [text] if text.strip() else []


def annotation_texts(ds: DatasetLike) -> list[tuple[str, str, bool]]:
    """Every free-text source of ``ds``: (provenance path, text, report procedure hints)."""
    ds = as_node(ds)
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


MAX_ANNOTATION_CHARS = 65_536
"""Longer free text is not read for levels and volumes (flagged): what a department writes is
a few lines, a report a few pages; 64 K characters take ~0.6 CPU s to read, and a 2 MB comment
of "L1 3 ml" repeated took a minute (the text is still kept up to ``max_text_bytes``)."""


def _not_read(uid: str, path: str, text: str) -> Observation:
    """The flag of a free-text source too long to read (:data:`MAX_ANNOTATION_CHARS`)."""
    return Observation(
        kind=Kind.INSTANCE_ISSUE,
        value={
            "issue": "annotation-not-read",
            "at": path,
            "characters": len(text),
            "limit": MAX_ANNOTATION_CHARS,
        },
        provenance=Provenance(sop_instance_uid=uid, path=path, raw=text[:4096]),
        flags=("invalid-extraction:annotation-too-long",),
    )


def extract_annotations(ds: DatasetLike, vocabulary: Vocabulary) -> list[Observation]:
    """Levels, cement volumes, approach, side and totals from every free-text source of ``ds``."""
    if not isinstance(ds, Dataset | Node):
        raise TypeError('Argument "ds" must have type "pydicom.dataset.Dataset".')
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError('Argument "vocabulary" must have type "Vocabulary".')
    ds = as_node(ds)
    uid = str(ds.get("SOPInstanceUID", "") or "")
    observations: list[Observation] = []
    for path, text, hints in annotation_texts(ds):
        if len(text) > MAX_ANNOTATION_CHARS:
            observations.append(_not_read(uid, path, text))
            continue
        parse = parse_annotation(text, vocabulary)
        for ignored in parse.ignored_volumes:
            logger.debug(
                "%s %s: volume %r is not cement (%s)", uid, path, ignored.raw, ignored.reason
            )
        provenance = Provenance(sop_instance_uid=uid, path=path, raw=text)
        observations.extend(observations_from_parse(parse, provenance, hints=hints))
    return observations

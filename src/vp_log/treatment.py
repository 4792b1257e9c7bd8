"""All observations of one study → procedure type, treated levels, cement (pure).

:func:`summarise_treatment` reads the kinds written by :mod:`vp_log.extract.procedure`,
:mod:`vp_log.extract.annotations` and :func:`vp_log.extract.sr.extract_sr_volumes`
(``PROCEDURE_CODE``, ``PROCEDURE_HINT``, ``LEVEL``, ``CEMENT_VOLUME_ML``, ``TOTAL_CEMENT_ML``,
``APPROACH``, ``SIDE``) and ignores every other kind.

Rules
-----
- Procedure type: the highest-ranked evidence wins: a procedure code (CPT or local RIS, rank
  100), else the words of the vocabulary's classification table (``[procedures.kinds]``: each
  ``PROCEDURE_HINT`` carries its row and rank; a word beats its abbreviation, a name beats a
  balloon, a balloon beats a generic "vertebral augmentation"). Equal ranks that disagree are a
  conflict. With nothing ranked 15 or more, cement at a vertebral level means a vertebroplasty
  flagged ``procedure-type-inferred`` (a kyphoplasty is possible: review). ``other`` (facet or
  nerve-root injection, lumbar puncture, fusion, biopsy alone...) is not an augmentation: no
  treated levels and no cement, whatever numbers the study carries; its levels are mentions.
  Augmentation and other-procedure words in one study: ``other-procedure-named`` (review).
  Nothing at all: ``unclassified``. A bare level (``level-mention-only``) never classifies a
  study. ``procedure_type_reason`` says which rule and which code or word chose the type.
- Levels: one entry per (level, side of the volume). A value repeated by several sources is one
  value with all its sources (volumes compared to 0.01 mL). Different values for the same
  level are kept side by side in ``conflicts``, the entry's value is ``None`` (unknown, not
  trusted) and the summary ``needs_review``.
- Mentions only: when the study is classified and nothing else names the treated levels, the
  mentioned levels are listed, flagged ``level-mention-only``.
- Plausibility: a volume not positive, above ``vertebral_max_ml`` per vertebra or above
  ``sacral_max_ml_per_side`` per sacral side is kept and flagged ``implausible-cement-volume``.
- One treated level without a volume and one stated total: the level gets the total
  (``cement-from-total``). An approach named without a level (often in the Study
  Description) goes to every level without one.
- Total: the stated total; else the sum of the levels when every level's volume is known.
- CPT cross-check: primary + add-on codes (22512/22515) against the vertebral levels found
  (``cpt-level-count-mismatch``); 0200T/0201T against the sides found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vp_log.levels import SpinalLevel
from vp_log.models import Kind, Observation, ProcedureCode, payload_of
from vp_log.record import Source, TreatedLevel, TreatmentConflict, TreatmentSummary
from vp_log.vocabulary import Approach, Plausibility, ProcedureType, Side

logger = logging.getLogger(__name__)

__all__ = [
    "REVIEW_FLAGS",
    "Source",
    "TreatedLevel",
    "TreatmentConflict",
    "TreatmentSummary",
    "summarise_treatment",
]

FLAG_MENTION_ONLY = "level-mention-only"
FLAG_NEGATIVE = "negative-context"
FLAG_CONFLICTING_CEMENT = "conflicting-cement-volume"
FLAG_CONFLICTING_APPROACH = "conflicting-approach"
FLAG_CONFLICTING_SIDE = "conflicting-side"
FLAG_CONFLICTING_TOTAL = "conflicting-total-cement"
FLAG_CONFLICTING_TYPE = "conflicting-procedure-type"
FLAG_IMPLAUSIBLE = "implausible-cement-volume"
FLAG_INFERRED_TYPE = "procedure-type-inferred"
FLAG_CPT_MISMATCH = "cpt-level-count-mismatch"
FLAG_CPT_LATERALITY = "cpt-laterality-mismatch"
FLAG_TOTAL_MISMATCH = "total-does-not-match-levels"
FLAG_UNASSIGNED = "unassigned-cement-volume"
FLAG_LEVEL_INFERRED = "level-inferred"
FLAG_NO_LEVELS = "no-treated-levels-found"
FLAG_OTHER_NAMED = "other-procedure-named"
FLAG_FROM_TOTAL = "cement-from-total"
FLAG_STUDY_APPROACH = "approach-from-study"

REVIEW_FLAGS = frozenset(
    {
        FLAG_CONFLICTING_CEMENT,
        FLAG_CONFLICTING_APPROACH,
        FLAG_CONFLICTING_SIDE,
        FLAG_CONFLICTING_TOTAL,
        FLAG_CONFLICTING_TYPE,
        FLAG_IMPLAUSIBLE,
        FLAG_INFERRED_TYPE,
        FLAG_CPT_MISMATCH,
        FLAG_CPT_LATERALITY,
        FLAG_TOTAL_MISMATCH,
        FLAG_NO_LEVELS,
        FLAG_OTHER_NAMED,
    }
)
"""Flags that make a summary ``needs_review``."""

_PRIORITY = (
    ProcedureType.KYPHOPLASTY,
    ProcedureType.VERTEBROPLASTY,
    ProcedureType.SACROPLASTY,
    ProcedureType.OTHER,
)
_PRIORITY_VALUES = frozenset(p.value for p in _PRIORITY)
_CODE_RANK = 100
_INFERRED_RANK = 15
"""Evidence ranked below this yields to cement read at a vertebra (a biopsy with cement)."""
_TOLERANCE_ML = 0.05


# --- helpers ---------------------------------------------------------------------------


def _source(obs: Observation, field: str) -> Source:
    return Source(
        sop_instance_uid=obs.provenance.sop_instance_uid, path=obs.provenance.path, field=field
    )


def _line(obs: Observation) -> str:
    return obs.provenance.text()


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _level(obs: Observation) -> SpinalLevel | None:
    if not obs.level:
        return None
    try:
        return SpinalLevel(obs.level)
    except ValueError:
        logger.warning("Observation at %s names an unknown level %r", _line(obs), obs.level)
        return None


def _side(obs: Observation) -> str | None:
    return obs.side if obs.side in {s.value for s in Side} else None


def _group_values(
    items: Iterable[tuple[float, Observation]],
) -> dict[float, list[Observation]]:
    """Values compared to 0.01; the first spelling of a value is kept."""
    groups: dict[float, list[Observation]] = {}
    for value, obs in items:
        key = next((k for k in groups if abs(k - value) < 0.005), round(value, 2))
        groups.setdefault(key, []).append(obs)
    return groups


def _dedupe(sources: Iterable[Source]) -> list[Source]:
    return list(dict.fromkeys(sources))


# --- procedure type --------------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    ptype: ProcedureType
    rank: int
    kind: str
    what: str
    obs: Observation
    name: str = ""
    """What the procedure is called: the table row, or a code's meaning."""

    def reason(self) -> str:
        return f"{self.what} at {_line(self.obs)}"


def _flag_value(obs: Observation, prefix: str) -> str | None:
    return next((f[len(prefix) :] for f in obs.flags if f.startswith(prefix)), None)


def _hint_evidence(obs: Observation) -> _Evidence | None:
    if not isinstance(obs.value, str) or obs.value not in _PRIORITY_VALUES:
        return None
    ptype = ProcedureType(obs.value)
    abbreviation = "abbreviation" in obs.flags
    rank_text = _flag_value(obs, "rank:")
    rank = int(rank_text) if rank_text and rank_text.isdigit() else 35 if abbreviation else 40
    kind = _flag_value(obs, "kind:") or ptype.value
    word = _flag_value(obs, "word:")
    how = "abbreviation" if abbreviation else "word"
    what = f"{how} {word!r} ({kind}, rank {rank})" if word else f"{how} ({kind}, rank {rank})"
    return _Evidence(ptype, rank, kind, what, obs, kind)


def _evidence(observations: Sequence[Observation]) -> list[_Evidence]:
    found: list[_Evidence] = []
    for obs in observations:
        code = payload_of(obs, ProcedureCode)
        if code is not None and code.procedure_type in _PRIORITY_VALUES:
            ptype = ProcedureType(code.procedure_type)
            meaning = f" {code.meaning!r}" if code.meaning else ""
            what = f"code {code.scheme}:{code.code}{meaning} ({ptype.value})"
            name = code.meaning or f"code {code.code}"
            found.append(_Evidence(ptype, _CODE_RANK, "code", what, obs, name))
        elif obs.kind is Kind.PROCEDURE_HINT and (hint := _hint_evidence(obs)) is not None:
            found.append(hint)
    return found


def _procedure_type(
    observations: Sequence[Observation], summary: TreatmentSummary
) -> ProcedureType | None:
    evidence = _evidence(observations)
    counted = [e for e in evidence if e.rank >= _INFERRED_RANK]
    if not counted and not _cement_at_a_level(observations):
        counted = evidence  # "biopsy alone": what yields to cement counts without it
    if not counted:
        return None
    top = max(e.rank for e in counted)
    by_type: dict[ProcedureType, list[Observation]] = {}
    for e in counted:
        if e.rank == top:
            by_type.setdefault(e.ptype, []).append(e.obs)
    chosen = _choose(by_type)
    if len(by_type) > 1:
        _type_conflict(summary, by_type, "procedure_type (highest rank)")
    if top == _CODE_RANK:
        hints: dict[ProcedureType, list[Observation]] = {}
        for e in counted:
            if e.rank < _CODE_RANK and e.ptype not in by_type:
                hints.setdefault(e.ptype, []).append(e.obs)
        if hints:
            _type_conflict(summary, {**by_type, **hints}, "procedure_type")
    if any(e.ptype.is_augmentation != chosen.is_augmentation for e in evidence):
        summary.flags.append(FLAG_OTHER_NAMED)
    best = next(e for e in counted if e.rank == top and e.ptype is chosen)
    summary.procedure_type_reason = best.reason()
    if chosen is ProcedureType.OTHER:
        summary.other_procedure = best.name
    summary.sources["procedure_type"] = [_line(o) for o in by_type[chosen]][:5]
    return chosen


def _choose(evidence: dict[ProcedureType, list[Observation]]) -> ProcedureType:
    def weight(ptype: ProcedureType) -> tuple[int, int]:
        instances = {o.provenance.sop_instance_uid for o in evidence[ptype]}
        return (len(instances), -_PRIORITY.index(ptype))

    return max(evidence, key=weight)


def _type_conflict(
    summary: TreatmentSummary, evidence: dict[ProcedureType, list[Observation]], field: str
) -> None:
    ordered = sorted(evidence, key=_PRIORITY.index)
    summary.conflicts.append(
        TreatmentConflict(
            field=field,
            values=[p.value for p in ordered],
            sources=[[_line(o) for o in evidence[p]] for p in ordered],
        )
    )
    if FLAG_CONFLICTING_TYPE not in summary.flags:
        summary.flags.append(FLAG_CONFLICTING_TYPE)


# --- levels ----------------------------------------------------------------------------


class _Entry:
    def __init__(self, level: SpinalLevel, side: str | None) -> None:
        self.level = level
        self.side = side
        self.volumes: list[tuple[float, Observation]] = []
        self.extra_sources: list[Source] = []
        self.flags: list[str] = []


def _build_levels(
    observations: Sequence[Observation],
    procedure_type: ProcedureType | None,
    limits: Plausibility,
    summary: TreatmentSummary,
) -> None:
    entries: dict[tuple[SpinalLevel, str | None], _Entry] = {}
    treated_levels: dict[SpinalLevel, list[Source]] = {}
    mentions: dict[SpinalLevel, list[Observation]] = {}
    approaches: dict[SpinalLevel, list[tuple[str, Observation]]] = {}
    sides: dict[SpinalLevel, list[tuple[str, Observation]]] = {}
    unassigned: list[tuple[float, Observation]] = []

    for obs in observations:
        level = _level(obs)
        if obs.kind is Kind.CEMENT_VOLUME_ML:
            value = _float(obs.value)
            if value is None:
                continue
            if level is None:
                unassigned.append((value, obs))
                continue
            key = (level, _side(obs))
            entries.setdefault(key, _Entry(*key)).volumes.append((value, obs))
        elif obs.kind is Kind.LEVEL and level is not None:
            if FLAG_MENTION_ONLY in obs.flags:
                mentions.setdefault(level, []).append(obs)
            else:
                treated_levels.setdefault(level, []).append(_source(obs, "level"))
        elif obs.kind is Kind.APPROACH and level is not None and isinstance(obs.value, str):
            approaches.setdefault(level, []).append((obs.value, obs))
            treated_levels.setdefault(level, []).append(_source(obs, "approach"))
        elif obs.kind is Kind.SIDE and level is not None and isinstance(obs.value, str):
            sides.setdefault(level, []).append((obs.value, obs))

    for level, level_sources in treated_levels.items():
        if not any(key[0] is level for key in entries):
            entries[(level, None)] = _Entry(level, None)
        for key, entry in entries.items():
            if key[0] is level:
                entry.extra_sources.extend(level_sources)

    if not entries and procedure_type is not None:
        for level, obs_list in mentions.items():
            if all(FLAG_NEGATIVE in o.flags for o in obs_list):
                continue
            entry = entries.setdefault((level, None), _Entry(level, None))
            entry.flags.append(FLAG_MENTION_ONLY)
            entry.extra_sources.extend(_source(o, "level") for o in obs_list)
    summary.mentioned_levels = [
        str(lv) for lv in sorted(mentions) if not any(k[0] is lv for k in entries)
    ]

    _assign_unassigned(entries, unassigned, summary)

    for key in sorted(entries, key=lambda k: (k[0], k[1] or "")):
        summary.levels.append(_settle_entry(entries[key], approaches, sides, limits, summary))


def _assign_unassigned(
    entries: dict[tuple[SpinalLevel, str | None], _Entry],
    unassigned: list[tuple[float, Observation]],
    summary: TreatmentSummary,
) -> None:
    if not unassigned:
        return
    groups = _group_values(unassigned)
    levels = {key[0] for key in entries}
    if len(levels) == 1 and len(entries) == 1 and len(groups) == 1:
        entry = next(iter(entries.values()))
        value = next(iter(groups))
        known = _group_values(entry.volumes)
        if not known or (len(known) == 1 and abs(next(iter(known)) - value) < _TOLERANCE_ML):
            entry.volumes.extend((value, o) for o in groups[value])
            if not known:
                entry.flags.append(FLAG_LEVEL_INFERRED)
            return
    summary.unassigned_cement_ml = sorted(groups)
    summary.flags.append(FLAG_UNASSIGNED)


def _settle_entry(
    entry: _Entry,
    approaches: dict[SpinalLevel, list[tuple[str, Observation]]],
    sides: dict[SpinalLevel, list[tuple[str, Observation]]],
    limits: Plausibility,
    summary: TreatmentSummary,
) -> TreatedLevel:
    level_text = str(entry.level)
    flags = list(entry.flags)
    sources = [_source(o, "cement_ml") for _, o in entry.volumes] + entry.extra_sources

    cement: float | None = None
    groups = _group_values(entry.volumes)
    if len(groups) == 1:
        cement = next(iter(groups))
    elif len(groups) > 1:
        _conflict(summary, "cement_ml", level_text, entry.side, groups)
        flags.append(FLAG_CONFLICTING_CEMENT)
    if any(not _plausible(v, entry.level, entry.side, limits) for v in groups):
        flags.append(FLAG_IMPLAUSIBLE)

    approach_values = _group_text(approaches.get(entry.level, []))
    approach: str | None = None
    specific = {a: o for a, o in approach_values.items() if a != Approach.TRANSPEDICULAR.value}
    candidates = specific or approach_values
    if len(candidates) == 1:
        approach = next(iter(candidates))
    elif len(candidates) > 1:
        _conflict(summary, "approach", level_text, entry.side, candidates)
        flags.append(FLAG_CONFLICTING_APPROACH)
    for obs_list in approach_values.values():
        sources.extend(_source(o, "approach") for o in obs_list)

    side = entry.side
    if side is None:
        side_values = _group_text(sides.get(entry.level, []))
        if len(side_values) == 1:
            side = next(iter(side_values))
        elif len(side_values) > 1:
            _conflict(summary, "side", level_text, None, side_values)
            flags.append(FLAG_CONFLICTING_SIDE)
        for obs_list in side_values.values():
            sources.extend(_source(o, "side") for o in obs_list)

    for flag in flags:
        if flag not in summary.flags and flag != FLAG_LEVEL_INFERRED:
            summary.flags.append(flag)
    return TreatedLevel(
        level=level_text,
        cement_ml=cement,
        approach=approach,
        side=side,
        sources=_dedupe(sources),
        flags=list(dict.fromkeys(flags)),
    )


def _group_text(items: Iterable[tuple[str, Observation]]) -> dict[str, list[Observation]]:
    groups: dict[str, list[Observation]] = {}
    for value, obs in items:
        groups.setdefault(value, []).append(obs)
    return groups


def _plausible(value: float, level: SpinalLevel, side: str | None, limits: Plausibility) -> bool:
    if value <= 0:
        return False
    if level.is_sacral:
        per_side = limits.sacral_max_ml_per_side
        return value <= (2 * per_side if side == Side.BILATERAL.value else per_side)
    return value <= limits.vertebral_max_ml


def _conflict(
    summary: TreatmentSummary,
    field: str,
    level: str | None,
    side: str | None,
    groups: dict[Any, list[Observation]],
) -> None:
    summary.conflicts.append(
        TreatmentConflict(
            field=field,
            level=level,
            side=side,
            values=list(groups),
            sources=[[_line(o) for o in obs_list] for obs_list in groups.values()],
        )
    )


# --- totals and cross-checks -----------------------------------------------------------


def _total(observations: Sequence[Observation], summary: TreatmentSummary) -> None:
    stated = [
        (value, obs)
        for obs in observations
        if obs.kind is Kind.TOTAL_CEMENT_ML and (value := _float(obs.value)) is not None
    ]
    known = [lv.cement_ml for lv in summary.levels if lv.cement_ml is not None]
    all_known = bool(summary.levels) and len(known) == len(summary.levels)
    level_sum = round(sum(v for v in known if v is not None), 2) if all_known else None
    groups = _group_values(stated)
    if len(groups) == 1:
        total = next(iter(groups))
        summary.total_cement_ml = total
        summary.sources["total_cement_ml"] = [_line(o) for o in groups[total]]
        if level_sum is not None and abs(level_sum - total) > _TOLERANCE_ML:
            summary.flags.append(FLAG_TOTAL_MISMATCH)
            summary.conflicts.append(
                TreatmentConflict(
                    field="total_cement_ml",
                    values=[total, level_sum],
                    sources=[[_line(o) for o in groups[total]], ["sum of levels"]],
                )
            )
    elif len(groups) > 1:
        _conflict(summary, "total_cement_ml", None, None, groups)
        summary.flags.append(FLAG_CONFLICTING_TOTAL)
    elif level_sum is not None:
        summary.total_cement_ml = level_sum
        summary.sources["total_cement_ml"] = ["sum of levels"]
    stated_total = summary.total_cement_ml
    if stated_total is not None and stated_total <= 0 and FLAG_IMPLAUSIBLE not in summary.flags:
        summary.flags.append(FLAG_IMPLAUSIBLE)


def _cpt_check(observations: Sequence[Observation], summary: TreatmentSummary) -> None:
    per_group: dict[tuple[str, str], list[ProcedureCode]] = {}
    for obs in observations:
        code = payload_of(obs, ProcedureCode)
        if code is None:
            continue
        path = obs.provenance.path.rsplit("[", 1)[0]
        per_group.setdefault((obs.provenance.sop_instance_uid, path), []).append(code)
    vertebral = {ProcedureType.VERTEBROPLASTY.value, ProcedureType.KYPHOPLASTY.value}
    expected: int | None = None
    lateralities: set[str] = set()
    for codes in per_group.values():
        count = sum(1 for c in codes if c.procedure_type in vertebral)
        if count:
            expected = max(expected or 0, count)
        lateralities.update(
            c.laterality
            for c in codes
            if c.procedure_type == ProcedureType.SACROPLASTY.value and c.laterality
        )
    summary.cpt_expected_levels = expected
    vertebral_levels = {lv.level for lv in summary.levels if SpinalLevel(lv.level).is_vertebral}
    if expected is not None and vertebral_levels and len(vertebral_levels) != expected:
        summary.flags.append(FLAG_CPT_MISMATCH)
    if len(lateralities) == 1:
        sacral_sides = {
            lv.side for lv in summary.levels if SpinalLevel(lv.level).is_sacral and lv.side
        }
        both = Side.BILATERAL.value in sacral_sides or {"left", "right"} <= sacral_sides
        one = bool(sacral_sides) and not both
        laterality = next(iter(lateralities))
        if (laterality == "bilateral" and one) or (laterality == "unilateral" and both):
            summary.flags.append(FLAG_CPT_LATERALITY)


def summarise_treatment(
    observations: Sequence[Observation], *, limits: Plausibility | None = None
) -> TreatmentSummary:
    """Procedure type, treated levels with cement, total, flags and conflicts of one study.

    ``observations`` are all observations of the study (any kinds); ``limits`` are the
    plausibility limits (default: 12 mL per vertebra, 10 mL per sacral side).
    """
    if isinstance(observations, Observation) or not isinstance(observations, Sequence):
        raise TypeError('Argument "observations" must be a sequence of "Observation".')
    limits = limits if limits is not None else Plausibility()
    summary = TreatmentSummary()
    procedure_type = _procedure_type(observations, summary)
    if procedure_type is ProcedureType.OTHER:
        _not_augmentation(observations, limits, summary)
    else:
        _build_levels(observations, procedure_type, limits, summary)
        if procedure_type is None:
            procedure_type = _inferred_type(observations, summary)
        summary.procedure_type = procedure_type or ProcedureType.UNCLASSIFIED
        if procedure_type is not None:
            _level_from_total(observations, summary)
            _study_approach(observations, summary)
        _total(observations, summary)
        _cpt_check(observations, summary)
        if summary.procedure_type is not ProcedureType.UNCLASSIFIED and not summary.levels:
            summary.flags.append(FLAG_NO_LEVELS)
    if summary.procedure_type_reason is None:
        summary.procedure_type_reason = "no procedure code, procedure word or cement at a level"
    summary.needs_review = bool(summary.conflicts) or any(f in REVIEW_FLAGS for f in summary.flags)
    return summary


def _cement_at_a_level(observations: Sequence[Observation]) -> bool:
    return any(
        obs.kind is Kind.CEMENT_VOLUME_ML and _level(obs) is not None and _float(obs.value)
        for obs in observations
    )


def _inferred_type(
    observations: Sequence[Observation], summary: TreatmentSummary
) -> ProcedureType | None:
    treated = [lv for lv in summary.levels if lv.cement_ml is not None]
    if not treated:
        return None
    vertebral = [lv for lv in treated if SpinalLevel(lv.level).is_vertebral]
    ptype = ProcedureType.VERTEBROPLASTY if vertebral else ProcedureType.SACROPLASTY
    summary.flags.append(FLAG_INFERRED_TYPE)
    where = ", ".join(lv.level for lv in (vertebral or treated))
    yielded = [e for e in _evidence(observations) if e.rank < _INFERRED_RANK]
    reason = f"inferred: cement at {where} and no procedure code or word ranked 15 or more"
    if yielded:
        reason += f" ({yielded[0].what} yields to cement)"
    summary.procedure_type_reason = reason + "; a kyphoplasty is possible"
    return ptype


def _not_augmentation(
    observations: Sequence[Observation], limits: Plausibility, summary: TreatmentSummary
) -> None:
    """Another procedure: its levels are mentions, its volumes are not cement."""
    scratch = TreatmentSummary()
    _build_levels(observations, None, limits, scratch)
    named = {lv.level for lv in scratch.levels} | set(scratch.mentioned_levels)
    summary.mentioned_levels = [str(lv) for lv in sorted(SpinalLevel(n) for n in named)]
    summary.procedure_type = ProcedureType.OTHER


def _level_from_total(observations: Sequence[Observation], summary: TreatmentSummary) -> None:
    """One treated level without a volume and one stated total: the total is that level's."""
    if len(summary.levels) != 1 or summary.unassigned_cement_ml:
        return
    (level,) = summary.levels
    if level.cement_ml is not None or any(f.startswith("conflicting") for f in level.flags):
        return
    stated = [
        (value, obs)
        for obs in observations
        if obs.kind is Kind.TOTAL_CEMENT_ML and (value := _float(obs.value)) is not None
    ]
    groups = _group_values(stated)
    if len(groups) != 1:
        return
    total = next(iter(groups))
    level.cement_ml = total
    level.flags.append(FLAG_FROM_TOTAL)
    level.sources.extend(_source(o, "cement_ml") for o in groups[total])


def _study_approach(observations: Sequence[Observation], summary: TreatmentSummary) -> None:
    """An approach named without a level (Study Description) for the levels without one."""
    free = _group_text(
        (obs.value, obs)
        for obs in observations
        if obs.kind is Kind.APPROACH and obs.level is None and isinstance(obs.value, str)
    )
    specific = {a: o for a, o in free.items() if a != Approach.TRANSPEDICULAR.value} or free
    if len(specific) != 1:
        return
    approach, sources = next(iter(specific.items()))
    for level in summary.levels:
        if level.approach is None and FLAG_CONFLICTING_APPROACH not in level.flags:
            level.approach = approach
            level.flags.append(FLAG_STUDY_APPROACH)
            level.sources.extend(_source(o, "approach") for o in sources)

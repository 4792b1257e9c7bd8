"""Manual record decisions: staff set what extraction got wrong, beside what it found.

A decision sets the procedure type, the treated levels, the cement per level or the approach
of a record by hand, or excludes the record (a phantom, a test study, a duplicate). Each is
given with a reason and kept with who and when (``vp-log procedures decide``); the extracted
record is never changed, so revoking a decision brings the extracted value back and
re-extraction keeps the decisions (they are keyed on the record id).

The *effective* record is the extracted one with the decisions applied (:func:`effective`);
it is what listings, the follow-up worklist, reports and exports read. This module is pure:
the rules, the typing-time checks and the application; ``vp_log.db.repository`` stores the
versions and gives every reader the effective record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vp_log import levels as spine
from vp_log.vocabulary import Approach, Plausibility, ProcedureType

__all__ = [
    "DECIDABLE_TYPES",
    "Decided",
    "DecisionError",
    "DecisionField",
    "DecisionRequest",
    "DecisionState",
    "ExcludeReason",
    "RecordDecision",
    "apply_request",
    "effective",
    "extracted_values",
    "parse_approach",
    "parse_cement",
    "parse_exclude",
    "parse_levels",
    "parse_type",
    "public_decisions",
]


class DecisionError(ValueError):
    """A decision refused; the message is one line naming the option in the user's words."""


class DecisionField(StrEnum):
    """What a decision sets; the values are the option names without ``--``."""

    TYPE = "type"
    LEVELS = "levels"
    CEMENT = "cement"
    APPROACH = "approach"
    EXCLUDE = "exclude"


class ExcludeReason(StrEnum):
    """Why a record is left out of listings, the worklist, reports and exports."""

    PHANTOM = "phantom"
    TEST = "test"
    DUPLICATE = "duplicate"
    OTHER = "other"


#: The types a decision may set ("unclassified" is no decision: revoke instead).
DECIDABLE_TYPES = (
    ProcedureType.VERTEBROPLASTY,
    ProcedureType.KYPHOPLASTY,
    ProcedureType.SACROPLASTY,
    ProcedureType.OTHER,
)

T = TypeVar("T")


class Decided(BaseModel, Generic[T]):
    """One decided value with its reason, who decided and when."""

    # The models here are built at first use, not at import: most records have no decision,
    # and ``followup add`` validates none (issue 15: start-up).
    model_config = ConfigDict(frozen=True, defer_build=True)

    value: T
    reason: str
    decided_by: str
    decided_at: dt.datetime


class DecisionState(BaseModel):
    """The decisions in force on a record (each version stores the whole state)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    type: Decided[ProcedureType] | None = None
    levels: Decided[list[str]] | None = Field(
        default=None, description="Treated levels, canonical, craniocaudal"
    )
    cement: Decided[dict[str, float]] | None = Field(
        default=None, description="Level → cement in mL"
    )
    approach: Decided[Approach] | None = None
    exclude: Decided[ExcludeReason] | None = None

    def decided(self) -> list[DecisionField]:
        """The fields with a decision, in option order."""
        return [f for f in DecisionField if getattr(self, f.value) is not None]


class DecisionRequest(BaseModel):
    """What ``procedures decide`` was given (parsed; None: not given)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    type: ProcedureType | None = None
    levels: list[str] | None = None
    cement: dict[str, float] | None = None
    approach: Approach | None = None
    exclude: ExcludeReason | None = None
    revoke: list[DecisionField] = Field(default_factory=list, description="Fields to revoke")
    revoke_all: bool = Field(default=False, description="Revoke every decision in force")
    reason: str

    def given(self) -> list[DecisionField]:
        return [f for f in DecisionField if getattr(self, f.value) is not None]


class RecordDecision(BaseModel):
    """A decision as ``--json`` prints it: the field, the decided and the extracted value."""

    model_config = ConfigDict(defer_build=True)

    field: DecisionField
    value: Any
    extracted: Any = Field(description="What extraction found for this field")
    reason: str
    decided_by: str
    decided_at: dt.datetime


# --- typing-time checks: one line naming the option ---------------------------------------

_LEVEL_HELP = "use C1-C7, T1-T12, L1-L5, S1-S5 or sacrum"
_SPLIT = re.compile(r"[,;\s]+")


def _one_of(option: str, text: str, what: str, allowed: Sequence[str]) -> str:
    wanted = text.strip().casefold()
    for value in allowed:
        if wanted == value.casefold():
            return value
    listed = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
    raise DecisionError(f"{option}: {text.strip()!r} is not {what}; use {listed}")


def parse_type(text: str) -> ProcedureType:
    """``--type``: vertebroplasty, kyphoplasty, sacroplasty or other (any case)."""
    value = _one_of("--type", text, "a procedure type", [t.value for t in DECIDABLE_TYPES])
    return ProcedureType(value)


def parse_exclude(text: str) -> ExcludeReason:
    """``--exclude``: phantom, test, duplicate or other."""
    value = _one_of("--exclude", text, "an exclusion reason", [r.value for r in ExcludeReason])
    return ExcludeReason(value)


def parse_approach(text: str) -> Approach:
    """``--approach``: one of the vocabulary's approaches (transpedicular, unipedicular...)."""
    value = _one_of("--approach", text, "an approach", [a.value for a in Approach])
    return Approach(value)


def _level(option: str, text: str) -> list[spine.SpinalLevel]:
    """One list item of ``--levels`` (a level or a range like ``T11-L1``)."""
    try:
        found = spine.parse_levels(text)
    except ValueError:
        raise DecisionError(
            f"{option}: {text.strip()!r} is not a vertebra; {_LEVEL_HELP}"
        ) from None
    if spine.SpinalLevel.COCCYX in found:
        raise DecisionError(f"{option}: {text.strip()!r} is not a vertebra; {_LEVEL_HELP}")
    return found


def _ordered(found: Iterable[spine.SpinalLevel]) -> list[str]:
    return [str(level) for level in sorted(set(found), key=lambda lv: lv.ordinal)]


def parse_levels(text: str) -> list[str]:
    """``--levels "L1,L2"`` (ranges ``T11-L1`` too): canonical, craniocaudal, each once."""
    parts = [p for p in re.split(r"[,;]+", text) if p.strip()]
    if not parts:
        raise DecisionError(f"--levels: give at least one level; {_LEVEL_HELP}")
    found: list[spine.SpinalLevel] = []
    for part in parts:
        found += _level("--levels", part)
    return _ordered(found)


_UNIT = re.compile(r"\s*(ml|cc|cm3|cm³)$", re.IGNORECASE)
_DECIMALS = re.compile(r"\d+\s*(ml|cc|cm3|cm³)?$", re.IGNORECASE)


def _items(text: str) -> list[str]:
    """``L1=4,5 mL, L2=3`` → ``L1=4,5 mL``, ``L2=3``: a bare number after an item is its
    decimal comma (a level is never a bare number), a bare unit its unit."""
    items: list[str] = []
    for part in (p.strip() for p in _SPLIT.split(text.strip())):
        if not part:
            continue
        last = items[-1] if items else ""
        if "=" in last and last[-1].isdigit() and _DECIMALS.match(part):
            items[-1] += "," + part
        elif "=" in last and last[-1].isdigit() and _UNIT.fullmatch(part):
            items[-1] += " " + part
        else:
            items.append(part)
    return items


def _volume(item: str, value_text: str) -> float:
    text = _UNIT.sub("", value_text.strip()).strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        raise DecisionError(
            f"--cement: {item!r} has no volume in mL after '=' (like L1=4.5)"
        ) from None
    if not value > 0:  # NaN too
        raise DecisionError(f"--cement: {item!r}: a cement volume is more than 0 mL")
    return value


def parse_cement(text: str, plausibility: Plausibility | None = None) -> dict[str, float]:
    """``--cement "L1=4.5,L2=3"`` (decimal comma, ``mL`` accepted): level → mL. A volume must be
    more than 0 and at most the site's plausible limit for the level (``[plausibility]``)."""
    limits = plausibility or Plausibility()
    items = _items(text)
    if not items:
        raise DecisionError("--cement: give LEVEL=mL, like L1=4.5,L2=3")
    cement: dict[str, float] = {}
    for item in items:
        name, sep, value_text = item.partition("=")
        if not sep:
            raise DecisionError(f"--cement: {item!r} is not LEVEL=mL (like L1=4.5)")
        try:
            level = spine.parse_level(name)
        except ValueError:
            raise DecisionError(
                f"--cement: {name.strip()!r} is not a vertebra; {_LEVEL_HELP}"
            ) from None
        if level is spine.SpinalLevel.COCCYX:
            raise DecisionError(f"--cement: {name.strip()!r} is not a vertebra; {_LEVEL_HELP}")
        volume = _volume(item, value_text)
        sacral = level.is_sacral
        limit = limits.sacral_max_ml_per_side * 2 if sacral else limits.vertebral_max_ml
        setting = "sacral_max_ml_per_side (x2)" if sacral else "vertebral_max_ml"
        if volume > limit:
            raise DecisionError(
                f"--cement: {item!r}: more than the plausible {limit:g} mL at {level} "
                f"([plausibility] {setting})"
            )
        if str(level) in cement:
            raise DecisionError(f"--cement: {level} is given twice")
        cement[str(level)] = volume
    return {name: cement[name] for name in _ordered(spine.SpinalLevel(n) for n in cement)}


# --- the effective record -------------------------------------------------------------------

#: The record fields decisions change (``extracted_values`` keeps them as extracted).
TREATMENT_FIELDS = (
    "procedure_type",
    "procedure_type_reason",
    "other_procedure",
    "levels",
    "total_cement_ml",
)


def _level_name(entry: Any) -> str | None:
    text = entry.get("level") if isinstance(entry, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        return str(spine.parse_level(text))
    except ValueError:
        return text


def _merged(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One level entry from several (the two sides of the sacrum) when its cement is decided."""
    first = dict(entries[0])
    sides = {e.get("side") for e in entries}
    if len(entries) > 1:
        first["side"] = "bilateral" if sides >= {"left", "right"} else first.get("side")
        first["sources"] = [s for e in entries for s in e.get("sources") or []]
    return first


def _effective_levels(
    extracted: list[dict[str, Any]], state: DecisionState
) -> list[dict[str, Any]]:
    by_level: dict[str, list[dict[str, Any]]] = {}
    order: list[str] = []
    for entry in extracted:
        name = _level_name(entry)
        if name is None:
            continue
        if name not in by_level:
            order.append(name)
        by_level.setdefault(name, []).append(dict(entry))
    names = list(state.levels.value) if state.levels else order
    cement = state.cement.value if state.cement else {}
    for name in cement:  # a volume decided at a level names it treated
        if name not in names:
            names.append(name)
    if state.levels or cement:
        names = _ordered(spine.SpinalLevel(n) for n in names)
    result: list[dict[str, Any]] = []
    for name in names:
        entries = by_level.get(name) or [{"level": name, "sources": [], "flags": []}]
        if name in cement:
            entry = _merged(entries)
            entry["cement_ml"] = cement[name]
            entries = [entry]
        if state.approach:
            entries = [{**e, "approach": state.approach.value.value} for e in entries]
        result += entries
    return result


def _total(levels: list[dict[str, Any]], extracted_total: Any, cement_decided: bool) -> Any:
    known = [lv.get("cement_ml") for lv in levels]
    if levels and all(isinstance(v, int | float) for v in known):
        return round(sum(v for v in known if v is not None), 2)
    return None if cement_decided else extracted_total


def _why(decided: Decided[Any]) -> str:
    return f"decided by {decided.decided_by} on {decided.decided_at:%Y-%m-%d}: {decided.reason}"


def effective(record: Mapping[str, Any], state: DecisionState | None) -> dict[str, Any]:
    """The record (its JSON form, or some of its fields) with the decisions applied.

    The type replaces the extracted one (its reason says who decided, when and why; an
    augmentation type has no "other procedure"). Decided levels replace the treated levels
    (an extracted level keeps its sources and cement), a decided volume sets its level's
    cement (and names the level treated), a decided approach applies to every level; the
    total is the sum of the levels when each is known. An ``other`` procedure has no treated
    levels. Fields the record does not carry are left out (reports read a few fields only).
    """
    out = dict(record)
    if state is None:
        return out
    if state.type is not None:
        out["procedure_type"] = state.type.value.value
        if "procedure_type_reason" in record or "other_procedure" in record:
            out["procedure_type_reason"] = _why(state.type)
        if state.type.value is not ProcedureType.OTHER and "other_procedure" in record:
            out["other_procedure"] = None
    touched = state.levels or state.cement or state.approach
    if touched and "levels" in record:
        levels = _effective_levels(list(record.get("levels") or []), state)
        out["levels"] = levels
        if "total_cement_ml" in record or state.levels or state.cement:
            total = _total(levels, record.get("total_cement_ml"), state.cement is not None)
            out["total_cement_ml"] = total
            if isinstance(record.get("sources"), Mapping) and total is not None:
                out["sources"] = {**record["sources"], "total_cement_ml": ["sum of levels"]}
    if state.type is not None and state.type.value is ProcedureType.OTHER and "levels" in out:
        out["levels"] = []
        out["total_cement_ml"] = None
    return out


def extracted_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's treatment fields as extracted (``--json`` ``extracted``)."""
    return {name: record.get(name) for name in TREATMENT_FIELDS}


def _field_value(record: Mapping[str, Any], field: DecisionField, excluded: Any) -> Any:
    """A field as a person reads it: the type, level names, level → mL, approaches."""
    entries = [e for e in record.get("levels") or [] if isinstance(e, Mapping)]
    if field is DecisionField.TYPE:
        return record.get("procedure_type")
    if field is DecisionField.LEVELS:
        return list(dict.fromkeys(n for e in entries if (n := _level_name(e))))
    if field is DecisionField.CEMENT:
        return {n: e.get("cement_ml") for e in entries if (n := _level_name(e))}
    if field is DecisionField.APPROACH:
        found = list(dict.fromkeys(e.get("approach") for e in entries if e.get("approach")))
        return found[0] if len(found) == 1 else (found or None)
    return excluded


def public_decisions(
    record: Mapping[str, Any], state: DecisionState | None
) -> list[RecordDecision]:
    """The decisions in force, each with the value extraction found (``record``: extracted)."""
    if state is None:
        return []
    shown = []
    for field in state.decided():
        decided: Decided[Any] = getattr(state, field.value)
        value = decided.value
        shown.append(
            RecordDecision(
                field=field,
                value=value.value if isinstance(value, StrEnum) else value,
                extracted=_field_value(record, field, None),
                reason=decided.reason,
                decided_by=decided.decided_by,
                decided_at=decided.decided_at,
            )
        )
    return shown


# --- a request against the state in force ---------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v:g}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def _levels_text(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def _check(record: Mapping[str, Any], new: DecisionState, request: DecisionRequest) -> None:
    """The rules a new state must keep; the message names the option that breaks it."""
    given = request.given()
    if request.cement is not None and new.levels is not None:
        outside = [n for n in request.cement if n not in new.levels.value]
        if outside:
            where = "--levels" if request.levels is not None else "the decided levels"
            raise DecisionError(
                f"--cement: {outside[0]} is not in {where} ({_levels_text(new.levels.value)})"
                + ("" if request.levels is not None else "; give --levels with it")
            )
    if request.levels is not None and new.cement is not None:
        outside = [n for n in new.cement.value if n not in request.levels]
        if outside:
            raise DecisionError(
                f"--levels: cement is decided at {outside[0]}, which is not in "
                f"{_levels_text(request.levels)}; give --cement with it or --revoke cement"
            )
    shown = effective(record, new)
    if shown.get("procedure_type") == ProcedureType.OTHER.value:
        for field in (DecisionField.LEVELS, DecisionField.CEMENT, DecisionField.APPROACH):
            if getattr(new, field.value) is None:
                continue
            if field in given:
                raise DecisionError(
                    f"--{field.value}: the record is 'other' (not an augmentation), which "
                    "has no treated levels; give --type with it"
                )
            raise DecisionError(
                f"--type other: {field.value} is decided; --revoke {field.value} with it"
            )
    if request.approach is not None and not shown.get("levels"):
        raise DecisionError("--approach: the record has no treated levels; give --levels with it")


def apply_request(
    record: Mapping[str, Any],
    state: DecisionState | None,
    request: DecisionRequest,
    *,
    who: str,
    now: dt.datetime,
) -> tuple[DecisionState, dict[str, dict[str, Any]]]:
    """The state after ``request`` and what changed (field → old and new effective value).

    ``record`` is the extracted record (its JSON form). Raises :class:`DecisionError`: a
    revoke of what is not decided, a request that changes nothing, or a broken rule.
    """
    reason = request.reason.strip()
    if not reason:
        raise DecisionError("--reason: say why (it is kept with the decision)")
    current = state or DecisionState()
    values: dict[str, Any] = {f.value: getattr(current, f.value) for f in DecisionField}
    revoke = list(request.revoke)
    if request.revoke_all:
        revoke = current.decided()
        if not revoke:
            raise DecisionError("--revoke all: nothing is decided on this record")
    if revoke:
        for field in revoke:
            if values[field.value] is None:
                decided = ", ".join(f.value for f in current.decided()) or "none"
                raise DecisionError(
                    f"--revoke {field.value}: nothing decided for {field.value} "
                    f"(decided: {decided})"
                )
            values[field.value] = None
    for field in request.given():
        values[field.value] = Decided[Any](
            value=getattr(request, field.value), reason=reason, decided_by=who, decided_at=now
        )
    new = DecisionState.model_validate(
        {k: v.model_dump() if v is not None else None for k, v in values.items()}
    )
    given = request.given()
    if not revoke and all(
        (old := getattr(current, f.value)) is not None and old.value == getattr(request, f.value)
        for f in given
    ):
        already = "; ".join(
            f"{f.value} is already decided as {_text(getattr(request, f.value))}" for f in given
        )
        raise DecisionError(f"nothing changes: {already}")
    _check(record, new, request)
    before, after = effective(record, state), effective(record, new)
    was = current.exclude.value.value if current.exclude else None
    now_excluded = new.exclude.value.value if new.exclude else None
    changes: dict[str, dict[str, Any]] = {}
    for field in [*revoke, *given]:
        changes[field.value] = {
            "old": _field_value(before, field, was),
            "new": _field_value(after, field, now_excluded),
        }
    return new, changes

"""The follow-up entry models, derived from the instrument table, and how refusals read.

``FollowupBase`` holds the date, the time point, one field per instrument item
(:data:`.instruments.ITEMS`) and the notes; ``FollowupCreate`` is what staff enter (ODI sections
scored, at least one thing assessed); ``FollowupPublic`` is one stored version. ``None`` means
not assessed, never 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from vp_log.followup.events import (
    ComplicationCreate,
    ComplicationPublic,
    ComplicationType,
    NewFractureCreate,
    NewFracturePublic,
)
from vp_log.followup.instruments import INSTRUMENTS, ITEMS, Kind, Number
from vp_log.text import plain_reason

if TYPE_CHECKING:
    from vp_log.db.followup_tables import FollowupVersion

#: What each field allows, for refusal messages (items from the table, the rest by hand).
ALLOWED: dict[str, str] = {
    "date": "a date YYYY-MM-DD, not in the future",
    "timepoint": "a time point of the schedule",
    **{item.name: item.allowed() for item in ITEMS},
    "level": "a spinal level such as T12, L1, S1",
    "type": ", ".join(c.value for c in ComplicationType),
    "severity": "SIR severity A, B, C, D, E or F",
    "entered_by": "1–128 characters",
    "closed": "lost, declined, unreachable, died or other",
}


#: What an entry holds, as staff give it: the fields of corrections and of the import table.
ENTRY_FIELDS: tuple[str, ...] = (
    "date",
    "timepoint",
    *(item.name for item in ITEMS),
    "new_fractures",
    "complications",
    "notes",
    "closed",
)


class _EntryFields(BaseModel):
    """What every entry has besides its instrument items."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="Date of the assessment")
    timepoint: str | None = Field(None, description="Schedule time point; inferred when None")
    notes: str | None = None


_FIELDS: dict[str, Any] = {
    item.name: (item.kind.annotation(), Field(None, description=item.help)) for item in ITEMS
}
_ItemFields = create_model("_ItemFields", __base__=_EntryFields, **_FIELDS)  # one per item

if TYPE_CHECKING:  # mypy sees the fixed fields; the item fields are read with getattr
    _Base = _EntryFields
else:
    _Base = _ItemFields


class CloseReason(StrEnum):
    """Why a time point was closed without an assessment."""

    LOST = "lost"
    """Lost to follow-up."""
    DECLINED = "declined"
    """The patient declined."""
    UNREACHABLE = "unreachable"
    """The patient could not be reached."""
    DIED = "died"
    """The patient died (no later time point is due)."""
    OTHER = "other"
    """Anything else; say what in the notes."""


class FollowupBase(_Base):
    """What staff enter at one assessment. ``None`` means not assessed (never 0)."""

    closed: CloseReason | None = Field(
        None, description="Time point closed without an assessment, and why"
    )

    @field_validator("closed", mode="before")
    @classmethod
    def _closed(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def item_values(model: BaseModel) -> dict[str, Any]:
    """The instrument item values of an entry model, by item name."""
    return {item.name: getattr(model, item.name) for item in ITEMS}


class FollowupCreate(FollowupBase):
    """An entry as typed, before linking; scored instruments (ODI) are scored here."""

    new_fractures: list[NewFractureCreate] | None = Field(
        None, description="New vertebral fractures; [] none, None not assessed"
    )
    complications: list[ComplicationCreate] | None = Field(
        None, description="Complications; [] none, None not assessed"
    )
    entered_by: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _score_and_require_something(self) -> FollowupCreate:
        if self.closed is not None:
            return self._closure()
        for inst in INSTRUMENTS:
            if inst.scored is None:
                continue
            sections = getattr(self, inst.scored.sections)
            if sections is None:
                continue
            scored = inst.scored.score(sections)
            total = getattr(self, inst.scored.total)
            if total is not None and abs(total - scored) > 0.05:
                msg = (
                    f"{inst.scored.total} = {total:g} disagrees with the sections "
                    f"(scored {scored:g}); give one or the other"
                )
                raise ValueError(msg)
            setattr(self, inst.scored.total, scored)
        assessed = [*item_values(self).values(), self.notes, self.new_fractures]
        assessed.append(self.complications)  # [] is an answer ("none"); None is not
        if all(v is None or v == "" for v in assessed):
            names = ", ".join(inst.short for inst in INSTRUMENTS)
            msg = (
                f"an entry with nothing assessed refused: give at least one of {names}, "
                "a new fracture, a complication or notes"
            )
            raise ValueError(msg)
        return self

    def _closure(self) -> FollowupCreate:
        """A closed time point holds no assessment (notes may say more)."""
        given = [n for n, v in item_values(self).items() if v is not None]
        given += [n for n in ("new_fractures", "complications") if getattr(self, n) is not None]
        if given:
            msg = (
                f"a closed time point ({self.closed}) refused with values: {', '.join(given)}; "
                "enter an assessment or close the time point, not both (to reverse a "
                "closure, correct it with --clear closed and the measured values)"
            )
            raise ValueError(msg)
        if self.timepoint is None:
            msg = "closing needs the time point it closes (timepoint)"
            raise ValueError(msg)
        return self


class FollowupPublic(FollowupBase):
    """One stored version of an entry."""

    entry_id: int
    version: int
    procedure_id: int
    days_after: int = Field(description="Days after the procedure (negative: before)")
    timepoint_inferred: bool
    out_of_window: bool
    new_fractures: list[NewFracturePublic] | None
    complications: list[ComplicationPublic] | None
    entered_by: str
    entered_at: dt.datetime
    reason: str | None = Field(None, description="Why this version corrects the previous one")
    supersedes_version: int | None = None

    @classmethod
    def from_row(cls, row: FollowupVersion) -> FollowupPublic:
        return cls.model_validate(
            {
                "entry_id": row.entry_id,
                "version": row.version,
                "procedure_id": row.procedure_id,
                "date": row.entry_date,
                "timepoint": row.timepoint,
                "days_after": row.days_after,
                "timepoint_inferred": row.timepoint_inferred,
                "out_of_window": row.out_of_window,
                **{item.name: getattr(row, item.name) for item in ITEMS},
                "new_fractures": row.new_fractures,
                "complications": row.complications,
                "notes": row.notes,
                "closed": row.closed_reason,
                "entered_by": row.entered_by,
                "entered_at": row.entered_at,
                "reason": row.reason,
                "supersedes_version": row.version - 1 if row.supersedes_id is not None else None,
            }
        )

    @classmethod
    def json_of_rows(
        cls, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> Iterator[dict[str, Any]]:
        """What ``from_row(row).model_dump(mode="json")`` gives for each row (its values
        in ``columns`` order, named as the version's attributes), field for field and in
        the model's order, without building the model: ``followup list --json`` of 34 000
        entries was 1.4 s of pydantic. The values were validated when stored; only new
        fractures and complications, where there are any, go through their models
        (PostgreSQL's ``jsonb`` keeps their keys in another order)."""
        at = {name: index for index, name in enumerate(columns)}
        items = [(item.name, at[item.name], _json_number(item.kind)) for item in ITEMS]
        date, timepoint, notes, closed = (
            at[n] for n in ("entry_date", "timepoint", "notes", "closed_reason")
        )
        entry, version, procedure, days = (
            at[n] for n in ("entry_id", "version", "procedure_id", "days_after")
        )
        inferred, out_of_window = at["timepoint_inferred"], at["out_of_window"]
        fractures, complications = at["new_fractures"], at["complications"]
        by, entered, reason, supersedes = (
            at[n] for n in ("entered_by", "entered_at", "reason", "supersedes_id")
        )
        for row in rows:
            public = {
                "date": row[date].isoformat(),
                "timepoint": row[timepoint],
                "notes": row[notes],
            }
            for name, index, number in items:
                value = row[index]
                public[name] = value if value is None or number is None else number(value)
            public["closed"] = row[closed]
            public["entry_id"] = row[entry]
            public["version"] = row[version]
            public["procedure_id"] = row[procedure]
            public["days_after"] = row[days]
            public["timepoint_inferred"] = bool(row[inferred])
            public["out_of_window"] = bool(row[out_of_window])
            public["new_fractures"] = _events_json(_FRACTURES, row[fractures])
            public["complications"] = _events_json(_COMPLICATIONS, row[complications])
            public["entered_by"] = row[by]
            public["entered_at"] = json_time(row[entered])
            public["reason"] = row[reason]
            public["supersedes_version"] = None if row[supersedes] is None else row[version] - 1
            yield public


def json_time(at: dt.datetime) -> str:
    """A stored (UTC) time as pydantic writes it in JSON: ``2026-12-03T16:14:53.123456Z``."""
    return at.astimezone(dt.UTC).isoformat().removesuffix("+00:00") + "Z"


def _json_number(kind: Kind) -> type[int] | type[float] | None:
    """What a stored item value becomes in its model field: a whole number an int, another
    number a float; None: as stored (a choice's value, a list of section scores)."""
    if not isinstance(kind, Number):
        return None
    return int if kind.whole else float


_FRACTURES = TypeAdapter(list[NewFracturePublic])
_COMPLICATIONS = TypeAdapter(list[ComplicationPublic])


def _events_json(adapter: TypeAdapter[Any], stored: list[dict[str, Any]] | None) -> Any:
    if not stored:
        return stored  # None: not assessed; []: none
    return adapter.dump_python(adapter.validate_python(stored), mode="json")


class AuditPublic(BaseModel):
    id: int
    at: dt.datetime
    who: str
    action: str
    entity: str
    entity_id: str
    details: dict[str, Any]


def describe_validation_error(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """One line per problem: the field, the value given, why, and what is allowed.

    ``names`` maps a field to the user's word for it (``pain_rest`` -> ``--pain-rest`` on the
    command line); a field not in it is named as is (the CSV column name).
    """
    names = names or {}
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        msg = plain_reason(err)
        if not loc:
            lines.append(msg)
            continue
        parts: list[str] = []
        for part in loc:
            if isinstance(part, int):
                parts.append(f"[{part + 1}]")
            elif parts:
                parts.append(f".{part}")
            else:
                parts.append(names.get(str(part), str(part)))
        field = "".join(parts)
        name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        allowed = ALLOWED.get(name)
        if err["type"] in ("enum", "literal_error") and allowed:  # pydantic's "Input should be"
            msg = "not one of the allowed values"
        shown = "" if err["type"] == "missing" else f" = {err['input']!r}"
        if msg.startswith("section "):  # a section score: name the section, not the list
            head, _, msg = msg.partition(": ")
            shown = f" {head}"
        lines.append(
            f"{field}{shown} refused: {msg}" + (f" (allowed: {allowed})" if allowed else "")
        )
    return "\n".join(lines)

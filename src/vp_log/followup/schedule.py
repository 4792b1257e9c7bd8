"""The follow-up schedule: time points with windows in days after the procedure (TOML).

Time points (``baseline``, ``1d``, ``1w``, ``1m``, ``3m``, ``6m``, ``12m`` by default) are read
from TOML (:func:`load_schedule`). An entry's time point is inferred from its date when not
given (:meth:`Schedule.infer`); what staff type is matched without regard to case, with the
label and the usual spellings as aliases (``1M``, ``1 month``, ``1 months``, ``1mo``).
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vp_log.followup.errors import FollowupError, ScheduleError
from vp_log.text import plain_reason

_UNITS = (
    (r"(months?|mo|mths?)$", "m"),
    (r"(weeks?|wks?)$", "w"),
    (r"(days?)$", "d"),
    (r"(years?|yrs?|y)$", "y"),
)


def _fold(text: str) -> str:
    """``'1 Month'`` -> ``'1m'``: lower case, no spaces, unit words shortened."""
    key = re.sub(r"[\s_]+", "", text.strip().lower())
    for pattern, unit in _UNITS:
        if re.search(r"\d" + pattern, key):
            key = re.sub(pattern, unit, key)
            break
    return key


class TimePoint(BaseModel):
    """A scheduled assessment: target day after the procedure and its window (inclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    label: str = ""
    aliases: tuple[str, ...] = ()
    target: int
    from_day: int = Field(alias="from")
    to_day: int = Field(alias="to")
    baseline: bool = False
    due: bool = True

    @model_validator(mode="after")
    def _window(self) -> TimePoint:
        if not self.from_day <= self.target <= self.to_day:
            msg = (
                f"time point {self.name!r}: from ({self.from_day}) <= target ({self.target}) "
                f"<= to ({self.to_day}) does not hold"
            )
            raise ValueError(msg)
        return self

    def contains(self, days: int) -> bool:
        return self.from_day <= days <= self.to_day

    def spellings(self) -> set[str]:
        """Every folded spelling that names this time point."""
        names = {self.name, *self.aliases} | ({self.label} if self.label else set())
        folded = {_fold(n) for n in names}
        if self.target == 365 and not self.baseline:
            folded.add("1y")
        return folded


class Schedule(BaseModel):
    """The time points of a site, in the order of the file."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    timepoints: list[TimePoint] = Field(alias="timepoint", min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        names = [tp.name for tp in self.timepoints]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            msg = f"time point names must be unique; repeated: {', '.join(duplicates)}"
            raise ValueError(msg)
        if sum(tp.baseline for tp in self.timepoints) != 1:
            msg = "exactly one time point must have baseline = true"
            raise ValueError(msg)
        return self

    @property
    def names(self) -> list[str]:
        return [tp.name for tp in self.timepoints]

    @property
    def baseline(self) -> TimePoint:
        return next(tp for tp in self.timepoints if tp.baseline)

    def get(self, name: str) -> TimePoint:
        """The time point ``name`` names (any case, label or alias), or FollowupError."""
        key = _fold(name)
        for tp in self.timepoints:  # the exact name first, then the aliases
            if _fold(tp.name) == key:
                return tp
        for tp in self.timepoints:
            if key in tp.spellings():
                return tp
        msg = f"time point {name!r} refused (allowed: {', '.join(self.names)})"
        raise FollowupError(msg, field="timepoint")

    def infer(self, days: int) -> TimePoint | None:
        """The time point whose window holds ``days`` (nearest target first), else None."""
        holding = [tp for tp in self.timepoints if tp.contains(days)]
        if not holding:
            return None
        return min(holding, key=lambda tp: (abs(tp.target - days), tp.target))


def load_schedule(path: Path | None = None) -> Schedule:
    """The schedule in ``path``, or the built-in one; :class:`ScheduleError` when it is bad."""
    where = str(path) if path else "the built-in follow-up schedule"
    try:
        if path is None:
            text = (
                resources.files("vp_log")
                .joinpath("defaults", "followup_schedule.toml")
                .read_text(encoding="utf-8")
            )
        else:
            text = path.read_text(encoding="utf-8")
        return Schedule.model_validate(tomllib.loads(text))
    except OSError as exc:
        msg = f"Follow-up schedule {where} cannot be read: {exc}"
        raise ScheduleError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"Follow-up schedule {where} is not valid TOML: {exc}"
        raise ScheduleError(msg) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {plain_reason(e)}"
            for e in exc.errors()
        )
        msg = f"Follow-up schedule {where} refused: {problems}"
        raise ScheduleError(msg) from None

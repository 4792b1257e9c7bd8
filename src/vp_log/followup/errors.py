"""What follow-up refuses: each error's message says what was wrong and what is allowed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vp_log.followup.linking import ProcedureRef


class FollowupError(ValueError):
    """A follow-up refused; the message says what was wrong and what is allowed.

    ``field`` is the entry field at fault when there is one (``timepoint``, ``date``,
    ``new_fractures``, ``complications``): an import names that column, not the row's key.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AmbiguousProcedureError(FollowupError):
    """More than one procedure matches; ``candidates`` lists them."""

    def __init__(self, message: str, candidates: list[ProcedureRef]) -> None:
        super().__init__(message)
        self.candidates = candidates


class ScheduleError(ValueError):
    """A follow-up schedule file vp_log refuses; the message names the entry."""


class DuplicateEntryError(FollowupError):
    """The time point already has an entry; ``entry_id`` is that entry (correct it instead)."""

    def __init__(self, message: str, entry_id: int) -> None:
        super().__init__(message)
        self.entry_id = entry_id

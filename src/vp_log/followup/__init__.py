"""Follow-up outcomes: instruments, the schedule, linking, entries, the worklist, the timeline.

Staff enter what a patient reported at a time point. Everything an instrument is (its items,
ranges, options, prompts, columns, whether it is an outcome) is declared once, in
:data:`.instruments.INSTRUMENTS`; the models, the database columns, the command-line options,
corrections and the timeline are derived from that table.

- :mod:`.instruments`: the table, value kinds and scoring (ODI); :mod:`.events`: new fractures
  and complications; :mod:`.models`: the entry models and refusal messages.
- :mod:`.schedule`: time points and windows (TOML); :mod:`.linking`: which procedure an entry
  belongs to and the date, baseline and window rules (:func:`.linking.link_entry`, the one place
  for them); :mod:`.entries`: append-only storage, corrections, audit.
- :mod:`.worklist`: who is due; :mod:`.timeline`: outcomes with the change from baseline.

Rendering for people lives in ``vp_log.cli``. ``vp_log.db`` derives its columns from the
table (:mod:`.instruments` imports nothing of the database, so either may be imported first).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vp_log.followup import tabular
    from vp_log.followup.entries import (
        CORRECTABLE,
        ImportResult,
        add_followup,
        audit_items,
        audit_json,
        audit_log,
        check_correction,
        check_timepoint_free,
        close_timepoint,
        correct_followup,
        count_audit_events,
        count_followups,
        entry_history,
        followup_items,
        followup_json,
        import_entries,
        list_followups,
        merge_correction,
    )
    from vp_log.followup.errors import (
        AmbiguousProcedureError,
        DuplicateEntryError,
        FollowupError,
        ScheduleError,
    )
    from vp_log.followup.events import (
        COMPLICATION_ALIASES,
        ComplicationCreate,
        ComplicationPublic,
        ComplicationType,
        NewFractureCreate,
        NewFracturePublic,
        SirSeverity,
        fracture_adjacency,
    )
    from vp_log.followup.instruments import (
        BY_NAME,
        INSTRUMENTS,
        ITEMS,
        ODI_SECTIONS,
        OUTCOMES,
        Analgesic,
        Instrument,
        Item,
        eq5d_profile,
        score_odi,
    )
    from vp_log.followup.linking import (
        ProcedureRef,
        event_date,
        is_baseline,
        link_entry,
        place_date,
        place_entry,
        procedures_for,
        resolve_procedure,
    )
    from vp_log.followup.models import (
        ALLOWED,
        AuditPublic,
        CloseReason,
        FollowupBase,
        FollowupCreate,
        FollowupPublic,
        describe_validation_error,
        item_values,
    )
    from vp_log.followup.schedule import Schedule, TimePoint, load_schedule
    from vp_log.followup.timeline import outcome_timeline
    from vp_log.followup.worklist import (
        DueItem,
        DueRow,
        WorklistFilter,
        due_items,
        due_page,
        due_worklist,
    )

# The package's names load with the submodule that holds them, on first use: ``vp-log --help``
# needs the instrument table (pydantic only), not the database. Lightest submodules first.
_SUBMODULES = (
    "instruments",
    "errors",
    "events",
    "models",
    "schedule",
    "tabular",
    "linking",
    "entries",
    "timeline",
    "worklist",
)


def __getattr__(name: str) -> Any:
    for submodule in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{submodule}")
        if name == submodule:
            return module
        if name in __all__ and hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALLOWED",
    "BY_NAME",
    "COMPLICATION_ALIASES",
    "CORRECTABLE",
    "INSTRUMENTS",
    "ITEMS",
    "ODI_SECTIONS",
    "OUTCOMES",
    "AmbiguousProcedureError",
    "Analgesic",
    "AuditPublic",
    "CloseReason",
    "ComplicationCreate",
    "ComplicationPublic",
    "ComplicationType",
    "DueItem",
    "DueRow",
    "DuplicateEntryError",
    "FollowupBase",
    "FollowupCreate",
    "FollowupError",
    "FollowupPublic",
    "ImportResult",
    "Instrument",
    "Item",
    "NewFractureCreate",
    "NewFracturePublic",
    "ProcedureRef",
    "Schedule",
    "ScheduleError",
    "SirSeverity",
    "TimePoint",
    "WorklistFilter",
    "add_followup",
    "audit_items",
    "audit_json",
    "audit_log",
    "check_correction",
    "check_timepoint_free",
    "close_timepoint",
    "correct_followup",
    "count_audit_events",
    "count_followups",
    "describe_validation_error",
    "due_items",
    "due_page",
    "due_worklist",
    "entry_history",
    "eq5d_profile",
    "event_date",
    "followup_items",
    "followup_json",
    "fracture_adjacency",
    "import_entries",
    "is_baseline",
    "item_values",
    "link_entry",
    "list_followups",
    "load_schedule",
    "merge_correction",
    "outcome_timeline",
    "place_date",
    "place_entry",
    "procedures_for",
    "resolve_procedure",
    "score_odi",
    "tabular",
]

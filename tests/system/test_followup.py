"""Follow-up linking, storage, corrections, worklist and timeline (the pure parts: tests/unit).

These tests run against a SQLite file and against a fresh PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from conftest import fresh_pg_database
from followup_support import add_procedure
from vp_log import followup as fu
from vp_log.db import Database
from vp_log.db.followup_tables import AuditEvent, FollowupEntry, FollowupVersion

TODAY = dt.date(2025, 12, 31)
D = dt.date.fromisoformat
SCHEDULE = fu.load_schedule()


def entry(**fields: Any) -> fu.FollowupCreate:
    return fu.FollowupCreate.model_validate({"entered_by": "nurse", **fields})


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'vp_log.db'}")
        yield db
        db.dispose()
        return
    with fresh_pg_database() as url:
        db = Database(url)
        yield db
        db.dispose()


def add(database: Database, procedure_id: int, **fields: Any) -> fu.FollowupPublic:
    return fu.add_followup(
        database=database,
        procedure_id=procedure_id,
        data=entry(**fields),
        schedule=SCHEDULE,
        today=TODAY,
    )


# --- storage, linking, dates (SQLite and PostgreSQL) ----------------------------------------


def test_add_stores_version_one_and_audits(database: Database) -> None:
    pid = add_procedure(database, levels=["L1"])
    saved = add(
        database,
        pid,
        date=D("2025-02-12"),
        pain=3.5,
        pain_rest=2,
        pain_activity=5.5,
        odi_sections=[1, 2, 1, None, 0, 1, 2, 1, 1, 0],
        rmdq=8,
        analgesic="weak-opioid",
        notes="by phone",
    )
    assert (saved.entry_id, saved.version, saved.timepoint, saved.days_after) == (1, 1, "1m", 33)
    assert saved.timepoint_inferred and not saved.out_of_window
    with database.session() as session:
        listed = fu.list_followups(session)
        events = fu.audit_log(session)
    assert [e.model_dump() for e in listed] == [saved.model_dump()]
    assert listed[0].odi_percent == 20.0 and listed[0].pain_activity == 5.5
    assert [(e.action, e.who, e.entity_id) for e in events] == [("followup.add", "nurse", "1")]
    assert events[0].details["values"]["pain"] == 3.5
    assert events[0].at.tzinfo is not None


def test_out_of_window_entry_kept_and_flagged(database: Database) -> None:
    pid = add_procedure(database)
    inferred = add(database, pid, date=D("2025-01-27"), pain=4)  # day 17: no window
    assert inferred.timepoint is None and inferred.out_of_window
    explicit = add(database, pid, date=D("2025-01-27"), timepoint="1m", pain=4)
    assert explicit.timepoint == "1m" and explicit.out_of_window
    with database.session() as session:
        assert len(fu.list_followups(session)) == 2


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"date": D("2026-01-01")}, "in the future"),
        ({"date": D("2025-01-05"), "timepoint": "1m"}, "only a baseline entry may predate"),
        ({"date": D("2024-01-05")}, "only a baseline entry may predate"),
        ({"date": D("2025-01-12"), "timepoint": "baseline"}, "baseline must be on or before"),
        ({"date": D("2025-02-12"), "timepoint": "2y"}, "time point '2y' refused"),
        (
            {"date": D("2025-02-12"), "new_fractures": [{"level": "L2", "date": D("2025-01-01")}]},
            "new fracture date 2025-01-01 refused: before the procedure",
        ),
        (
            {"date": D("2025-02-12"), "new_fractures": [{"level": "L2", "date": D("2025-03-01")}]},
            "after the assessment date",
        ),
        (
            {
                "date": D("2025-02-12"),
                "complications": [{"type": "infection", "severity": "C", "date": D("2026-02-01")}],
            },
            "complication date 2026-02-01 refused: in the future",
        ),
    ],
)
def test_date_rules_refuse_and_write_nothing(
    database: Database, fields: dict[str, Any], match: str
) -> None:
    pid = add_procedure(database)
    with pytest.raises(fu.FollowupError, match=match):
        add(database, pid, pain=3, **fields)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(FollowupVersion)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_baseline_may_predate_the_procedure(database: Database) -> None:
    pid = add_procedure(database)
    inferred = add(database, pid, date=D("2025-01-03"), pain=8)
    assert (inferred.timepoint, inferred.days_after) == ("baseline", -7)
    other = add_procedure(database, accession="ACC2")  # one baseline per procedure
    same_day = add(database, other, date=D("2025-01-10"), timepoint="baseline", pain=8)
    assert same_day.days_after == 0


@pytest.mark.parametrize(
    ("treated", "adjacent", "at_treated"),
    [(["L1"], True, False), (["T11"], False, False), (["L2"], False, True), ([], None, None)],
)
def test_new_fracture_adjacency_computed_from_treated_levels(
    database: Database, treated: list[str], adjacent: bool | None, at_treated: bool | None
) -> None:
    pid = add_procedure(database, levels=treated)
    saved = add(database, pid, date=D("2025-04-10"), new_fractures=[{"level": "L2"}])
    fracture = saved.new_fractures[0]
    assert (fracture.level, fracture.date, fracture.adjacent) == ("L2", D("2025-04-10"), adjacent)
    assert fracture.at_treated_level is at_treated


def test_fracture_next_to_any_of_several_treated_levels(database: Database) -> None:
    pid = add_procedure(database, levels=["T12", "L3"])
    saved = add(
        database,
        pid,
        date=D("2025-04-10"),
        new_fractures=[{"level": "T11"}, {"level": "L1"}, {"level": "T9"}],
    )
    assert [f.adjacent for f in saved.new_fractures] == [True, True, False]


# --- linking ---------------------------------------------------------------------------------


@pytest.fixture
def linked(database: Database) -> tuple[Database, dict[str, int]]:
    ids = {
        "a": add_procedure(database, patient_id="P1", accession="ACC-A", study_date="2025-01-10"),
        "b": add_procedure(database, patient_id="P1", accession="ACC-B", study_date="2025-06-10"),
        "c": add_procedure(
            database, patient_id="P2", accession="ACC-C", study_date="2025-03-01", uid="1.2.3.4"
        ),
    }
    return database, ids


def resolve(database: Database, key: str, on: str, baseline: bool | None = None) -> int:
    with database.session() as session:
        return fu.resolve_procedure(session, key, on=D(on), baseline=baseline).id


def test_link_by_record_id_accession_and_uid(linked: tuple[Database, dict[str, int]]) -> None:
    database, ids = linked
    assert resolve(database, str(ids["b"]), "2025-07-01") == ids["b"]
    assert resolve(database, f"id:{ids['b']}", "2025-07-01") == ids["b"]
    assert resolve(database, "ACC-A", "2025-07-01") == ids["a"]
    assert resolve(database, "accession:ACC-C", "2025-07-01") == ids["c"]
    assert resolve(database, "1.2.3.4", "2025-07-01") == ids["c"]


def test_link_by_patient_and_date_takes_most_recent_on_or_before(
    linked: tuple[Database, dict[str, int]],
) -> None:
    database, ids = linked
    assert resolve(database, "P1", "2025-02-12") == ids["a"]
    assert resolve(database, "P1", "2025-06-10") == ids["b"]
    assert resolve(database, "patient:P1", "2025-09-01") == ids["b"]
    # a baseline belongs to the next procedure
    assert resolve(database, "P1", "2025-06-01", baseline=True) == ids["b"]
    # time point not known yet: nothing before, so the next one (valid only as a baseline)
    assert resolve(database, "P1", "2024-12-20") == ids["a"]
    with pytest.raises(fu.FollowupError, match="no procedure on or before 2024-12-20"):
        resolve(database, "P1", "2024-12-20", baseline=False)


def test_ambiguous_link_refused_listing_candidates(database: Database) -> None:
    first = add_procedure(database, patient_id="P9", accession="X1", study_date="2025-03-01")
    second = add_procedure(database, patient_id="P9", accession="X2", study_date="2025-03-01")
    with pytest.raises(fu.AmbiguousProcedureError) as info:
        resolve(database, "P9", "2025-04-01")
    assert {c.id for c in info.value.candidates} == {first, second}
    assert "accession X1" in str(info.value) and "accession X2" in str(info.value)
    # a record id that is also another procedure's accession number
    third = add_procedure(database, patient_id="P8", accession=str(first), study_date="2025-03-01")
    with pytest.raises(fu.AmbiguousProcedureError) as info:
        resolve(database, str(first), "2025-04-01")
    assert {c.id for c in info.value.candidates} == {first, third}
    assert resolve(database, f"id:{first}", "2025-04-01") == first
    assert resolve(database, f"accession:{first}", "2025-04-01") == third


def test_unknown_key_refused(database: Database) -> None:
    add_procedure(database)
    with pytest.raises(fu.FollowupError, match="no procedure with record id, accession"):
        resolve(database, "NOPE", "2025-04-01")


# --- corrections, history, append-only -------------------------------------------------------


def correct(database: Database, entry_id: int, reason: str = "typo", **changes: Any) -> Any:
    return fu.correct_followup(
        database=database,
        entry_id=entry_id,
        changes=changes,
        reason=reason,
        entered_by="doctor",
        schedule=SCHEDULE,
        today=TODAY,
    )


def test_correction_is_a_new_version_and_the_old_stays(database: Database) -> None:
    pid = add_procedure(database, levels=["L1"])
    first = add(database, pid, date=D("2025-02-12"), pain=3, rmdq=8, odi_percent=30)
    second = correct(database, first.entry_id, reason="misread the form", pain=4, rmdq=None)
    assert (second.version, second.supersedes_version, second.reason) == (2, 1, "misread the form")
    assert (second.pain, second.rmdq, second.odi_percent) == (4, None, 30)
    third = correct(database, first.entry_id, odi_sections=[1] * 10)
    assert (third.version, third.odi_percent, third.odi_sections) == (3, 20.0, [1] * 10)
    with database.session() as session:
        history = fu.entry_history(session, first.entry_id)
        current = fu.list_followups(session)
        events = fu.audit_log(session)
    assert [v.version for v in history] == [1, 2, 3]
    assert history[0].model_dump() == first.model_dump()
    assert [c.version for c in current] == [3]
    assert events[1].action == "followup.correct"
    assert events[1].details["changes"]["pain"] == {"from": 3.0, "to": 4.0}
    assert events[1].details["changes"]["rmdq"] == {"from": 8, "to": None}
    assert events[1].details["reason"] == "misread the form"


def test_correction_refusals(database: Database) -> None:
    pid = add_procedure(database)
    first = add(database, pid, date=D("2025-02-12"), pain=3)
    with pytest.raises(fu.FollowupError, match="changes nothing"):
        correct(database, first.entry_id, pain=3)
    with pytest.raises(fu.FollowupError, match="needs a reason"):
        correct(database, first.entry_id, reason=" ", pain=4)
    with pytest.raises(fu.FollowupError, match="no follow-up entry 99"):
        correct(database, 99, pain=4)
    with pytest.raises(ValidationError, match=r"above the maximum \(0–10\)"):
        correct(database, first.entry_id, pain=12)
    with pytest.raises(fu.FollowupError, match="only a baseline entry may predate"):
        correct(database, first.entry_id, date=D("2024-12-01"), timepoint="1m")
    with database.session() as session:
        assert len(fu.entry_history(session, first.entry_id)) == 1


def test_correction_reinfers_timepoint_and_relinks(database: Database) -> None:
    pid = add_procedure(database, levels=["T11"])
    other = add_procedure(database, patient_id="P2", accession="ACC2", levels=["L1"])
    first = add(database, pid, date=D("2025-02-12"), new_fractures=[{"level": "L2"}])
    assert first.timepoint == "1m" and first.new_fractures[0].adjacent is False
    moved = correct(database, first.entry_id, date=D("2025-04-10"))
    assert moved.timepoint == "3m"
    relinked = correct(database, first.entry_id, reason="wrong patient", procedure_id=other)
    assert relinked.procedure_id == other and relinked.new_fractures[0].adjacent is True


def test_tables_are_append_only(database: Database) -> None:
    pid = add_procedure(database)
    add(database, pid, date=D("2025-02-12"), pain=3)
    for statement in (
        "UPDATE followup_versions SET pain = 9",
        "DELETE FROM followup_versions",
        "DELETE FROM followup_entries",
        "UPDATE audit_log SET who = 'x'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), database.session() as session:
            session.execute(text(statement))
    with database.session() as session:
        assert session.scalar(select(FollowupVersion.pain)) == 3


def test_concurrent_corrections_and_entries_lose_nothing(database: Database) -> None:
    pid = add_procedure(database)
    shared = add(database, pid, date=D("2025-02-12"), pain=1)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(6):
                correct(database, shared.entry_id, reason=f"w{worker} #{i}", notes=f"{worker}-{i}")
                # day 17: outside every window, so entries of one day do not share a time point
                add(database, pid, date=D("2025-01-27"), pain=worker, notes=f"{worker}-{i}")
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with database.session() as session:
        versions = fu.entry_history(session, shared.entry_id)
        assert [v.version for v in versions] == list(range(1, 14))
        assert session.scalar(select(func.count()).select_from(FollowupEntry)) == 13
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 25


# --- worklist and timeline -------------------------------------------------------------------


def test_due_worklist_on_a_fixed_date(database: Database) -> None:
    recent = add_procedure(database, patient_id="P1", accession="A1", study_date="2025-03-01")
    older = add_procedure(database, patient_id="P2", accession="A2", study_date="2024-12-01")
    seen = add_procedure(database, patient_id="P3", accession="A3", study_date="2025-02-20")
    dead = add_procedure(database, patient_id="P4", accession="A4", study_date="2025-02-20")
    add_procedure(database, patient_id="P5", accession="A5", study_date="2025-03-31")  # future
    add(database, older, date=D("2024-12-02"), pain=5)  # 1d done
    add(database, seen, date=D("2025-02-28"), pain=2)  # 1w done (day 8)
    add(database, dead, date=D("2025-02-25"), complications=[{"type": "death", "severity": "F"}])
    with database.session() as session:
        items = fu.due_worklist(session, as_of=D("2025-03-10"), schedule=SCHEDULE)
    got = [(i.procedure_id, i.timepoint, i.status, i.days_left, i.days_overdue) for i in items]
    assert got == [
        # older (day 99): 1w overdue since day 14 (85 days); 1m since day 45 (54); 3m due
        (older, "1w", "overdue", None, 85),
        (older, "1m", "overdue", None, 54),
        (recent, "1d", "overdue", None, 6),  # day 9: 1d window closed on day 3
        (recent, "1w", "due", 5, None),
        (older, "3m", "due", 21, None),
    ]
    # seen had its 1w (a later time point), so the missed 1d is not listed; 1m not open yet
    item = items[3]
    assert (item.window_from, item.window_to, item.days_after) == (
        D("2025-03-05"),
        D("2025-03-15"),
        9,
    )


def test_outcome_timeline_with_change_from_baseline(database: Database) -> None:
    pid = add_procedure(database, levels=["L1"])
    add(
        database,
        pid,
        date=D("2025-01-08"),
        pain=8,
        odi_percent=60,
        rmdq=18,
        analgesic="strong-opioid",
    )
    add(database, pid, date=D("2025-01-11"), pain=5)
    month = add(
        database,
        pid,
        date=D("2025-02-10"),
        pain=2.5,
        odi_percent=30,
        analgesic="non-opioid",
        new_fractures=[{"level": "L2"}],
        complications=[{"type": "cement-leakage-venous", "severity": "A", "date": D("2025-01-10")}],
    )
    with database.session() as session:
        timeline = fu.outcome_timeline(session, pid)
    assert timeline["treated_levels"] == ["L1"]
    assert [r["timepoint"] for r in timeline["timepoints"]] == ["baseline", "1d", "1m"]
    baseline, day1, m1 = timeline["timepoints"]
    assert baseline["change_from_baseline"] is None
    assert day1["change_from_baseline"] == {
        "pain": -3.0,
        "pain_rest": None,
        "pain_activity": None,
        "odi_percent": None,
        "rmdq": None,
        "eq5d_vas": None,
    }
    assert m1["change_from_baseline"]["pain"] == -5.5
    assert m1["change_from_baseline"]["odi_percent"] == -30.0
    assert (m1["analgesic"], m1["entry_id"]) == ("non-opioid", month.entry_id)
    assert timeline["new_fractures"] == [
        {
            "level": "L2",
            "date": "2025-02-10",
            "adjacent": True,
            "at_treated_level": False,
            "entry_id": month.entry_id,
        }
    ]
    assert timeline["complications"][0]["type"] == "cement-leakage-venous"
    from rich.console import Console

    from vp_log.cli.followup_views import render_outcome_timeline

    console = Console(width=120, record=True)
    console.print(render_outcome_timeline(timeline))
    shown = console.export_text()
    assert "2.5" in shown and "(-5.5)" in shown and "adjacent to a treated level" in shown


# --- the instrument table and the migrations agree; EQ-5D-5L end to end ----------------------


def test_migrations_create_every_column_the_instrument_table_declares(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from vp_log.db.base import Base

    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    followup = [d for d in diff if "followup" in repr(d)]
    assert followup == []


def test_eq5d5l_stored_corrected_and_compared_with_baseline(database: Database) -> None:
    pid = add_procedure(database, levels=["L1"])
    profile = {
        "eq5d_mobility": 4, "eq5d_self_care": 3, "eq5d_usual_activities": 4,
        "eq5d_pain_discomfort": 5, "eq5d_anxiety_depression": 2,
    }  # fmt: skip
    add(database, pid, date=D("2025-01-08"), **profile, eq5d_vas=30)
    month = add(database, pid, date=D("2025-02-10"), eq5d_mobility=2, eq5d_vas=70)
    assert (month.eq5d_mobility, month.eq5d_self_care, month.eq5d_vas) == (2, None, 70)
    fixed = correct(database, month.entry_id, eq5d_self_care=1, eq5d_vas=75)
    assert (fixed.eq5d_mobility, fixed.eq5d_self_care, fixed.eq5d_vas) == (2, 1, 75)
    with database.session() as session:
        timeline = fu.outcome_timeline(session, pid)
        events = fu.audit_log(session)
    baseline, m1 = timeline["timepoints"]
    assert baseline["eq5d_profile"] == "43452" and m1["eq5d_profile"] is None
    assert m1["change_from_baseline"]["eq5d_vas"] == 45
    assert events[-1].details["changes"]["eq5d_vas"] == {"from": 70, "to": 75}


def test_worklist_leaves_out_other_procedures_and_unclassified(database: Database) -> None:
    """Issue 11: a facet injection or an unclassified study is never due for follow-up."""
    vp = add_procedure(database, patient_id="P1", accession="A1", study_date="2025-03-01")
    add_procedure(
        database, patient_id="P2", accession="A2", study_date="2025-03-01", procedure_type="other"
    )
    add_procedure(
        database,
        patient_id="P3",
        accession="A3",
        study_date="2025-03-01",
        procedure_type="unclassified",
    )
    with database.session() as session:
        items = fu.due_worklist(session, as_of=D("2025-03-10"), schedule=SCHEDULE)
    assert {item.procedure_id for item in items} == {vp}

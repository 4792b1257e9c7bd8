"""Dose alerts read from the dose columns (migration 0010) give what the rules give over
every record, on SQLite and PostgreSQL; the migration fills the columns of stored records
as saving a record writes them.

The oracle is the way alerts were computed before: every stored record's JSON through
``entry_of_record`` and ``dose_alerts``, with no patient left out.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from conftest import fresh_pg_database
from vp_log.alerts import AlertLevels, dose_alerts, entry_of_record
from vp_log.cli.dose import alerts_since
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.db.engine import upgrade_database
from vp_log.db.tables import DOSE_COLUMNS, Procedure
from vp_log.decisions import Decided, DecisionState, ExcludeReason
from vp_log.record import ProcedureRecord, Status
from vp_log.vocabulary import ProcedureType

NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
LEVELS = AlertLevels(ka_r_mgy=150.0, dap_gy_cm2=40.0, fluoro_time_s=None, window_days=42)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vp_log.db'}"
        return
    with fresh_pg_database() as pg:
        yield pg


def _value(rng: random.Random, high: float) -> float | None:
    return None if rng.random() < 0.15 else round(rng.uniform(0, high), 2)


def _random_store(database: Database, rng: random.Random) -> None:
    """60 records of 30 patients (a few without a patient ID, or an empty one), some two
    days or a year apart, a few excluded by a decision."""
    day0 = dt.date(2024, 1, 1)
    with database.session() as session:
        for i in range(60):
            patient = rng.choice([f"P{i % 30}"] * 8 + [None, ""])
            start = dt.datetime.combine(day0, dt.time(8)) + dt.timedelta(
                days=rng.choice([0, 2, 20, 40, 300]) + (i % 30) * 7, minutes=rng.randint(0, 600)
            )
            record = ProcedureRecord(
                study_instance_uid=f"1.2.3.{i}",
                patient_id=patient,
                study_date=start.date().isoformat() if rng.random() > 0.05 else None,
                start=start.isoformat() if rng.random() > 0.2 else None,
                ka_r_mgy=_value(rng, 100),
                dap_gy_cm2=_value(rng, 30),
                fluoro_time_s=_value(rng, 300),
                procedure_type=ProcedureType.VERTEBROPLASTY,
                status=Status.COMPLETE,
                last_received_at=NOW,
            )
            pid = repo.save_procedure(session=session, record=record, updated_at=NOW)
            if rng.random() < 0.1:
                excluded = Decided(
                    value=ExcludeReason.TEST, reason="test", decided_by="t", decided_at=NOW
                )
                repo.add_decision(
                    session=session,
                    procedure_id=pid,
                    state=DecisionState(exclude=excluded),
                    changes={},
                    reason="test",
                    decided_by="t",
                    decided_at=NOW,
                )


def _oracle(database: Database, since: str | None) -> dict[int, list[Any]]:
    history_from = None
    if since:
        start = dt.date.fromisoformat(since) - dt.timedelta(days=LEVELS.window_days - 1)
        history_from = start.isoformat()
    with database.session() as session:
        rows = repo.dose_history(session=session, since=history_from)
        entries = [entry_of_record(r.id, r.record) for r in rows]
    found = dose_alerts(entries, LEVELS)
    day = {e.record_id: e.day for e in entries}
    return {
        rid: alerts
        for rid, alerts in found.items()
        if alerts and (not since or ((d := day[rid]) is not None and d.isoformat() >= since))
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alerts_from_the_columns_are_the_rules_over_every_record(url: str, seed: int) -> None:
    database = Database(url)
    try:
        _random_store(database, random.Random(seed))
        for since in (None, "2024-03-01", "2024-06-15"):
            with database.session() as session:
                found, entries = alerts_since(session, LEVELS, since)
            expected = _oracle(database, since)
            assert found == expected, since
            assert set(entries) == set(found)
        assert _oracle(database, None), "the random store has alerts"
    finally:
        database.dispose()


def test_no_level_in_force_no_alert_and_no_query(url: str) -> None:
    database = Database(url)
    try:
        _random_store(database, random.Random(4))
        off = AlertLevels(ka_r_mgy=None, dap_gy_cm2=None, fluoro_time_s=None)
        with database.session() as session:
            assert alerts_since(session, off, None) == ({}, {})
    finally:
        database.dispose()


#: Stored records as an older release may have left them: what the columns get from each.
OLD_RECORDS: list[dict[str, Any]] = [
    {"ka_r_mgy": 12.5, "dap_gy_cm2": 3, "fluoro_time_s": 61.25, "start": "2025-01-02T10:00:00"},
    {"ka_r_mgy": True, "dap_gy_cm2": "7", "fluoro_time_s": None, "start": 5},
    {"start": "2025-01-02T10:00:00+01:00"},
    {},
]


def test_the_migration_fills_the_columns_as_saving_writes_them(url: str) -> None:
    upgrade_database(url, "0009_listing_indexes")
    database = Database(url, upgrade=False)
    try:
        with database.engine.begin() as conn:
            for i, record in enumerate(OLD_RECORDS):
                conn.execute(
                    text(
                        "INSERT INTO procedures (study_instance_uid, procedure_type, status,"
                        " instance_count, last_received_at, updated_at, record, record_version)"
                        " VALUES (:uid, 'vertebroplasty', 'complete', 1, :now, :now, :record, 3)"
                    ),
                    {"uid": f"1.2.9.{i}", "now": NOW, "record": json.dumps(record)},
                )
    finally:
        database.dispose()
    upgrade_database(url)
    database = Database(url)
    try:
        columns = [getattr(Procedure, name) for name in DOSE_COLUMNS]
        with database.session() as session:
            rows = session.execute(select(Procedure.record, *columns).order_by(Procedure.id))
            filled = [
                (record, dict(zip(DOSE_COLUMNS, values, strict=True))) for record, *values in rows
            ]
        assert [record for record, _ in filled] == OLD_RECORDS
        assert [values for _, values in filled] == [repo.dose_columns(r) for r in OLD_RECORDS]
        assert filled[0][1] == {
            "start": "2025-01-02T10:00:00",
            "ka_r_mgy": 12.5,
            "dap_gy_cm2": 3.0,
            "fluoro_time_s": 61.25,
        }
        assert filled[1][1] == dict.fromkeys(DOSE_COLUMNS)
    finally:
        database.dispose()

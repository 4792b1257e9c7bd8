"""Listings streamed from the database (issue 15) give what the whole-store rules give.

The worklist is computed in the database a time point at a time and merged; here it is
checked against the rules applied to every procedure and every current follow-up version in
Python (the way it was computed before), on random data with corrections, closed time points,
deaths and entries dated after the worklist's day; SQLite and PostgreSQL. ``procedures list
--json``, ``followup list --json`` and ``--limit/--offset`` on PostgreSQL too.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from conftest import fresh_pg_database
from followup_support import add_procedure
from vp_log import followup as fu
from vp_log.cli import app
from vp_log.cli.common import json_text
from vp_log.db import Database
from vp_log.db import followup_tables as store
from vp_log.db import repository as repo
from vp_log.db.tables import Procedure
from vp_log.followup.instruments import Choice, Number
from vp_log.record import ProcedureRecord, Status
from vp_log.vocabulary import ProcedureType

SCHEDULE = fu.load_schedule()
AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)


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


def _values(pid: int, day: dt.date, timepoint: str | None, **more: Any) -> dict[str, Any]:
    return {
        "procedure_id": pid,
        "entry_date": day,
        "timepoint": timepoint,
        "days_after": 0,
        "new_fractures": [],
        "complications": [],
        **more,
    }


def _random_store(database: Database, rng: random.Random) -> None:
    names = [tp.name for tp in SCHEDULE.timepoints]
    types = ["vertebroplasty"] * 6 + ["kyphoplasty", "sacroplasty", "other", "unclassified"]
    for i in range(60):
        day = AS_OF - dt.timedelta(days=rng.randint(-20, 500))
        pid = add_procedure(
            database,
            patient_id=f"P{i % 40}",
            accession=f"A{i}",
            study_date=day.isoformat() if rng.random() > 0.05 else None,
            procedure_type=rng.choice(types),
        )
        with database.session() as session:
            if rng.random() < 0.1:
                session.get(Procedure, pid).status = "receiving"  # type: ignore[union-attr]
            for _ in range(rng.randint(0, 4)):
                when = day + dt.timedelta(days=rng.randint(-5, 420))
                kind = rng.random()
                more: dict[str, Any] = {}
                if kind < 0.05:
                    more["closed_reason"] = "died"
                elif kind < 0.1:
                    event = {"type": "death", "severity": "F", "date": when.isoformat()}
                    more["complications"] = [event]
                elif kind < 0.15:
                    more["complications"] = [{"type": "cement-leakage-disc", "severity": "A"}]
                tp = rng.choice([*names, None])
                row = store.insert_entry(
                    session=session, values=_values(pid, when, tp, **more), entered_by="t", now=NOW
                )
                if rng.random() < 0.3:  # a correction moves the entry to another time point
                    store.insert_version(
                        session=session,
                        previous=row,
                        values=_values(pid, when, rng.choice([*names, None])),
                        reason="moved",
                        entered_by="t",
                        now=NOW,
                    )


def _oracle(database: Database, only: fu.WorklistFilter) -> list[tuple[Any, ...]]:
    """The worklist by the rules, over every procedure and current version in Python."""
    with database.session() as session:
        versions = store.current_versions(session=session)
        procedures = [
            fu.ProcedureRef.from_row(r)
            for r in store.all_procedures(session=session)
            if r.procedure_type not in ("other", "unclassified") and r.status != "receiving"
        ]
    entries: dict[int, list[store.FollowupVersion]] = {}
    for v in versions:
        entries.setdefault(v.procedure_id, []).append(v)
    order = {tp.name: tp.target for tp in SCHEDULE.timepoints}
    items = []
    procedures.sort(key=lambda p: (p.study_date or dt.date.min, p.id))
    for p in procedures:
        mine = entries.get(p.id, [])
        if only.procedure_ids is not None and p.id not in only.procedure_ids:
            continue
        if p.study_date is None or p.study_date > AS_OF:
            continue
        if (only.since and p.study_date < only.since) or (only.until and p.study_date > only.until):
            continue
        died = any(e.closed_reason == "died" and e.entry_date <= AS_OF for e in mine) or any(
            c.get("type") == "death" and dt.date.fromisoformat(c["date"]) <= AS_OF
            for e in mine
            for c in e.complications or []
        )
        if died:
            continue
        done = {e.timepoint for e in mine if e.timepoint is not None}
        latest = max((order[n] for n in done if n in order), default=None)
        days = (AS_OF - p.study_date).days
        for tp in SCHEDULE.timepoints:
            if tp.baseline or not tp.due or tp.name in done or days < tp.from_day:
                continue
            if days > tp.to_day and latest is not None and latest > tp.target:
                continue
            overdue = days > tp.to_day
            if (only.timepoint and tp.name != only.timepoint) or (only.overdue and not overdue):
                continue
            closes = p.study_date + dt.timedelta(days=tp.to_day)
            items.append((closes, p.id, tp.name, "overdue" if overdue else "due"))
    items.sort(key=lambda i: i[0])  # stable: procedure date and id, then time point
    return items


@pytest.mark.parametrize("seed", [1, 2])
def test_worklist_is_what_the_rules_give(database: Database, seed: int) -> None:
    _random_store(database, random.Random(seed))
    filters = [
        fu.WorklistFilter(),
        fu.WorklistFilter(overdue=True),
        fu.WorklistFilter(timepoint="3m"),
        fu.WorklistFilter(since=AS_OF - dt.timedelta(days=200), until=AS_OF),
        fu.WorklistFilter(procedure_ids=[1, 2, 3, 5, 8, 13, 21, 34]),
    ]
    for only in filters:
        with database.session() as session:
            items = fu.due_worklist(session, as_of=AS_OF, schedule=SCHEDULE, only=only)
        got = [(i.window_to, i.procedure_id, i.timepoint, i.status) for i in items]
        assert got == _oracle(database, only), only
        assert all(i.days_after == (AS_OF - i.study_date).days for i in items)
    assert len(got) > 0


def test_a_worklist_page_names_its_rows_and_counts_the_rest(database: Database) -> None:
    """The table's page (``due_page``) and ``due_items`` with ``--limit``/``--offset`` are
    the slices of the whole worklist; the patients' names, read for the rows given only,
    are their records'."""
    _random_store(database, random.Random(3))
    with database.session() as session:
        for row in session.scalars(select(Procedure).where(Procedure.id % 3 != 0)):
            row.record = {**row.record, "patient_name": f"DOE^{row.id}"}
    with database.session() as session:
        whole = fu.due_worklist(session, as_of=AS_OF, schedule=SCHEDULE)
        assert len(whole) > 12 and {i.patient_name for i in whole} > {None}
        for offset, limit in ((0, 5), (4, 7), (len(whole) - 3, 10), (len(whole) + 1, 5)):
            total, page = fu.due_page(
                session, as_of=AS_OF, schedule=SCHEDULE, offset=offset, limit=limit
            )
            assert total == len(whole)
            assert [r.item(AS_OF) for r in page] == whole[offset : offset + limit]
            rows = fu.due_items(session, as_of=AS_OF, schedule=SCHEDULE, offset=offset, limit=limit)
            assert [r.item(AS_OF) for r in rows] == whole[offset : offset + limit]
    names = {i.procedure_id: i.patient_name for i in whole}
    assert all(name == (None if pid % 3 == 0 else f"DOE^{pid}") for pid, name in names.items())


def _cli(database: Database, tmp_path: Path, *args: str) -> str:
    env = {
        "VP_LOG_DATA_DIR": str(tmp_path / "data"),
        "VP_LOG_DATABASE_URL": database.url,
        "VP_LOG_CONFIG": "",
        "COLUMNS": "80",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _saved(database: Database, i: int, day: str) -> int:
    record = ProcedureRecord(
        study_instance_uid=f"1.2.3.{i}",
        accession_number=f"A{i}",
        patient_id=f"P{i}",
        study_date=day,
        procedure_type=ProcedureType.VERTEBROPLASTY,
        status=Status.COMPLETE,
        last_received_at=NOW,
        sources={"study_date": [f"StudyDate@1.2.3.{i}.1"]},
    )
    with database.session() as session:
        return repo.save_procedure(session=session, record=record, updated_at=NOW)


def test_an_empty_listing_says_so_in_one_sentence(database: Database, tmp_path: Path) -> None:
    """Nothing to list: one sentence, no empty table under a title (as `followup list`)."""
    assert _cli(database, tmp_path, "procedures", "list") == "No procedure records.\n"
    assert _cli(database, tmp_path, "followup", "list") == "No follow-up entries.\n"
    assert _cli(database, tmp_path, "audit") == "No changes recorded.\n"
    nobody = _cli(database, tmp_path, "followup", "due", "--as-of", "2025-06-01")
    assert nobody == "Nobody is due for follow-up on 2025-06-01.\n"
    alerts = _cli(database, tmp_path, "dose", "alerts").splitlines()
    assert alerts[0] == "No dose alerts." and alerts[1].startswith("levels: Ka,r 5000 mGy")
    alerts = _cli(database, tmp_path, "dose", "alerts", "--since", "2025-01-01").splitlines()
    assert alerts[0] == "No dose alerts on procedures dated 2025-01-01 or later."
    _saved(database, 1, "2025-03-01")
    assert _cli(database, tmp_path, "procedures", "list", "--since", "2026-01-01") == (
        "No procedure records.\n"
    )
    assert _cli(database, tmp_path, "dose", "alerts").startswith("No dose alerts.\n")
    assert (
        json.loads(
            _cli(database, tmp_path, "procedures", "list", "--json", "--since", "2026-01-01")
        )
        == []
    )


def test_pages_of_a_listing_count_from_the_newest(database: Database, tmp_path: Path) -> None:
    days = ["2025-03-01", "2025-01-01", "2025-05-01", "2025-02-01", "2025-04-01"]
    ids = [_saved(database, i, d) for i, d in enumerate(days)]
    by_date = [pid for _, pid in sorted(zip(days, ids, strict=True))]
    listed = json.loads(_cli(database, tmp_path, "procedures", "list", "--json"))
    assert [r["id"] for r in listed] == by_date
    with database.session() as session:  # the stored text is the typed record's JSON
        typed = [
            repo.public_record(r, now=NOW, quiet_period_s=2).to_json()
            for r in repo.list_procedures(session=session)
        ]
    assert listed == typed and list(listed[0]) == list(typed[0])  # PostgreSQL: key order too
    page = json.loads(_cli(database, tmp_path, "procedures", "list", "--json", "--limit", "2"))
    assert [r["id"] for r in page] == by_date[-2:]
    page = json.loads(
        _cli(database, tmp_path, "procedures", "list", "--json", "--limit", "2", "--offset", "2")
    )
    assert [r["id"] for r in page] == by_date[1:3]
    table = _cli(database, tmp_path, "procedures", "list", "--limit", "2", "--offset", "1")
    assert table.splitlines()[0].rstrip() == "5 procedure records"
    assert "showing 2 of 5 (after the 1 newest); --limit/--offset for more" in table
    assert "2025-04-01" in table and "2025-03-01" in table and "2025-05-01" not in table
    assert "showing" not in _cli(database, tmp_path, "procedures", "list")


def _random_item_values(rng: random.Random) -> dict[str, Any]:
    """Some of the instrument items, each a value its kind allows."""
    values: dict[str, Any] = {}
    for item in fu.ITEMS:
        kind = item.kind
        if rng.random() < 0.4:
            continue
        if isinstance(kind, Number):
            number = rng.uniform(kind.minimum, kind.maximum)
            digits = 2 if kind.decimals is None else kind.decimals
            values[item.name] = int(number) if kind.whole else round(number, digits)
        elif isinstance(kind, Choice):
            values[item.name] = rng.choice(list(kind.enum)).value
        else:
            scores = [rng.randint(kind.minimum, kind.maximum) for _ in range(kind.count)]
            scores[0] = None if rng.random() < 0.3 else scores[0]
            values[item.name] = scores
    if "odi_sections" in values:
        values.pop("odi_percent", None)  # scored from the sections
    return values


def test_followup_list_json_is_what_the_models_give(database: Database, tmp_path: Path) -> None:
    """``followup list --json`` writes each entry from its row, without the model: the same
    text as ``FollowupPublic`` gives, key order included (PostgreSQL's ``jsonb`` reorders the
    keys of stored fractures and complications)."""
    rng = random.Random(7)
    today = dt.date(2025, 6, 30)
    for p in range(4):
        day = dt.date(2024, 1, 10) + dt.timedelta(days=30 * p)
        pid = add_procedure(
            database, patient_id=f"P{p}", accession=f"A{p}", study_date=day.isoformat(),
            levels=["L1"] if p % 2 else None,
        )  # fmt: skip
        for tp, offset in (("baseline", 0), ("1w", 7), ("1m", 30), ("3m", 90), ("6m", 182)):
            when = day + dt.timedelta(days=offset)
            if tp == "3m" and p == 1:
                fu.close_timepoint(
                    database=database, procedure_id=pid, timepoint=tp, reason="lost",
                    entered_by="t", schedule=SCHEDULE, notes="déménagé ↗", date=when, today=today,
                )  # fmt: skip
                continue
            data = fu.FollowupCreate(
                date=when,
                timepoint=tp,
                entered_by="nurse ü",
                notes=rng.choice([None, "douleur ↓", "ok"]),
                new_fractures=rng.choice([None, [], [{"level": "Th12"}, {"level": "L3"}]]),
                complications=rng.choice(
                    [None, [], [{"type": "cement leakage disc", "severity": "a"}]]
                ),
                **_random_item_values(rng),
            )
            entry = fu.add_followup(
                database=database, procedure_id=pid, data=data, schedule=SCHEDULE, today=today
            )
            if rng.random() < 0.3:
                fu.correct_followup(
                    database=database, entry_id=entry.entry_id, changes={"notes": "corrigé"},
                    reason="typo", entered_by="t", schedule=SCHEDULE, today=today,
                )  # fmt: skip
    with database.session() as session:
        versions = list(store.listed_current_versions(session=session))
    expected = [json_text(fu.FollowupPublic.from_row(v).model_dump(mode="json")) for v in versions]
    assert any(v.supersedes_id for v in versions) and any(v.new_fractures for v in versions)
    lines = _cli(database, tmp_path, "followup", "list", "--json").splitlines()
    assert lines[1:-1] == [f"{line}," for line in expected[:-1]] + [expected[-1]]
    page = _cli(database, tmp_path, "followup", "list", "--json", "--limit", "3", "--offset", "2")
    assert [e["entry_id"] for e in json.loads(page)] == [v.entry_id for v in versions][-5:-2]

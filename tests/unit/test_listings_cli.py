"""Listings page and stream (issue 15): ``--limit/--offset``, the footer, JSON item by item."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followup_support import add_procedure
from vp_log import followup as fu
from vp_log.cli import app
from vp_log.cli.common import stream_json
from vp_log.db import Database
from vp_log.db import followup_tables as store
from vp_log.spool import QuarantineReason, format_reason

T0 = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)


def _run(data_dir: Path, *args: str) -> str:
    env = {"VP_LOG_DATA_DIR": str(data_dir), "VP_LOG_DATABASE_URL": "", "VP_LOG_CONFIG": ""}
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("items", [[], [{"a": 1}], [{"a": "é\n"}, [1, 2], None]])
def test_streamed_json_reads_as_the_list_one_item_a_line(
    items: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert stream_json(iter(items)) == len(items)
    text = out.getvalue()
    assert json.loads(text) == items
    assert len(text.splitlines()) == (1 if not items else len(items) + 2)


def test_audit_pages_count_from_the_newest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = Database(f"sqlite:///{data / 'vp_log.db'}")
    with database.session() as session:
        for i in range(5):
            store.record_audit(
                session=session,
                who=f"nurse{i}",
                action="followup.add",
                entity="followup",
                entity_id=str(i + 1),
                details={"version": 1},
                now=T0 + dt.timedelta(minutes=i, microseconds=i * 7),
            )
        typed = [e.model_dump(mode="json") for e in fu.audit_log(session)]
    database.dispose()
    every = json.loads(_run(data, "audit", "--json"))
    assert [e["who"] for e in every] == [f"nurse{i}" for i in range(5)]
    assert every == typed  # the JSON built without pydantic is what the model gives
    page = json.loads(_run(data, "audit", "--json", "--limit", "2", "--offset", "1"))
    assert [e["who"] for e in page] == ["nurse2", "nurse3"]
    assert page == every[2:4]
    table = _run(data, "audit", "--limit", "2")
    assert "nurse4" in table and "nurse3" in table and "nurse2" not in table
    assert table.splitlines()[0].rstrip() == "Audit log: 5 changes"  # as the footer counts
    assert "showing 2 of 5 changes (the newest); --limit/--offset for more" in table
    assert "showing" not in _run(data, "audit")


def test_quarantine_list_pages_newest_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "quarantine"
    folder.mkdir(parents=True)
    for i in range(3):
        name = f"{i:020d}-000001-{i:032x}.dcm"
        (folder / name).write_bytes(b"x" * (i + 1))
        reason = folder / f"{name}.reason.txt"
        reason.write_text(format_reason(QuarantineReason(reason=f"bad file {i}")))
        os.utime(reason, (1_700_000_000 + i, 1_700_000_000 + i))
    listed = json.loads(_run(data, "quarantine", "list", "--json"))
    assert [q["reason"] for q in listed] == ["bad file 2", "bad file 1", "bad file 0"]
    assert [q["size"] for q in listed] == [3, 2, 1]
    page = json.loads(_run(data, "quarantine", "list", "--json", "--offset", "1", "--limit", "1"))
    assert page == listed[1:2]
    text = _run(data, "quarantine", "list", "--limit", "1")
    assert "bad file 2" in text and "bad file 1" not in text
    assert "showing 1 of 3 (the newest); --limit/--offset for more" in text
    assert "3 files in" in text


def test_a_limit_below_one_is_refused_naming_the_option(tmp_path: Path) -> None:
    env = {"VP_LOG_DATA_DIR": str(tmp_path / "data"), "VP_LOG_CONFIG": ""}
    result = CliRunner().invoke(app, ["quarantine", "list", "--limit", "0"], env=env)
    assert result.exit_code == 2 and "--limit" in result.output


def test_followup_list_pages_count_from_the_last_entry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = Database(f"sqlite:///{data / 'vp_log.db'}")
    pids = [add_procedure(database, accession=f"A{i}", patient_id=f"P{i}") for i in range(3)]
    with database.session() as session:
        for pid in pids:
            for day in ("2025-01-12", "2025-02-10"):
                row = store.insert_entry(
                    session=session,
                    values={
                        "procedure_id": pid,
                        "entry_date": dt.date.fromisoformat(day),
                        "timepoint": None,
                        "days_after": 0,
                        "new_fractures": [],
                        "complications": [],
                        "pain": 5,
                    },
                    entered_by="nurse",
                    now=T0,
                )
        store.insert_version(  # a correction: the entry is listed once, as corrected
            session=session,
            previous=row,
            values={"procedure_id": pids[-1], "entry_date": row.entry_date, "pain": 2,
                    "days_after": 0, "new_fractures": [], "complications": []},
            reason="typo",
            entered_by="nurse",
            now=T0,
        )  # fmt: skip
    database.dispose()
    every = json.loads(_run(data, "followup", "list", "--json"))
    assert [(e["procedure_id"], e["date"]) for e in every] == [
        (pid, day) for pid in pids for day in ("2025-01-12", "2025-02-10")
    ]
    assert every[-1]["version"] == 2 and every[-1]["pain"] == 2
    page = json.loads(_run(data, "followup", "list", "--json", "--limit", "2", "--offset", "1"))
    assert page == every[3:5]
    table = _run(data, "followup", "list", "--limit", "2")
    assert "showing 2 of 6 (the last); --limit/--offset for more" in table
    assert "showing" not in _run(data, "followup", "list")

"""Upgrading a database made by the release before issue 8 (tests/data/vp_log-00c9c9a.db).

Chosen over a ``git worktree`` of the old commit: the checked-in file is exactly what that
release left on disk, the test needs neither git history nor a second installation, and it
runs in the fast tier. ``tests/data/README.md`` says how the file was made.

The upgrade is an Alembic migration (``0003_observation_fields``: side, plane and event UID
move from observation flags to columns; ``procedures.record_version``) followed by a rebuild
of every record of an older shape from its stored observations (``vp-log db upgrade``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from record_golden import json_differences
from vp_log.cli import app
from vp_log.record import RECORD_VERSION

DATA = Path(__file__).resolve().parents[1] / "data"
OLD_DATABASE = DATA / "vp_log-00c9c9a.db"
BEFORE = DATA / "upgrade_before.json"


@pytest.fixture
def old_data_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(OLD_DATABASE, data_dir / "vp_log.db")
    return data_dir


def _env(data_dir: Path) -> dict[str, str]:
    return {"VP_LOG_DATA_DIR": str(data_dir), "VP_LOG_DATABASE_URL": "", "VP_LOG_CONFIG": ""}


def _vp_log(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=_env(data_dir), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "vp_log.db") as conn:
        return conn.execute(sql).fetchall()


def test_the_old_database_is_what_the_old_release_made(old_data_dir: Path) -> None:
    assert _query(old_data_dir, "select version_num from alembic_version") == [("0002_followup",)]
    flags = _query(old_data_dir, "select flags from observations")
    assert sum("side:" in f for (f,) in flags) == 4
    assert sum("plane:" in f for (f,) in flags) == 185


def test_upgrade_moves_data_out_of_flags_and_rebuilds_every_record(old_data_dir: Path) -> None:
    out = _vp_log(old_data_dir, "db", "upgrade")
    assert "14 procedure records rebuilt" in out

    assert _query(old_data_dir, "select count(*) from observations") == [(1355,)]
    flags = [json.loads(f) for (f,) in _query(old_data_dir, "select flags from observations")]
    moved = ("side:", "plane:", "irradiation-event:")
    assert not [f for fl in flags for f in fl if f.startswith(moved)], "no data left in flags"
    sides = _query(old_data_dir, "select side, count(*) from observations group by side")
    assert dict(sides) == {None: 1351, "left": 2, "right": 2}
    planes = dict(_query(old_data_dir, "select plane, count(*) from observations group by plane"))
    assert sum(n for plane, n in planes.items() if plane is not None) == 185
    assert _query(old_data_dir, "select distinct record_version from procedures") == [
        (RECORD_VERSION,)
    ]

    # Every record prints what the old release printed, field for field (fields only added),
    # id and last_received_at included; the follow-up entries are still there.
    before: dict[str, dict[str, Any]] = json.loads(BEFORE.read_text())
    listed = json.loads(_vp_log(old_data_dir, "procedures", "list", "--all", "--json"))
    assert sorted(r["study_instance_uid"] for r in listed) == sorted(before)
    problems: list[str] = []
    for uid, old in before.items():
        now = json.loads(_vp_log(old_data_dir, "procedures", "show", "--json", uid))
        problems += json_differences(old, now, uid)
    assert not problems, "\n".join(problems[:40])
    vertebroplasty = next(r for r in before.values() if r["procedure_type"] == "vertebroplasty")
    entries = json.loads(
        _vp_log(old_data_dir, "followup", "list", str(vertebroplasty["id"]), "--json")
    )
    assert len(entries) == 2

    # Upgrading again changes nothing.
    assert "rebuilt" not in _vp_log(old_data_dir, "db", "upgrade")

"""``vp-log db compact`` on a real SQLite store: free pages given back, nothing else changed,
and refused while a listener holds the data folder."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vp_log.cli import app
from vp_log.samples import write_case
from vp_log.spool import Spool


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = {"VP_LOG_DATA_DIR": str(tmp_path / "data"), "VP_LOG_CONFIG": "", "COLUMNS": "80"}
    write_case("kp-one-level", tmp_path / "study", seed=3)
    done = CliRunner().invoke(app, ["import", str(tmp_path / "study")], env=env)
    assert done.exit_code == 0, done.output
    assert "8 files: 8 new, 0 duplicate, 0 rejected (1 study)" in done.output
    db = tmp_path / "data" / "vp_log.db"
    con = sqlite3.connect(db)  # 4 MB of pages freed, as a migration that rewrote a table
    con.execute("CREATE TABLE scratch (x BLOB)")
    con.executemany("INSERT INTO scratch VALUES (?)", [(b"\0" * 4000,)] * 1000)
    con.commit()
    con.execute("DROP TABLE scratch")
    con.commit()
    con.close()
    yield db, env


def _listing(env: dict[str, str]) -> str:
    done = CliRunner().invoke(app, ["procedures", "list", "--json"], env=env)
    assert done.exit_code == 0, done.output
    return done.output


def test_compact_gives_back_the_free_pages_and_keeps_every_row(
    store: tuple[Path, dict[str, str]],
) -> None:
    db, env = store
    before = _listing(env)
    size = db.stat().st_size
    done = CliRunner().invoke(app, ["db", "compact"], env=env)
    assert done.exit_code == 0, done.output
    assert db.stat().st_size < size - 3_000_000
    assert f"{db}: {size / 1e6:.1f} MB -> " in " ".join(done.output.split())
    assert _listing(env) == before


def test_compact_is_refused_while_a_listener_holds_the_folder(
    store: tuple[Path, dict[str, str]],
) -> None:
    db, env = store
    size = db.stat().st_size
    listener = Spool(db.parent)
    listener.lock()  # what `vp-log listen` holds while it runs
    done = CliRunner().invoke(app, ["db", "compact"], env=env)
    assert done.exit_code == 2
    assert done.stderr.strip() == (
        f"error: a vp-log listen uses the data folder {db.parent}: stop it first "
        "(compacting rewrites the whole database file)"
    )
    assert db.stat().st_size == size


def test_compact_refuses_a_missing_store(tmp_path: Path) -> None:
    env = {"VP_LOG_DATA_DIR": str(tmp_path / "mistyped"), "VP_LOG_CONFIG": ""}
    done = CliRunner().invoke(app, ["db", "compact"], env=env)
    assert done.exit_code == 2
    assert "no vp_log database at" in done.stderr
    assert not (tmp_path / "mistyped").exists()

"""``vp-log procedures list|show``: reading never writes; bad keys end in one clear line."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from vp_log.cli import app
from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.pipeline import Pipeline
from vp_log.record import Status
from vp_log.samples import write_xa_instances
from vp_log.spool import Spool

OLD_DATABASE = Path(__file__).resolve().parents[1] / "data" / "vp_log-00c9c9a.db"
T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def vp_log(*args: str, data_dir: Path, database_url: str = "") -> Result:
    env = {"VP_LOG_DATA_DIR": str(data_dir), "VP_LOG_DATABASE_URL": database_url}
    return CliRunner().invoke(app, list(args), env={**env, "VP_LOG_CONFIG": ""})


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def receiving_study(tmp_path: Path) -> Path:
    """A data folder whose one study was stored as `receiving`, its quiet period long over
    (no worker ran since): the case in which `procedures list` used to write."""
    settings = load_settings(data_dir=tmp_path / "data", quiet_period_s=60)
    database = Database(settings.db_url)
    spool = Spool(settings.data_dir)
    pipeline = Pipeline(settings, database, spool, clock=lambda: T0)
    (image,) = write_xa_instances(tmp_path / "src", 1, rows=16, cols=16, seed=2)
    spooled = spool.ready / f"{int(T0.timestamp() * 1e9):020d}-000001-x.dcm"
    shutil.copyfile(image, spooled)
    pipeline.process([spooled], received_from="dicom", from_spool=True)
    pipeline.assemble_stale()
    with database.session() as session:
        (row,) = repo.list_procedures(session=session, include_all=True)
        assert row.status == Status.RECEIVING.value
    database.dispose()
    return settings.data_dir


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_list_and_show_work_on_a_read_only_database(receiving_study: Path) -> None:
    db_file = receiving_study / "vp_log.db"
    before = _digest(db_file)
    db_file.chmod(0o444)
    # Root ignores file modes, so the database is also opened read-only by SQLite itself:
    # any write (completing the quiet study, a migration) would fail with "readonly".
    read_only = f"sqlite:///file:{db_file}?mode=ro&uri=true"
    listed = vp_log(
        "procedures", "list", "--all", "--json", data_dir=receiving_study, database_url=read_only
    )
    assert listed.exit_code == 0, listed.output
    (record,) = json.loads(listed.stdout)
    assert record["status"] == "complete"  # derived when read: the quiet period is over
    shown = vp_log(
        "procedures",
        "show",
        str(record["id"]),
        "--json",
        data_dir=receiving_study,
        database_url=read_only,
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["status"] == "complete"
    table = vp_log("procedures", "list", "--all", data_dir=receiving_study, database_url=read_only)
    assert table.exit_code == 0 and "compl" in table.stdout
    assert _digest(db_file) == before, "nothing was written"
    # Read the ordinary way too: still nothing written, the stored status is unchanged.
    db_file.chmod(0o644)
    assert vp_log("procedures", "list", "--all", data_dir=receiving_study).exit_code == 0
    assert _digest(db_file) == before
    database = Database(f"sqlite:///{db_file}", upgrade=False)
    with database.session() as session:
        (row,) = repo.list_procedures(session=session, include_all=True)
        assert row.status == Status.RECEIVING.value
    database.dispose()


def test_show_a_number_too_large_for_an_id(receiving_study: Path) -> None:
    """Regression (issue 8): this died with an OverflowError traceback on SQLite."""
    result = vp_log("procedures", "show", "123456789012345678901234", data_dir=receiving_study)
    line = one_error_line(result)
    assert "no procedure record" in line and "123456789012345678901234" in line
    assert not isinstance(result.exception, OverflowError)


@pytest.mark.parametrize("key", ["²", "0x1F", " 1 "])
def test_show_odd_keys(receiving_study: Path, key: str) -> None:
    result = vp_log("procedures", "show", key, "--json", data_dir=receiving_study)
    if key.strip() == "1":
        assert result.exit_code == 0, result.output
    else:
        assert "no procedure record" in one_error_line(result)


def test_reading_an_older_schema_says_upgrade_and_changes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(OLD_DATABASE, data_dir / "vp_log.db")
    before = _digest(data_dir / "vp_log.db")
    line = one_error_line(vp_log("procedures", "list", data_dir=data_dir))
    assert "vp-log db upgrade" in line and "0002_followup" in line
    assert _digest(data_dir / "vp_log.db") == before


def test_reading_before_anything_was_received(tmp_path: Path) -> None:
    line = one_error_line(vp_log("procedures", "list", data_dir=tmp_path / "data"))
    assert "no vp_log database" in line and "vp-log db upgrade" in line
    assert not (tmp_path / "data" / "vp_log.db").exists()


def test_list_at_80_columns_cuts_no_key_value(receiving_study: Path) -> None:
    """Issue 10: the date, accession, patient ID, type and status are never cut at 80 columns."""
    result = CliRunner().invoke(
        app,
        ["procedures", "list", "--all"],
        env={"VP_LOG_DATA_DIR": str(receiving_study), "VP_LOG_CONFIG": "", "COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(
        vp_log("procedures", "list", "--all", "--json", data_dir=receiving_study).stdout
    )
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    for value in (record["study_date"], record["patient_id"], record["status"]):
        if value:
            assert any(value in line for line in lines), value

"""Helpers shared by the follow-up tests: procedure rows to link to, throw-away databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vp_log.db import Database
from vp_log.db.tables import Procedure

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parents[1]
VP_LOG = REPO / ".venv" / "bin" / "vp-log"


def add_procedure(
    database: Database,
    *,
    patient_id: str = "P1",
    accession: str | None = "ACC1",
    study_date: str | None = "2025-01-10",
    levels: list[str] | None = None,
    uid: str | None = None,
    procedure_type: str = "vertebroplasty",
) -> int:
    """A procedure row as the ingest pipeline would leave it; returns its record id."""
    record: dict[str, Any] = {
        "levels": [
            {"level": lv, "cement_ml": 3.0, "sources": [], "flags": []} for lv in levels or []
        ]
    }
    with database.session() as session:
        row = Procedure(
            study_instance_uid=uid or f"1.2.826.0.1.{uuid.uuid4().int % 10**12}",
            accession_number=accession,
            patient_id=patient_id,
            study_date=study_date,
            procedure_type=procedure_type,
            status="complete",
            record=record,
        )
        session.add(row)
        session.flush()
        return row.id


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A uniquely named PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not running on 127.0.0.1:5432: {exc}")
    name = f"vp_log_fu_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a ``vp-log`` subprocess with its own data folder (and database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VP_LOG_")}
    env["VP_LOG_DATA_DIR"] = str(data_dir)
    env["COLUMNS"] = "200"
    if database_url:
        env["VP_LOG_DATABASE_URL"] = database_url
    return env

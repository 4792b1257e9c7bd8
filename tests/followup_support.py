"""Helpers shared by the follow-up tests: procedure rows to link to, throw-away databases."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from conftest import base_env
from vp_log.db import Database
from vp_log.db.tables import Procedure

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


def cli_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a ``vp-log`` subprocess with its own data folder (and database)."""
    return base_env(data_dir, database_url, COLUMNS="200")

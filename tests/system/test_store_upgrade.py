"""Upgrading a store of the schema before issue 15's storage work (``0010_dose_columns``)
to the head (``0011_compact_observations``, ``0012_packed_record_fields``).

Store A is today's: the public samples and the generated cases brought in by ``vp-log
import``. Store B (a SQLite file, or a PostgreSQL database) is created at the previous
schema and given A's instances, observations and records in the form its code wrote them
(the observations with their study's UID and values in the JSON type, the whole record in
``procedures.record``), through tables declared here as they were. Then ``vp-log db upgrade``
brings B to the head, and every reader must see what it saw before: the observations as the
previous schema read them back (types included: SQLite turned some JSON numbers into
integers or 8-byte floats), and every command's output as store A gives it. Records rebuilt
from the upgraded observations are the same again.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from conftest import SAMPLES, base_env, run_cli
from vp_log.cli import app
from vp_log.db import repository as repo
from vp_log.db.base import Base, JSONType
from vp_log.db.engine import Database, upgrade_database
from vp_log.db.tables import PACKED_FIELDS, Instance, ObservationRow, Procedure
from vp_log.samples import write_all_cases

PREVIOUS = "0010_dose_columns"
AS_OF = "2025-06-01"

# The observations table as the previous schema declared it and its code wrote it.
_OLD = sa.MetaData()
OLD_OBSERVATIONS = sa.Table(
    "observations",
    _OLD,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("instance_id", sa.Integer),
    sa.Column("study_instance_uid", sa.String(128)),
    sa.Column("kind", sa.String(128)),
    sa.Column("value", JSONType, nullable=True),
    sa.Column("path", sa.Text),
    sa.Column("raw", sa.Text, nullable=True),
    sa.Column("level", sa.String(16), nullable=True),
    sa.Column("side", sa.String(16), nullable=True),
    sa.Column("plane", sa.String(16), nullable=True),
    sa.Column("event_uid", sa.Text, nullable=True),
    sa.Column("flags", JSONType),
)
# The procedures table with the whole record in ``record`` (no packed fields beside it).
OLD_PROCEDURES = sa.Table(
    "procedures",
    _OLD,
    *(
        sa.Column(c.name, c.type)
        for c in Procedure.__table__.columns
        if c.name != "record" and c.name not in PACKED_FIELDS.values()
    ),
    sa.Column("record", JSONType),
)


def vp_log(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _old_observations(conn: sa.Connection) -> dict[str, str]:
    """Each study's observations as the previous schema read them back (JSON: 4 and 4.0 differ)."""
    instances = Instance.__table__
    rows = conn.execute(
        sa.select(
            OLD_OBSERVATIONS.c.study_instance_uid,
            OLD_OBSERVATIONS.c.kind,
            OLD_OBSERVATIONS.c.value,
            instances.c.sop_instance_uid,
            OLD_OBSERVATIONS.c.path,
            OLD_OBSERVATIONS.c.raw,
            OLD_OBSERVATIONS.c.level,
            OLD_OBSERVATIONS.c.side,
            OLD_OBSERVATIONS.c.plane,
            OLD_OBSERVATIONS.c.event_uid,
            OLD_OBSERVATIONS.c.flags,
        )
        .join(instances, instances.c.id == OLD_OBSERVATIONS.c.instance_id)
        .order_by(OLD_OBSERVATIONS.c.id)
    )
    studies: dict[str, list[Any]] = defaultdict(list)
    for study, *fields in rows:
        studies[study].append(fields)
    return {study: json.dumps(found) for study, found in studies.items()}


def _new_observations(database: Database, studies: list[str]) -> dict[str, str]:
    found = {}
    with database.session() as session:
        for study in studies:
            observations = repo.study_observations(session=session, study_instance_uid=study)
            found[study] = json.dumps(
                [
                    [
                        o.kind.value,
                        o.value,
                        o.provenance.sop_instance_uid,
                        o.provenance.path,
                        o.provenance.raw,
                        o.level,
                        o.side,
                        o.plane,
                        o.event_uid,
                        list(o.flags),
                    ]
                    for o in observations
                ]
            )
    return found


def _copy_into_previous_schema(source: Database, url: str) -> None:
    """A's rows into a database at the previous schema, written as its code wrote them."""
    upgrade_database(url, PREVIOUS)
    target = sa.create_engine(url)
    with source.session() as session, target.begin() as conn:
        instances = session.execute(sa.select(Instance.__table__)).mappings().all()
        conn.execute(Instance.__table__.insert(), [dict(r) for r in instances])
        study_of = {r["id"]: r["study_instance_uid"] for r in instances}
        observations = session.execute(sa.select(ObservationRow.__table__)).mappings()
        rows = [{**o, "study_instance_uid": study_of[o["instance_id"]]} for o in observations]
        conn.execute(OLD_OBSERVATIONS.insert(), rows)
        for row in session.scalars(sa.select(Procedure)):
            values = {c.name: getattr(row, c.name) for c in OLD_PROCEDURES.columns}
            values["record"] = repo.stored_record(row).model_dump(mode="json")
            conn.execute(OLD_PROCEDURES.insert(), values)
        if conn.dialect.name == "postgresql":  # the ids were given: move the sequences on
            for table in ("instances", "observations", "procedures"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    target.dispose()


def _triggers(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        names = set(conn.execute(sa.text(query)).scalars())
    engine.dispose()
    return names


def _outputs(env: dict[str, str], out: Path) -> dict[str, Any]:
    """What the readers print: list, every show, the export's tables, the reports."""
    listed = json.loads(vp_log(env, "procedures", "list", "--all", "--json"))
    shown = {r["id"]: json.loads(vp_log(env, "procedures", "show", "--json", str(r["id"])))
             for r in listed}  # fmt: skip
    vp_log(env, "export", "--shape", "wide", "--out", str(out))
    tables = {}
    for path in sorted(out.glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            tables[path.name] = list(csv.reader(fh))
    report = json.loads(vp_log(env, "report", "all", "--as-of", AS_OF, "--json"))
    del report["generated_at"]
    # (by id: records without a study date sort first on SQLite, last on PostgreSQL)
    return {"list": sorted(listed, key=lambda r: r["id"]), "show": shown, "export": tables,
            "report": report}  # fmt: skip


def test_upgrade_keeps_every_observation_and_record(tmp_path: Path, database_url: str) -> None:
    cases = tmp_path / "cases"
    write_all_cases(cases, seed=0, size="small")
    env_a = base_env(tmp_path / "a")
    run_cli("import", str(cases), str(SAMPLES), env=env_a)
    source = Database(f"sqlite:///{tmp_path / 'a' / 'vp_log.db'}")

    _copy_into_previous_schema(source, database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        before = _old_observations(conn)
    engine.dispose()
    triggers = _triggers(database_url)
    assert len(before) > 20 and len(triggers) >= 4

    env_b = base_env(tmp_path / "b", database_url)
    assert "rebuilt" not in vp_log(env_b, "db", "upgrade")
    upgraded = Database(database_url, upgrade=False)
    assert _new_observations(upgraded, sorted(before)) == before
    assert _triggers(database_url) == triggers  # append-only tables still refuse changes
    with upgraded.engine.connect() as conn:  # the upgraded schema is the tables' declaration
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    expected = _outputs(env_a, tmp_path / "export-a")
    assert _outputs(env_b, tmp_path / "export-b") == expected

    # Records rebuilt from the upgraded observations are the same again.
    with upgraded.session() as session:
        session.execute(sa.update(Procedure).values(record_version=0))
    count = len(expected["list"])
    said = f"{count} procedure record{'s' if count != 1 else ''} rebuilt"
    assert said in vp_log(env_b, "db", "upgrade")
    rebuilt = _outputs(env_b, tmp_path / "export-c")
    assert rebuilt["show"] == expected["show"]
    upgraded.dispose()
    source.dispose()

"""Packed JSON and the record stored in parts (issue 15: storage per instance).

Observation values and a record's events and sources are stored as packed JSON
(``db.base.PackedJSON``); the rest of the record stays JSON for the queries. What a reader
gets back must be what it got when everything was JSON: the same values, and for
``procedures list --json`` the same text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from vp_log.cli import app
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.db.base import PACK_OVER, PackedJSON, pack_json, unpack_json
from vp_log.db.listings import document_text
from vp_log.db.tables import PACKED_FIELDS, Procedure
from vp_log.samples import write_case

VALUES: list[Any] = [
    None,
    4.0,  # stays a float (the JSON type on SQLite gave back the integer 4)
    0.30000000000000004,
    12,
    "L1",
    "é \x01 \u2028",
    [],
    {},
    {"technique": {"kvp": {"value": 72.0, "unit": "kV", "path": "sr:(DCM,113733)"}}},
    [{"a": None, "b": "x" * 40}] * 20,
]


def test_packed_json_gives_back_what_was_stored(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'packed.db'}")
    table = sa.Table("t", sa.MetaData(), sa.Column("i", sa.Integer), sa.Column("v", PackedJSON))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"i": i, "v": v} for i, v in enumerate(VALUES)])
        back = [v for _, v in conn.execute(sa.select(table).order_by(table.c.i))]
        raw = [v for (v,) in conn.execute(sa.select(sa.type_coerce(table.c.v, sa.LargeBinary)))]
    engine.dispose()
    assert json.dumps(back) == json.dumps(VALUES)  # 4.0 is not 4
    assert raw[0] is None and raw[4] == b'"L1"'  # short: the JSON text itself
    assert raw[-1][:1] == b"x" and len(raw[-1]) < len(json.dumps(VALUES[-1])) / 5


@pytest.mark.parametrize("text", [b"1", b'"' + b"a" * 200 + b'"', b"[" + b"0, " * 80 + b"0]"])
def test_pack_keeps_text_that_does_not_shrink_and_compresses_what_does(text: bytes) -> None:
    packed = pack_json(text)
    assert unpack_json(packed) == text
    assert (packed == text) == (len(text) <= PACK_OVER or len(packed) >= len(text))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Database:
    work = tmp_path_factory.mktemp("packed")
    for case in ("vp-two-level", "kp-one-level"):
        write_case(case, work / "cases" / case, seed=4)
    env = {"VP_LOG_DATA_DIR": str(work / "data"), "VP_LOG_DATABASE_URL": "", "VP_LOG_CONFIG": ""}
    result = CliRunner().invoke(app, ["import", str(work / "cases")], env=env)
    assert result.exit_code == 0, result.output
    return Database(f"sqlite:///{work / 'data' / 'vp_log.db'}", upgrade=False)


def test_a_record_is_stored_in_parts_and_read_whole(store: Database) -> None:
    with store.session() as session:
        rows = session.scalars(sa.select(Procedure)).all()
        assert len(rows) == 2
        for row in rows:
            whole = repo.stored_record(row).model_dump(mode="json")
            assert not set(PACKED_FIELDS) & set(row.record)
            assert row.record_events and row.record_events == whole["events"]
            assert repo.record_document(row) == whole


def test_document_text_is_the_text_json_dumps_gave_the_whole_record(store: Database) -> None:
    packed = [getattr(Procedure, column) for column in PACKED_FIELDS.values()]
    with store.session() as session:
        stmt = sa.select(
            Procedure.id,
            sa.cast(Procedure.record, sa.Text),
            *(sa.type_coerce(c, sa.LargeBinary) for c in packed),
        )
        for pid, text, *stored in session.execute(stmt):
            row = session.get(Procedure, pid)
            assert row is not None
            whole = repo.stored_record(row).model_dump(mode="json")
            for in_order in (False, True):  # parsed, or spliced into the text as stored
                assert document_text(text, stored, in_order) == json.dumps(whole)
            # A record of an older shape, without events: they stay out.
            older = {k: v for k, v in whole.items() if k not in PACKED_FIELDS}
            assert document_text(json.dumps(older), [None, None], True) == json.dumps(older)
            # The key a packed field goes before, also nested later on: not taken for the
            # top-level one (the text is parsed instead).
            trap = {**older, "conflicts": [{"conflicts": [], "event_subtotals": None}]}
            packed = [b"[]", b"{}"]
            expected = json.dumps({**whole, "events": [], "sources": {}, **trap})
            assert document_text(json.dumps(trap), packed, True) == expected

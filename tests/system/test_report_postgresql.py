"""The same cohort in SQLite and in PostgreSQL gives the same reports and the same export.

The report queries take the record fields out of the stored JSON in the database, with each
dialect's own JSON functions; this proves the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cohort_support import build_cohort
from conftest import base_env
from vp_log.cli import app


def _report(env: dict[str, str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["report", "all", "--json", "--as-of", "2025-06-01"], env=env)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    for key in ("generated_at", "data_as_of"):
        document.pop(key)
    return document


def _export(env: dict[str, str], out: Path) -> str:
    result = CliRunner().invoke(app, ["export", "--shape", "wide", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    rows = (out / "vp_log_wide.csv").read_text(encoding="utf-8").splitlines()
    # record ids may differ between the two stores; the rest must not
    header = rows[0].split(",")
    drop = header.index("procedure")
    return "\n".join(",".join(v for i, v in enumerate(r.split(",")) if i != drop) for r in rows)


def test_sqlite_and_postgresql_give_the_same_reports(tmp_path: Path, pg_url: str) -> None:
    lite, pg = tmp_path / "sqlite", tmp_path / "pg"
    build_cohort(lite, range(2))
    build_cohort(pg, range(2), database_url=pg_url)
    lite_env, pg_env = base_env(lite), base_env(pg, pg_url)
    from_sqlite, from_pg = _report(lite_env), _report(pg_env)
    assert from_sqlite["procedures"] == 6
    assert from_pg == from_sqlite
    assert _export(pg_env, pg / "export") == _export(lite_env, lite / "export")

"""``vp-log report`` on an empty store and with bad filters: one clear line, n = 0, no NaN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import base_env
from vp_log.cli import app


def invoke(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *args], env={**base_env(data_dir), "COLUMNS": "80"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    """A store made on purpose (``db upgrade``) before anything was received."""
    result = CliRunner().invoke(app, ["db", "upgrade"], env=base_env(tmp_path))
    assert result.exit_code == 0, result.output
    return tmp_path


def test_empty_store_reports_n_0_without_nan(empty_store: Path) -> None:
    tmp_path = empty_store
    code, out, _ = invoke(tmp_path, "outcomes")
    assert code == 0
    assert "no procedures in the store yet" in out
    code, out, _ = invoke(tmp_path, "outcomes", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["procedures"] == 0
    assert "NaN" not in out and "Infinity" not in out


def test_bad_filter_values_name_the_allowed_ones(empty_store: Path) -> None:
    tmp_path = empty_store
    code, _, err = invoke(tmp_path, "outcomes", "--type", "cementoplasty")
    assert code == 2
    assert "--type 'cementoplasty' is not known (allowed: vertebroplasty, kyphoplasty" in err
    code, _, err = invoke(tmp_path, "outcomes", "--operator", "Dr^Nobody")
    assert code == 2
    assert "--operator 'Dr^Nobody' is not in the data (allowed: none recorded yet)" in err
    code, _, err = invoke(tmp_path, "outcomes", "--since", "2025-02-30")
    assert code == 2 and "--since '2025-02-30' is not a date (allowed: YYYY-MM-DD)" in err

"""``vp-log procedures annotate``: baseline clinical data, versioned, shown with the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from vp_log.cli import app
from vp_log.samples import write_all_cases


def vp_log(data_dir: Path, *args: str) -> Result:
    env = {"VP_LOG_DATA_DIR": str(data_dir), "VP_LOG_DATABASE_URL": "", "VP_LOG_CONFIG": ""}
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated cases, imported (the vertebroplasty is dated 2024-08-03 with seed 0)."""
    work = tmp_path_factory.mktemp("clinical")
    write_all_cases(work / "cases", seed=0, size="small")
    assert vp_log(work / "data", "import", str(work / "cases")).exit_code == 0
    return work / "data"


def _vertebroplasty(data_dir: Path) -> dict[str, Any]:
    listed = json.loads(vp_log(data_dir, "procedures", "list", "--json").stdout)
    record: dict[str, Any] = next(r for r in listed if r["procedure_type"] == "vertebroplasty")
    return record


def _shown(data_dir: Path, key: str) -> dict[str, Any]:
    result = vp_log(data_dir, "procedures", "show", key, "--json")
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def test_annotate_then_show(data_dir: Path) -> None:
    record = _vertebroplasty(data_dir)
    assert _shown(data_dir, str(record["id"]))["clinical"] is None  # not entered yet
    done = vp_log(
        data_dir,
        "procedures",
        "annotate",
        record["accession_number"],
        "--indication",
        "osteoporotic",
        "--onset",
        "2024-07-13",
        "--onset-precision",
        "week",
        "--mri-oedema",
        "yes",
        "--by",
        "dr.a",
    )
    assert done.exit_code == 0, done.output
    assert "version 1" in done.stdout and "21 days (3 weeks) ± 3 d" in done.stdout
    clinical = _shown(data_dir, str(record["id"]))["clinical"]
    assert clinical["indication"] == "osteoporotic"
    assert clinical["fracture_onset"] == "2024-07-13"
    assert clinical["fracture_age"] == {"days": 21, "weeks": 3.0, "plus_minus_days": 3}
    assert clinical["mri_oedema"] == "yes" and clinical["trial_arm"] is None
    assert clinical["entered_by"] == "dr.a" and clinical["version"] == 1

    # A second entry is a new version: what it does not name is kept.
    again = vp_log(
        data_dir,
        "procedures",
        "annotate",
        str(record["id"]),
        "--trial-arm",
        "sham",
        "--blinding",
        "double-blind",
        "--by",
        "dr.b",
    )
    assert again.exit_code == 0, again.output
    clinical = _shown(data_dir, str(record["id"]))["clinical"]
    assert (clinical["version"], clinical["trial_arm"], clinical["blinding"]) == (
        2,
        "sham",
        "double-blind",
    )
    assert clinical["indication"] == "osteoporotic" and clinical["entered_by"] == "dr.b"
    table = vp_log(data_dir, "procedures", "show", str(record["id"]))
    assert "Baseline clinical data" in table.stdout and "sham" in table.stdout

    # Re-extraction rebuilds the record; what staff entered stays.
    assert vp_log(data_dir, "reextract").exit_code == 0
    assert _shown(data_dir, str(record["id"]))["clinical"]["trial_arm"] == "sham"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--onset", "2030-01-01"), "--onset 2030-01-01 is after the procedure"),
        (("--onset", "13/07/2024"), "--onset must be a date as YYYY-MM-DD"),
        ((), "nothing to enter"),
    ],
)
def test_annotate_refuses_in_one_line(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    record = _vertebroplasty(data_dir)
    result = vp_log(data_dir, "procedures", "annotate", str(record["id"]), *args)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_annotate_refuses_an_unknown_indication(data_dir: Path) -> None:
    record = _vertebroplasty(data_dir)
    result = vp_log(data_dir, "procedures", "annotate", str(record["id"]), "--indication", "flu")
    assert result.exit_code == 2 and "--indication" in result.output

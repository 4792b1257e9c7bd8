"""vp_log reports every value OpenREM's RF tests assert on the shared sample files.

The table is ``tests/openrem_values.py`` (file, OpenREM test, value); the files go through
``vp-log import`` into a SQLite file and each record is read back with
``vp-log procedures show --json``, as a script would.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pydicom
import pytest
from typer.testing import CliRunner

from conftest import SAMPLES
from openrem_values import OPENREM_VALUES, OpenremValue
from vp_log.cli import app

FILES = sorted({row.file for row in OPENREM_VALUES})


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    data = tmp_path_factory.mktemp("openrem") / "data"
    env = {"VP_LOG_DATA_DIR": str(data), "VP_LOG_DATABASE_URL": "", "VP_LOG_CONFIG": ""}
    paths = [str(SAMPLES / "openrem" / name) for name in FILES]
    _invoke(env, "import", *paths)
    found: dict[str, dict[str, Any]] = {}
    for name in FILES:
        uid = pydicom.dcmread(SAMPLES / "openrem" / name, stop_before_pixels=True)
        shown = _invoke(env, "procedures", "show", "--json", str(uid.StudyInstanceUID))
        found[name] = json.loads(shown)
    return found


def _filters(event: dict[str, Any]) -> tuple[str, str]:
    """Filter materials and mean thicknesses as OpenREM's export writes them (``Cu | Al``)."""
    materials, thicknesses = [], []
    for item in event["technique"].get("filters") or []:
        meaning = item["material"]["meaning"].casefold()
        materials.append("Cu" if "copper" in meaning else "Al" if "alumin" in meaning else meaning)
        values = [item[k]["value"] for k in ("thickness_min", "thickness_max")]
        thicknesses.append(f"{sum(values) / len(values):.4f}")
    return " | ".join(materials), " | ".join(thicknesses)


def _path(value: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            value = value[int(part[1:-1])]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
        if value is None:
            return None
    return value


def view(record: dict[str, Any], where: str) -> Any:
    """What ``where`` (see tests/openrem_values.py) names in one record's public JSON."""
    where, _, modifier = where.partition("#")
    head, _, rest = where.partition(".")
    events = record["events"]
    if head == "events" and rest.startswith("protocol_contains:"):
        word = rest.split(":", 1)[1]
        return any(word in (e.get("protocol") or "") for e in events)
    if head == "record" and rest.startswith("study_description_contains:"):
        return rest.split(":", 1)[1] in (record.get("study_description") or "")
    if head.startswith("protocol["):
        protocol = head[len("protocol[") : -1]
        event = next(e for e in events if e.get("protocol") == protocol)
        head = "events[0]"
        events = [event]
    if rest in ("filter_materials", "filter_thicknesses"):
        event = _path({"events": events}, head)
        materials, thicknesses = _filters(event)
        return materials if rest == "filter_materials" else thicknesses
    if head == "record":
        value = _path(record, rest)
    elif head == "subtotals":
        value = _path(record["event_subtotals"], rest)
    else:
        value = _path({"events": events}, f"{head}.{rest}")
    if modifier == "count":
        return len(value)
    if modifier == "local":
        return str(value)[:19]
    return value


@pytest.mark.parametrize("row", OPENREM_VALUES, ids=[f"{r.file}:{r.what}" for r in OPENREM_VALUES])
def test_openrem_value(records: dict[str, dict[str, Any]], row: OpenremValue) -> None:
    got = view(records[row.file], row.where)
    if isinstance(row.expected, float):
        assert isinstance(got, int | float), f"{row.where} is {got!r}, OpenREM {row.openrem}"
        assert math.isclose(got, row.expected, rel_tol=1e-6, abs_tol=1e-12), (
            f"{row.where} is {got}, OpenREM ({row.test}) {row.openrem}"
        )
    else:
        assert got == row.expected, f"{row.where} is {got!r}, OpenREM ({row.test}) {row.openrem}"


def test_the_table_names_its_files_and_tests() -> None:
    for row in OPENREM_VALUES:
        assert (SAMPLES / "openrem" / row.file).is_file()
        assert row.test.startswith("test_") and ".py" in row.test
    assert len(OPENREM_VALUES) >= 70


def test_the_openrem_files_are_consistent_reports(records: dict[str, dict[str, Any]]) -> None:
    """Real units' reports whose totals match their events carry no consistency finding."""
    for name, record in records.items():
        assert record["dose_consistency"] == [], name


def test_patient_and_software(records: dict[str, dict[str, Any]]) -> None:
    assert records["RF-RDSR-Siemens-Zee.dcm"]["software_versions"] == ["VC14J 150507"]
    weight = records["RF-RDSR-Philips_Allura.dcm"]["patient"]["weight"]
    assert (weight["value"], weight["unit"], weight["path"]) == (86.2, "kg", "PatientWeight")

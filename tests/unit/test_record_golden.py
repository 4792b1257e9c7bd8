"""The public JSON of every record is what it was before the record was typed (issue 8).

``tests/data/record_golden.json`` holds ``procedures show --json`` of every record built from
../shared/samples and the generated cases, made by the code before the change (see
``tests/record_golden.py``). Every field there must come out the same, value for value and in
nested objects too; the new JSON may only add fields. Keep this test.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from record_golden import GOLDEN, build_public_records, json_differences, without_volatile


def test_differences_allow_added_fields_only() -> None:
    assert json_differences({"a": 1}, {"a": 1, "b": 2}, "r") == []
    assert json_differences({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 0}]}, "r") == []
    assert json_differences({"a": 1}, {"a": 1.0}, "r") == ["r.a: was 1, now 1.0"]
    assert json_differences({"a": 1}, {}, "r") == ["r.a: missing (was 1)"]
    assert json_differences({"a": [1, 2]}, {"a": [2, 1]}, "r") != []
    assert json_differences({"a": None}, {"a": {}}, "r") != []


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return build_public_records(tmp_path_factory.mktemp("golden"))


def test_every_record_keeps_its_public_json(current: dict[str, dict[str, Any]]) -> None:
    golden: dict[str, dict[str, Any]] = json.loads(Path(GOLDEN).read_text())
    assert sorted(current) == sorted(golden), "the same studies become records"
    new = without_volatile(current)
    problems = [d for uid, old in golden.items() for d in json_differences(old, new[uid], uid)]
    assert not problems, "\n".join(problems[:40])


def test_volatile_fields_are_still_there(current: dict[str, dict[str, Any]]) -> None:
    # Left out of the comparison (they depend on when and in which order files came), but
    # every record still carries them.
    for record in current.values():
        assert isinstance(record["id"], int)
        assert datetime.fromisoformat(record["last_received_at"]).tzinfo is not None

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

from record_golden import GOLDEN, build_public_records, without_volatile


def _differences(old: Any, new: Any, where: str) -> list[str]:
    """Where ``new`` differs from ``old`` other than by fields added to objects."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: was an object, now {new!r}"]
        found: list[str] = []
        for key, value in old.items():
            if key not in new:
                found.append(f"{where}.{key}: missing (was {value!r})")
            else:
                found.extend(_differences(value, new[key], f"{where}.{key}"))
        return found
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{where}: was {old!r}, now {new!r}"]
        return [
            d
            for i, (o, n) in enumerate(zip(old, new, strict=True))
            for d in _differences(o, n, f"{where}[{i}]")
        ]
    if type(old) is not type(new) or old != new:
        return [f"{where}: was {old!r}, now {new!r}"]
    return []


def test_differences_allow_added_fields_only() -> None:
    assert _differences({"a": 1}, {"a": 1, "b": 2}, "r") == []
    assert _differences({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 0}]}, "r") == []
    assert _differences({"a": 1}, {"a": 1.0}, "r") == ["r.a: was 1, now 1.0"]
    assert _differences({"a": 1}, {}, "r") == ["r.a: missing (was 1)"]
    assert _differences({"a": [1, 2]}, {"a": [2, 1]}, "r") != []
    assert _differences({"a": None}, {"a": {}}, "r") != []


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return build_public_records(tmp_path_factory.mktemp("golden"))


def test_every_record_keeps_its_public_json(current: dict[str, dict[str, Any]]) -> None:
    golden: dict[str, dict[str, Any]] = json.loads(Path(GOLDEN).read_text())
    assert sorted(current) == sorted(golden), "the same studies become records"
    new = without_volatile(current)
    problems = [d for uid, old in golden.items() for d in _differences(old, new[uid], uid)]
    assert not problems, "\n".join(problems[:40])


def test_volatile_fields_are_still_there(current: dict[str, dict[str, Any]]) -> None:
    # Left out of the comparison (they depend on when and in which order files came), but
    # every record still carries them.
    for record in current.values():
        assert isinstance(record["id"], int)
        assert datetime.fromisoformat(record["last_received_at"]).tzinfo is not None

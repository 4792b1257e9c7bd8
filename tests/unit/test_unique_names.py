"""Test files have unique names: pytest imports them by basename (no packages), and two files
of one name in ``tests/unit`` and ``tests/system`` stop the whole run at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_file_names_are_unique() -> None:
    tests = Path(__file__).resolve().parents[1]
    names = Counter(path.name for path in tests.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []

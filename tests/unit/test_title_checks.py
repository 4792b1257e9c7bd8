"""The listener's AE title policy: both titles judged, one phrase for the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from vp_log.config import Settings
from vp_log.listener import check_titles


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "calling", "called", "reason", "words"),
    [
        ({}, "ANYONE", "VPLOG", None, ["no allow-list", "'VPLOG' is ours"]),
        ({}, "ANYONE", "PACS", "called AE title not recognised", ["'PACS' is not ours ('VPLOG')"]),
        (
            {"accept_any_called_aet": True},
            "ANYONE",
            "PACS",
            None,
            ["'PACS' accepted (accept_any_called_aet)"],
        ),
        (
            {"allowed_calling_aets": ["PACS_MAIN"]},
            "PACS_MAIN",
            "VPLOG",
            None,
            ["on the allow-list"],
        ),
        (
            {"allowed_calling_aets": ["PACS_MAIN"]},
            "INTRUDER",
            "VPLOG",
            "calling AE title not recognised",
            ["'INTRUDER' not on the allow-list", "'VPLOG' is ours"],
        ),
    ],
)
def test_title_checks(
    tmp_path: Path,
    values: dict[str, object],
    calling: str,
    called: str,
    reason: str | None,
    words: list[str],
) -> None:
    check = check_titles(calling, called, settings(tmp_path, **values))
    assert check.reject_reason == reason
    for word in words:
        assert word in check.text

"""Every command's help as a person reads it at 80 columns: a flag shows no type beside it
(typer prints ``<bool>``, as if ``--yes`` took a value), and no line is wider than the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from vp_log.cli import COMMANDS, app, load_command


def _paths() -> Iterator[tuple[str, ...]]:
    for name in dict.fromkeys(COMMANDS):
        pending: list[tuple[tuple[str, ...], object]] = [((name,), load_command(name))]
        while pending:
            path, command = pending.pop()
            yield path
            for sub, child in getattr(command, "commands", {}).items():
                pending.append(((*path, sub), child))


PATHS = [(), *_paths()]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "vp-log")
def test_help_shows_no_type_beside_a_flag(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "VP_LOG_CONFIG": ""})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output, result.output
    assert "--help" in result.output
    wide = [line for line in result.output.splitlines() if len(line) > 80]
    assert not wide, wide


def test_every_command_is_seen() -> None:
    assert {p for p in PATHS if len(p) == 2} >= {("procedures", "decide"), ("followup", "add")}

"""``vp-log --help`` starts without the heavy libraries (issue 15: start-up under 0.3 s).

Timing-free: a fresh interpreter builds the whole command tree for ``--help`` and reports
which modules it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: What no command's help needs: DICOM networking and files, the database, the reports' maths.
HEAVY = (
    "pynetdicom",
    "pydicom",
    "sqlalchemy",
    "alembic",
    "numpy",
    "scipy",
    "statsmodels",
    "lifelines",
    "matplotlib",
)

_PROBE = """
import json, sys
from typer.testing import CliRunner
from vp_log.cli import app
result = CliRunner().invoke(app, sys.argv[1:] + ["--help"])
print(json.dumps({"code": result.exit_code, "modules": sorted(sys.modules)}))
"""


def _modules(*args: str) -> set[str]:
    """The modules a fresh interpreter has imported after ``vp-log ARGS --help``."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True
    ).stdout
    answer = json.loads(out.splitlines()[-1])
    assert answer["code"] == 0
    return set(answer["modules"])


def _loaded(*args: str) -> set[str]:
    return {name.split(".")[0] for name in _modules(*args)}


def test_help_imports_no_heavy_library() -> None:
    assert _loaded() & set(HEAVY) == set()


def test_subcommand_help_imports_no_heavy_library() -> None:
    assert _loaded("procedures", "show") & set(HEAVY) == set()
    assert _loaded("followup", "add") & set(HEAVY) == set()


def test_command_table_matches_each_command() -> None:
    """``vp-log --help`` lists each command with its own help, without loading it."""
    from vp_log.cli import COMMANDS, load_command

    for name, (_module, line) in COMMANDS.items():
        command = load_command(name)
        own = (command.short_help or command.help or "").strip()
        assert own.split("\n\n")[0].replace("\n", " ") == line, name


def test_help_loads_no_command_module() -> None:
    """Only the command that runs is imported: ``--help`` loads none, ``procedures`` its own."""
    top = _modules()
    assert not {m for m in top if m.startswith("vp_log.cli.") and m != "vp_log.cli.common"}
    assert "vp_log.cli.followup" not in _modules("procedures", "show")

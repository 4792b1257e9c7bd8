"""``vp-log --help`` starts without the heavy libraries (issue 15: start-up under 0.3 s).

Timing-free: a fresh interpreter builds the whole command tree for ``--help`` (or runs a
command on a one-study store) and reports which modules it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

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

#: What ``procedures show`` and ``followup add`` on a SQLite store import none of: DICOM,
#: Alembic (the schema is current), the reports' maths, the PostgreSQL dialect (``JSONB``,
#: ``INSERT ... ON CONFLICT``: loaded with a PostgreSQL engine), rich's Markdown (typer's
#: abort message only).
NOT_FOR_A_STORE_COMMAND = (
    *(name for name in HEAVY if name != "sqlalchemy"),
    "sqlalchemy.dialects.postgresql",
    "typer.rich_utils",
    "markdown_it",
)

_PROBE = """
import json, sys
from typer.testing import CliRunner
from vp_log.cli import app
help = ["--help"] if sys.argv[1] == "help" else []
result = CliRunner().invoke(app, sys.argv[2:] + help)
print(json.dumps({"code": result.exit_code, "output": result.output, "modules": sorted(sys.modules)}))
"""


def _modules(*args: str, data_dir: Path | None = None) -> set[str]:
    """The modules a fresh interpreter has imported after ``vp-log ARGS --help`` (or, with
    ``data_dir``, after running ``vp-log ARGS`` on that data folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VP_LOG_")}
    if data_dir is not None:
        env.update(VP_LOG_DATA_DIR=str(data_dir), VP_LOG_CONFIG="")
    mode = "help" if data_dir is None else "run"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    answer = json.loads(out.splitlines()[-1])
    assert answer["code"] == 0, answer["output"]
    return set(answer["modules"])


def _among(modules: set[str], names: tuple[str, ...]) -> set[str]:
    """The ``names`` (packages or modules) that ``modules`` holds, themselves or a part."""
    return {n for n in names if any(m == n or m.startswith(n + ".") for m in modules)}


@pytest.fixture(scope="module")
def one_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder (SQLite) whose one study came in through the pipeline: record 1."""
    from vp_log.config import load_settings
    from vp_log.db import Database
    from vp_log.pipeline import Pipeline
    from vp_log.samples import CaseName, write_case
    from vp_log.spool import Spool

    root = tmp_path_factory.mktemp("startup")
    settings = load_settings(data_dir=root / "data", quiet_period_s=60)
    database = Database(settings.db_url)
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    pipeline = Pipeline(settings, database, Spool(settings.data_dir), clock=lambda: when)
    write_case(CaseName.VP_TWO_LEVEL, root / "case", seed=1)
    files = sorted((root / "case").rglob("*.dcm"))
    pipeline.process(files, received_from="import", from_spool=False)
    pipeline.assemble_stale(final=True)
    database.dispose()
    return settings.data_dir


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


def test_store_commands_import_only_what_they_use(one_study: Path) -> None:
    """``procedures show`` and ``followup add`` on SQLite: no DICOM, no Alembic, no reports'
    maths, no PostgreSQL dialect, no Markdown (issue 15)."""
    shown = _modules("procedures", "show", "1", data_dir=one_study)
    assert _among(shown, NOT_FOR_A_STORE_COMMAND) == set()
    added = _modules(
        "followup", "add", "1", "--date", "2025-03-09", "--pain", "4", "--by", "t", "--yes",
        data_dir=one_study,
    )  # fmt: skip
    assert _among(added, NOT_FOR_A_STORE_COMMAND) == set()
    # a follow-up entry links to a record without the record models (vp_log.db.decided)
    assert _among(added, ("vp_log.record", "vp_log.db.repository", "vp_log.models")) == set()


def test_schema_check_reads_the_head_alembic_reads() -> None:
    """A current database is recognised without Alembic: the head is read from the
    migrations' revision lines (not parsed as Python), and it is Alembic's head."""
    from vp_log.db.engine import _REVISION_LINE, _head_from_files, head_revision

    assert _head_from_files() == head_revision()
    lines = {
        'revision = "0011_x"': ("revision", "0011_x"),
        "revision: str = '0011_x'  # the id": ("revision", "0011_x"),
        "down_revision: str | None = None": ("down_revision", None),
    }
    for line, (name, value) in lines.items():
        match = _REVISION_LINE.fullmatch(line)
        assert match is not None and match["name"] == name, line
        assert (match["dq"] if match["dq"] is not None else match["sq"]) == value, line
    # a merge (two parents) is no plain chain: left to Alembic
    assert _REVISION_LINE.fullmatch('down_revision = ("0009_a", "0009_b")') is None

"""A mistyped data folder or SQLite path is refused, never made a new empty store (issue 16).

Only the commands meant to create a store (``listen``, ``import``, ``db upgrade``) create the
SQLite file; every other command says, in one line, which path is missing and which setting
named it, and leaves the disk as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from vp_log.cli import app
from vp_log.samples import write_xa_instances

COMMANDS = [
    ("procedures", "list"),
    ("procedures", "show", "1"),
    ("procedures", "annotate", "1", "--trial-arm", "A", "--by", "x"),
    ("followup", "list"),
    ("followup", "due"),
    ("followup", "history", "1"),
    ("followup", "add", "1", "--pain", "3", "--by", "x", "--yes"),
    ("followup", "correct", "1", "--pain", "3", "--reason", "r", "--by", "x", "--yes"),
    ("followup", "close", "1", "--timepoint", "1w", "--reason", "lost", "--by", "x"),
    ("audit",),
    ("dose", "alerts"),
    ("report", "outcomes"),
    ("report", "all"),
    ("export", "--out", "{tmp}/export"),
    ("status",),
    ("db", "current"),
    ("reextract",),
]


def vp_log(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, list(args), env={"VP_LOG_CONFIG": "", **env})


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_mistyped_data_folder_is_refused_and_not_created(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "vp_lgo"
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    line = one_error_line(vp_log(*args, env={"VP_LOG_DATA_DIR": str(typo)}))
    assert f"no vp_log database at {typo / 'vp_log.db'}" in line
    assert f"data_dir (VP_LOG_DATA_DIR={typo}) mistyped?" in line
    assert "vp-log db upgrade" in line
    assert not typo.exists()
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("args", COMMANDS[:6], ids=" ".join)
def test_an_existing_folder_without_a_database_stays_as_it_was(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """The folder of something else (or a data folder whose database was moved away)."""
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    line = one_error_line(vp_log(*args, env={"VP_LOG_DATA_DIR": str(folder)}))
    assert f"no vp_log database at {folder / 'vp_log.db'}" in line
    assert _files(folder) == [folder / "notes.txt"]


def test_a_mistyped_database_url_names_the_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vp_lgo.db'}"
    env = {"VP_LOG_DATA_DIR": str(tmp_path / "data"), "VP_LOG_DATABASE_URL": url}
    line = one_error_line(vp_log("followup", "due", env=env))
    assert f"no vp_log database at {tmp_path / 'vp_lgo.db'}" in line
    assert "database_url (VP_LOG_DATABASE_URL)" in line
    assert _files(tmp_path) == []


def test_a_data_folder_from_the_configuration_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "vp_log.toml"
    config.write_text(f'data_dir = "{tmp_path / "vp_lgo"}"\n')
    result = CliRunner().invoke(app, ["report", "dose"], env={"VP_LOG_CONFIG": str(config)})
    line = one_error_line(result)
    assert f"data_dir (in {config}) mistyped?" in line
    assert not (tmp_path / "vp_lgo").exists()


@pytest.mark.parametrize("args", [("quarantine", "list"), ("quarantine", "retry", "--all")])
def test_quarantine_commands_refuse_a_missing_data_folder(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "vp_lgo"
    line = one_error_line(vp_log(*args, env={"VP_LOG_DATA_DIR": str(typo)}))
    assert f"no vp_log data folder at {typo}: is data_dir (VP_LOG_DATA_DIR={typo})" in line
    assert not typo.exists()


def test_backup_of_a_missing_data_folder_names_the_setting(tmp_path: Path) -> None:
    typo = tmp_path / "vp_lgo"
    line = one_error_line(
        vp_log("backup", str(tmp_path / "bk"), env={"VP_LOG_DATA_DIR": str(typo)})
    )
    assert f"VP_LOG_DATA_DIR={typo}" in line
    assert not typo.exists() and not (tmp_path / "bk").exists()


def test_import_and_db_upgrade_create_the_store(tmp_path: Path) -> None:
    """The commands meant to make a store still make it (and then the readers find it)."""
    fresh = tmp_path / "fresh"
    upgraded = vp_log("db", "upgrade", env={"VP_LOG_DATA_DIR": str(fresh)})
    assert upgraded.exit_code == 0, upgraded.output
    assert (fresh / "vp_log.db").is_file()
    images = write_xa_instances(tmp_path / "src", 1, rows=16, cols=16, seed=1)
    new = tmp_path / "new"
    imported = vp_log("import", str(images[0]), env={"VP_LOG_DATA_DIR": str(new)})
    assert imported.exit_code == 0, imported.output
    assert (new / "vp_log.db").is_file()
    for folder in (fresh, new):
        listed = vp_log("followup", "due", env={"VP_LOG_DATA_DIR": str(folder)})
        assert listed.exit_code == 0, listed.output
        assert vp_log("db", "current", env={"VP_LOG_DATA_DIR": str(folder)}).exit_code == 0

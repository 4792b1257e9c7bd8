"""``vp-log backup DEST``, ``vp-log restore SRC``, ``vp-log conformance``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vp_log.cli.common import console, fail, print_json, state


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.command("conformance")(conformance)


def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Back up the data folder: SQLite database (online), header archive, spool, quarantine."""
    from vp_log.backup import BackupError, make_backup

    state(ctx).require_data_dir()
    try:
        summary = make_backup(state(ctx).settings, dest)
    except BackupError as exc:
        fail(str(exc))
    if as_json:
        print_json(summary.as_dict())
        return
    files = ", ".join(f"{count} {folder}" for folder, count in summary.files.items())
    console.print(f"backup in {dest}: files: {files}", highlight=False)
    if summary.database == "postgresql":
        console.print(
            "the database is PostgreSQL and is not in this backup: back it up with pg_dump",
            highlight=False,
        )
    else:
        rows = ", ".join(f"{count} {name}" for name, count in summary.rows.items())
        console.print(f"database: {rows or 'none yet'}", highlight=False)


def restore(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A folder written by vp-log backup")],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data folder to restore into (new or empty)"),
    ] = None,
) -> None:
    """Restore a backup into a new or empty data folder (never over one in use)."""
    from vp_log.backup import BackupError, restore_backup

    st = state(ctx)
    st.use_flags(data_dir=data_dir)
    try:
        summary = restore_backup(source, st.settings)
    except BackupError as exc:
        fail(str(exc))
    files = ", ".join(f"{count} {folder}" for folder, count in summary.files.items())
    rows = ", ".join(f"{count} {name}" for name, count in summary.rows.items())
    console.print(
        f"restored into {summary.folder}: files: {files}; database: {rows or 'not in backup'}",
        highlight=False,
    )


def conformance(ctx: typer.Context) -> None:
    """Print the DICOM Conformance Statement for the configuration in force (Markdown)."""
    from vp_log.conformance import render_conformance

    sys.stdout.write(render_conformance(state(ctx).settings))

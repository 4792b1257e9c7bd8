"""The ``vp-log`` command: one typer app per noun, joined here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from vp_log.cli.common import AppState, err_console

app = typer.Typer(
    name="vp-log",
    help="Procedure log for vertebroplasty, kyphoplasty and sacroplasty, fed by DICOM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def version_text() -> str:
    """``vp-log 0.1.0 (pydicom 3.0.1, pynetdicom 3.0.4, Python 3.11.2)``."""
    import platform
    from importlib.metadata import version

    parts = ", ".join(f"{name} {version(name)}" for name in ("pydicom", "pynetdicom"))
    return f"vp-log {version('vp-log')} ({parts}, Python {platform.python_version()})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="VP_LOG_CONFIG",
            help="TOML configuration file (VP_LOG_* environment variables override it)",
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    state = AppState(config)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _register() -> None:
    from vp_log.cli import db, dose, ingest, procedures

    app.add_typer(db.app, name="db")
    app.add_typer(dose.app, name="dose")
    app.add_typer(procedures.app, name="procedures")
    ingest.register(app)
    from vp_log.cli import backup, quarantine, status
    from vp_log.cli import config as config_cli

    app.add_typer(config_cli.app, name="config", no_args_is_help=True)
    app.add_typer(quarantine.app, name="quarantine", no_args_is_help=True)
    app.command("status")(status.status)
    backup.register(app)
    from vp_log.cli import followup

    followup.register(app)
    from vp_log.cli import export, report

    report.register(app)
    export.register(app)


_register()


#: The errors that end a command in one clear line, by module: an error of a module that was
#: never imported cannot have been raised, so none of these modules is imported for nothing.
_USER_ERRORS = (
    ("vp_log.vocabulary", "VocabularyError"),
    ("vp_log.followup.errors", "ScheduleError"),
    ("vp_log.spool", "SpoolBusyError"),
    ("vp_log.listener", "ListenError"),
    ("vp_log.db.errors", "DatabaseError"),
)


def user_error(exc: Exception) -> Exception | None:
    """``exc`` as the user should read it (SQLAlchemy's in the user's words), or None for a bug."""
    if isinstance(exc, PermissionError):
        return exc
    if "vp_log.db.errors" in sys.modules:  # else no SQLAlchemy error can have been raised
        from vp_log.db.errors import translate

        exc = translate(exc) or exc
    for module_name, class_name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        error_class: type[Exception] = getattr(module, class_name)
        if isinstance(exc, error_class):
            return exc
    return None


def main() -> None:
    """``vp-log``: configuration and database problems end in one clear line, not a traceback."""
    # The data folder holds patient data: whatever vp-log creates is for its user alone
    # (folders 0700, files 0600), the worker process and the SQLite files included.
    os.umask(0o077)
    try:
        app()
    except Exception as exc:
        error = user_error(exc)
        if error is None:
            raise
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        raise SystemExit(2) from None

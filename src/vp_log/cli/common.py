"""What every command shares: settings from --config, the database, output helpers."""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from vp_log.config import Settings
    from vp_log.db import Database

# The listener's storescp-style flags (``listen``, ``config show``): they beat everything.
PortOption = Annotated[
    int | None, typer.Option("--port", help="TCP port [VP_LOG_PORT; default 11112]")
]
AetOption = Annotated[
    str | None, typer.Option("--aet", help="Our AE title [VP_LOG_AE_TITLE; default VPLOG]")
]
BindOption = Annotated[
    str | None,
    typer.Option("--bind", help="Address to listen on [VP_LOG_BIND_ADDRESS; default 0.0.0.0]"),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Spool, archive, quarantine, SQLite [VP_LOG_DATA_DIR; default ~/.local/share/vp_log]",
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file [VP_LOG_CONFIG]")
]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # error lines stay whole for logs


class AppState:
    """Per-invocation state put in ``ctx.obj`` by the root callback."""

    def __init__(self, config_file: Path | None) -> None:
        self.config_file = config_file
        self.flags: dict[str, Any] = {}
        self._settings: Settings | None = None
        self._database: Database | None = None
        self._reader: Database | None = None

    def use_flags(self, config_file: Path | None = None, **flags: Any) -> None:
        """Command-line settings of a subcommand (``listen --port``); they beat everything."""
        if config_file is not None:
            self.config_file = config_file
        self.flags = {name: value for name, value in flags.items() if value is not None}
        self._settings = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from vp_log.config import SettingsError, load_settings

            try:
                self._settings = load_settings(self.config_file, **self.flags)
            except SettingsError as exc:
                fail(str(exc))
        return self._settings

    @property
    def database(self) -> Database:
        """The database, created or upgraded on first use."""
        if self._database is None:
            from vp_log.db import Database

            self._database = Database(self.settings.db_url)
        return self._database

    @property
    def reader(self) -> Database:
        """The database for commands that only read: never created, upgraded or written."""
        if self._reader is None:
            from vp_log.db import Database
            from vp_log.db.errors import DatabaseError

            reader = Database(self.settings.db_url, upgrade=False)
            try:
                reader.check_schema()
            except DatabaseError as exc:
                reader.dispose()
                fail(str(exc))
            self._reader = reader
        return self._reader

    def close(self) -> None:
        for database in (self._database, self._reader):
            if database is not None:
                database.dispose()


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState(None)
        ctx.find_root().obj = obj
    return obj


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def setup_logging(level: str) -> None:
    from vp_log.text import configure_logging

    configure_logging(level, stream=sys.stderr)
    # pynetdicom logs every PDU at INFO/DEBUG; one line per association is ours to write.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    # What pynetdicom still logs (handled errors) stays one line, without a traceback.
    from vp_log.transport import OneLineFilter, log_thread_exception

    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLineFilter())
    threading.excepthook = log_thread_exception

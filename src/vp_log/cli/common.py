"""What every command shares: settings from --config, the database, output helpers."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from vp_log.text import json_visible, printable

if TYPE_CHECKING:
    from rich.text import Text

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


def literal(value: object) -> str:
    """Text from a file or a user, as rich markup that prints it as it is, on one line.

    Control characters, escape sequences and bidi overrides are shown escaped
    (:func:`vp_log.text.printable`: ``\\e[2J``, ``\\r\\n``, ``\\u202e``) and markup in
    it (``[bold]``) is printed, not obeyed. Every table cell and line that shows such text
    (patient names, descriptions, notes, reasons, UIDs) takes it through here.
    """
    return escape(printable(value))


class SafeConsole(Console):
    """A rich console that never sends a control character of the text it prints.

    Every string rich renders (table cells, titles, printed lines) passes through
    :meth:`render_str`; control characters in it are shown escaped, except the line breaks
    (the program's own: user text has been through :func:`literal`, which escapes its own).
    A value a call site forgot to pass through :func:`literal` can at worst show its markup
    or break its line, never clear the screen or reorder the text.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text, keep_newlines=True), **kwargs)


console = SafeConsole()
err_console = SafeConsole(stderr=True, soft_wrap=True)  # error lines stay whole for logs


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
        """The database for commands that write to a store that exists: its schema upgraded
        on first use, but never created (a mistyped folder is refused, not made a new store)."""
        self.require_database()
        return self.creating_database

    @property
    def creating_database(self) -> Database:
        """The database, created (with its folder) or upgraded on first use: for ``listen``,
        ``import`` and ``db upgrade``, the commands meant to make a store."""
        if self._database is None:
            from vp_log.db import Database
            from vp_log.db.errors import translate

            self._make_data_dir()
            try:
                self._database = Database(self.settings.db_url)
            except OSError as exc:  # the folder of a database_url's SQLite file
                setting = self.database_setting()
                fail(f"cannot create the database: {os_error_text(exc)}; check {setting}")
            except Exception as exc:
                error = translate(exc)
                if error is None:
                    raise
                fail(self._unusable(error))
        return self._database

    def _make_data_dir(self) -> None:
        """The data folder made (listen and import write in it at once) and tried for a write:
        a file in the way or a folder without write permission is one line naming it."""
        import tempfile

        folder = Path(self.settings.data_dir)
        setting = self.database_setting(name="data_dir")
        if folder.exists() and not folder.is_dir():
            fail(f"the data folder {folder} is a file, not a folder: check {setting}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except PermissionError:
            fail(f"cannot write in the data folder {folder}: permission denied; check {setting}")
        except OSError as exc:
            fail(f"cannot write in the data folder {folder}: {os_error_text(exc)}; check {setting}")

    def _unusable(self, error: Exception) -> str:
        """A database that is there but cannot be used, with where it is and who named it."""
        from vp_log.config import redact_url

        hint = (
            " (SQLite writes beside its file, even to read: its folder must be writable)"
            if "readonly" in str(error)
            else ""
        )
        where = redact_url(self.settings.db_url)
        return f"{error}{hint}; the database is {where}, from {self.database_setting()}"

    def require_database(self) -> None:
        """Refuse in one line, naming the path and the setting it comes from, when the SQLite
        file of the database in force does not exist (a mistyped data folder or URL)."""
        from vp_log.db.engine import missing_sqlite_file

        missing = missing_sqlite_file(self.settings.db_url)
        if missing is not None:
            fail(
                f"no vp_log database at {missing}: is {self.database_setting()} mistyped? "
                "(`vp-log db upgrade`, `listen` and `import` create one)"
            )

    def require_data_dir(self) -> Path:
        """The data folder, refused in one line (naming the setting) when it does not exist."""
        folder = Path(self.settings.data_dir)
        if not folder.is_dir():
            what = "not a folder" if folder.exists() else "no vp_log data folder"
            setting = self.database_setting(name="data_dir")
            fail(f"{what} at {folder}: is {setting} mistyped? (`vp-log listen` creates it)")
        return folder

    def database_setting(self, name: str | None = None) -> str:
        """The setting that names the database in force and where it is set, in the user's
        words: ``data_dir (VP_LOG_DATA_DIR=/srv/vp)``, ``database_url (in vp_log.toml)``."""
        from vp_log.config import environment_name, setting_sources

        name = name or ("database_url" if self.settings.database_url else "data_dir")
        source = setting_sources(self.config_file, self.flags)[name]
        value = str(self.settings.data_dir) if name == "data_dir" else None
        if source == "flag":
            return f"--{name.replace('_', '-')} {value}" if value else f"--{name}"
        if source.startswith("environment "):
            return f"{name} ({environment_name(name)}{'=' + value if value else ''})"
        if source.startswith("file "):
            return f"{name} (in {source.removeprefix('file ')})"
        return f"{name} (default {value}; {environment_name(name)} sets another)"

    @property
    def reader(self) -> Database:
        """The database for commands that only read: never created, upgraded or written."""
        if self._reader is None:
            from vp_log.db import Database
            from vp_log.db.errors import DatabaseError

            self.require_database()
            from vp_log.db.errors import SchemaError

            reader = Database(self.settings.db_url, upgrade=False)
            try:
                reader.check_schema()
            except DatabaseError as exc:
                reader.dispose()
                fail(str(exc) if isinstance(exc, SchemaError) else self._unusable(exc))
            self._reader = reader
        return self._reader

    def close(self) -> None:
        for database in (self._database, self._reader):
            if database is not None:
                database.dispose()


def os_error_text(exc: OSError) -> str:
    """An OS error in words: what is in the way, not ``[Errno 20] Not a directory: '...'``."""
    if isinstance(exc, NotADirectoryError):
        return f"a part of {exc.filename} is a file, not a folder"
    if isinstance(exc, FileExistsError):
        return f"{exc.filename} is a file, not a folder"
    if isinstance(exc, PermissionError):
        return f"permission denied on {exc.filename}" if exc.filename else "permission denied"
    reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState(None)
        ctx.find_root().obj = obj
    return obj


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (one line, :func:`print_error`) to stderr and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, one line: ``message`` is plain text, shown as it is
    (:func:`literal`: its brackets printed, a line break or escape in it escaped)."""
    err_console.print(f"[bold red]error:[/] {literal(message)}", highlight=False)


def print_json(data: Any) -> None:
    """``data`` as JSON on stdout: the same values, with nothing in it a terminal would obey."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_visible(text) + "\n")


#: How many rows a listing's table shows when no --limit is given; --json: every row.
TABLE_LIMIT = 200


def count_text(number: int) -> str:
    """A count as people read it: ``10 003``."""
    return f"{number:,}".replace(",", " ")


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """A count with its noun, as people write it: ``1 dose alert``, ``2 560 dose alerts``
    (``plural``: when adding an ``s`` is not the plural)."""
    noun = singular if number == 1 else plural or singular + "s"
    return f"{count_text(number)} {noun}"


def print_nothing(sentence: str) -> None:
    """What a listing prints when there is nothing to list: one sentence, not an empty table
    (``No follow-up entries.``)."""
    console.print(sentence, highlight=False)


def print_page_footer(
    shown: int, total: int, offset: int, *, order: str = "newest", noun: str = ""
) -> None:
    """Under a listing cut to one page: ``showing 200 of 10 003 (the newest); --limit/--offset
    for more``. ``order`` is where the pages start: ``newest``, ``last`` or ``first``."""
    if shown >= total:
        return
    if order == "newest":
        where = f"after the {count_text(offset)} newest" if offset else "the newest"
    else:
        where = f"after the {order} {count_text(offset)}" if offset else f"the {order}"
    console.print(
        f"showing {count_text(shown)} of {count_text(total)}{noun} ({where}); "
        "--limit/--offset for more",
        highlight=False,
    )


def json_text(item: Any) -> str:
    """One item of a listing's JSON: one line."""
    return json.dumps(item, ensure_ascii=False, default=str)


def stream_json(items: Iterable[Any], *, encoded: bool = False) -> int:
    """A listing's ``--json``: a JSON array written item by item as the items come, one item
    per line (``encoded``: the items are JSON text already), with nothing in it a terminal
    would obey (:func:`vp_log.text.json_visible`). Returns the number written.

    Nothing is held back, so the memory does not grow with the listing; a reader that stops
    early (``| head``) ends the command quietly.
    """
    out = sys.stdout
    count = 0
    try:
        for item in items:
            out.write("[\n" if count == 0 else ",\n")
            out.write(json_visible(item if encoded else json_text(item)))
            count += 1
        out.write("[]\n" if count == 0 else "\n]\n")
        out.flush()
    except BrokenPipeError:
        # The reader is gone: what is still buffered goes nowhere, not into a second error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        raise typer.Exit(1) from None
    return count


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

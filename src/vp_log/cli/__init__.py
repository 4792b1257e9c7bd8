"""The ``vp-log`` command: one typer app per noun, joined here."""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from vp_log.cli.common import AppState, print_error

if TYPE_CHECKING:
    from typer._click import Command, Context  # the click that typer carries

#: Every command by name, in the order ``vp-log --help`` lists them: the module that defines it
#: and its one-line help. A command's module (and what it imports) is loaded only when that
#: command runs, so that ``vp-log --help`` and each command start without the others' imports
#: (issue 15). ``tests/unit/test_startup.py`` checks each line against the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "listen": ("ingest", "Run the DICOM listener (C-ECHO, C-STORE) until SIGTERM or Ctrl-C."),
    "import": ("ingest", "Feed DICOM files through the same pipeline as the listener."),
    "reextract": ("ingest", "Rebuild every observation and record from the header archive."),
    "status": (
        "status",
        "Listener up or not, last associations, spool backlog, quarantine, studies receiving.",
    ),
    "backup": (
        "backup",
        "Back up the data folder: SQLite database (online), header archive, spool, quarantine.",
    ),
    "restore": (
        "backup",
        "Restore a backup into a new or empty data folder (never over one in use).",
    ),
    "conformance": (
        "backup",
        "Print the DICOM Conformance Statement for the configuration in force (Markdown).",
    ),
    "audit": ("followup", "The audit log: who changed what, when."),
    "export": (
        "export",
        "Write the data for analysis elsewhere, with a data dictionary and a manifest.",
    ),
    "db": ("db", "Database schema (Alembic migrations), and compacting an SQLite file."),
    "dose": ("dose", "Dose follow-up: alerts per procedure and per patient."),
    "procedures": ("procedures", "Procedure records built from received studies."),
    "config": ("config", "The configuration: what is in force, and checking a file."),
    "quarantine": (
        "quarantine",
        "Files that could not be stored, with the reason; retry after a fix.",
    ),
    "followup": (
        "followup",
        "Follow-up outcomes: enter, correct, list; the worklist of who is due.",
    ),
    "report": (
        "report",
        "Cohort reports: outcomes, new fractures, complications, dose, completeness.",
    ),
}


def load_command(name: str) -> Command:
    """The command ``name`` as click runs it, built from its module's typer app."""
    module = importlib.import_module(f"vp_log.cli.{COMMANDS[name][0]}")
    holder = typer.Typer()
    module.register(holder)
    return _without_flag_types(typer.main.get_group(holder).commands[name])


def _without_flag_types(command: Command) -> Command:
    """``command`` and its subcommands with nothing in the type column beside a flag.

    Typer prints ``<bool>`` there (``--yes  <bool>``, even ``--help  <bool>``), as if the flag
    took a value; an empty metavar prints nothing.
    """
    from typer._click import Context

    pending = [command]
    while pending:
        current = pending.pop()
        for param in [*current.params, current.get_help_option(Context(current))]:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        pending.extend(getattr(current, "commands", {}).values())
    return command


#: Typer's words for a value of the wrong type or a missing value, in the user's.
_PLAIN = {
    "Input should be a valid integer, unable to parse string as an integer": "not a whole number",
    "Input should be a valid number, unable to parse string as a number": "not a number",
}
_MISSING_VALUE = re.compile(r"Option '(-[^']+)' requires (an argument|\d+ arguments)\.")


def _plain(message: str) -> str:
    for said, plain in _PLAIN.items():
        message = message.replace(said, plain)
    return _MISSING_VALUE.sub(
        lambda m: f"{m[1]} needs {'a value' if m[2] == 'an argument' else m[2][:-9] + 'values'}",
        message,
    )


def _command_path(root: Command, args: Sequence[str]) -> str:
    """``vp-log procedures decide``: the commands named in ``args``, for a hint to their help."""
    path, current = ["vp-log"], root
    for arg in args:
        subcommands = getattr(current, "commands", {})
        if arg in subcommands:
            path.append(arg)
            current = subcommands[arg]
    return " ".join(path)


class _LazyGroup(TyperGroup):
    """The root group: lists every command from :data:`COMMANDS`, loads one when it runs.

    A usage error (an unknown option, a value of the wrong type, a missing argument) ends in
    one line naming it and the ``--help`` to read, as every other refusal does, instead of
    click's usage block and box.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        run = functools.partial(
            super().main, args, prog_name, complete_var, False, windows_expand_args, **extra
        )
        _without_flag_types(self)
        if not standalone_mode:
            return run()
        from typer._click.exceptions import ClickException, UsageError

        try:
            code = run()
        except ClickException as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # its help is printed already
                ctx = exc.ctx if isinstance(exc, UsageError) else None
                if ctx is not None:
                    hint = f" (see `{ctx.command_path} --help`)"
                elif isinstance(exc, UsageError):  # the option parser's: it names no command
                    given = sys.argv[1:] if args is None else args
                    hint = f" (see `{_command_path(self, given)} --help`)"
                else:
                    hint = ""
                print_error(_plain(exc.format_message()) + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:
            from typer import rich_utils  # rich's Markdown with it: only for this message

            rich_utils.rich_abort_error()
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        # Listed in help only: a stand-in with the command's one-line help.
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            self.add_command(load_command(name), name)
        elif name is not None and name not in self.commands:
            # typer suggests only among loaded commands: suggest among all of them
            matches = difflib.get_close_matches(name, self.list_commands(ctx))
            hint = f" Did you mean {', '.join(map(repr, matches))}?" if matches else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="vp-log",
    help="Procedure log for vertebroplasty, kyphoplasty and sacroplasty, fed by DICOM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
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
        print_error(str(error))
        raise SystemExit(2) from None

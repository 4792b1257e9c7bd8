"""The database's own errors: nothing above ``vp_log.db`` needs to know SQLAlchemy's.

:func:`translated` turns SQLAlchemy's exceptions into these, each with a message in the
user's words; the CLI prints it as one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import InterfaceError, OperationalError, StatementError


class DatabaseError(Exception):
    """A problem with the store; the message says what, in the user's words."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be used just now (down, locked, not there, read-only): try again."""


class RefusedValueError(DatabaseError):
    """A statement the database refused for its values (too long, bad text)."""


class SchemaError(DatabaseError):
    """The database has no vp_log schema yet, or an older one than this vp_log needs."""


class UnreadableRecordError(DatabaseError):
    """A stored procedure record that does not read as a record."""


def _reason(exc: StatementError) -> str:
    orig = exc.orig
    if orig is None:
        return str(exc).splitlines()[0]
    lines = str(orig).splitlines()
    return f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__


def translate(exc: BaseException) -> DatabaseError | None:
    """SQLAlchemy's error ``exc`` as a :class:`DatabaseError`, or None if it is none of those."""
    if isinstance(exc, OperationalError | InterfaceError):
        return DatabaseUnavailableError(f"cannot use the database: {_reason(exc)}")
    if isinstance(exc, StatementError):
        return RefusedValueError(f"refused by the database: {_reason(exc)}")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Run a block; SQLAlchemy's errors leave it as :class:`DatabaseError` subclasses."""
    try:
        yield
    except StatementError as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from exc

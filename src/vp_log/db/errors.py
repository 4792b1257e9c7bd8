"""The database's own errors: nothing above ``vp_log.db`` needs to know SQLAlchemy's."""

from __future__ import annotations


class DatabaseError(Exception):
    """A problem with the store; the message says what, in the user's words."""


class UnreadableRecordError(DatabaseError):
    """A stored procedure record that does not read as a record."""

"""Declarative base shared by every table (one metadata, stable constraint names)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class PortableJSON(TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL.

    The PostgreSQL dialect (about 0.02 s of imports) is loaded only when a statement is made
    for a PostgreSQL database, which has loaded it already: a command on SQLite never pays
    for it (issue 15). ``None`` is stored as JSON ``null``, as :class:`~sqlalchemy.JSON` does.
    """

    impl = JSON
    cache_ok = True
    hashable = False  # dicts and lists, as JSON's
    should_evaluate_none = True  # JSON null, not SQL NULL, as JSON(none_as_null=False)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


JSONType = PortableJSON()

#: The largest record id a database column holds (64-bit signed); a longer number is no id.
MAX_RECORD_ID = 2**63 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on SQLite (which keeps no offset) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f'Argument "value" must be timezone-aware, got {value!r}'
            raise ValueError(msg)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

"""Declarative base shared by every table (one metadata, stable constraint names)."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, LargeBinary, MetaData, TypeDecorator
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


PACK_OVER = 64
"""A JSON text longer than this (bytes) is stored zlib-compressed where that is shorter."""
_ZLIB = b"x"  # the first byte of every zlib stream (deflate, 32 KiB window): no JSON text's


def pack_json(text: bytes) -> bytes:
    """The stored form of a JSON text (UTF-8): compressed when long and that is shorter."""
    if len(text) > PACK_OVER:
        packed = zlib.compress(text)
        if len(packed) < len(text):
            return packed
    return text


def unpack_json(stored: bytes) -> bytes:
    """The JSON text of a stored :func:`pack_json` value."""
    return zlib.decompress(stored) if stored[:1] == _ZLIB else stored


class PackedJSON(TypeDecorator[Any]):
    """A JSON value stored as bytes (SQLite BLOB, PostgreSQL bytea): its text as
    ``json.dumps`` writes it, zlib-compressed when long (:func:`pack_json`). A zlib stream
    starts with ``x`` (0x78), which no JSON text does, so each value says how it is stored.

    For values no query reads in SQL (observation values, a record's events and sources): a
    dose report's irradiation event is ~1.7 KB of JSON and ~0.6 KB packed. ``None`` is
    stored as SQL NULL.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return pack_json(json.dumps(value).encode())

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(unpack_json(bytes(value)))


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

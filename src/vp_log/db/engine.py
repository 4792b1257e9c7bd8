"""One engine per process; Alembic migrations applied on first use."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from vp_log.db.errors import SchemaError, translated

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a generous busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    query = make_url(url).query
    connect_args = {k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in query}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    # A server that accepts the connection but never answers fails the command in 10 s.
    "connect_timeout": 10,
    # No statement may hold a lock (or the command) for more than 5 minutes.
    "options": "-c statement_timeout=300000",
    # A server that goes silent mid-session: the kernel gives up on it within ~1 min.
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60000,
}
"""libpq parameters for every PostgreSQL connection (a URL's own query parameters win)."""


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (idempotent)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rev: str | None = MigrationContext.configure(conn).get_current_revision()
            return rev
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest schema revision this vp_log knows."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head


#: A migration's ``revision = "..."`` or ``down_revision = ...`` line (annotated or not): the
#: value a quoted string or None; anything else (a tuple: a merge) is left to Alembic.
_REVISION_LINE = re.compile(
    r"""^(?P<name>revision|down_revision)(?:\s*:[^=\n]*)?\s*=\s*"""
    r"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<none>None))\s*(?:\#.*)?$""",
    re.MULTILINE,
)


@cache
def _head_from_files() -> str | None:
    """The head read from the migrations' ``revision``/``down_revision`` lines, not importing
    Alembic (about 0.8 s) nor parsing the files as Python; None unless each file has one of
    each and they make one plain chain (then Alembic is asked)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found: dict[str, list[str | None]] = {"revision": [], "down_revision": []}
        for match in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")):
            value = match["dq"] if match["dq"] is not None else match["sq"]
            found[match["name"]].append(value)
        if len(found["revision"]) != 1 or len(found["down_revision"]) != 1:
            return None
        (revision,), (down,) = found["revision"], found["down_revision"]
        if revision is None:
            return None
        revisions.add(revision)
        if down is not None:
            downs.add(down)
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 and downs <= revisions else None


def _up_to_date(conn: Connection) -> bool:
    """True when the database is at this vp_log's head for sure; False when in any doubt."""
    head = _head_from_files()
    if head is None or not inspect(conn).has_table("alembic_version"):
        return False
    versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(versions) == [head]


def missing_sqlite_file(url: str) -> Path | None:
    """The file a plain ``sqlite:///PATH`` URL names, when it does not exist."""
    parsed = make_url(url)
    name = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    if name.startswith("file:"):  # a URI filename (mode=ro...): SQLite reads it itself
        name = name.removeprefix("file:")
    path = Path(name)
    return None if path.exists() else path


class Database:
    """The engine and session factory for one database URL.

    ``upgrade`` creates or upgrades the schema first (commands that write). A reader
    (``upgrade=False``) writes nothing; :meth:`check_schema` says in one line when there is
    no database yet or an older schema.
    """

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if upgrade and not self._at_head():
            upgrade_database(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def check_schema(self) -> None:
        """Raise :class:`SchemaError` unless the database has this vp_log's newest schema."""
        missing = missing_sqlite_file(self.url)
        if missing is not None:
            msg = (
                f"no vp_log database at {missing} yet: `vp-log db upgrade` creates it "
                "(`vp-log listen` and `vp-log import` do too)"
            )
            raise SchemaError(msg)
        with translated(), self.engine.connect() as conn:
            if _up_to_date(conn):
                return
            from alembic.runtime.migration import MigrationContext

            current = MigrationContext.configure(conn).get_current_revision()
        head = head_revision()
        if current != head:
            msg = (
                f"the database has schema {current or '(none)'}, this vp_log needs {head}: "
                "run `vp-log db upgrade`"
            )
            raise SchemaError(msg)

    def _at_head(self) -> bool:
        """The schema is this vp_log's newest already (the usual case: no Alembic needed)."""
        if missing_sqlite_file(self.url) is not None:
            return False
        with self.engine.connect() as conn:
            return _up_to_date(conn)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

"""Maintenance: copying an SQLite database while it is in use, counting what a database holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import func, inspect, select

from vp_log.db.engine import make_engine
from vp_log.db.followup_tables import AuditEvent, FollowupEntry
from vp_log.db.tables import Instance, Procedure

COUNTED = {
    "instances": Instance,
    "procedures": Procedure,
    "followup_entries": FollowupEntry,
    "audit_log": AuditEvent,
}


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or ``None`` for any other database."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def copy_sqlite(source: Path, dest: Path) -> None:
    """Copy an SQLite database with its online backup API: a consistent copy even while the
    listener's worker writes to it (WAL included). ``dest`` must not exist yet."""
    if dest.exists():
        msg = f"{dest} exists already"
        raise FileExistsError(msg)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()


def count_rows(url: str) -> dict[str, int]:
    """How many instances, records, follow-up entries and audit lines the database holds
    (tables that do not exist yet count as 0)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                if table.__tablename__ in present
                else 0
                for name, table in COUNTED.items()
            }
    finally:
        engine.dispose()


def sqlite_free_bytes(path: Path) -> tuple[int, int]:
    """(the file's size, the bytes of its free pages): what :func:`compact_sqlite` gives back."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        page_size = int(con.execute("PRAGMA page_size").fetchone()[0])
        free_pages = int(con.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        con.close()
    return path.stat().st_size, page_size * free_pages


def compact_sqlite(path: Path) -> tuple[int, int]:
    """Rewrite an SQLite database without its free pages (``VACUUM``, then the write-ahead
    log checkpointed and emptied); the file's size before and after. Needs the database to
    itself: a writer meanwhile waits, or this raises ``sqlite3.OperationalError`` after 30 s."""
    before = path.stat().st_size
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return before, path.stat().st_size

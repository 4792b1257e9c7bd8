"""``vp-log db``: schema migrations, and the records they make stale."""

from __future__ import annotations

import typer

from vp_log.cli.common import console, counted, fail, state

app = typer.Typer(
    help="Database schema (Alembic migrations), and compacting an SQLite file.",
    no_args_is_help=True,
)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the database or upgrade it to the newest schema; rebuild older records.

    A record stored in an older shape is rebuilt from its study's stored observations (the
    header archive is not needed); ``listen`` and ``import`` do the same on their way.
    """
    from vp_log.db.engine import current_revision
    from vp_log.pipeline import Pipeline
    from vp_log.spool import Spool

    st = state(ctx)
    url = st.settings.db_url
    database = st.creating_database  # created or upgraded to the newest schema
    pipeline = Pipeline(st.settings, database, Spool(st.settings.data_dir))
    rebuilt = pipeline.assemble_stale()
    console.print(f"database at revision [bold]{current_revision(url)}[/]")
    if rebuilt:
        done = counted(len(rebuilt), "procedure record")
        console.print(f"{done} rebuilt from their observations")
    _hint_compact(url)


#: Free pages worth a ``vp-log db compact``: over this share of the file and this many bytes.
_WORTH_COMPACTING = (0.2, 50_000_000)


def _hint_compact(url: str) -> None:
    """After a migration that rewrote tables, say how much of the SQLite file is free."""
    from vp_log.db.maintenance import sqlite_free_bytes, sqlite_path

    path = sqlite_path(url)
    if path is None:
        return
    size, free = sqlite_free_bytes(path)
    share, least = _WORTH_COMPACTING
    if free >= least and free >= share * size:
        console.print(
            f"{_mb(free)} of the database's {_mb(size)} are free pages: `vp-log db compact`, "
            "with the listener stopped, gives them back to the disk"
        )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB".replace(",", " ")


@app.command("compact")
def compact(ctx: typer.Context) -> None:
    """Give the disk back what the SQLite database no longer uses (after a migration).

    Rewrites the whole file (SQLite's VACUUM): stop the listener first, and have as much
    free disk as the database takes. PostgreSQL reuses freed space itself (autovacuum).
    """
    import shutil
    import sqlite3

    from vp_log.db.maintenance import compact_sqlite, sqlite_path
    from vp_log.spool import Spool, SpoolBusyError

    st = state(ctx)
    st.require_database()
    path = sqlite_path(st.settings.db_url)
    if path is None:
        fail(
            "vp-log db compact is for SQLite stores: PostgreSQL reuses freed space itself "
            "(autovacuum); VACUUM FULL, which locks every table, is for its administrator"
        )
    spool = Spool(st.settings.data_dir)
    try:
        spool.lock()  # no listener on this data folder while the file is rewritten
    except SpoolBusyError:
        fail(
            f"a vp-log listen uses the data folder {st.settings.data_dir}: stop it first "
            "(compacting rewrites the whole database file)"
        )
    size = path.stat().st_size
    free = shutil.disk_usage(path.parent).free
    if free < size:
        fail(f"compacting needs up to {_mb(size)} free beside {path}; {_mb(free)} is free")
    try:
        before, after = compact_sqlite(path)
    except sqlite3.OperationalError as exc:
        fail(f"the database {path} is busy (another vp-log command writes to it): {exc}")
    console.print(f"{path}: {_mb(before)} -> {_mb(after)}", highlight=False)


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the database."""
    from vp_log.db.engine import current_revision

    st = state(ctx)
    st.require_database()
    console.print(current_revision(st.settings.db_url) or "(empty database)")


def register(root: typer.Typer) -> None:
    """Add ``vp-log db`` to the root command (:data:`vp_log.cli.COMMANDS` lists it)."""
    root.add_typer(app, name="db")

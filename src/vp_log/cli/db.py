"""``vp-log db``: schema migrations, and the records they make stale."""

from __future__ import annotations

import typer

from vp_log.cli.common import console, state

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


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
        console.print(f"{len(rebuilt)} procedure record(s) rebuilt from their observations")


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

"""``vp-log db``: schema migrations."""

from __future__ import annotations

import typer

from vp_log.cli.common import console, state
from vp_log.db.engine import current_revision, upgrade_database

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the database or upgrade it to the newest schema."""
    url = state(ctx).settings.db_url
    upgrade_database(url)
    console.print(f"database at revision [bold]{current_revision(url)}[/]")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the database."""
    console.print(current_revision(state(ctx).settings.db_url) or "(empty database)")

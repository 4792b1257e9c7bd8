"""The ``vp-log`` command: one typer app per noun, joined here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vp_log.cli.common import AppState

app = typer.Typer(
    name="vp-log",
    help="Procedure log for vertebroplasty, kyphoplasty and sacroplasty, fed by DICOM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
) -> None:
    state = AppState(config)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _register() -> None:
    from vp_log.cli import db, ingest, procedures

    app.add_typer(db.app, name="db")
    app.add_typer(procedures.app, name="procedures")
    ingest.register(app)
    from vp_log.cli import followup

    followup.register(app)


_register()


def main() -> None:
    app()

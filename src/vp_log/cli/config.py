"""``vp-log config show|check``: the settings in force and where each comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vp_log.cli.common import (
    AetOption,
    BindOption,
    ConfigOption,
    DataDirOption,
    PortOption,
    console,
    fail,
    print_json,
    state,
)

app = typer.Typer(help="The configuration: what is in force, and checking a file.")


def _shown(name: str, value: Any) -> Any:
    from vp_log.config import redact_url

    if name == "database_url" and value:
        return redact_url(str(value))
    if isinstance(value, Path):
        return str(value)
    return value


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    port: PortOption = None,
    aet: AetOption = None,
    bind: BindOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """The effective settings, each with its source (default, file, environment, flag).

    Give the flags you give `vp-log listen` to see what it would use.
    """
    from vp_log.config import Settings, config_path, environment_name, redact_url, setting_sources

    st = state(ctx)
    st.use_flags(config, port=port, ae_title=aet, bind_address=bind, data_dir=data_dir)
    settings = st.settings
    sources = setting_sources(st.config_file, st.flags)
    rows = {
        name: {
            "value": _shown(name, getattr(settings, name)),
            "source": sources[name],
            "environment": environment_name(name),
        }
        for name in Settings.model_fields
    }
    path = config_path(st.config_file)
    if as_json:
        print_json(
            {
                "config_file": str(path) if path else None,
                "database": redact_url(settings.db_url),
                "settings": rows,
            }
        )
        return
    console.print(f"configuration file: {path or '(none)'}", highlight=False)
    console.print(f"database in use:    {redact_url(settings.db_url)}", highlight=False)
    table = Table("setting", "value", "source", box=None, pad_edge=False)
    for name, row in rows.items():
        value = row["value"]
        text = "(none)" if value in (None, "", []) else str(value)
        if isinstance(value, bool):
            text = "true" if value else "false"
        if isinstance(value, list) and value:
            text = ", ".join(map(str, value))
        style = "" if row["source"] == "default" else "bold"
        table.add_row(name, text, row["source"], style=style)
    console.print(table)


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="TOML configuration file to check")],
) -> None:
    """Check a configuration file alone (the environment is not read)."""
    from vp_log.config import (
        Settings,
        SettingsError,
        environment_name,
        file_keys,
        load_settings,
        setting_sources,
    )

    try:
        load_settings(file, use_environment=False)
    except SettingsError as exc:
        fail(str(exc))
    keys = file_keys(file)
    set_here = [name for name in Settings.model_fields if name in keys]
    console.print(
        f"{file}: valid; sets {', '.join(set_here) if set_here else 'nothing'}"
        " (every other setting keeps its default)",
        highlight=False,
        soft_wrap=True,
    )
    env_sources = setting_sources(None, None)
    overridden = [
        environment_name(n) for n in set_here if env_sources[n].startswith("environment ")
    ]
    if overridden:
        console.print(
            f"note: {', '.join(overridden)} in the environment override this file",
            highlight=False,
            soft_wrap=True,
        )


def register(root: typer.Typer) -> None:
    """Add ``vp-log config`` to the root command (:data:`vp_log.cli.COMMANDS` lists it)."""
    root.add_typer(app, name="config", no_args_is_help=True)

"""``vp-log export``: procedures and follow-up as CSV, XLSX or JSON, pseudonymised on request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vp_log.cli.common import fail, os_error_text, state
from vp_log.cli.report import (
    Arm,
    Device,
    Indication,
    Levels,
    Operator,
    Region,
    Since,
    Type,
    Until,
)


def register(root: typer.Typer) -> None:
    root.command("export")(export)


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write into")],
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json")] = "csv",
    shape: Annotated[
        str,
        typer.Option(help="long: one row per measurement; wide: one row per procedure"),
    ] = "wide",
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise",
            help="Keyed pseudonyms for patient/accession/study; names, UIDs, free text dropped",
        ),
    ] = False,
    dates: Annotated[
        str | None,
        typer.Option(
            help="With --pseudonymise: shift (one offset per patient, the default) or "
            "relative (days from the procedure)"
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    procedure_type: Type = None,
    region: Region = None,
    level_count: Levels = None,
    operator: Operator = None,
    device: Device = None,
    indication: Indication = None,
    arm: Arm = None,
) -> None:
    """Write the data for analysis elsewhere, with a data dictionary and a manifest."""
    from vp_log.followup import ScheduleError, load_schedule
    from vp_log.report import ReportError, load_cohort, parse_filters
    from vp_log.report.export import Options, build_export, check_options, write_export
    from vp_log.report.pseudonym import Pseudonymiser, load_key

    settings = state(ctx).settings
    try:
        check_options(fmt, shape, dates, pseudonymise)
        filters = parse_filters(
            since=since,
            until=until,
            procedure_type=procedure_type,
            region=region,
            level_count=level_count,
            operator=operator,
            device=device,
            indication=indication,
            arm=arm,
        )
        options = Options(
            shape="long" if shape == "long" else "wide",
            pseudonymise=pseudonymise,
            dates="relative" if dates == "relative" else "shift",
        )
        reader = state(ctx).reader  # before the key is made: a mistyped folder is refused
        pseudo = Pseudonymiser(load_key(settings.data_dir)) if pseudonymise else None
        schedule = load_schedule(settings.followup_schedule_path)
        with reader.session() as session:
            cohort = load_cohort(session, filters)
        data = build_export(cohort, schedule, options, pseudo, filters)
        written = write_export(
            data, "xlsx" if fmt == "xlsx" else "json" if fmt == "json" else "csv", out
        )
    except (ReportError, ScheduleError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write: {os_error_text(exc)}")
    typer.echo(
        f"{len(data.rows)} rows ({len(cohort.procedures)} procedures, {shape})"
        + (", pseudonymised" if pseudonymise else "")
    )
    for path in written:
        typer.echo(f"wrote {path}")

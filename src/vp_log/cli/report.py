"""``vp-log report outcomes|fractures|complications|dose|completeness|all``: cohort reports.

Thin: parse the filters, read the cohort, print or write. The report package (and with it
scipy, lifelines, matplotlib) is imported inside the commands only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from vp_log.cli.common import console, fail, os_error_text, print_json, state

app = typer.Typer(
    help="Cohort reports: outcomes, new fractures, complications, dose, completeness.",
    no_args_is_help=True,
)

Since = Annotated[str | None, typer.Option(help="Procedure date from (YYYY-MM-DD)")]
Until = Annotated[str | None, typer.Option(help="Procedure date until (YYYY-MM-DD)")]
Type = Annotated[
    str | None,
    typer.Option("--type", help="vertebroplasty, kyphoplasty or sacroplasty"),
]
Region = Annotated[
    str | None,
    typer.Option(help="A treated level in this region: cervical, thoracic, lumbar, sacral"),
]
Levels = Annotated[int | None, typer.Option("--levels", help="Number of levels treated")]
Operator = Annotated[str | None, typer.Option(help="Performing physician (operator)")]
Device = Annotated[str | None, typer.Option(help="X-ray system: manufacturer and model")]
Indication = Annotated[
    str | None,
    typer.Option(
        help="Indication (procedures annotate): osteoporotic, myeloma, metastasis, "
        "traumatic, haemangioma, other"
    ),
]
Arm = Annotated[str | None, typer.Option("--arm", help="Trial arm (procedures annotate)")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON for scripts")]
CsvDir = Annotated[
    Path | None, typer.Option("--csv", metavar="DIR", help="Write one tidy CSV per table")
]
HtmlFile = Annotated[
    Path | None,
    typer.Option("--html", metavar="FILE", help="Write one self-contained HTML page"),
]
PlotsDir = Annotated[
    Path | None, typer.Option("--plots", metavar="DIR", help="Write every figure as PNG and SVG")
]
AsOf = Annotated[
    str | None, typer.Option("--as-of", help="Date that decides what is due (default: today)")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="report")


def _run(
    ctx: typer.Context,
    names: list[str],
    *,
    since: str | None,
    until: str | None,
    procedure_type: str | None,
    region: str | None,
    level_count: int | None,
    operator: str | None,
    device: str | None,
    indication: str | None,
    arm: str | None,
    as_json: bool,
    csv_dir: Path | None,
    html_file: Path | None,
    plots_dir: Path | None,
    as_of: str | None = None,
) -> None:
    from vp_log.alerts import alert_levels
    from vp_log.followup import ScheduleError, load_schedule
    from vp_log.report import ReportError, build_document, parse_filters
    from vp_log.report.document import render_rich, write_csv, write_html
    from vp_log.report.reports import Context
    from vp_log.report.settings import load_report_settings

    settings = state(ctx).settings
    try:
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
        when = dt.date.today() if as_of is None else _as_of(as_of)
        context = Context(
            schedule=load_schedule(settings.followup_schedule_path),
            settings=load_report_settings(settings.report_settings_path),
            as_of=when,
            alert_levels=alert_levels(settings),
        )
        with state(ctx).reader.session() as session:
            document = build_document(session, names, filters, context)
    except (ReportError, ScheduleError) as exc:
        fail(str(exc))
    written: list[Path] = []
    if plots_dir is not None:
        document.render_figures(svg=True)  # once, both formats (the page then uses the PNGs)
    try:
        if csv_dir is not None:
            written += write_csv(document, csv_dir)
        if html_file is not None:
            write_html(document, html_file)
            written.append(html_file)
        if plots_dir is not None:
            from vp_log.report.plots import write_plots

            written += write_plots(document.figures, plots_dir)
    except OSError as exc:
        fail(f"cannot write: {os_error_text(exc)}")
    if as_json:
        print_json(document.to_json())
    else:
        console.print(render_rich(document))
    for path in written:
        typer.echo(f"wrote {path}", err=True)


def _as_of(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--as-of {value!r} is not a date (allowed: YYYY-MM-DD)")


def _command(name: str, names: list[str], summary: str) -> None:
    def command(
        ctx: typer.Context,
        since: Since = None,
        until: Until = None,
        procedure_type: Type = None,
        region: Region = None,
        level_count: Levels = None,
        operator: Operator = None,
        device: Device = None,
        indication: Indication = None,
        arm: Arm = None,
        as_json: AsJson = False,
        csv_dir: CsvDir = None,
        html_file: HtmlFile = None,
        plots_dir: PlotsDir = None,
        as_of: AsOf = None,
    ) -> None:
        _run(
            ctx,
            names,
            since=since,
            until=until,
            procedure_type=procedure_type,
            region=region,
            level_count=level_count,
            operator=operator,
            device=device,
            indication=indication,
            arm=arm,
            as_json=as_json,
            csv_dir=csv_dir,
            html_file=html_file,
            plots_dir=plots_dir,
            as_of=as_of,
        )

    command.__doc__ = summary
    app.command(name)(command)


_command(
    "outcomes",
    ["outcomes"],
    "Pain, ODI, RMDQ per time point; paired change with 95 % CI; responders; analgesics.",
)
_command(
    "fractures",
    ["fractures"],
    "New vertebral fractures: adjacent, two levels away, further, treated; Kaplan-Meier.",
)
_command(
    "complications",
    ["complications"],
    "Complications by type and SIR grade per procedure and level, against thresholds.",
)
_command(
    "dose",
    ["dose"],
    "Fluoroscopy time, DAP, Ka,r: median [IQR] and P75 against reference levels.",
)
_command(
    "completeness",
    ["completeness"],
    "Per time point: due, done in/out of window, missed, closed; records to review.",
)
_command(
    "all",
    ["outcomes", "fractures", "complications", "dose", "completeness"],
    "Every report over one cohort (with --html: one page with every table and figure).",
)

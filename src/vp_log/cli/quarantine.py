"""``vp-log quarantine list|retry``: files the worker could not store, and trying them again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.padding import Padding

from vp_log.cli.common import (
    TABLE_LIMIT,
    console,
    count_text,
    fail,
    literal,
    print_page_footer,
    state,
    stream_json,
)

app = typer.Typer(help="Files that could not be stored, with the reason; retry after a fix.")


@app.command("list")
def list_files(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"Only the N newest files (default: {TABLE_LIMIT} shown, all with --json)",
        ),
    ] = None,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip the N newest files first (next pages)")
    ] = 0,
) -> None:
    """The quarantined files, newest first, each with its reason."""
    from vp_log.quarantine import count_quarantined, iter_quarantined
    from vp_log.spool import Spool

    spool = Spool(state(ctx).require_data_dir())
    if as_json:
        files = iter_quarantined(spool.quarantine, limit=limit, offset=offset)
        stream_json(
            {
                "file": q.name,
                "path": str(q.path),
                "quarantined_at": q.quarantined_at.isoformat(timespec="seconds"),
                "size": q.size,
                "reason": q.reason,
                "kind": q.kind,
            }
            for q in files
        )
        return
    total = count_quarantined(spool.quarantine)
    if not total:
        console.print(f"quarantine is empty ({literal(spool.quarantine)})", highlight=False)
        return
    # One file per block: the whole name (it is what `retry` takes), then the reason.
    shown = 0
    for q in iter_quarantined(
        spool.quarantine, limit=TABLE_LIMIT if limit is None else limit, offset=offset
    ):
        when = q.quarantined_at.strftime("%Y-%m-%d %H:%M:%S")
        console.print(f"[bold]{literal(q.name)}[/]  (quarantined {when} UTC)", highlight=False)
        console.print(Padding(literal(q.reason), (0, 0, 0, 4)), highlight=False)
        shown += 1
    print_page_footer(shown, total, offset)
    console.print(
        f"{count_text(total)} files in {literal(spool.quarantine)}; once the cause is fixed: "
        "vp-log quarantine retry FILE (or --all)",
        highlight=False,
    )


@app.command("retry")
def retry_files(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None, typer.Argument(help="Quarantined file names (see quarantine list)")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Retry every quarantined file")] = False,
) -> None:
    """Move quarantined files back into the spool; the listener's worker processes them again."""
    from vp_log.quarantine import QuarantineError, find_quarantined, list_quarantined, retry
    from vp_log.spool import Spool
    from vp_log.status import listener_running

    if every == bool(files):
        fail("give the file names to retry, or --all (not both)")
    spool = Spool(state(ctx).require_data_dir())
    try:
        paths = (
            [q.path for q in list_quarantined(spool.quarantine)]
            if every
            else [find_quarantined(spool.quarantine, name) for name in files or []]
        )
    except QuarantineError as exc:
        fail(str(exc))
    for path in paths:
        dest = retry(spool, path)
        console.print(f"{literal(path.name)} -> spool/{literal(dest.name)}", highlight=False)
    if listener_running(spool.data_dir):
        after = "the running listener's worker processes them now (vp-log status shows it)"
    else:
        after = "no listener is running: `vp-log listen` processes them when it starts"
    console.print(f"{len(paths)} files moved back to the spool; {after}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``vp-log quarantine`` to the root command (:data:`vp_log.cli.COMMANDS` lists it)."""
    root.add_typer(app, name="quarantine", no_args_is_help=True)

"""``vp-log listen``, ``vp-log import``, ``vp-log reextract``: getting instances in."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vp_log.cli.common import (
    AetOption,
    BindOption,
    ConfigOption,
    DataDirOption,
    PortOption,
    console,
    counted,
    fail,
    literal,
    print_json,
    setup_logging,
    state,
)

logger = logging.getLogger(__name__)


class _ListenCommand(typer.core.TyperCommand):
    """``listen``, whose epilog (every setting) is written when its help is shown, not before."""

    def get_help(self, ctx: typer.Context) -> str:  # type: ignore[override]  # typer makes it
        self.epilog = _listen_epilog()
        return super().get_help(ctx)


def register(app: typer.Typer) -> None:
    app.command("listen", cls=_ListenCommand)(listen)
    app.command("import")(import_files)
    app.command("reextract")(reextract)


def _listen_epilog() -> str:
    """Every other setting, with the variable that sets it (typer rewraps paragraphs)."""
    from vp_log.config import CONFIG_ENV, LISTEN_FLAGS, Settings, environment_name

    others = [environment_name(name) for name in Settings.model_fields if name not in LISTEN_FLAGS]
    return (
        "Flags beat VP_LOG_* environment variables, which beat the configuration file "
        f"(--config or {CONFIG_ENV}), which beats the defaults; the flags above are also "
        f"{', '.join(environment_name(n) for n in LISTEN_FLAGS)}. "
        "Settings taken only from the environment or the file (the file's key is the name "
        f"without VP_LOG_, in lower case): {', '.join(others)}. "
        "See config/vp_log.toml; `vp-log config show` prints what is in force and where "
        "each value comes from."
    )


def listen(
    ctx: typer.Context,
    port: PortOption = None,
    aet: AetOption = None,
    bind: BindOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the DICOM listener (C-ECHO, C-STORE) until SIGTERM or Ctrl-C."""
    from vp_log.listener import make_listener

    st = state(ctx)
    st.use_flags(config, port=port, ae_title=aet, bind_address=bind, data_dir=data_dir)
    setup_logging(st.settings.log_level)
    make_listener(st.settings, st.creating_database).serve_forever()


def _expand(paths: list[Path]) -> Iterator[Path]:
    """Files to import: loose files, folders (recursively) and DICOMDIR indexes."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.fileset import FileSet

    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.upper() != "DICOMDIR":  # its files are in the walk already
                        yield Path(root) / name
        elif path.name.upper() == "DICOMDIR":
            try:
                fileset = FileSet(pydicom.dcmread(path))
            except InvalidDicomError:
                fail(f"{path}: not a readable DICOMDIR: not a DICOM file")
            except (OSError, ValueError) as exc:
                fail(f"{path}: not a readable DICOMDIR: {exc}")
            for instance in fileset:
                yield Path(instance.path)
        elif path.exists():
            yield path
        else:
            fail(f"{path}: no such file or folder")


def import_files(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or DICOMDIRs")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Feed DICOM files through the same pipeline as the listener."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vp_log.limits import limit_memory
    from vp_log.pipeline import Outcome, Pipeline, Result
    from vp_log.spool import Spool

    st = state(ctx)
    setup_logging("WARNING")
    files = list(_expand(paths))
    pipeline = Pipeline(st.settings, st.creating_database, Spool(st.settings.data_dir))
    limit_memory(st.settings.max_memory_mb)  # runaway growth rejects one file, not the import
    results: list[Result] = []
    batch = 100
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=len(files))
        for start in range(0, len(files), batch):
            chunk = files[start : start + batch]
            done = pipeline.process(chunk, received_from="import", from_spool=False)
            results.extend(done)
            # Records of the studies whose files are past; this batch's may go on in the next.
            pipeline.assemble_held(final=True, keep={r.study_instance_uid or "" for r in done})
            progress.advance(task, len(chunk))
        pipeline.assemble_stale(final=True)  # the last batch's, and any left behind before
    counts = Counter(r.outcome.value for r in results)
    rejected = [r for r in results if r.outcome is Outcome.REJECTED]
    flagged = [r for r in results if r.flags]
    studies = sorted({r.study_instance_uid for r in results if r.study_instance_uid})
    if as_json:
        print_json(
            {
                "files": len(files),
                "new": counts["new"],
                "duplicate": counts["duplicate"],
                "rejected": [{"path": str(r.path), "reason": r.reason} for r in rejected],
                "flagged": [{"path": str(r.path), "flags": list(r.flags)} for r in flagged],
                "studies": studies,
            }
        )
        return
    console.print(
        f"{counted(len(files), 'file')}: [green]{counts['new']} new[/], "
        f"{counts['duplicate']} duplicate, [red]{counts['rejected']} rejected[/] "
        f"({counted(len(studies), 'study', 'studies')})"
    )
    if flagged:
        console.print(
            f"{len(flagged)} stored with flags "
            f"({literal(', '.join(sorted({f for r in flagged for f in r.flags})))})",
            highlight=False,
        )
    if rejected:
        table = Table("rejected file", "reason", title="Rejected")
        for r in rejected:
            table.add_row(literal(r.path), literal(r.reason or ""))
        console.print(table)


def reextract(ctx: typer.Context) -> None:
    """Rebuild every observation and record from the header archive."""
    from vp_log.pipeline import Pipeline
    from vp_log.spool import Spool

    st = state(ctx)
    pipeline = Pipeline(st.settings, st.database, Spool(st.settings.data_dir))
    count = pipeline.reextract()
    console.print(f"re-extracted {count} instances")

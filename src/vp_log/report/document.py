"""A report document (one or more sections with their filters and counts) and its outputs:
rich tables for people, JSON, one tidy CSV per table, a self-contained HTML page, figures."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from vp_log.report.cohort import Cohort, Filters
from vp_log.report.tables import Section, Table
from vp_log.text import printable


@dataclass
class Document:
    sections: list[Section]
    filters: Filters
    cohort_size: int
    total_procedures: int
    data_as_of: dt.datetime | None
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    figures: dict[str, tuple[bytes, str | None]] = field(default_factory=dict)
    """Plot name → (PNG, SVG or None when only the PNG was asked for), filled by
    :meth:`render_figures`."""

    @classmethod
    def of(cls, sections: list[Section], cohort: Cohort, filters: Filters) -> Document:
        return cls(
            sections=sections,
            filters=filters,
            cohort_size=len(cohort.procedures),
            total_procedures=cohort.total_procedures,
            data_as_of=cohort.data_as_of,
        )

    def header_shown(self) -> dict[str, Any]:
        """The header for people: times to the minute, in UTC."""
        shown = self.header()
        shown["data_as_of"] = f"{self.data_as_of:%Y-%m-%d %H:%M} UTC" if self.data_as_of else None
        shown["generated_at"] = f"{self.generated_at:%Y-%m-%d %H:%M} UTC"
        return shown

    def header(self) -> dict[str, Any]:
        return {
            "filters": dict(self.filters.describe()),
            "procedures": self.cohort_size,
            "procedures_in_store": self.total_procedures,
            "data_as_of": self.data_as_of.isoformat() if self.data_as_of else None,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
        }

    def empty_message(self) -> str | None:
        """One line for an empty cohort (the tables then show n = 0)."""
        if self.total_procedures == 0:
            return "no procedures in the store yet: every figure below is n = 0"
        if self.cohort_size == 0:
            shown = " ".join(f"{k} {v}" for k, v in self.filters.describe())
            return f"no procedure matches the filters ({shown}): every figure below is n = 0"
        return None

    def to_json(self) -> dict[str, Any]:
        return {**self.header(), "reports": {s.name: s.to_json() for s in self.sections}}

    def render_figures(self, *, svg: bool = False) -> None:
        """Draw every figure not drawn yet: as PNG, and with ``svg`` as SVG too (the page
        embeds PNGs; writing the SVG of eight figures would double their time)."""
        from vp_log.report import plots

        for section in self.sections:
            for plot in section.plots:
                drawn = self.figures.get(plot.name)
                if drawn is None or (svg and drawn[1] is None):
                    self.figures[plot.name] = plots.render(plot, svg=svg)


# --- people ----------------------------------------------------------------------------------


def rich_table(table: Table) -> RichTable:
    views = table.views()
    shown = RichTable(title=escape(printable(table.title)), title_justify="left", show_edge=False)
    for view in views:
        shown.add_column(escape(printable(view.title)), justify="right" if view.numeric else "left")
    previous = None
    for row in table.shown_rows():
        group = row.get(table.group_by) if table.group_by else None
        if table.group_by and previous is not None and group != previous:
            shown.add_section()
        previous = group
        shown.add_row(*(Text(printable(view.show(row))) for view in views))
    if not table.rows:
        shown.add_row(*(Text("n = 0" if i == 0 else "") for i in range(len(views))))
    return shown


def render_rich(document: Document) -> RenderableType:
    parts: list[RenderableType] = []
    filters = printable(", ".join(f"{k} {v}" for k, v in document.filters.describe()) or "none")
    parts.append(
        Text(
            f"{document.cohort_size} of {document.total_procedures} procedures "
            f"(filters: {filters}); data as of "
            f"{document.data_as_of:%Y-%m-%d %H:%M} UTC"
            if document.data_as_of
            else f"{document.cohort_size} procedures (filters: {filters}); no data yet"
        )
    )
    if message := document.empty_message():
        parts.append(Text(printable(message), style="yellow"))
    for section in document.sections:
        parts.append(Text(f"\n{printable(section.title)}", style="bold underline"))
        for note in section.notes:
            parts.append(Text(printable(note), style="dim"))
        for table in section.tables:
            parts.append(Text(""))
            parts.append(rich_table(table))
            for note in [*table.notes, table.shown_note]:
                if note:
                    parts.append(Text(printable(note), style="dim"))
    return Group(*parts)


# --- files -----------------------------------------------------------------------------------


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def write_csv(document: Document, out_dir: Path) -> list[Path]:
    """One tidy CSV per table, named ``<table>.csv``; empty cells are unknown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for section in document.sections:
        for table in section.tables:
            path = out_dir / f"{table.name}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow([c.key for c in table.columns])
                for row in table.rows:
                    writer.writerow([_csv_value(row.get(c.key)) for c in table.columns])
            written.append(path)
    return written


def write_json(document: Document, path: Path) -> None:
    path.write_text(
        json.dumps(document.to_json(), indent=2, ensure_ascii=False, default=str) + "\n",
        encoding="utf-8",
    )


def render_html(document: Document) -> str:
    """One self-contained page: styles inline, figures as data URIs, nothing fetched."""
    import jinja2

    document.render_figures()
    template_text = (
        resources.files("vp_log.report")
        .joinpath("templates", "report.html.j2")
        .read_text(encoding="utf-8")
    )
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(template_text)
    figures = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, (png, _svg) in document.figures.items()
    }
    return template.render(
        header=document.header_shown(),
        empty=document.empty_message(),
        sections=document.sections,
        figures=figures,
    )


def write_html(document: Document, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(document), encoding="utf-8")

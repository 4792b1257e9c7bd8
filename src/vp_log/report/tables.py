"""What a report is made of: tidy tables (for JSON/CSV) with a view for people, and sections.

A :class:`Table` holds rows of plain values (``None`` is unknown); its columns say how to
write them. Its ``view`` says how rich and HTML show it to a person (``3.2 ± 1.1``), so the
tidy data and the display never drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["text", "int", "num", "p", "rate"]
Row = dict[str, Any]

DASH = "–"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: Kind = "text"
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class View:
    """One displayed column: a title and how to show a row in it."""

    title: str
    show: Callable[[Row], str]
    numeric: bool = True


@dataclass
class Table:
    name: str
    """File stem of its CSV and key in JSON (``outcomes_summary``)."""
    title: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    view: list[View] | None = None
    group_by: str | None = None
    """Key whose change starts a new block in the displayed table (a blank line between)."""
    shown_if: Callable[[Row], bool] | None = None
    """Rows people see (rich, HTML); JSON and CSV always hold every row."""
    shown_note: str = ""

    def shown_rows(self) -> list[Row]:
        if self.shown_if is None:
            return self.rows
        return [row for row in self.rows if self.shown_if(row)]

    def views(self) -> list[View]:
        if self.view is not None:
            return self.view
        return [View(c.title, _plain(c), numeric=c.kind != "text") for c in self.columns]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": [
                {"key": c.key, "title": c.title, "unit": c.unit, "description": c.description}
                for c in self.columns
            ],
            "rows": [{c.key: _jsonable(row.get(c.key)) for c in self.columns} for row in self.rows],
            "notes": self.notes,
        }


@dataclass
class Plot:
    """Data for one figure; ``kind`` names the drawing function in ``report.plots``."""

    name: str
    title: str
    kind: str
    data: dict[str, Any]


@dataclass
class Section:
    """One report: its tables, figures and notes."""

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "counts": self.counts,
            "notes": self.notes,
            "tables": {t.name: t.to_json() for t in self.tables},
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- formatting for people -------------------------------------------------------------------


def num(value: Any, decimals: int = 1) -> str:
    if value is None:
        return DASH
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    shown = f"{float(value):.{decimals}f}"
    if float(shown) == 0:
        shown = shown.lstrip("-")  # no "−0.0"
    return shown.replace("-", "−")


def p_value(value: Any) -> str:
    if value is None:
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def percent(value: Any, decimals: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{decimals}f} %"


def _plain(column: Column) -> Callable[[Row], str]:
    def show(row: Row) -> str:
        value = row.get(column.key)
        if column.kind == "p":
            return p_value(value)
        if column.kind == "rate":
            return percent(value)
        if column.kind in ("int", "num"):
            return num(value)
        return DASH if value is None or value == "" else str(value)

    return show


def mean_sd(mean: str = "mean", sd: str = "sd", decimals: int = 1) -> Callable[[Row], str]:
    def show(row: Row) -> str:
        if row.get(mean) is None:
            return DASH
        if row.get(sd) is None:
            return num(row[mean], decimals)
        return f"{num(row[mean], decimals)} ± {num(row[sd], decimals)}"

    return show


def median_iqr(
    median: str = "median", q1: str = "q1", q3: str = "q3", decimals: int = 1
) -> Callable[[Row], str]:
    def show(row: Row) -> str:
        if row.get(median) is None:
            return DASH
        return f"{num(row[median], decimals)} [{num(row[q1], decimals)}–{num(row[q3], decimals)}]"

    return show


def value_ci(value: str, low: str, high: str, decimals: int = 1) -> Callable[[Row], str]:
    def show(row: Row) -> str:
        if row.get(value) is None:
            return DASH
        if row.get(low) is None:
            return num(row[value], decimals)
        return (
            f"{num(row[value], decimals)} [{num(row[low], decimals)}, {num(row[high], decimals)}]"
        )

    return show


def rate_ci(rate: str = "rate", low: str = "low", high: str = "high") -> Callable[[Row], str]:
    def show(row: Row) -> str:
        if row.get(rate) is None:
            return DASH
        return f"{row[rate] * 100:.1f} % [{row[low] * 100:.1f}–{row[high] * 100:.1f}]"

    return show


def k_of_n(k: str = "k", n: str = "n") -> Callable[[Row], str]:
    def show(row: Row) -> str:
        return f"{row.get(k, 0)}/{row.get(n, 0)}"

    return show


def text(key: str) -> Callable[[Row], str]:
    def show(row: Row) -> str:
        value = row.get(key)
        return DASH if value is None or value == "" else str(value)

    return show

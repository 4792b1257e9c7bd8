"""Figures (matplotlib, headless): each :class:`Plot` kind has one drawing function.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through
pyplot, so nothing needs a display and nothing global is left behind. An empty data set draws
a figure that says so (n = 0) instead of failing.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vp_log.report.tables import Plot

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
TYPE_COLOURS = {"vertebroplasty": COLOURS[0], "kyphoplasty": COLOURS[1], "sacroplasty": COLOURS[2]}


def _colour(name: str, index: int) -> str:
    return TYPE_COLOURS.get(name, COLOURS[index % len(COLOURS)])


def _empty(ax: Axes, message: str = "no data (n = 0)") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def _over_time(fig: Figure, data: dict[str, Any]) -> None:
    """Time points evenly spaced (only those with data), each type a little to the side."""
    ax = fig.subplots()
    series = sorted(data["series"].items())
    names: list[str] = []
    for _kind, points in series:
        for p in points:
            if p["mean"] is not None and p["timepoint"] not in names:
                names.append(p["timepoint"])
    if not names:
        _empty(ax)
        return
    order = [p["timepoint"] for _kind, points in series for p in points]
    names.sort(key=order.index)
    width = 0.12
    for i, (kind, points) in enumerate(series):
        known = [p for p in points if p["mean"] is not None]
        if not known:
            continue
        shift = (i - (len(series) - 1) / 2) * width
        xs = [names.index(p["timepoint"]) + shift for p in known]
        ys = [p["mean"] for p in known]
        low = [p["mean"] - p["low"] if p["low"] is not None else 0.0 for p in known]
        high = [p["high"] - p["mean"] if p["high"] is not None else 0.0 for p in known]
        n = max(p["n"] for p in known)
        ax.errorbar(
            xs,
            ys,
            yerr=[low, high],
            marker="o",
            capsize=3,
            color=_colour(kind, i),
            label=f"{kind} (n ≤ {n})",
        )
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("time point")
    unit = f" ({data['unit']})" if data["unit"] == "%" else ""
    ax.set_ylabel(f"{data['label']}{unit}")
    ax.set_ylim(data["low"], data["high"])
    ax.grid(alpha=0.3)
    ax.legend()


def _cement_scatter(fig: Figure, data: dict[str, Any]) -> None:
    ax = fig.subplots()
    points = data["points"]
    if not points:
        _empty(ax, "no procedure with cement per level and paired pain (n = 0)")
        return
    for i, kind in enumerate(sorted({p["procedure_type"] for p in points})):
        mine = [p for p in points if p["procedure_type"] == kind]
        ax.scatter(
            [p["cement_per_level_ml"] for p in mine],
            [p["pain_change"] for p in mine],
            color=_colour(kind, i),
            alpha=0.6,
            label=f"{kind} (n = {len(mine)})",
        )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("cement per treated level (mL)")
    ax.set_ylabel(f"pain change at {data['timepoint']} (points)")
    ax.grid(alpha=0.3)
    ax.legend()


def _kaplan_meier(fig: Figure, data: dict[str, Any]) -> None:
    ax, table_ax = fig.subplots(2, 1, height_ratios=[6, 1], sharex=True)
    steps = data["steps"]
    if not steps:
        _empty(ax)
        table_ax.set_axis_off()
        return
    times = [s["day"] for s in steps]
    survival = [s["survival"] for s in steps]
    ax.step(times, survival, where="post", color=COLOURS[0], label="new-fracture-free")
    low = [s["ci_low"] if s["ci_low"] is not None else s["survival"] for s in steps]
    high = [s["ci_high"] if s["ci_high"] is not None else s["survival"] for s in steps]
    ax.fill_between(times, low, high, step="post", alpha=0.2, color=COLOURS[0], label="95 % CI")
    censored = [s for s in steps if s["censored"] and s["day"] > 0]
    ax.plot(
        [s["day"] for s in censored],
        [s["survival"] for s in censored],
        "|",
        color=COLOURS[0],
        markersize=8,
        label="censored",
    )
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability free of a new fracture")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    table_ax.set_axis_off()
    at_risk = data["at_risk"]
    for row in at_risk:
        table_ax.text(row["day"], 0.5, str(row["at_risk"]), ha="center", va="center")
    table_ax.text(
        0, 1.0, "at risk", ha="left", va="bottom", fontsize=9, transform=table_ax.transAxes
    )
    ax.set_xticks([row["day"] for row in at_risk])
    ax.tick_params(labelbottom=True)
    ax.set_xlabel("days after the procedure")


def _dose(fig: Figure, data: dict[str, Any]) -> None:
    groups = [g for g in data["groups"] if g["values"]]
    ax = fig.subplots()
    if not groups:
        _empty(ax)
        return
    ax.boxplot(
        [g["values"] for g in groups],
        tick_labels=[f"{g['name']}\n(n = {len(g['values'])})" for g in groups],
        showfliers=True,
    )
    labelled: set[str] = set()
    for i, g in enumerate(groups, start=1):
        if g["reference"] is not None:
            label = "reference level"
            ax.hlines(
                g["reference"],
                i - 0.4,
                i + 0.4,
                colors="#d62728",
                linestyles="--",
                label="_nolegend_" if label in labelled else label,
            )
            labelled.add(label)
        if g["p75"] is not None:
            label = "75th percentile"
            ax.plot(
                [i],
                [g["p75"]],
                marker="D",
                color="#ff7f0e",
                label="_nolegend_" if label in labelled else label,
            )
            labelled.add(label)
    ax.set_ylabel(f"{data['label']} ({data['unit']})")
    ax.grid(alpha=0.3, axis="y")
    if labelled:
        ax.legend()


def _completeness(fig: Figure, data: dict[str, Any]) -> None:
    ax = fig.subplots()
    rows = [r for r in data["rows"] if r["due"]]
    if not rows:
        _empty(ax, "no time point due yet (n = 0)")
        return
    parts = [
        ("done_in_window", "done in window", "#2ca02c"),
        ("done_out_of_window", "done out of window", "#bcbd22"),
        ("pending", "open (window not closed)", "#aec7e8"),
        ("missed", "missed", "#d62728"),
        ("closed", "closed (lost/declined/died)", "#7f7f7f"),
    ]
    names = [r["timepoint"] for r in rows]
    bottom = [0.0] * len(rows)
    for key, label, colour in parts:
        values = [r[key] / r["due"] * 100 for r in rows]
        ax.bar(names, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, r in enumerate(rows):
        ax.text(i, 101, f"n = {r['due']}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of procedures due")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)


DRAW: dict[str, Callable[[Figure, dict[str, Any]], None]] = {
    "over_time": _over_time,
    "cement_scatter": _cement_scatter,
    "kaplan_meier": _kaplan_meier,
    "dose": _dose,
    "completeness": _completeness,
}


def draw(plot: Plot) -> Figure:
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    DRAW[plot.kind](fig, plot.data)
    fig.suptitle(plot.title)
    return fig


def render(plot: Plot, *, svg: bool = True) -> tuple[bytes, str | None]:
    """The figure as PNG bytes and, with ``svg``, as SVG text (else None)."""
    fig = draw(plot)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    if not svg:
        return png.getvalue(), None
    text = io.StringIO()
    fig.savefig(text, format="svg", metadata={"Date": None})
    return png.getvalue(), text.getvalue()


def write_plots(rendered: dict[str, tuple[bytes, str | None]], out_dir: Path) -> list[Path]:
    """Write every figure as ``<name>.png`` and ``<name>.svg``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (png, svg) in rendered.items():
        if svg is None:
            msg = f"figure {name} was drawn without its SVG (render_figures(svg=True))"
            raise ValueError(msg)
        (out_dir / f"{name}.png").write_bytes(png)
        (out_dir / f"{name}.svg").write_text(svg, encoding="utf-8")
        written += [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    return written

"""``report outcomes``: scores per instrument and time point, paired change, responders,
analgesic shifts.

Per time point a procedure contributes one value per instrument: from its entries assigned to
that time point, the one in window nearest the target day (then the latest). Entries without a
time point (outside every window, not assigned) are not in the per-time-point figures; the
notes count them. A paired figure uses only the procedures with both values and says how many
were left out and why.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vp_log.followup import Schedule, TimePoint
from vp_log.report import stats
from vp_log.report.cohort import ANALGESIC_ORDER, INSTRUMENTS, Cohort, EntryFacts, Instrument
from vp_log.report.settings import ReportSettings
from vp_log.report.tables import (
    Column,
    Plot,
    Section,
    Table,
    View,
    k_of_n,
    mean_sd,
    median_iqr,
    p_value,
    rate_ci,
    text,
    value_ci,
)

#: Instruments drawn over time.
PLOTTED = ("pain", "odi_percent")


def _rank(entry: EntryFacts, tp: TimePoint) -> tuple[bool, int, int]:
    """Which of several entries stands for a time point: in window, nearest target, latest."""
    return (entry.out_of_window, abs(entry.days_after - tp.target), -entry.date.toordinal())


def values_by_timepoint(
    cohort: Cohort, schedule: Schedule, keys: Sequence[str]
) -> dict[tuple[str, str], dict[int, Any]]:
    """(key, time point) → procedure id → its value (known values only), in one pass.

    ``key`` is an instrument column or ``analgesic``. Of several entries holding a time point
    with a value, the one in window nearest the target day counts (then the latest).
    """
    timepoints = {tp.name: tp for tp in schedule.timepoints}
    found: dict[tuple[str, str], dict[int, Any]] = {
        (key, tp.name): {} for key in keys for tp in schedule.timepoints
    }
    for procedure in cohort.procedures:
        pid = procedure.id
        held: dict[str, list[EntryFacts]] = {}
        for entry in cohort.entries_of(pid):
            if entry.timepoint in timepoints:
                held.setdefault(entry.timepoint, []).append(entry)
        for name, entries in held.items():
            if len(entries) > 1:  # stable sort: the first of equal ranks wins
                entries.sort(key=functools.partial(_rank, tp=timepoints[name]))
            for key in keys:
                for entry in entries:
                    value = entry.analgesic if key == "analgesic" else entry.scores.get(key)
                    if value is not None:
                        found[(key, name)][pid] = value
                        break
    return found


@dataclass(frozen=True)
class Responder:
    name: str
    instrument: str
    description: str
    paired: bool

    def responds(self, before: float | None, after: float) -> bool | None:
        """True/False, or None when it cannot be judged (a relative drop from baseline 0)."""
        raise NotImplementedError


@dataclass(frozen=True)
class DropResponder(Responder):
    points: float = 0.0
    percent: float | None = None

    def responds(self, before: float | None, after: float) -> bool | None:
        if before is None:
            return None
        drop = before - after
        if self.percent is not None:
            if before <= 0:
                return None
            return drop / before * 100 >= self.percent - 1e-9
        return drop >= self.points - 1e-9


@dataclass(frozen=True)
class BelowResponder(Responder):
    below: float = 0.0

    def responds(self, before: float | None, after: float) -> bool | None:
        return after < self.below


def responders(settings: ReportSettings) -> list[Responder]:
    r = settings.responders
    return [
        DropResponder(
            f"pain drop ≥ {r.pain_drop_points:g} points",
            "pain",
            f"pain NRS at the time point at least {r.pain_drop_points:g} points below baseline",
            True,
            points=r.pain_drop_points,
        ),
        DropResponder(
            f"pain drop ≥ {r.pain_drop_percent:g} %",
            "pain",
            f"pain NRS at least {r.pain_drop_percent:g} % below baseline "
            "(a baseline of 0 cannot be judged)",
            True,
            percent=r.pain_drop_percent,
        ),
        DropResponder(
            f"ODI drop ≥ {r.odi_drop_points:g} points",
            "odi_percent",
            f"Oswestry at least {r.odi_drop_points:g} % points below baseline",
            True,
            points=r.odi_drop_points,
        ),
        DropResponder(
            f"RMDQ drop ≥ {r.rmdq_drop_points:g} points",
            "rmdq",
            f"Roland-Morris at least {r.rmdq_drop_points:g} points below baseline",
            True,
            points=r.rmdq_drop_points,
        ),
        BelowResponder(
            f"pain < {r.pain_below:g}",
            "pain",
            f"pain NRS below {r.pain_below:g} at the time point (baseline not needed)",
            False,
            below=r.pain_below,
        ),
    ]


def _instrument(column: str) -> Instrument:
    return next(i for i in INSTRUMENTS if i.column == column)


def build_outcomes(cohort: Cohort, schedule: Schedule, settings: ReportSettings) -> Section:
    baseline = schedule.baseline
    later = [tp for tp in schedule.timepoints if not tp.baseline]
    at = values_by_timepoint(cohort, schedule, [*(i.column for i in INSTRUMENTS), "analgesic"])

    summary = Table(
        "outcomes_summary",
        "Scores per time point",
        [
            Column("instrument", "Instrument"),
            Column("timepoint", "Time point"),
            Column("n", "n", "int"),
            Column("mean", "Mean", "num"),
            Column("sd", "SD", "num"),
            Column("median", "Median", "num"),
            Column("q1", "Q1", "num"),
            Column("q3", "Q3", "num"),
        ],
        view=[
            View("Instrument", text("instrument"), numeric=False),
            View("Time point", text("timepoint"), numeric=False),
            View("n", text("n")),
            View("Mean ± SD", mean_sd()),
            View("Median [IQR]", median_iqr()),
        ],
        group_by="instrument",
    )
    paired = Table(
        "outcomes_change",
        "Paired change from baseline (after − before; 95 % t CI; Wilcoxon signed-rank p)",
        [
            Column("instrument", "Instrument"),
            Column("timepoint", "Time point"),
            Column("n", "n paired", "int"),
            Column("no_baseline", "left out: no baseline", "int"),
            Column("no_followup", "left out: no value at time point", "int"),
            Column("mean_baseline", "Mean at baseline", "num"),
            Column("mean_after", "Mean at time point", "num"),
            Column("mean_change", "Mean change", "num"),
            Column("sd_change", "SD of change", "num"),
            Column("ci_low", "95 % CI low", "num"),
            Column("ci_high", "95 % CI high", "num"),
            Column("p_wilcoxon", "Wilcoxon p", "p"),
        ],
        view=[
            View("Instrument", text("instrument"), numeric=False),
            View("Time", text("timepoint"), numeric=False),
            View("n", text("n")),
            View("left out¹", lambda r: f"{r['no_baseline']}+{r['no_followup']}"),
            View("Change [95 % CI]", value_ci("mean_change", "ci_low", "ci_high")),
            View("p", lambda r: p_value(r.get("p_wilcoxon"))),
        ],
        notes=[
            "¹ left out: with a value at the time point but none at baseline + with a "
            "baseline but no value at the time point."
        ],
        group_by="instrument",
    )
    assessed = [
        i for i in INSTRUMENTS if any(at[(i.column, tp.name)] for tp in schedule.timepoints)
    ]
    not_assessed = [i.label for i in INSTRUMENTS if i not in assessed]
    for instrument in assessed:
        for tp in schedule.timepoints:
            described = stats.describe(list(at[(instrument.column, tp.name)].values()))
            summary.rows.append(
                {
                    "instrument": instrument.label,
                    "timepoint": tp.name,
                    "n": described.n,
                    "mean": described.mean,
                    "sd": described.sd,
                    "median": described.median,
                    "q1": described.q1,
                    "q3": described.q3,
                }
            )
        before = at[(instrument.column, baseline.name)]
        for tp in later:
            after = at[(instrument.column, tp.name)]
            pairs = [(before[pid], after[pid]) for pid in after if pid in before]
            change = stats.paired_change(pairs)
            paired.rows.append(
                {
                    "instrument": instrument.label,
                    "timepoint": tp.name,
                    "n": change.n,
                    "no_baseline": sum(1 for pid in after if pid not in before),
                    "no_followup": sum(1 for pid in before if pid not in after),
                    "mean_baseline": change.mean_before,
                    "mean_after": change.mean_after,
                    "mean_change": change.mean_change,
                    "sd_change": change.sd_change,
                    "ci_low": change.ci_low,
                    "ci_high": change.ci_high,
                    "p_wilcoxon": change.p_wilcoxon,
                }
            )

    responder_table = Table(
        "outcomes_responders",
        "Responders (Wilson 95 % CI)",
        [
            Column("definition", "Definition"),
            Column("timepoint", "Time point"),
            Column("k", "Responders", "int"),
            Column("n", "Judged", "int"),
            Column("not_judged", "Left out", "int"),
            Column("rate", "Rate", "rate"),
            Column("low", "95 % CI low", "rate"),
            Column("high", "95 % CI high", "rate"),
        ],
        view=[
            View("Definition", text("definition"), numeric=False),
            View("Time", text("timepoint"), numeric=False),
            View("k/n", k_of_n()),
            View("Rate [95 % CI]", rate_ci()),
        ],
        group_by="definition",
    )
    for rule in responders(settings):
        before = at[(rule.instrument, baseline.name)]
        for tp in later:
            after = at[(rule.instrument, tp.name)]
            judged = [
                rule.responds(before.get(pid), value)
                for pid, value in after.items()
                if not rule.paired or pid in before
            ]
            k = sum(1 for j in judged if j)
            n = sum(1 for j in judged if j is not None)
            proportion = stats.wilson(k, n)
            responder_table.rows.append(
                {
                    "definition": rule.name,
                    "timepoint": tp.name,
                    "k": k,
                    "n": n,
                    "not_judged": len(after) - n,
                    "rate": proportion.rate,
                    "low": proportion.low,
                    "high": proportion.high,
                }
            )
    responder_table.notes = [f"{r.name}: {r.description}." for r in responders(settings)]
    responder_table.notes.append(
        "Judged: procedures with a value at the time point (and at baseline where the "
        "definition needs it); thresholds from the report settings (responders)."
    )

    shift, step_down = _analgesic_tables(at, baseline, later)

    unscheduled = sum(
        1 for p in cohort.procedures for e in cohort.entries_of(p.id) if e.timepoint is None
    )
    section = Section(
        "outcomes",
        "Outcomes",
        tables=[summary, paired, responder_table, step_down, shift],
        counts={
            "procedures": len(cohort.procedures),
            "with_followup": sum(1 for p in cohort.procedures if cohort.entries_of(p.id)),
            "entries": sum(len(cohort.entries_of(p.id)) for p in cohort.procedures),
            "unscheduled_entries": unscheduled,
        },
    )
    if not_assessed and assessed:
        section.notes.append(
            "Not assessed in this cohort (no value at any time point): "
            + ", ".join(not_assessed)
            + "."
        )
    elif not assessed:
        section.notes.append("No score recorded in this cohort: every figure is n = 0.")
    if unscheduled:
        section.notes.append(
            f"{unscheduled} entries have no time point (outside every window) and are not in "
            "the per-time-point figures."
        )
    section.plots = [_over_time_plot(cohort, schedule, column, at) for column in PLOTTED]
    section.plots.append(_cement_plot(cohort, schedule, settings, at))
    return section


def _analgesic_tables(
    at: dict[tuple[str, str], dict[int, Any]], baseline: TimePoint, later: list[TimePoint]
) -> tuple[Table, Table]:
    rank = {name: i for i, name in enumerate(ANALGESIC_ORDER)}
    shift = Table(
        "outcomes_analgesic_shift",
        "Analgesic class: baseline → time point (procedures)",
        [Column("timepoint", "Time point"), Column("baseline", "Baseline")]
        + [Column(f"to_{c.replace('-', '_')}", f"→ {c}", "int") for c in ANALGESIC_ORDER],
        view=[
            View("Time point", text("timepoint"), numeric=False),
            View("Baseline", text("baseline"), numeric=False),
        ]
        + [
            View(f"→ {short}", text(f"to_{c.replace('-', '_')}"))
            for c, short in zip(ANALGESIC_ORDER, ("none", "non-op.", "weak", "strong"), strict=True)
        ],
        notes=["Time points where no procedure has both classes are left out."],
        group_by="timepoint",
    )
    step_down = Table(
        "outcomes_analgesic_step_down",
        "Analgesic class stepping down from baseline (Wilson 95 % CI)",
        [
            Column("timepoint", "Time point"),
            Column("n", "n paired", "int"),
            Column("down", "Stepped down", "int"),
            Column("same", "Same class", "int"),
            Column("up", "Stepped up", "int"),
            Column("rate", "Rate stepping down", "rate"),
            Column("low", "95 % CI low", "rate"),
            Column("high", "95 % CI high", "rate"),
        ],
        view=[
            View("Time point", text("timepoint"), numeric=False),
            View("n", text("n")),
            View("down/same/up", lambda r: f"{r['down']}/{r['same']}/{r['up']}"),
            View("Stepping down [95 % CI]", rate_ci()),
        ],
        notes=["Classes, weakest first: " + " < ".join(ANALGESIC_ORDER) + "."],
    )
    before = at[("analgesic", baseline.name)]
    for tp in later:
        after = at[("analgesic", tp.name)]
        pairs = [(before[pid], after[pid]) for pid in after if pid in before]
        moves = Counter(pairs)
        for start in ANALGESIC_ORDER if pairs else ():
            row: dict[str, Any] = {"timepoint": tp.name, "baseline": start}
            for end in ANALGESIC_ORDER:
                row[f"to_{end.replace('-', '_')}"] = moves[(start, end)]
            shift.rows.append(row)
        down = sum(1 for a, b in pairs if rank[b] < rank[a])
        up = sum(1 for a, b in pairs if rank[b] > rank[a])
        proportion = stats.wilson(down, len(pairs))
        step_down.rows.append(
            {
                "timepoint": tp.name,
                "n": len(pairs),
                "down": down,
                "same": len(pairs) - down - up,
                "up": up,
                "rate": proportion.rate,
                "low": proportion.low,
                "high": proportion.high,
            }
        )
    return shift, step_down


def _over_time_plot(
    cohort: Cohort, schedule: Schedule, column: str, at: dict[tuple[str, str], dict[int, Any]]
) -> Plot:
    """Mean with its 95 % t CI per time point, one line per procedure type."""
    instrument = _instrument(column)
    types = sorted({p.procedure_type for p in cohort.procedures})
    series: dict[str, list[dict[str, Any]]] = {}
    type_of = {p.id: p.procedure_type for p in cohort.procedures}
    by_kind: dict[tuple[str, str], list[float]] = {
        (kind, tp.name): [] for kind in types for tp in schedule.timepoints
    }
    for tp in schedule.timepoints:
        for pid, v in at[(column, tp.name)].items():
            by_kind[(type_of[pid], tp.name)].append(v)
    for kind in types:
        points = []
        for tp in schedule.timepoints:
            d = stats.describe(by_kind[(kind, tp.name)])
            low = high = None
            if d.n > 1 and d.sd is not None and d.mean is not None:
                half = stats.t_quantile(0.975, d.n - 1) * d.sd / d.n**0.5
                low, high = d.mean - half, d.mean + half
            points.append(
                {
                    "timepoint": tp.name,
                    "day": tp.target,
                    "n": d.n,
                    "mean": d.mean,
                    "low": low,
                    "high": high,
                }
            )
        series[kind] = points
    return Plot(
        f"outcomes_{column}_over_time",
        f"{instrument.label} over time (mean, 95 % CI)",
        "over_time",
        {
            "label": instrument.label,
            "unit": instrument.unit,
            "low": instrument.low,
            "high": instrument.high,
            "series": series,
        },
    )


def _cement_plot(
    cohort: Cohort,
    schedule: Schedule,
    settings: ReportSettings,
    at: dict[tuple[str, str], dict[int, Any]],
) -> Plot:
    """Cement per treated level against the pain change at the primary time point."""
    names = schedule.names
    primary = settings.primary_timepoint if settings.primary_timepoint in names else None
    points = []
    if primary is not None:
        before = at[("pain", schedule.baseline.name)]
        after = at[("pain", primary)]
        for p in cohort.procedures:
            volumes = [t.cement_ml for t in p.levels if t.cement_ml is not None]
            if p.id in before and p.id in after and volumes and len(volumes) == len(p.levels):
                points.append(
                    {
                        "procedure_type": p.procedure_type,
                        "cement_per_level_ml": sum(volumes) / len(volumes),
                        "pain_change": after[p.id] - before[p.id],
                    }
                )
    return Plot(
        "outcomes_cement_vs_pain",
        f"Cement per level against pain change at {primary or '(no primary time point)'}",
        "cement_scatter",
        {"timepoint": primary, "points": points},
    )

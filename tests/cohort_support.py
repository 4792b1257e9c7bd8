"""A generated cohort built through vp_log's own paths, and its plan for computing by hand.

Studies: the generated cases (three augmentation cases and the non-augmentation control per
seed) written by ``vp_log.samples`` and imported with ``vp-log import``. Follow-up: entered with
``vp-log followup add`` (typer's CliRunner, the same command a person runs). The plan keeps
every value entered, so tests compute the expected figures from it with numpy, not with the
code under test.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

from conftest import base_env, run_cli
from vp_log.cli import app
from vp_log.samples import CaseName, write_case

AUGMENTATION = (CaseName.VP_TWO_LEVEL, CaseName.KP_ONE_LEVEL, CaseName.SACROPLASTY_BILATERAL)
TREATED = {
    CaseName.VP_TWO_LEVEL: ("T12", "L1"),
    CaseName.KP_ONE_LEVEL: ("L2",),
    CaseName.SACROPLASTY_BILATERAL: ("sacrum",),
}
#: Fractures entered, by case: a level at each distance class from the treated levels.
FRACTURE_LEVELS = {
    CaseName.VP_TWO_LEVEL: ("L2", "T10", "T6", "T12"),  # adjacent, two away, further, treated
    CaseName.KP_ONE_LEVEL: ("L3", "T12", "T8", "L2"),
    CaseName.SACROPLASTY_BILATERAL: ("L5", "L4", "T12", "sacrum"),
}
#: Procedures (by index) with a new fracture: one of each distance class, and one more.
FRACTURED = (1, 2, 3, 4, 6)
FOLLOW_UPS = (("1w", 7), ("1m", 30), ("3m", 90), ("12m", 365))
ANALGESICS = ("none", "non-opioid", "weak-opioid", "strong-opioid")


@dataclass
class PlannedEntry:
    timepoint: str | None
    """As typed (None: inferred from the date)."""
    expected_timepoint: str | None
    date: dt.date
    pain: float | None = None
    odi: float | None = None
    rmdq: int | None = None
    analgesic: str | None = None
    fractures: list[tuple[str, dt.date]] = field(default_factory=list)
    complications: list[tuple[str, str]] = field(default_factory=list)
    out_of_window: bool = False


@dataclass
class PlannedProcedure:
    case: CaseName
    seed: int
    accession: str
    patient_id: str
    patient_name: str
    birth_date: str
    study_uid: str
    study_date: dt.date
    procedure_type: str
    levels: tuple[str, ...]
    cement_ml: float
    fluoro_time_s: float
    dap_gy_cm2: float
    ka_r_mgy: float
    operator: str
    device: str
    entries: list[PlannedEntry] = field(default_factory=list)
    closed: dict[str, str] = field(default_factory=dict)
    """Time point → reason, closed with ``vp-log followup close``."""


def plan_cohort(out_dir: Path, seeds: range) -> list[PlannedProcedure]:
    """Write the cases and decide every follow-up value (deterministic)."""
    rng = random.Random(20260101)
    planned = []
    for seed in seeds:
        for case in CaseName:
            manifest = write_case(case, out_dir / f"{case.value}-{seed}", seed=seed)
            if case not in AUGMENTATION:
                continue
            planned.append(
                PlannedProcedure(
                    case=case,
                    seed=seed,
                    accession=manifest.accession_number,
                    patient_id=manifest.patient_id,
                    patient_name=manifest.patient_name,
                    birth_date=manifest.patient_birth_date,
                    study_uid=manifest.study_instance_uid,
                    study_date=dt.date.fromisoformat(manifest.study_date),
                    procedure_type=manifest.procedure_type,
                    levels=TREATED[case],
                    cement_ml=float(manifest.total_cement_ml),
                    fluoro_time_s=float(manifest.fluoro_time_s),
                    dap_gy_cm2=float(manifest.dap_gy_cm2),
                    ka_r_mgy=float(manifest.ka_r_mgy),
                    operator=manifest.performing_physician,
                    device=f"{manifest.device.manufacturer} {manifest.device.model}",
                )
            )
    for index, p in enumerate(planned):
        if index == 0:
            continue  # one procedure without any follow-up
        pain = rng.randint(60, 100) / 10
        odi = float(rng.randint(40, 80))
        rmdq = rng.randint(10, 22) if index % 3 else None
        drug = rng.randint(1, 3)
        p.entries.append(
            PlannedEntry(
                "baseline",
                "baseline",
                p.study_date - dt.timedelta(days=2),
                pain=pain,
                odi=odi,
                rmdq=rmdq,
                analgesic=ANALGESICS[drug],
            )
        )
        died = index == 5
        for tp, day in FOLLOW_UPS:
            if died and day > 90:
                break
            if rng.random() < 0.2:
                continue  # missed
            pain = max(0.0, round(pain - rng.randint(5, 30) / 10, 1))
            odi = max(0.0, odi - rng.randint(3, 20))
            rmdq = None if rmdq is None else max(0, rmdq - rng.randint(1, 6))
            drug = max(0, drug - rng.randint(0, 1))
            typed_tp: str | None = tp if rng.random() < 0.5 else None
            when = p.study_date + dt.timedelta(days=day + rng.randint(-2, 2))
            entry = PlannedEntry(
                typed_tp, tp, when, pain=pain, odi=odi, rmdq=rmdq, analgesic=ANALGESICS[drug]
            )
            if tp == "1w" and index % 5 == 2:
                entry.complications.append(("cement-leakage-disc", "A"))
            if tp == "1w" and index % 7 == 3:
                entry.complications.append(("pulmonary-cement-embolism", "C"))
            p.entries.append(entry)
        if index in FRACTURED:
            # A new fracture found at about 3 months: on the 3 m entry, or an entry of its own
            # (one entry per procedure and time point).
            level = FRACTURE_LEVELS[p.case][FRACTURED.index(index) % 4]
            found = (level, p.study_date + dt.timedelta(days=60 + index))
            at_3m = [e for e in p.entries if e.expected_timepoint == "3m"]
            if at_3m:
                at_3m[0].fractures.append(found)
            else:
                p.entries.append(
                    PlannedEntry(
                        None, "3m", p.study_date + dt.timedelta(days=95), fractures=[found]
                    )
                )
        if died:
            p.entries.append(
                PlannedEntry(
                    None,
                    "6m",
                    p.study_date + dt.timedelta(days=170),
                    complications=[("death", "F")],
                )
            )
        if index == 7:
            # A 1 m visit typed as such but 60 days after: kept, flagged out of window.
            p.entries = [e for e in p.entries if e.expected_timepoint != "1m"]
            p.entries.append(
                PlannedEntry(
                    "1m", "1m", p.study_date + dt.timedelta(days=60), pain=5.0, out_of_window=True
                )
            )
        if index == 10:
            # Lost to follow-up before 12 months: the time point is closed, not assessed.
            p.entries = [e for e in p.entries if e.expected_timepoint != "12m"]
            p.closed["12m"] = "lost"
    return planned


def _args(p: PlannedProcedure, e: PlannedEntry) -> list[str]:
    args = ["followup", "add", f"accession:{p.accession}", "--date", e.date.isoformat()]
    if e.timepoint:
        args += ["--timepoint", e.timepoint]
    if e.pain is not None:
        args += ["--pain", str(e.pain)]
    if e.odi is not None:
        args += ["--odi", f"{e.odi:g}"]
    if e.rmdq is not None:
        args += ["--rmdq", str(e.rmdq)]
    if e.analgesic is not None:
        args += ["--analgesic", e.analgesic]
    for level, when in e.fractures:
        args += ["--new-fracture", f"{level}@{when.isoformat()}"]
    for kind, severity in e.complications:
        args += ["--complication", f"{kind}:{severity}"]
    return [*args, "--by", "cohort-test", "--yes"]


def build_cohort(
    data_dir: Path, seeds: range = range(4), database_url: str | None = None
) -> list[PlannedProcedure]:
    """Generate, import and enter the follow-up of a cohort in ``data_dir`` (and the database
    at ``database_url``, SQLite in the data folder when None)."""
    cases = data_dir / "cases"
    planned = plan_cohort(cases, seeds)
    env = base_env(data_dir, database_url)
    run_cli("import", str(cases), env=env)
    runner = CliRunner()
    for p in planned:
        for e in p.entries:
            result = runner.invoke(app, _args(p, e), env=env, catch_exceptions=False)
            if result.exit_code != 0:
                msg = f"followup add failed ({_args(p, e)}): {result.output}"
                raise AssertionError(msg)
        for timepoint, reason in p.closed.items():
            args = ["followup", "close", f"accession:{p.accession}", "--timepoint", timepoint,
                    "--reason", reason, "--by", "cohort-test"]  # fmt: skip
            result = runner.invoke(app, args, env=env, input="y\n", catch_exceptions=False)
            if result.exit_code != 0:
                msg = f"followup close failed ({args}): {result.output}"
                raise AssertionError(msg)
    return planned

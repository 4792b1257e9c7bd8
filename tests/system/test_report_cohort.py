"""Every figure of the reports on a generated cohort, computed again by hand (numpy).

The cohort is built through vp_log's own paths (generated studies imported with
``vp-log import``, follow-up entered with ``vp-log followup add``); the expected values come
from the plan of what was entered, never from the code under test.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import hand_stats as hand
from cohort_support import PlannedProcedure, build_cohort
from conftest import base_env
from vp_log.cli import app

LABELS = {"pain": "Pain NRS", "odi": "ODI", "rmdq": "RMDQ"}
TIMEPOINTS = ("baseline", "1d", "1w", "1m", "3m", "6m", "12m")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PlannedProcedure]]:
    data_dir = tmp_path_factory.mktemp("cohort")
    return data_dir, build_cohort(data_dir)


def report(data_dir: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["report", *args, "--json"], env=base_env(data_dir))
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def rows(document: dict[str, Any], section: str, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["reports"][section]["tables"][table]["rows"]
    return found


def close(actual: Any, expected: Any, tol: float = 1e-9) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return math.isclose(actual, expected, rel_tol=tol, abs_tol=tol)


def value_at(p: PlannedProcedure, timepoint: str, field: str) -> Any:
    for entry in p.entries:
        if entry.expected_timepoint == timepoint and getattr(entry, field) is not None:
            return getattr(entry, field)
    return None


def test_outcome_summaries_and_paired_changes(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    data_dir, planned = cohort
    document = report(data_dir, "outcomes")
    assert document["procedures"] == len(planned) == 12
    summary = {
        (r["instrument"], r["timepoint"]): r for r in rows(document, "outcomes", "outcomes_summary")
    }
    change = {
        (r["instrument"], r["timepoint"]): r for r in rows(document, "outcomes", "outcomes_change")
    }
    checked = 0
    for field, label in LABELS.items():
        for tp in TIMEPOINTS:
            values = [v for p in planned if (v := value_at(p, tp, field)) is not None]
            expected = hand.summary(values)
            row = summary[(label, tp)]
            for key in ("n", "mean", "sd", "median", "q1", "q3"):
                assert close(row[key], expected[key]), (label, tp, key, row[key], expected[key])
            if tp == "baseline":
                continue
            pairs = [
                (b, a)
                for p in planned
                if (b := value_at(p, "baseline", field)) is not None
                and (a := value_at(p, tp, field)) is not None
            ]
            expected_change = hand.paired([b for b, _ in pairs], [a for _, a in pairs])
            row = change[(label, tp)]
            for key in ("n", "mean_change", "ci_low", "ci_high"):
                assert close(row[key], expected_change[key]), (label, tp, key, row, expected_change)
            assert close(row["p_wilcoxon"], expected_change["p_wilcoxon"], 1e-6), (label, tp, row)
            with_after = sum(1 for p in planned if value_at(p, tp, field) is not None)
            with_before = sum(1 for p in planned if value_at(p, "baseline", field) is not None)
            assert row["no_baseline"] == with_after - len(pairs)
            assert row["no_followup"] == with_before - len(pairs)
            checked += row["n"]
    assert checked > 50  # the cohort really has paired data


def test_responders_and_analgesic_step_down(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    data_dir, planned = cohort
    document = report(data_dir, "outcomes")
    responders = {
        (r["definition"], r["timepoint"]): r
        for r in rows(document, "outcomes", "outcomes_responders")
    }
    rules = {
        "pain drop ≥ 2 points": ("pain", lambda b, a: b - a >= 2, True),
        "pain drop ≥ 30 %": ("pain", lambda b, a: (b - a) / b >= 0.3, True),
        "ODI drop ≥ 10 points": ("odi", lambda b, a: b - a >= 10, True),
        "RMDQ drop ≥ 5 points": ("rmdq", lambda b, a: b - a >= 5, True),
        "pain < 4": ("pain", lambda b, a: a < 4, False),
    }
    for name, (field, rule, needs_baseline) in rules.items():
        for tp in TIMEPOINTS[1:]:
            judged = [
                rule(b, a)
                for p in planned
                if (a := value_at(p, tp, field)) is not None
                and ((b := value_at(p, "baseline", field)) is not None or not needs_baseline)
            ]
            k, n = sum(judged), len(judged)
            rate, low, high = hand.wilson(k, n)
            row = responders[(name, tp)]
            assert (row["k"], row["n"]) == (k, n), (name, tp)
            assert close(row["rate"], rate) and close(row["low"], low) and close(row["high"], high)
    order = ["none", "non-opioid", "weak-opioid", "strong-opioid"]
    step = {r["timepoint"]: r for r in rows(document, "outcomes", "outcomes_analgesic_step_down")}
    for tp in TIMEPOINTS[1:]:
        pairs = [
            (order.index(b), order.index(a))
            for p in planned
            if (b := value_at(p, "baseline", "analgesic")) is not None
            and (a := value_at(p, tp, "analgesic")) is not None
        ]
        down = sum(1 for b, a in pairs if a < b)
        rate, low, high = hand.wilson(down, len(pairs))
        row = step[tp]
        assert (row["n"], row["down"]) == (len(pairs), down)
        assert close(row["rate"], rate) and close(row["low"], low) and close(row["high"], high)


# --- fractures -------------------------------------------------------------------------------

SEGMENTS = (
    [f"C{i}" for i in range(1, 8)]
    + [f"T{i}" for i in range(1, 13)]
    + [f"L{i}" for i in range(1, 6)]
    + [f"S{i}" for i in range(1, 6)]
)


def span(level: str) -> tuple[int, int]:
    if level == "sacrum":
        return SEGMENTS.index("S1"), SEGMENTS.index("S5")
    i = SEGMENTS.index(level)
    return i, i


def hand_category(level: str, treated: tuple[str, ...]) -> str:
    a0, a1 = span(level)
    gap = min(max(0, max(a0, span(t)[0]) - min(a1, span(t)[1])) for t in treated)
    return ("treated level", "adjacent", "two levels away", "further")[min(gap, 3)]


def days(p: PlannedProcedure, when: Any) -> int:
    return int((when - p.study_date).days)


def test_fracture_rates_and_kaplan_meier(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    data_dir, planned = cohort
    document = report(data_dir, "fractures")
    followed = [p for p in planned if any(days(p, e.date) > 0 for e in p.entries)]
    fractures = {
        id(p): [(lv, when) for e in p.entries for lv, when in e.fractures] for p in followed
    }
    categories = {
        id(p): [hand_category(lv, p.levels) for lv, _ in fractures[id(p)]] for p in followed
    }
    per_procedure = {
        r["category"]: r for r in rows(document, "fractures", "fractures_per_procedure")
    }
    for name in ("treated level", "adjacent", "two levels away", "further", "any new fracture"):
        k = sum(
            1
            for p in followed
            if categories[id(p)] and (name == "any new fracture" or name in categories[id(p)])
        )
        rate, low, high = hand.wilson(k, len(followed))
        row = per_procedure[name]
        assert (row["k"], row["n"]) == (k, len(followed)), name
        assert close(row["rate"], rate) and close(row["low"], low) and close(row["high"], high)
    every = [c for cs in categories.values() for c in cs]
    assert sorted(set(every)) == ["adjacent", "further", "treated level", "two levels away"]
    per_level = {r["category"]: r for r in rows(document, "fractures", "fractures_per_level")}
    for name in set(every):
        rate, low, high = hand.wilson(every.count(name), len(every))
        assert per_level[name]["k"] == every.count(name)
        assert close(per_level[name]["low"], low) and close(per_level[name]["high"], high)

    durations, events = [], []
    for p in followed:
        last = max(days(p, e.date) for e in p.entries)
        deaths = [days(p, e.date) for e in p.entries for c in e.complications if c[0] == "death"]
        if deaths:
            last = min(last, *deaths)
        found = sorted(days(p, when) for _, when in fractures[id(p)])
        durations.append(found[0] if found else last)
        events.append(bool(found))
    expected = {s["time"]: s for s in hand.kaplan_meier(durations, events)}
    steps = rows(document, "fractures", "fractures_kaplan_meier")
    assert {s["day"] for s in steps} - {0} == set(expected) - {0}
    for step in steps:
        if step["day"] in expected:
            e = expected[step["day"]]
            assert (step["at_risk"], step["events"], step["censored"]) == (
                e["at_risk"],
                e["events"],
                e["censored"],
            )
            assert close(step["survival"], e["survival"])
    assert document["reports"]["fractures"]["counts"]["deaths"] == 1
    assert any("competing risk" in n for n in document["reports"]["fractures"]["notes"])
    at_risk = {r["day"]: r["at_risk"] for r in rows(document, "fractures", "fractures_at_risk")}
    for day, count in at_risk.items():
        assert count == sum(1 for d in durations if d >= day)


# --- complications ---------------------------------------------------------------------------


def test_complication_rates_against_thresholds(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    data_dir, planned = cohort
    document = report(data_dir, "complications")
    assessed = [p for p in planned if p.entries]
    levels = sum(len(p.levels) for p in assessed)
    by_type = {r["kind"]: r for r in rows(document, "complications", "complications_by_type")}
    for kind in ("cement-leakage-disc", "pulmonary-cement-embolism", "death", "infection"):
        with_it = [
            p for p in assessed if any(c[0] == kind for e in p.entries for c in e.complications)
        ]
        events = sum(
            1 for p in assessed for e in p.entries for c in e.complications if c[0] == kind
        )
        rate, low, high = hand.wilson(len(with_it), len(assessed))
        row = by_type[kind]
        assert (row["k"], row["n"], row["events"], row["levels"]) == (
            len(with_it),
            len(assessed),
            events,
            levels,
        )
        assert close(row["rate"], rate) and close(row["low"], low) and close(row["high"], high)
        level_rate, level_low, _ = hand.wilson(events, levels)
        assert close(row["rate_per_level"], level_rate) and close(row["level_low"], level_low)
    grades = {r["kind"]: r for r in rows(document, "complications", "complications_by_grade")}
    major = sum(
        1 for p in assessed if any(c[1] in "CDEF" for e in p.entries for c in e.complications)
    )
    assert grades["major (SIR C–F)"]["k"] == major
    assert grades["major (SIR C–F)"]["threshold"] == 0.02
    assert grades["major (SIR C–F)"]["above_threshold"] is (major / len(assessed) > 0.02)
    assert by_type["infection"]["above_threshold"] is False


# --- dose ------------------------------------------------------------------------------------


def test_dose_medians_and_p75_against_reference(
    cohort: tuple[Path, list[PlannedProcedure]],
) -> None:
    import numpy as np

    data_dir, planned = cohort
    document = report(data_dir, "dose")
    table = {
        (r["grouping"], r["group"], r["quantity"]): r
        for name in ("fluoro_time_s", "dap_gy_cm2", "ka_r_mgy", "dap_per_level_gy_cm2")
        for r in rows(document, "dose", f"dose_{name}")
    }
    reference = {"vertebroplasty": 50.0, "kyphoplasty": 60.0, "sacroplasty": 40.0}
    for kind in ("vertebroplasty", "kyphoplasty", "sacroplasty"):
        dap = np.array([p.dap_gy_cm2 for p in planned if p.procedure_type == kind])
        row = table[("procedure type", kind, "DAP")]
        assert row["n"] == dap.size == 4
        assert close(row["median"], float(np.median(dap)))
        assert close(row["p75"], float(np.percentile(dap, 75)))
        assert row["reference"] == reference[kind]
        assert row["p75_above_reference"] is False
        per_level = [p.dap_gy_cm2 / len(p.levels) for p in planned if p.procedure_type == kind]
        assert close(
            table[("procedure type", kind, "DAP per level")]["median"], float(np.median(per_level))
        )
    for operator in {p.operator for p in planned}:
        times = [p.fluoro_time_s for p in planned if p.operator == operator]
        row = table[("operator", operator, "Fluoroscopy time")]
        assert row["n"] == len(times)
        assert close(row["q1"], float(np.percentile(times, 25)))
        assert close(row["q3"], float(np.percentile(times, 75)))


# --- completeness ----------------------------------------------------------------------------

WINDOWS = {
    "baseline": (-90, 0), "1d": (1, 3), "1w": (4, 14), "1m": (21, 45), "3m": (70, 120),
    "6m": (150, 240), "12m": (300, 450),
}  # fmt: skip


def test_completeness_per_time_point(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    import datetime as dt

    data_dir, planned = cohort
    as_of = dt.date(2025, 6, 1)
    document = report(data_dir, "completeness", "--as-of", "2025-06-01")
    got = {r["timepoint"]: r for r in rows(document, "completeness", "completeness")}
    for tp, (first, last) in WINDOWS.items():
        expected = dict.fromkeys(
            ("due", "done_in_window", "done_out_of_window", "closed", "missed", "pending"), 0
        )
        for p in planned:
            mine = [e for e in p.entries if e.expected_timepoint == tp]
            elapsed = (as_of - p.study_date).days
            if not mine and tp not in p.closed and elapsed < first:
                continue
            expected["due"] += 1
            deaths = [
                days(p, e.date) for e in p.entries for c in e.complications if c[0] == "death"
            ]
            if any(not e.out_of_window for e in mine):
                expected["done_in_window"] += 1
            elif mine:
                expected["done_out_of_window"] += 1
            elif tp in p.closed or (deaths and min(deaths) <= last):
                expected["closed"] += 1
            elif elapsed > last:
                expected["missed"] += 1
            else:
                expected["pending"] += 1
        for key, value in expected.items():
            assert got[tp][key] == value, (tp, key, got[tp], expected)
        if expected["due"]:
            assert close(got[tp]["missed_pct"], expected["missed"] / expected["due"])
    assert got["1m"]["done_out_of_window"] == 1
    assert got["12m"]["closed"] == 2  # one died, one lost


# --- export ----------------------------------------------------------------------------------


def export(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["export", *args], env=base_env(data_dir))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_export_round_trips_csv_and_xlsx(cohort: tuple[Path, list[PlannedProcedure]]) -> None:
    import csv
    import re

    from openpyxl import load_workbook

    data_dir, planned = cohort
    out = data_dir / "export-plain"
    export(data_dir, "--format", "csv", "--shape", "wide", "--out", str(out))
    export(data_dir, "--format", "xlsx", "--shape", "wide", "--out", str(out))
    with (out / "vp_log_wide.csv").open(encoding="utf-8") as handle:
        from_csv = list(csv.DictReader(handle))
    sheet = load_workbook(out / "vp_log_wide.xlsx", read_only=True)["data"]
    values = list(sheet.iter_rows(values_only=True))
    header = [str(v) for v in values[0]]
    # read-only openpyxl leaves out the empty cells at the end of a row
    from_xlsx = [
        dict(zip(header, (*row, *[None] * (len(header) - len(row))), strict=True))
        for row in values[1:]
    ]
    assert len(from_csv) == len(from_xlsx) == len(planned)
    for name in header:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name), name
    by_accession = {p.accession: p for p in planned}
    fields = {"pain": "pain", "odi_percent": "odi", "rmdq": "rmdq", "analgesic": "analgesic"}
    compared = 0
    for row_csv, row_xlsx in zip(from_csv, from_xlsx, strict=True):
        p = by_accession[row_csv["accession_number"]]
        assert row_xlsx["accession_number"] == p.accession
        assert float(row_csv["dap_gy_cm2"]) == row_xlsx["dap_gy_cm2"] == p.dap_gy_cm2
        for column, field in fields.items():
            for tp in TIMEPOINTS:
                expected = value_at(p, tp, field)
                text, cell = row_csv[f"{column}_{tp}"], row_xlsx[f"{column}_{tp}"]
                if expected is None:
                    assert text == "" and cell is None
                elif field == "analgesic":
                    assert text == cell == expected
                else:
                    assert float(text) == float(cell) == float(expected)
                    compared += 1
    assert compared > 100
    dictionary = (out / "data_dictionary.csv").read_text(encoding="utf-8")
    assert (
        'pain_1m,Pain NRS 0-10 (one decimal) at 1 month,points,"0–10, at most one decimal'
        in dictionary
    )
    assert "eq5d_vas_12m," in dictionary  # every item of the instrument table is a column


def test_pseudonymised_export_holds_no_identifier(
    cohort: tuple[Path, list[PlannedProcedure]],
) -> None:
    import csv
    import datetime as dt
    import stat

    data_dir, planned = cohort
    shifted = data_dir / "export-shift"
    relative = data_dir / "export-relative"
    again = data_dir / "export-again"
    for fmt in ("csv", "xlsx", "json"):
        export(
            data_dir, "--format", fmt, "--shape", "long", "--pseudonymise", "--out", str(shifted)
        )
        export(
            data_dir, "--format", fmt, "--shape", "wide", "--pseudonymise", "--out", str(shifted)
        )
        export(
            data_dir,
            "--format",
            fmt,
            "--shape",
            "wide",
            "--pseudonymise",
            "--dates",
            "relative",
            "--out",
            str(relative),
        )
    export(data_dir, "--format", "csv", "--shape", "wide", "--pseudonymise", "--out", str(again))
    key = data_dir / "export_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = key.read_bytes()
    forbidden: set[str] = set()
    for p in planned:
        forbidden |= {p.patient_id, p.accession, p.study_uid, p.birth_date, p.operator}
        forbidden |= {f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:]}"}
        forbidden |= {p.patient_name, *p.patient_name.split("^")}
    forbidden |= {"1.2.826.0.1.3680043", "cohort-test"}
    files = [f for d in (shifted, relative, again) for f in d.iterdir()]
    assert len(files) >= 10
    for path in files:
        if path.suffix == ".xlsx":
            import zipfile

            with zipfile.ZipFile(path) as archive:
                text = " ".join(
                    archive.read(n).decode("utf-8", "replace") for n in archive.namelist()
                )
        else:
            text = path.read_text(encoding="utf-8")
        for value in forbidden:
            assert value not in text, (path.name, value)
        assert secret.hex() not in text
    manifest = json.loads((shifted / "manifest.json").read_text(encoding="utf-8"))
    codes = {m["code_value"] for m in manifest["deidentification"]["methods"]}
    assert codes == {"113100", "113107"}
    assert "PS3.15" in manifest["deidentification"]["standard"]
    with (shifted / "vp_log_wide.csv").open(encoding="utf-8") as handle:
        first = list(csv.DictReader(handle))
    with (again / "vp_log_wide.csv").open(encoding="utf-8") as handle:
        second = list(csv.DictReader(handle))
    assert [r["patient"] for r in first] == [r["patient"] for r in second]  # same key, same names
    # Dates moved by the patient's offset (a shifted date may equal another patient's real
    # one, so they are checked row by row rather than searched for).
    from vp_log.report.pseudonym import Pseudonymiser

    pseudo = Pseudonymiser(secret)
    by_study = {r["procedure"]: r for r in first}
    for p in planned:
        row = by_study[pseudo.pseudonym("study", p.study_uid)]
        shift = pseudo.shift_days(p.patient_id)
        assert shift < 0
        assert row["procedure_date"] == (p.study_date + dt.timedelta(days=shift)).isoformat()
    ages = {r["age_years"] for r in first}
    expected_ages = set()
    for p in planned:
        born = int(p.birth_date[:4]), int(p.birth_date[4:6]), int(p.birth_date[6:])
        age = p.study_date.year - born[0] - ((p.study_date.month, p.study_date.day) < born[1:])
        expected_ages.add("90+" if age > 89 else str(age))
    assert ages == expected_ages and "90+" in ages
    with (relative / "vp_log_wide.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert "procedure_date" not in header and "patient" in header


# --- the HTML page in a real browser ---------------------------------------------------------

SECTIONS = ("outcomes", "fractures", "complications", "dose", "completeness")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed (bash run.sh test installs it)")
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_html_report_loads_in_a_headless_browser(
    cohort: tuple[Path, list[PlannedProcedure]],
) -> None:
    data_dir, _ = cohort
    page = data_dir / "report.html"
    result = CliRunner().invoke(
        app, ["report", "all", "--html", str(page), "--as-of", "2025-06-01"], env=base_env(data_dir)
    )
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in SECTIONS:
        assert f'<section id="{name}" class="report">' in dom.stdout, name
    assert dom.stdout.count('src="data:image/png;base64,') == 8
    for table in ("outcomes_summary", "fractures_kaplan_meier", "complications_by_grade",
                  "dose_dap_gy_cm2", "completeness"):  # fmt: skip
        assert f'id="{table}"' in dom.stdout
    problems = [
        line
        for line in dom.stderr.splitlines()
        if any(word in line for word in ("Refused", "Uncaught", "ERR_", "Failed to load"))
    ]
    assert not problems, problems
    shot = data_dir / "report.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.stat().st_size > 50_000
    if keep := os.environ.get("VP_LOG_KEEP_SCREENSHOT"):
        shutil.copy(shot, keep)


# --- baseline clinical filters: --indication and --arm -----------------------------------------


@pytest.fixture(scope="module")
def annotated(
    cohort: tuple[Path, list[PlannedProcedure]],
) -> tuple[Path, list[PlannedProcedure], dict[str, tuple[str | None, str | None]]]:
    """Indication and trial arm entered with ``procedures annotate`` on most procedures (two
    left without); the first is entered twice, and only its newest version counts."""
    data_dir, planned = cohort
    runner = CliRunner()
    entered: dict[str, tuple[str | None, str | None]] = {}
    indications = ("osteoporotic", "metastasis", "myeloma")
    for index, p in enumerate(planned):
        if index in (4, 9):
            entered[p.accession] = (None, None)
            continue
        indication, arm = indications[index % 3], ("A", "sham")[index % 2]
        if index == 0:
            args = ["procedures", "annotate", p.accession, "--indication", "traumatic",
                    "--trial-arm", "sham", "--by", "cohort-test"]  # fmt: skip
            result = runner.invoke(app, args, env=base_env(data_dir))
            assert result.exit_code == 0, result.output
        args = ["procedures", "annotate", p.accession, "--indication", indication,
                "--trial-arm", arm, "--by", "cohort-test"]  # fmt: skip
        result = runner.invoke(app, args, env=base_env(data_dir))
        assert result.exit_code == 0, result.output
        entered[p.accession] = (indication, arm)
    return data_dir, planned, entered


def test_indication_and_arm_filter_every_figure(
    annotated: tuple[Path, list[PlannedProcedure], dict[str, tuple[str | None, str | None]]],
) -> None:
    import numpy as np

    data_dir, planned, entered = annotated
    chosen = [p for p in planned if entered[p.accession] == ("osteoporotic", "A")]
    assert 0 < len(chosen) < len(planned)
    document = report(data_dir, "all", "--indication", "Osteoporotic", "--arm", "a")
    assert document["procedures"] == len(chosen)
    assert document["filters"] == {"--indication": "osteoporotic", "--arm": "a"}
    summary = {
        (r["instrument"], r["timepoint"]): r for r in rows(document, "outcomes", "outcomes_summary")
    }
    for tp in ("baseline", "1m"):
        expected = hand.summary([v for p in chosen if (v := value_at(p, tp, "pain")) is not None])
        for key in ("n", "mean", "sd", "median"):
            assert close(summary[("Pain NRS", tp)][key], expected[key]), (tp, key)
    dose = {
        (r["grouping"], r["group"]): r
        for r in rows(document, "dose", "dose_dap_gy_cm2")
        if r["grouping"] == "procedure type"
    }
    for kind in {p.procedure_type for p in chosen}:
        dap = np.array([p.dap_gy_cm2 for p in chosen if p.procedure_type == kind])
        assert dose[("procedure type", kind)]["n"] == dap.size
        assert close(dose[("procedure type", kind)]["median"], float(np.median(dap)))
    assert set(dose) == {("procedure type", p.procedure_type) for p in chosen}

    sham = [p for p in planned if entered[p.accession][1] == "sham"]
    document = report(data_dir, "outcomes", "--arm", "sham")
    assert document["procedures"] == len(sham)  # the first procedure: its newest version is A

    out = data_dir / "export-filtered"
    export(data_dir, "--indication", "metastasis", "--out", str(out))
    import csv

    with (out / "vp_log_wide.csv").open(encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    wanted = {p.accession for p in planned if entered[p.accession][0] == "metastasis"}
    assert {r["accession_number"] for r in exported} == wanted
    assert {(r["indication"], r["trial_arm"]) for r in exported} == {entered[a] for a in wanted}


def test_unknown_indication_or_arm_names_the_allowed_values(
    annotated: tuple[Path, list[PlannedProcedure], dict[str, tuple[str | None, str | None]]],
) -> None:
    data_dir, _, _ = annotated
    runner = CliRunner()
    result = runner.invoke(
        app, ["report", "dose", "--indication", "fracture"], env=base_env(data_dir)
    )
    assert result.exit_code != 0
    assert (
        "--indication 'fracture' is not known (allowed: osteoporotic, myeloma, metastasis, "
        "traumatic, haemangioma, other)" in result.output
    )
    result = runner.invoke(app, ["export", "--arm", "B", "--out", str(data_dir / "x")],
                           env=base_env(data_dir))  # fmt: skip
    assert result.exit_code != 0
    assert "--arm 'B' is not in the data (allowed: A, sham)" in result.output


def test_dose_report_shows_alerts_and_where_the_levels_come_from(
    cohort: tuple[Path, list[PlannedProcedure]],
) -> None:
    import numpy as np

    data_dir, planned = cohort
    document = report(data_dir, "dose")
    notes = " ".join(document["reports"]["dose"]["notes"])
    assert "(defaults: NCRP Report No. 168" in notes
    assert document["reports"]["dose"]["counts"]["alerted_procedures"] == 0
    dap = np.array([p.dap_gy_cm2 for p in planned])
    level = float(np.median(dap))  # half the procedures reach it alone
    env = base_env(data_dir, VP_LOG_DOSE_ALERT_DAP_GY_CM2=f"{level}")
    result = CliRunner().invoke(app, ["report", "dose", "--json"], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    section = document["reports"]["dose"]
    notes = " ".join(section["notes"])
    assert "defaults: NCRP" not in notes
    assert f"DAP {level:g} Gy·cm²" in notes
    assert "the site's levels, from the configuration: dose_alert_dap_gy_cm2" in notes
    summary = {(r["scope"], r["metric"]): r for r in rows(document, "dose", "dose_alert_summary")}
    alone = [p for p in planned if p.dap_gy_cm2 >= level]
    assert summary[("procedure", "DAP")]["procedures"] == len(alone) == int((dap >= level).sum())
    assert summary[("procedure", "DAP")]["patients"] == len({p.patient_id for p in alone})
    assert summary[("procedure", "Ka,r")]["procedures"] == 0
    assert summary[("cumulative", "DAP")]["procedures"] >= len(alone)
    listed = {r["accession_number"] for r in rows(document, "dose", "dose_alerts")}
    assert {p.accession for p in alone} <= listed
    assert section["counts"]["alerted_procedures"] >= len(alone)

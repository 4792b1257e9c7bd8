"""Follow-up a clinic can run (issue 10): the worklist, closing, one entry per time point,
prompts that check each answer at once, none vs not assessed, bulk import, 80 columns."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from followup_support import add_procedure
from vp_log.cli import app
from vp_log.db import Database, repository

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Augmentation records and the studies a PACS forwards besides them."""
    for name in ("VP_LOG_CONFIG", "VP_LOG_DATABASE_URL", "VP_LOG_FOLLOWUP_SCHEDULE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VP_LOG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    database = Database(f"sqlite:///{tmp_path / 'vp_log.db'}")
    ids = {
        "vp": add_procedure(
            database, patient_id="P1", accession="RAD-2025-000123456", levels=["L1"]
        ),
        "kp": add_procedure(
            database,
            patient_id="P2",
            accession="ACC2",
            study_date="2025-02-01",
            procedure_type="kyphoplasty",
        ),
        "chest": add_procedure(
            database, patient_id="P3", accession="CR1", procedure_type="unclassified"
        ),
        "old_cine": add_procedure(
            database,
            patient_id="P4",
            accession="CINE",
            study_date="1994-05-01",
            procedure_type="unclassified",
        ),
    }
    yield {"dir": tmp_path, "db": database, "ids": ids}
    database.dispose()


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def due(*args: str) -> list[dict[str, Any]]:
    result = invoke("followup", "due", "--as-of", "2025-03-10", *args, "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def entries() -> list[dict[str, Any]]:
    result = invoke("followup", "list", "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def add(*args: str) -> Result:
    return invoke("followup", "add", *args, "--yes")


# --- the worklist ----------------------------------------------------------------------------


def test_worklist_holds_augmentation_records_only(site: dict[str, Any]) -> None:
    ids = site["ids"]
    assert {i["procedure_id"] for i in due()} == {ids["vp"], ids["kp"]}
    with site["db"].session() as session:  # the records `procedures list` shows
        listed = {r.id for r in repository.list_procedures(session=session)}
    assert listed == {ids["vp"], ids["kp"]}


def test_worklist_filters(site: dict[str, Any]) -> None:
    ids = site["ids"]
    assert {(i["procedure_id"], i["timepoint"]) for i in due("--timepoint", "1 Month")} == {
        (ids["vp"], "1m"),
        (ids["kp"], "1m"),
    }
    assert {i["procedure_id"] for i in due("--procedure", "P2")} == {ids["kp"]}
    assert {i["procedure_id"] for i in due("--since", "2025-01-20")} == {ids["kp"]}
    assert {i["procedure_id"] for i in due("--until", "2025-01-20")} == {ids["vp"]}
    assert all(i["status"] == "overdue" for i in due("--overdue")) and due("--overdue")
    bad = invoke("followup", "due", "--timepoint", "2y")
    assert bad.exit_code == 2 and "time point '2y' refused" in flat(bad.output)


def test_worklist_at_80_columns_shows_name_and_whole_accession(site: dict[str, Any]) -> None:
    result = invoke("followup", "due", "--as-of", "2025-03-10")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "RAD-2025-000123456" in result.output  # never cut
    assert "2025-01-10" in result.output and " 1m " in result.output
    assert "…" not in result.output


# --- closing ---------------------------------------------------------------------------------


def test_close_removes_the_row_and_a_correction_reverses_it(site: dict[str, Any]) -> None:
    ids = site["ids"]
    before = [(i["procedure_id"], i["timepoint"]) for i in due()]
    assert (ids["kp"], "1w") in before
    closed = invoke(
        "followup", "close", "ACC2", "--timepoint", "1w", "--reason", "unreachable",
        "--notes", "three calls", "--date", "2025-02-20", "--json",
    )  # fmt: skip
    assert closed.exit_code == 0, closed.output
    entry = json.loads(closed.stdout)
    assert (entry["closed"], entry["timepoint"], entry["pain"]) == ("unreachable", "1w", None)
    after = [(i["procedure_id"], i["timepoint"]) for i in due()]
    # 1w leaves the worklist, and so does the overdue 1d before it (missed, as ever)
    assert after == [x for x in before if x not in ((ids["kp"], "1w"), (ids["kp"], "1d"))]
    audit = json.loads(invoke("audit", "--json").stdout)
    assert audit[-1]["action"] == "followup.close"
    # a closed time point takes no second entry ...
    again = add("ACC2", "--date", "2025-02-10", "--timepoint", "1w", "--pain", "3")
    assert again.exit_code == 2 and f"entry {entry['entry_id']}" in flat(again.output)
    # ... and a correction with what was measured reverses the closure
    fixed = invoke(
        "followup", "correct", str(entry["entry_id"]), "--reason", "patient called back",
        "--clear", "closed", "--pain", "3", "--yes",
    )  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    [current] = [e for e in entries() if e["entry_id"] == entry["entry_id"]]
    assert (current["closed"], current["pain"], current["version"]) == (None, 3.0, 2)
    bad = invoke("followup", "close", "ACC2", "--timepoint", "1m", "--reason", "bored")
    assert bad.exit_code == 2 and "lost, declined, unreachable, died or other" in bad.output


def test_died_closes_every_later_time_point(site: dict[str, Any]) -> None:
    ids = site["ids"]
    result = invoke(
        "followup", "close", "P1", "--timepoint", "1w", "--reason", "died", "--date", "2025-01-15"
    )
    assert result.exit_code == 0, result.output
    assert ids["vp"] not in {i["procedure_id"] for i in due()}


# --- one entry per procedure and time point --------------------------------------------------


def test_second_entry_for_a_time_point_refused_or_replaced(site: dict[str, Any]) -> None:
    first = add("P1", "--date", "2025-02-12", "--pain", "4", "--json")
    assert first.exit_code == 0, first.output
    entry_id = json.loads(first.stdout)["entry_id"]
    second = add("P1", "--date", "2025-02-14", "--timepoint", "1 month", "--pain", "5")
    assert second.exit_code == 2
    out = flat(second.output)
    assert f"entry {entry_id} of 2025-02-12" in out
    assert f"vp-log followup correct {entry_id}" in out and "--replace" in out
    assert len(entries()) == 1
    no_reason = add("P1", "--date", "2025-02-14", "--pain", "5", "--replace")
    assert no_reason.exit_code == 2 and "--replace needs --reason" in no_reason.output
    replaced = add(
        "P1", "--date", "2025-02-14", "--pain", "5", "--replace", "--reason", "form re-read",
        "--json",
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    version = json.loads(replaced.stdout)
    assert (version["entry_id"], version["version"], version["pain"]) == (entry_id, 2, 5.0)
    assert version["reason"] == "form re-read"
    assert len(entries()) == 1
    history = json.loads(invoke("followup", "history", str(entry_id), "--json").stdout)
    assert [v["pain"] for v in history] == [4.0, 5.0]


def test_prompt_refuses_a_taken_time_point_at_once(site: dict[str, Any]) -> None:
    entry_id = add("P1", "--date", "2025-02-12", "--pain", "4", "--json")
    first = json.loads(entry_id.stdout)["entry_id"]
    # the default offered (1m) is taken: refused at the time-point prompt, which asks again;
    # given up there (Ctrl-C, end of input), nothing else was asked and nothing is written
    result = invoke("followup", "add", "P1", "--date", "2025-02-14", "--by", "n", input="\n")
    assert result.exit_code == 1
    out = flat(result.output)
    assert f"already entered: entry {first} of 2025-02-12" in out and "--replace" in out
    assert f"vp-log followup correct {first}" in out and "give another time point" in out
    assert "Pain" not in out
    # asked again, another time point goes on with the form (out of its window: warned, kept)
    answers = ["", "1w", "y", "3", *[""] * 9, "y"]
    other = invoke(
        "followup", "add", "P1", "--date", "2025-02-14", "--by", "n",
        input="\n".join(answers) + "\n",
    )  # fmt: skip
    assert other.exit_code == 0, other.output
    assert flat(other.output).count("already entered") == 1 and "Pain" in other.output
    assert sorted(e["timepoint"] for e in entries()) == ["1m", "1w"]
    # given as an option: refused before the first prompt
    given = invoke(
        "followup", "add", "P1", "--date", "2025-02-14", "--timepoint", "1 month", "--by", "n",
        input="4\n" * 12,
    )  # fmt: skip
    assert given.exit_code == 2 and f"entry {first}" in flat(given.output)
    assert "Pain" not in given.output
    # with --replace the form goes on and the answers correct the entry
    answers = ["", "5", *[""] * 9, "y"]
    replaced = invoke(
        "followup", "add", "P1", "--date", "2025-02-14", "--by", "n", "--replace",
        "--reason", "re-read", input="\n".join(answers) + "\n",
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    [entry] = [e for e in entries() if e["timepoint"] == "1m"]
    assert (entry["entry_id"], entry["pain"], entry["version"]) == (first, 5.0, 2)


def test_correction_into_a_taken_time_point_refused(site: dict[str, Any]) -> None:
    add("P1", "--date", "2025-02-12", "--pain", "4")  # 1m
    add("P1", "--date", "2025-04-10", "--pain", "3")  # 3m
    moved = invoke("followup", "correct", "2", "--reason", "r", "--timepoint", "1m", "--yes")
    assert moved.exit_code == 2 and "already entered: entry 1" in flat(moved.output)


# --- prompts check each answer at once -------------------------------------------------------


def test_prompt_refuses_a_future_date_at_once(site: dict[str, Any]) -> None:
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    answers = [future, "2025-02-12", "", "4", *[""] * 9, "y"]
    result = invoke("followup", "add", "P1", "--by", "n", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert f"date {future} refused: in the future" in out
    # asked again for the date, before anything else
    assert out.index("in the future") < out.index("Procedure: record")
    assert entries()[0]["pain"] == 4.0


def test_prompt_refuses_a_fracture_before_the_procedure_at_once(site: dict[str, Any]) -> None:
    answers = ["", "4", *[""] * 6, "L2@2025-01-02", "L2@2025-02-01", "none", "", "y"]
    result = invoke(
        "followup", "add", "P1", "--date", "2025-02-12", "--by", "n",
        input="\n".join(answers) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "new fracture date 2025-01-02 refused: before the procedure" in flat(
        result.output.replace("--new-fracture", "new fracture")
    )
    [entry] = entries()
    assert [f["date"] for f in entry["new_fractures"]] == ["2025-02-01"]
    assert entry["complications"] == []  # "none" answered


def test_prompt_timepoint_out_of_window_warns_and_asks(site: dict[str, Any]) -> None:
    # day 17 is in no window: offered nothing; typing 1m warns; "n" asks again; 1w warns, "y"
    answers = ["1m", "n", "1w", "y", "4", *[""] * 9, "y"]
    result = invoke(
        "followup", "add", "P1", "--date", "2025-01-27", "--by", "n",
        input="\n".join(answers) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "day 17 is outside the window of 1m (day 21 to 45)" in out
    assert "day 17 is outside the window of 1w (day 4 to 14)" in out
    [entry] = entries()
    assert (entry["timepoint"], entry["out_of_window"]) == ("1w", True)


def test_prompt_refuses_a_non_baseline_time_point_before_the_procedure(
    site: dict[str, Any],
) -> None:
    answers = ["1d", "baseline", "8", *[""] * 9, "y"]
    result = invoke(
        "followup", "add", "P1", "--date", "2025-01-08", "--by", "n",
        input="\n".join(answers) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "only a baseline entry may predate the procedure" in flat(result.output)
    assert entries()[0]["timepoint"] == "baseline"


# --- none vs not assessed; input as people type it -------------------------------------------


def test_none_and_not_assessed_are_different_answers(site: dict[str, Any]) -> None:
    add("P1", "--date", "2025-01-11", "--pain", "4", "--new-fracture", "none")
    add("P1", "--date", "2025-02-12", "--pain", "3", "--complication", "None")
    first, second = entries()
    assert (first["new_fractures"], first["complications"]) == ([], None)
    assert (second["new_fractures"], second["complications"]) == (None, [])
    table = invoke("followup", "list").output.splitlines()
    # At 80 columns: "none" is an answer, a dash is not assessed (as in the outcome columns).
    assert "New fx" in table[1]
    assert [line.split()[-2:] for line in table[3:]] == [["none", "–"], ["–", "none"]]
    wide = flat(invoke("followup", "list", "--wide").output)
    assert "fractures: none" in wide and "complications: not assessed" in wide


def test_the_entries_table_is_one_line_an_entry_at_80_columns(site: dict[str, Any]) -> None:
    """The longest cells there are: strong-opioid, two fractures, two complications, a
    closed time point; the events' details are followup show's, --wide's and --json's."""
    first = add("P1", "--date", "2025-01-17", "--timepoint", "1w", "--pain", "7.5", "--odi",
        "64", "--rmdq", "20", "--analgesic", "strong-opioid", "--new-fracture", "T12@2025-01-15",
        "--new-fracture", "L2@2025-01-16", "--complication", "cement-leakage-venous:A@2025-01-10",
        "--complication", "pulmonary-cement-embolism:D@2025-01-11")  # fmt: skip
    assert first.exit_code == 0, first.output
    second = add("P1", "--date", "2025-02-12", "--pain", "3", "--new-fracture", "none",
        "--complication", "none")  # fmt: skip
    assert second.exit_code == 0, second.output
    closed = invoke("followup", "close", "P1", "--timepoint", "3m", "--reason", "unreachable")
    assert closed.exit_code == 0, closed.output
    result = invoke("followup", "list")
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.output.splitlines()]
    assert lines[0] == "Follow-up entries" and "New fx" in lines[1] and "Compl." in lines[1]
    rows = lines[3:]
    assert len(rows) == 3 and max(len(line) for line in lines) <= 80
    assert rows[0].split()[-5:] == ["20", "strong-opioid", "T12,L2", "SIR", "A,D"]
    assert rows[1].split()[-2:] == ["none", "none"]
    assert rows[2].split()[2:4] == ["3m", "closed"]
    wide = flat(invoke("followup", "list", "--wide").output)
    assert "cement-leakage-venous SIR A @2025-01-10" in wide and "closed: unreachable" in wide
    assert "T12@2025-01-15" in wide


def test_decimal_comma_percent_and_timepoint_aliases(site: dict[str, Any]) -> None:
    result = add("P1", "--date", "2025-02-12", "--timepoint", "1 Month", "--pain", "3,5",
                 "--odi", "64%", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads(result.stdout)
    assert (saved["timepoint"], saved["pain"], saved["odi_percent"]) == ("1m", 3.5, 64.0)


def test_prompts_show_the_allowed_values(site: dict[str, Any]) -> None:
    result = invoke(
        "followup", "add", "P1", "--date", "2025-02-12", "--by", "n",
        input="\n".join(["", "4", *[""] * 10, "n"]) + "\n",
    )  # fmt: skip
    out = flat(result.output)
    assert "Analgesic (none, non-opioid, weak-opioid, strong-opioid)" in out
    assert "Pain 0-10" in out and "RMDQ 0-24" in out and "EQ-5D-5L mobility 1-5" in out
    assert "or none (empty: not assessed)" in out


# --- bulk import -----------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def _cohort(database: Database, n: int) -> list[dict[str, Any]]:
    """``n`` rows: 100 procedures with baseline, 1w, 1m, 3m and 6m each."""
    rows = []
    plan = [("baseline", -2), ("1w", 7), ("1m", 30), ("3m", 90), ("6m", 182)]
    for p in range(n // len(plan)):
        accession = f"IMP{p:04d}"
        add_procedure(database, patient_id=f"Q{p}", accession=accession, levels=["T12"])
        for timepoint, day in plan:
            rows.append(
                {
                    "accession_number": accession,
                    "date": (dt.date(2025, 1, 10) + dt.timedelta(days=day)).isoformat(),
                    "timepoint": timepoint,
                    "pain": f"{(p + day) % 10},5",
                    "odi_percent": f"{(p * 3 + day) % 100}%",
                    "rmdq": str(p % 25),
                    "new_fractures": "none" if timepoint != "baseline" else "",
                    "notes": "paper form",
                }
            )
    return rows


def test_import_500_rows_all_or_nothing_then_once(site: dict[str, Any]) -> None:
    rows = _cohort(site["db"], 500)
    assert len(rows) == 500
    bad = [dict(r) for r in rows]
    bad[41]["pain"] = "11"  # row 43 (header is row 1)
    bad[199]["date"] = "2025-13-01"  # row 201
    bad[422]["timepoint"] = "2y"  # row 424
    path = site["dir"] / "paper.csv"
    _write_csv(path, bad, delimiter=";")
    refused = invoke("followup", "import", str(path))
    assert refused.exit_code == 2
    out = refused.output
    assert "row 43, column pain: '11' refused: above the maximum (0–10)" in flat(out)
    assert "row 201, column date: '2025-13-01' refused" in flat(out)
    assert "row 424, column timepoint: time point '2y' refused" in flat(out)
    assert "3 problem(s) in 500 row(s)" in flat(out)
    assert entries() == []
    assert json.loads(invoke("audit", "--json").stdout) == []

    _write_csv(path, rows, delimiter=";")
    dry = invoke("followup", "import", str(path), "--dry-run")
    assert dry.exit_code == 0 and "500 new" in dry.output and entries() == []
    done = invoke("followup", "import", str(path), "--by", "clerk")
    assert done.exit_code == 0, done.output
    assert "Imported 500" in done.output
    stored = entries()
    assert len(stored) == 500
    sample = next(e for e in stored if e["timepoint"] == "1m")
    assert sample["pain"] is not None and sample["new_fractures"] == []
    assert sample["entered_by"] == "clerk"
    audit = json.loads(invoke("audit", "--json").stdout)
    assert len(audit) == 500 and audit[0]["action"] == "followup.import"
    again = invoke("followup", "import", str(path))
    assert again.exit_code == 0 and "500 row(s) already stored" in again.output
    assert len(entries()) == 500 and len(json.loads(invoke("audit", "--json").stdout)) == 500


def test_import_xlsx_and_the_template(site: dict[str, Any]) -> None:
    from openpyxl import Workbook, load_workbook

    template = site["dir"] / "template.xlsx"
    assert invoke("followup", "template", str(template)).exit_code == 0
    book = load_workbook(template)
    header = [c.value for c in book["entries"][1]]
    assert header[:5] == ["procedure_id", "accession_number", "patient_id", "date", "timepoint"]
    assert "eq5d_vas" in header and book["columns"].max_row == len(header) + 1
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Accession_Number", "Date", "Pain", "EQ5D_VAS", "Complications"])
    sheet.append(["RAD-2025-000123456", dt.date(2025, 2, 12), 3.5, 70, "venous:A@2025-01-11"])
    sheet.append(["ACC2", dt.date(2025, 2, 8), 6, None, None])
    path = site["dir"] / "entries.xlsx"
    book.save(path)
    result = invoke("followup", "import", str(path))
    assert result.exit_code == 0, result.output
    first, second = entries()
    assert (first["timepoint"], first["pain"], first["eq5d_vas"]) == ("1m", 3.5, 70)
    assert first["complications"][0]["type"] == "cement-leakage-venous"
    assert (second["timepoint"], second["complications"]) == ("1w", None)
    columns = invoke("followup", "template")
    assert "--eq5d-mo" not in columns.output and "eq5d_mobility" in columns.output


def test_import_refuses_an_unknown_column_and_a_repeated_time_point(site: dict[str, Any]) -> None:
    path = site["dir"] / "x.csv"
    path.write_text("accession_number,date,pian\nACC2,2025-02-10,3\n")
    result = invoke("followup", "import", str(path))
    assert result.exit_code == 2 and "column(s) pian unknown" in flat(result.output)
    path.write_text("accession_number,date,pain\nACC2,2025-02-10,3\nACC2,2025-02-11,4\n")
    result = invoke("followup", "import", str(path))
    assert result.exit_code == 2
    assert "row 3, column timepoint: time point 1w of procedure" in flat(result.output)
    assert "is also in row 2" in flat(result.output)
    assert entries() == []

"""``vp-log followup`` and ``vp-log audit``: CliRunner with prompts, and real processes."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import fresh_pg_database
from followup_support import VP_LOG, add_procedure, cli_env
from vp_log import followup as fu
from vp_log.cli import app
from vp_log.db import Database

runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """An isolated data folder with four procedures (SQLite in the data folder)."""
    for name in ("VP_LOG_CONFIG", "VP_LOG_DATABASE_URL", "VP_LOG_FOLLOWUP_SCHEDULE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VP_LOG_DATA_DIR", str(tmp_path))
    database = Database(f"sqlite:///{tmp_path / 'vp_log.db'}")
    ids = {
        "l1": add_procedure(
            database, patient_id="P1", accession="ACC1", study_date="2025-01-10", levels=["L1"]
        ),
        "t11": add_procedure(
            database, patient_id="P2", accession="ACC2", study_date="2025-01-10", levels=["T11"]
        ),
        "twin_a": add_procedure(
            database, patient_id="P3", accession="ACC3A", study_date="2025-03-01"
        ),
        "twin_b": add_procedure(
            database, patient_id="P3", accession="ACC3B", study_date="2025-03-01"
        ),
    }
    yield {"dir": tmp_path, "db": database, "ids": ids}
    database.dispose()


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def listed(*args: str) -> list[dict[str, Any]]:
    result = invoke("followup", "list", *args, "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


# --- prompts (CliRunner input=) --------------------------------------------------------------


def test_add_prompts_for_what_is_missing_and_confirms(site: dict[str, Any]) -> None:
    answers = [
        "2025-02-12",  # date
        "",  # time point: accept the inferred 1m
        "3.5",  # pain
        "",  # pain at rest: not assessed
        "5",  # pain on activity
        "1,2,1,-,0,1,2,1,1,0",  # ODI sections
        "8",  # RMDQ
        "non-opioid",  # analgesic
        "",  # EQ-5D-5L: not assessed (the other dimensions are then not asked)
        "L2",  # new fractures
        "",  # complications: none
        "phone call",  # notes
        "y",  # save?
    ]
    result = invoke("followup", "add", "ACC1", "--by", "nurse", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "Follow-up to be saved" in out and "1m (inferred from the date)" in out
    assert "L2@2025-02-12 adjacent" in out
    [entry] = listed()
    assert entry["timepoint"] == "1m" and entry["timepoint_inferred"] is True
    assert (entry["pain"], entry["pain_rest"], entry["pain_activity"]) == (3.5, None, 5.0)
    assert (entry["odi_percent"], entry["rmdq"], entry["analgesic"]) == (20.0, 8, "non-opioid")
    assert entry["odi_sections"] == [1, 2, 1, None, 0, 1, 2, 1, 1, 0]
    assert entry["new_fractures"] == [
        {"level": "L2", "date": "2025-02-12", "adjacent": True, "at_treated_level": False}
    ]
    assert (entry["notes"], entry["entered_by"]) == ("phone call", "nurse")


def test_prompt_asks_again_after_a_bad_value(site: dict[str, Any]) -> None:
    answers = ["", "11", "7", "", "", "", "", "", "", "", "", "", "y"]
    result = invoke(
        "followup", "add", "ACC1", "--date", "2025-02-12", "--by", "n", input="\n".join(answers)
    )
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "pain = '11' refused" in out and "0–10, at most one decimal" in out
    [entry] = listed()
    assert entry["pain"] == 7.0


def test_empty_answers_are_not_assessed_never_zero(site: dict[str, Any]) -> None:
    answers = ["0", "", "", "", "", "", "", "", "", "", "y"]
    result = invoke(
        "followup",
        "add",
        "ACC1",
        "--date",
        "2025-02-12",
        "--timepoint",
        "1m",
        input="\n".join(answers),
    )
    assert result.exit_code == 0, result.output
    [entry] = listed()
    assert entry["pain"] == 0.0
    for field in ("pain_rest", "pain_activity", "odi_percent", "odi_sections", "rmdq"):
        assert entry[field] is None, field
    # an empty answer is "not assessed" for events too; "none" is an answer of its own
    assert entry["analgesic"] is None and entry["new_fractures"] is None


def test_nothing_answered_is_refused(site: dict[str, Any]) -> None:
    result = invoke(
        "followup", "add", "ACC1", "--date", "2025-02-12", "--timepoint", "1m", input="\n" * 10
    )
    assert result.exit_code == 2
    assert "nothing assessed" in flat(result.output)
    assert listed() == []


def test_declining_the_summary_writes_nothing(site: dict[str, Any]) -> None:
    result = invoke(
        "followup", "add", "ACC1", "--date", "2025-02-12", "--pain", "4", "--rmdq", "3",
        "--odi", "20", "--pain-rest", "2", "--pain-activity", "6", "--analgesic", "none",
        "--notes", "x", input="\n\n\n\nn\n",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "Nothing written" in result.output
    assert listed() == []


# --- refusals (--yes: no prompts) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--pain", "11"], "--pain = '11' refused: above the maximum (0–10)"),
        (["--pain", "7.25"], "pain = '7.25' refused: at most one decimal"),
        (["--pain-rest", "-1"], "--pain-rest = '-1' refused"),
        (["--pain-activity", "x"], "--pain-activity = 'x' refused: not a number"),
        (["--odi", "120"], "--odi = '120' refused"),
        (["--odi-sections", "1,2,3"], "ODI section scores [1, 2, 3] refused: 3 scores given"),
        (["--odi-sections", "1,-,-,1,1,1,1,1,1,1"], "2 sections unanswered, unscorable"),
        (["--odi-sections", "1,2,3,4,9,0,1,2,3,4"], "--odi-sections section 5 = '9' refused"),
        (["--odi", "20", "--odi-sections", "1,1,1,1,1,1,1,1,1,1"], "not both"),
        (["--rmdq", "25"], "rmdq = '25' refused"),
        (["--rmdq", "3.5"], "rmdq = '3.5' refused"),
        (["--analgesic", "morphine"], "analgesic = 'morphine' refused"),
        (["--new-fracture", "Q7"], "--new-fracture[1].level = 'Q7' refused: not a spinal level ("),
        (["--new-fracture", "L2@2025-13-01"], "new fracture date '2025-13-01' refused"),
        (["--complication", "leak"], "--complication 'leak' refused"),
        (["--complication", "sneeze:A"], "type = 'sneeze' refused: not one of the allowed values"),
        (["--complication", "infection:G"], "--complication[1].severity = 'G' refused"),
        (["--complication", "death:B"], "severity 'B' for death refused; allowed: F"),
        (["--timepoint", "2y", "--pain", "3"], "time point '2y' refused (allowed: baseline, 1d"),
        (["--date", "2025-02-30", "--pain", "3"], "--date '2025-02-30' refused"),
        (["--date", "2099-01-01", "--pain", "3"], "assessment date 2099-01-01 refused: in the"),
        (["--date", "2025-01-09", "--timepoint", "1d", "--pain", "3"], "may predate"),
        (["--date", "2025-01-20", "--timepoint", "baseline", "--pain", "3"], "on or before"),
    ],
)
def test_bad_value_refused_and_nothing_written(
    site: dict[str, Any], options: list[str], expected: str
) -> None:
    args = ["--date", "2025-02-12", *options] if "--date" not in options else options
    result = invoke("followup", "add", "ACC1", *args, "--yes")
    assert result.exit_code == 2, result.output
    assert expected in flat(result.output)
    assert listed() == []
    assert json.loads(invoke("audit", "--json").stdout) == []


@pytest.mark.parametrize(
    "options",
    [
        ["--timepoint", "2y", "--pain", "3"],
        ["--odi-sections", "1,2"],
        ["--new-fracture", "Q7"],
        ["--complication", "leak"],
        ["--complication", "sneeze:G"],
        ["--date", "2025-02-30", "--pain", "3"],
        ["--date", "2099-01-01", "--pain", "3"],
        ["--new-fracture", "L2@2025-01-01"],
    ],
)
def test_refusals_speak_the_users_words(site: dict[str, Any], options: list[str]) -> None:
    args = ["--date", "2025-02-12", *options] if "--date" not in options else options
    out = flat(invoke("followup", "add", "ACC1", *args, "--yes").output)
    assert "refused" in out
    for internal in ("timepoint", "odi_sections", "new_fractures", " = [", "Input should",
                     'Argument "text"', "date =", "complication ="):  # fmt: skip
        assert internal not in out, out


def test_refusal_names_the_allowed_range(site: dict[str, Any]) -> None:
    result = invoke("followup", "add", "ACC1", "--date", "2025-02-12", "--rmdq", "30", "--yes")
    assert "(allowed: a whole number 0–24)" in flat(result.output)


# --- linking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "target"),
    [("{l1}", "l1"), ("id:{t11}", "t11"), ("ACC2", "t11"), ("accession:ACC1", "l1"), ("P2", "t11")],
)
def test_link_by_each_key(site: dict[str, Any], key: str, target: str) -> None:
    key = key.format(**site["ids"])
    result = invoke("followup", "add", key, "--date", "2025-02-12", "--pain", "2", "--yes")
    assert result.exit_code == 0, result.output
    [entry] = listed()
    assert entry["procedure_id"] == site["ids"][target]


def test_ambiguous_link_refused_listing_candidates(site: dict[str, Any]) -> None:
    result = invoke("followup", "add", "P3", "--date", "2025-04-01", "--pain", "2", "--yes")
    assert result.exit_code == 2
    out = flat(result.output)
    assert "'P3' matches 2 procedures" in out
    assert "accession ACC3A" in out and "accession ACC3B" in out
    assert listed() == []
    ok = invoke("followup", "add", "ACC3B", "--date", "2025-04-01", "--pain", "2", "--yes")
    assert ok.exit_code == 0, ok.output


def test_list_by_patient_and_unknown_key(site: dict[str, Any]) -> None:
    invoke("followup", "add", "ACC1", "--date", "2025-02-12", "--pain", "2", "--yes")
    invoke("followup", "add", "ACC2", "--date", "2025-02-12", "--pain", "3", "--yes")
    assert [e["pain"] for e in listed("P2")] == [3.0]
    assert len(listed()) == 2
    result = invoke("followup", "list", "NOPE")
    assert result.exit_code == 2 and "no procedure" in flat(result.output)


# --- adjacency -------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "adjacent"), [("ACC1", True), ("ACC2", False)])
def test_new_l2_fracture_adjacent_after_l1_not_after_t11(
    site: dict[str, Any], key: str, adjacent: bool
) -> None:
    result = invoke(
        "followup", "add", key, "--date", "2025-04-10", "--new-fracture", "L2@2025-04-01",
        "--yes", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fracture = json.loads(result.stdout)["new_fractures"][0]
    assert fracture == {
        "level": "L2",
        "date": "2025-04-01",
        "adjacent": adjacent,
        "at_treated_level": False,
    }


# --- corrections, history, audit -------------------------------------------------------------


def test_correct_history_and_audit(site: dict[str, Any]) -> None:
    invoke(
        "followup", "add", "ACC1", "--date", "2025-02-12", "--pain", "3", "--rmdq", "8",
        "--complication", "cement-leakage-venous:A@2025-01-10", "--by", "nurse", "--yes",
    )  # fmt: skip
    result = invoke(
        "followup", "correct", "1", "--reason", "misread the form", "--pain", "4",
        "--clear", "rmdq", "--by", "doctor", "--yes",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "version 2" in result.output
    history = json.loads(invoke("followup", "history", "1", "--json").stdout)
    assert [(v["version"], v["pain"], v["rmdq"]) for v in history] == [(1, 3.0, 8), (2, 4.0, None)]
    assert (history[1]["reason"], history[1]["entered_by"]) == ("misread the form", "doctor")
    assert history[1]["complications"] == history[0]["complications"]
    table = invoke("followup", "history", "1")
    assert "version 2" in table.output and "misread the form" in flat(table.output)
    audit = json.loads(invoke("audit", "--json").stdout)
    assert [(a["action"], a["who"]) for a in audit] == [
        ("followup.add", "nurse"),
        ("followup.correct", "doctor"),
    ]
    assert audit[1]["details"]["changes"]["rmdq"] == {"from": 8, "to": None}
    assert json.loads(invoke("audit", "--since", "2999-01-01", "--json").stdout) == []
    assert len(json.loads(invoke("audit", "--since", "2000-01-01", "--json").stdout)) == 2
    table = invoke("audit").output
    assert "doctor" in table and table.splitlines()[0].rstrip() == "Audit log: 2 changes"
    # At 80 columns: the correction's changes, each on its line, as corrected; nothing cut.
    lines = [line.rstrip() for line in table.splitlines()]
    assert max(len(line) for line in lines) <= 80 and "…" not in table and "\\n" not in table
    assert lines[4].split()[2:5] == ["doctor", "followup.correct", "followup_entry"]
    column = lines[1].index("Details")
    details = " ".join(line[column:] for line in lines[4:])
    assert details == "pain: 3.0 -> 4.0 rmdq: 8 -> none version 2: misread the form"
    page = invoke("audit", "--limit", "1").output.splitlines()
    assert page[0].rstrip() == "Audit log: 2 changes"  # what the footer counts
    assert page[-1] == "showing 1 of 2 changes (the newest); --limit/--offset for more"
    since = invoke("audit", "--since", "2000-01-01").output.splitlines()
    assert since[0].rstrip() == "Audit log: 2 changes since 2000-01-01"
    assert invoke("audit", "--since", "2999-01-01").output == "No changes recorded.\n"


def test_correct_refusals(site: dict[str, Any]) -> None:
    invoke("followup", "add", "ACC1", "--date", "2025-02-12", "--pain", "3", "--yes")
    cases = [
        (["--pain", "3"], "changes nothing"),
        (["--pain", "12"], "pain = '12' refused"),
        (["--clear", "colour"], "--clear 'colour' refused"),
        ([], "nothing to correct"),
        (["--procedure", "P3", "--pain", "2"], "'P3' has no procedure on or before 2025-02-12"),
    ]
    for options, expected in cases:
        result = invoke("followup", "correct", "1", "--reason", "r", *options, "--yes")
        assert result.exit_code == 2, (options, result.output)
        assert expected in flat(result.output), options
    missing = invoke("followup", "correct", "9", "--reason", "r", "--pain", "2", "--yes")
    assert missing.exit_code == 2 and "no follow-up entry 9" in flat(missing.output)
    assert len(json.loads(invoke("followup", "history", "1", "--json").stdout)) == 1


def test_correction_confirmation_and_relink(site: dict[str, Any]) -> None:
    invoke("followup", "add", "ACC1", "--date", "2025-04-10", "--new-fracture", "L2", "--yes")
    declined = invoke("followup", "correct", "1", "--reason", "r", "--pain", "2", input="n\n")
    assert declined.exit_code == 1
    moved = invoke(
        "followup", "correct", "1", "--reason", "wrong patient", "--procedure", "ACC2",
        "--json", input="y\n",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output
    version = json.loads(moved.stdout[moved.stdout.index("\n{") + 1 :])  # after the prompt
    assert version["procedure_id"] == site["ids"]["t11"]
    assert version["new_fractures"][0]["adjacent"] is False


# --- the worklist ----------------------------------------------------------------------------


def test_due_on_a_fixed_as_of_date(site: dict[str, Any]) -> None:
    invoke("followup", "add", "ACC1", "--date", "2025-01-11", "--pain", "5", "--yes")  # 1d
    invoke("followup", "add", "ACC1", "--date", "2025-01-17", "--pain", "4", "--yes")  # 1w
    result = invoke("followup", "due", "--as-of", "2025-03-10", "--json")
    assert result.exit_code == 0, result.output
    got = [
        (i["procedure_id"], i["timepoint"], i["status"], i["days_left"], i["days_overdue"])
        for i in json.loads(result.stdout)
    ]
    ids = site["ids"]
    # day 59 for ACC1 (1d and 1w entered) and ACC2 (nothing), day 9 for the twins
    assert got == [
        (ids["t11"], "1d", "overdue", None, 56),
        (ids["t11"], "1w", "overdue", None, 45),
        (ids["l1"], "1m", "overdue", None, 14),
        (ids["t11"], "1m", "overdue", None, 14),
        (ids["twin_a"], "1d", "overdue", None, 6),
        (ids["twin_b"], "1d", "overdue", None, 6),
        (ids["twin_a"], "1w", "due", 5, None),
        (ids["twin_b"], "1w", "due", 5, None),
    ]
    table = invoke("followup", "due", "--as-of", "2025-03-10")
    assert "overdue" in table.output and " 1m " in table.output
    wide = invoke("followup", "due", "--as-of", "2025-03-10", "--wide")
    assert "1m (1 month)" in wide.output
    bad = invoke("followup", "due", "--as-of", "soon")
    assert bad.exit_code == 2 and "--as-of 'soon' refused" in flat(bad.output)


# --- real processes --------------------------------------------------------------------------


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(VP_LOG), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_scripted_session_in_real_processes(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    database = Database(f"sqlite:///{tmp_path / 'vp_log.db'}")
    pid = add_procedure(database, accession="A100", study_date="2025-01-10", levels=["T12"])
    database.dispose()
    run(env, "followup", "add", "A100", "--date", "2025-01-08", "--timepoint", "baseline",
        "--pain", "8", "--odi", "62", "--rmdq", "19", "--analgesic", "strong-opioid",
        "--yes")  # fmt: skip
    run(env, "followup", "add", "A100", "--date", "2025-01-11", "--pain", "4", "--yes")
    run(env, "followup", "add", "A100", "--date", "2025-02-10", "--pain", "2", "--odi", "30",
        "--rmdq", "9", "--analgesic", "non-opioid", "--new-fracture", "L1", "--yes")  # fmt: skip
    run(env, "followup", "add", "A100", "--date", "2025-04-12", "--pain", "1.5", "--yes")
    entries = json.loads(run(env, "followup", "list", "A100", "--json").stdout)
    assert [e["timepoint"] for e in entries] == ["baseline", "1d", "1m", "3m"]
    assert entries[2]["new_fractures"][0]["adjacent"] is True  # L1 next to T12
    run(env, "followup", "correct", str(entries[1]["entry_id"]), "--reason", "was 5",
        "--pain", "5", "--yes")  # fmt: skip
    history = json.loads(run(env, "followup", "history", "2", "--json").stdout)
    assert [v["pain"] for v in history] == [4.0, 5.0]
    due = json.loads(run(env, "followup", "due", "--as-of", "2025-07-15", "--json").stdout)
    assert [(d["procedure_id"], d["timepoint"], d["status"]) for d in due] == [(pid, "6m", "due")]
    audit = json.loads(run(env, "audit", "--json").stdout)
    assert len(audit) == 5 and audit[0]["who"]
    bad = run(env, "followup", "add", "A100", "--date", "2025-02-10", "--pain", "12", "--yes",
              check=False)  # fmt: skip
    assert bad.returncode == 2 and "pain = '12' refused" in flat(bad.stderr)
    help_text = run(env, "followup", "add", "--help").stdout
    assert "LEVEL[@DATE]" in help_text and "TYPE:SEVERITY[@DATE]" in help_text


def test_two_vp_log_processes_entering_at_once_lose_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    database = Database(f"sqlite:///{tmp_path / 'vp_log.db'}")
    add_procedure(database, accession="A1", study_date="2025-01-10")
    database.dispose()
    run(env, "followup", "add", "A1", "--date", "2025-01-11", "--pain", "5", "--yes")
    script = textwrap.dedent(
        f"""
        set -e
        for i in 1 2; do
          {VP_LOG} followup add A1 --date 2025-01-27 --pain $i --notes "$W $i" --by "$W" --yes
          {VP_LOG} followup correct 1 --reason "$W $i" --notes "$W $i" --by "$W" --yes
        done
        """
    )
    procs = [
        subprocess.Popen(
            ["bash", "-c", script], env={**env, "W": who}, stdout=subprocess.PIPE, text=True
        )
        for who in ("alice", "bob")
    ]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    entries = json.loads(run(env, "followup", "list", "--json").stdout)
    assert len(entries) == 5
    assert sorted(e["entered_by"] for e in entries[1:]) == ["alice"] * 2 + ["bob"] * 2
    history = json.loads(run(env, "followup", "history", "1", "--json").stdout)
    assert [v["version"] for v in history] == list(range(1, 6))
    assert {v["notes"] for v in history[1:]} == {"alice 1", "alice 2", "bob 1", "bob 2"}
    assert len(json.loads(run(env, "audit", "--json").stdout)) == 9


WRITER = """
import datetime as dt, sys
from vp_log import followup as fu
from vp_log.db import Database
db = Database(sys.argv[1], upgrade=False)
who = sys.argv[2]
schedule = fu.load_schedule()
for i in range(15):
    data = fu.FollowupCreate(date=dt.date(2025, 1, 27), pain=i % 10, notes=f"{who} {i}",
                             entered_by=who)
    fu.add_followup(database=db, procedure_id=1, data=data, schedule=schedule)
    fu.correct_followup(database=db, entry_id=1, changes={"notes": f"{who} {i}"},
                        reason=f"{who} {i}", entered_by=who, schedule=schedule)
db.dispose()
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_writer_processes_lose_nothing(tmp_path: Path, backend: str) -> None:
    sqlite = nullcontext(f"sqlite:///{tmp_path / 'vp_log.db'}")
    with fresh_pg_database() if backend == "postgresql" else sqlite as url:
        database = Database(url)
        add_procedure(database, accession="A1", study_date="2025-01-10")
        first = fu_add(database)
        procs = [
            subprocess.Popen([sys.executable, "-c", WRITER, url, who]) for who in ("alice", "bob")
        ]
        for proc in procs:
            assert proc.wait(timeout=120) == 0
        with database.session() as session:
            entries = fu.list_followups(session)
            history = fu.entry_history(session, first)
            audit = fu.audit_log(session)
        database.dispose()
    assert len(entries) == 31
    assert [v.version for v in history] == list(range(1, 32))
    assert len(audit) == 61
    notes = {v.notes for v in history[1:]}
    assert notes == {f"{w} {i}" for w in ("alice", "bob") for i in range(15)}


def fu_add(database: Database) -> int:
    saved = fu.add_followup(
        database=database,
        procedure_id=1,
        data=fu.FollowupCreate(date=dt.date(2025, 1, 11), pain=5, entered_by="setup"),
        schedule=fu.load_schedule(),
    )
    return saved.entry_id


def test_eq5d5l_by_options_and_by_prompts(site: dict[str, Any]) -> None:
    result = invoke(
        "followup", "add", "ACC1", "--date", "2025-01-09", "--timepoint", "baseline",
        "--eq5d-mo", "3", "--eq5d-sc", "2", "--eq5d-ua", "3", "--eq5d-pd", "4", "--eq5d-ad", "1",
        "--eq5d-vas", "40", "--yes", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads(result.stdout)
    assert [saved[f"eq5d_{d}"] for d in ("mobility", "self_care", "vas")] == [3, 2, 40]
    bad = invoke("followup", "add", "ACC1", "--date", "2025-02-12", "--eq5d-pd", "6", "--yes")
    assert bad.exit_code == 2
    assert "--eq5d-pd = '6' refused: above the maximum (1–5)" in flat(bad.output)
    # the form: the five dimensions and the VAS are asked once the first one is answered
    answers = ["", "", "", "", "", "", "", "9", "2", "1", "2", "2", "1", "80", "", "", "", "y"]
    result = invoke(
        "followup", "add", "ACC1", "--date", "2025-02-12", "--by", "n", input="\n".join(answers)
    )
    assert result.exit_code == 0, result.output
    assert "--eq5d-mo = '9' refused" in flat(result.output)
    entry = listed()[-1]
    assert [entry[f"eq5d_{d}"] for d in ("mobility", "anxiety_depression", "vas")] == [2, 1, 80]
    with site["db"].session() as session:  # what `procedures show` prints as "outcomes"
        rows = fu.outcome_timeline(session, site["ids"]["l1"])["timepoints"]
    assert [r["eq5d_profile"] for r in rows] == ["32341", "21221"]
    assert rows[1]["change_from_baseline"]["eq5d_vas"] == 40
    history = invoke("followup", "correct", str(entry["entry_id"]), "--reason", "r",
                     "--clear", "eq5d-vas", "--yes")  # fmt: skip
    assert history.exit_code == 0, history.output
    assert listed()[-1]["eq5d_vas"] is None


def test_user_text_with_markup_characters_is_shown_verbatim(site: dict[str, Any]) -> None:
    notes = "pain [/] worse [bold]at night"
    result = invoke(
        "followup", "add", "ACC1", "--date", "2025-02-12", "--pain", "3", "--notes", notes,
        "--by", "[x]", input="\n\n\n\n\n\n\n\n\ny\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert notes in flat(result.output)
    assert listed()[0]["notes"] == notes
    assert "by [x] (as entered)" in flat(invoke("followup", "history", "1").output)
